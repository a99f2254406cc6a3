"""`flask seed-demo`, the migrations, and what a newcomer sees."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from extensions import db
from models.auth import Organisation, Role, User


def test_seed_demo_is_safe_to_run_twice(app, runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert "admin@example.com" in second.output and "demo-admin-2026" in second.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 9
        kunde = db.session.scalar(
            sa.select(Organisation).where(Organisation.name == "Demokunde_Test")
        )
        assert sorted(d.name for d in kunde.departments) == ["Bergen TEST", "Testbedriften AS"]
        assert kunde.account_manager.role == Role.STAFF
        virasto = db.session.scalar(
            sa.select(Organisation).where(Organisation.name == "Testivirasto")
        )
        assert len(virasto.users) == 2
        invoicer = db.session.scalar(sa.select(User).where(User.invoicing_number == "100102"))
        assert invoicer is not None and invoicer.role == Role.CUSTOMER
        roles = {u.role for u in db.session.scalars(sa.select(User))}
        assert roles == {Role.ADMIN, Role.STAFF, Role.HEALTH, Role.CUSTOMER}
        bergen = db.session.scalar(
            sa.select(User).where(User.email == "bergen.bruker@demokunde.example.com")
        )
        assert [d.name for d in bergen.granted_departments] == ["Bergen TEST"]


def test_the_demo_holds_the_seeds_examples(app, runner):
    from models.portal import CustomerInvoice, Employee, PortalOrder
    from models.support import Ticket

    runner.invoke(args=["seed-demo"])
    runner.invoke(args=["seed-demo"])
    with app.app_context():
        order = db.session.scalar(sa.select(PortalOrder).where(PortalOrder.number == 307390))
        assert order.desired_delivery == "Støttesamtaler" and order.location == "Oslo"
        assert order.contact == "Ola Olsen - tlf 1243254"
        names = sorted(e.name for e in db.session.scalars(sa.select(Employee)))
        assert "Dolly Duck" in names and names.count("Donald Duck") == 2
        invoices = {
            i.number: (i.invoice_date.isoformat(), i.due_date.isoformat(), i.payer, i.total)
            for i in db.session.scalars(sa.select(CustomerInvoice))
        }
        assert invoices["2017-118350"] == ("2017-12-31", "2018-01-20", "Testbedriften AS", 1500)
        assert invoices["2018-118376"] == ("2018-03-06", "2018-03-26", "Testbedriften AS", 5)
        assert len(invoices) == 6
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 2


def test_every_demo_account_can_log_in(app, runner):
    from commands.demo.data import ACCOUNTS

    runner.invoke(args=["seed-demo"])
    for account in ACCOUNTS:
        client = app.test_client()
        response = client.post(
            "/auth/login", data={"email": account.email, "password": account.password}
        )
        assert response.status_code == 303, account.email


# Neither dialect reflects expression indexes (upper(paid_code)): they are not compared.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_the_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_the_demo_invoices_are_tiinas_series_and_it_goes_on(app, runner):
    """Tiina's demo invoices (user 100102) are numbered as the desk numbers them, the
    e-invoice passes Finance Finland's schema, and her next invoice takes the next number."""
    from models.invoicing import DeliveryMethod, InvoiceStatus, SalesInvoice
    from services.invoicing import desk as invoicing
    from services.invoicing import finvoice, reference

    runner.invoke(args=["seed-demo"])
    runner.invoke(args=["seed-demo"])
    with app.test_request_context():
        invoices = list(db.session.scalars(sa.select(SalesInvoice).order_by(SalesInvoice.id)))
        assert [(i.number, i.status) for i in invoices] == [
            ("1001021", InvoiceStatus.SUBMITTED),
            ("1001022", InvoiceStatus.SUBMITTED),
            ("1001023", InvoiceStatus.CORRECTION),
            ("1001024", InvoiceStatus.OPEN),
            ("1001025", InvoiceStatus.PAID),
            (None, InvoiceStatus.DRAFT),
        ]
        for invoice in invoices[:5]:
            assert invoice.reference == reference.finnish(invoice.number)
            assert invoice.user_number == "100102" and invoice.round == 1
        [einvoice] = [i for i in invoices if i.delivery_method == DeliveryMethod.EINVOICE]
        assert finvoice.errors(invoicing.finvoice_message(einvoice)) == []
        assert invoicing.is_overdue(invoices[3])
        assert invoices[4].outstanding == 0

    client = app.test_client()
    client.post(
        "/auth/login",
        data={"email": "tiina.testinen@toiminimi.example.com", "password": "demo-lasku-2026"},
    )
    response = client.post(
        f"/invoices/{invoices[5].id}/edit",
        data={
            "action": "send",
            "delivery_method": "sahkoposti",
            "payer_name": "Jokinen Tmi",
            "payer_email": "jokinen@example.com",
            "payer_country": "FI",
            "invoice_date": invoices[5].invoice_date.isoformat(),
            "payment_days": "14",
            "lines-0-description": "Verkkosivujen päivitys",
            "lines-0-quantity": "4",
            "lines-0-unit": "h",
            "lines-0-unit_price": "60,00",
            "lines-0-vat_percent": "25.5",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        sent = db.session.get(SalesInvoice, invoices[5].id)
        assert (sent.number, sent.status) == ("1001026", InvoiceStatus.SUBMITTED)
