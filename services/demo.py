"""The demo data of `flask seed-demo`: organisations, departments and accounts."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from extensions import db
from models.auth import Department, Organisation, Role, User
from services import accounts

OPERATOR = "Palveluportaali Oy"


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    name: str
    role: Role
    organisation: str
    language: str
    note: str
    invoicing_number: str | None = None


ORGANISATIONS = {
    OPERATOR: {"country": "FI", "language": "fi", "business_id": "1234561-2"},
    # A Finnish state accounting unit (kirjanpitoyksikkö) that orders courses via Handi.
    "Testivirasto": {"country": "FI", "language": "fi", "business_id": "1234562-0"},
    # The Norwegian customer company of the customer-portal seed.
    "Demokunde_Test": {"country": "NO", "language": "nb", "business_id": "987654325"},
    # A sole trader who uses the invoicing service.
    "Toiminimi Testinen": {"country": "FI", "language": "fi", "business_id": "1234563-9"},
}

DEPARTMENTS = {"Demokunde_Test": ["Testbedriften AS", "Bergen TEST"]}

ACCOUNTS = [
    DemoAccount(
        "admin@example.com", "demo-admin-2026", "Aino Admin", Role.ADMIN, OPERATOR, "fi", "admin"
    ),
    DemoAccount(
        "kasittelija@example.com",
        "demo-staff-2026",
        "Kaisa Käsittelijä",
        Role.STAFF,
        OPERATOR,
        "fi",
        "staff: customer service",
    ),
    DemoAccount(
        "kari.nordmann@example.com",
        "demo-staff-2026",
        "Kari Nordmann",
        Role.STAFF,
        OPERATOR,
        "nb",
        "staff: account manager (kundeansvarlig) of Demokunde_Test",
    ),
    DemoAccount(
        "maija.meikalainen@virasto.example.com",
        "demo-virasto-2026",
        "Maija Meikäläinen",
        Role.CUSTOMER,
        "Testivirasto",
        "fi",
        "customer: Testivirasto (state accounting unit)",
    ),
    DemoAccount(
        "matti.virtanen@virasto.example.com",
        "demo-virasto-2026",
        "Matti Virtanen",
        Role.CUSTOMER,
        "Testivirasto",
        "fi",
        "customer: Testivirasto",
    ),
    DemoAccount(
        "test.bruker@demokunde.example.com",
        "demo-kunde-2026",
        "Test Bruker",
        Role.CUSTOMER,
        "Demokunde_Test",
        "nb",
        "customer: Demokunde_Test (Norway)",
    ),
    DemoAccount(
        "tiina.testinen@toiminimi.example.com",
        "demo-lasku-2026",
        "Tiina Testinen",
        Role.CUSTOMER,
        "Toiminimi Testinen",
        "fi",
        "customer: invoicing-service user 100102",
        invoicing_number="100102",
    ),
]

ACCOUNT_MANAGERS = {"Demokunde_Test": "kari.nordmann@example.com"}


def seed() -> list[DemoAccount]:
    """Create whatever demo data is missing; running it twice changes nothing."""
    orgs = {
        name: accounts.get_or_create_organisation(name, **values)
        for name, values in ORGANISATIONS.items()
    }
    for org_name, departments in DEPARTMENTS.items():
        org = orgs[org_name]
        existing = {d.name for d in org.departments}
        for name in departments:
            if name not in existing:
                db.session.add(Department(organisation=org, name=name))
    for account in ACCOUNTS:
        user = accounts.user_by_email(account.email)
        if user is None:
            user = accounts.create_user(
                account.email,
                account.password,
                name=account.name,
                role=account.role,
                organisation=orgs[account.organisation],
                language=account.language,
            )
        if account.invoicing_number and user.invoicing_number is None:
            taken = db.session.scalar(
                sa.select(User.id).where(User.invoicing_number == account.invoicing_number)
            )
            if taken is None:
                user.invoicing_number = account.invoicing_number
    db.session.flush()
    for org_name, email in ACCOUNT_MANAGERS.items():
        if orgs[org_name].account_manager is None:
            orgs[org_name].account_manager = accounts.user_by_email(email)
    db.session.commit()
    return ACCOUNTS


def organisation(name: str) -> Organisation | None:
    return db.session.scalar(sa.select(Organisation).where(Organisation.name == name))
