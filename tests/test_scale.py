"""Bounded pages at volume: every list, search and look-up reads a page's worth of rows
through an index, whatever the table holds.

The tables are filled with a few thousand rows each (bulk inserts), then each page is
requested and every SELECT it ran is explained:
- on PostgreSQL, `EXPLAIN (ANALYZE)` with sequential scans switched off: a Seq Scan left in
  the plan means no index serves the query, and the rows each query read (kept and
  filtered out, in every scan) must stay under a page's bound;
- on SQLite, `EXPLAIN QUERY PLAN`: a page's ORDER BY ... LIMIT must be answered by an index,
  never by sorting every match in a temporary B-tree.
The counts are capped lower here (COUNT_CAP = 100), so a count that read past its cap
shows up as well. No timing anywhere: speed is measured in bench/.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

import paging
from extensions import db
from models.auth import Organisation, Role, User
from models.invoicing import InvoiceStatus, SalesInvoice
from models.mail import MailStatus, OutboxMessage
from models.payments import (
    OnlinePayment,
    OnlinePaymentLine,
    PaymentPurpose,
    PaymentState,
    RejectedPaymentCall,
)
from models.portal import Booking, CustomerInvoice, Employee, PortalOrder
from models.support import (
    Application,
    EntryKind,
    Ticket,
    TicketEntry,
    TicketStatus,
    TicketType,
)
from models.training import Course, Enrolment, EnrolmentStatus
from services.invoicing import reference
from tests.fixtures.app import recorded_statements
from tests.fixtures.scale import ROWS, _analyze, problems_of
from tests.fixtures.users import PASSWORD

COURSES = 150
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
USER_NUMBER = "100102"


def _service_code(n: int) -> str:
    """The n-th code of the service-code alphabet, eight characters."""
    from services.codes import ALPHABET, LENGTH

    digits = []
    for _ in range(LENGTH):
        n, digit = divmod(n, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def _numbered(n: int) -> tuple[str, str]:
    number = f"{USER_NUMBER}{n}"
    return number, reference.finnish(number)


def fill(app: Flask) -> dict[str, object]:
    """Bulk rows in every large table; returns the codes the look-ups are asked for."""
    from services import accounts

    with app.app_context():
        org = accounts.get_or_create_organisation("Stor Kunde AS", country="NO")
        staff = accounts.create_user(
            "kaisa@example.com", PASSWORD, name="Kaisa", role=Role.STAFF, language="en"
        )
        admin = accounts.create_user(
            "aino@example.com", PASSWORD, name="Aino", role=Role.ADMIN, language="en"
        )
        customer = accounts.create_user(
            "tiina@example.com",
            PASSWORD,
            name="Tiina",
            role=Role.CUSTOMER,
            organisation=org,
            language="en",
        )
        customer.invoicing_number = USER_NUMBER
        application = Application(names={"fi": "Koulutus", "en": "Training"})
        db.session.add(application)
        db.session.flush()
        ids = {"org": org.id, "customer": customer.id, "app": application.id}
        _ = (staff, admin)

        def insert(model: type, rows: list[dict]) -> None:
            db.session.execute(sa.insert(model), rows)

        # Companies by the thousand: no picker or filter lists them all.
        insert(
            Organisation,
            [
                {
                    "name": f"Kunde {n:05d} AS",
                    "name_search": f"kunde {n:05d} as",
                    "country": "NO",
                }
                for n in range(ROWS)
            ],
        )
        insert(
            User,
            [
                {
                    "email": f"user{n}@example.com",
                    "name": f"User {n:05d}",
                    "password_hash": "x",
                    "role": Role.CUSTOMER,
                    "organisation_id": org.id,
                }
                for n in range(ROWS)
            ],
        )
        # Mostly paid, as years of invoices are; a few hundred on the desk.
        statuses = (
            [InvoiceStatus.SUBMITTED] * 2
            + [
                InvoiceStatus.FORWARDED,
                InvoiceStatus.OPEN,
                InvoiceStatus.CORRECTION,
            ]
            + [InvoiceStatus.PAID] * 5
        )
        invoices = []
        for n in range(1, 2 * ROWS + 1):
            number, ref = _numbered(n)
            at = T0 + timedelta(minutes=17 * n)
            invoices.append(
                {
                    "user_id": customer.id,
                    "user_number": USER_NUMBER,
                    "number": number,
                    "reference": ref,
                    "status": statuses[n % len(statuses)],
                    "payer_name": f"Maksaja {n % 50} Oy",
                    "payer_search": f"maksaja {n % 50} oy",
                    "invoice_date": at.date(),
                    "due_date": at.date() + timedelta(days=14),
                    "gross": Decimal("100.00"),
                    "sent_at": at,
                    "forwarded_at": at + timedelta(hours=3),
                    "created_at": at,
                    "updated_at": at,
                }
            )
        insert(SalesInvoice, invoices)
        course_rows = [
            {
                "title": f"Kurssi {n}",
                "topic": "Tietoturva",
                "starts_at": T0 + timedelta(days=400 + n),
                "ends_at": T0 + timedelta(days=400 + n, hours=6),
                "capacity": 20,
                "enrolment_deadline": T0 + timedelta(days=390 + n),
                "cancellation_deadline": T0 + timedelta(days=390 + n),
            }
            # A calendar holds a few hundred coming courses at most (its filter lists
            # their topics and places, reading them once for each), not thousands: the
            # enrolments are the many.
            for n in range(COURSES)
        ]
        insert(Course, course_rows)
        course_id = db.session.scalar(sa.select(sa.func.min(Course.id)))
        insert(
            Enrolment,
            [
                {
                    "course_id": course_id,
                    "service_code": _service_code(n),
                    "status": EnrolmentStatus.BINDING,
                    "first_name": "Osallistuja",
                    "last_name": str(n),
                    "email": f"osallistuja{n}@example.com",
                    "organisation": "Virasto",
                    "created_at": T0 + timedelta(minutes=n),
                }
                for n in range(ROWS)
            ],
        )
        ticket_statuses = [TicketStatus.RESOLVED] * 9 + [TicketStatus.NEW]
        insert(
            Ticket,
            [
                {
                    "number": f"T-2026-{n:06d}",
                    "organisation_id": org.id,
                    "user_id": customer.id,
                    "email": "tiina@example.com",
                    "type": TicketType.OTHER,
                    "application_id": application.id,
                    "link_nonce": f"{n:032d}",
                    "status": ticket_statuses[n % 10],
                    "created_at": T0 + timedelta(minutes=n),
                }
                for n in range(1, ROWS + 1)
            ],
        )
        insert(
            TicketEntry,
            [
                {"ticket_id": ticket_id, "kind": EntryKind.CUSTOMER, "author_name": "Tiina"}
                for ticket_id in db.session.scalars(sa.select(Ticket.id))
            ],
        )
        insert(
            PortalOrder,
            [
                {
                    "number": 300_000 + n,
                    "organisation_id": org.id,
                    "desired_delivery": "Snarest",
                    "quantity": "1",
                    "contact": "Ola",
                    "invoice_reference": "Ref",
                    "location": "Bergen",
                    "ordered_at": T0 + timedelta(minutes=n),
                }
                for n in range(ROWS)
            ],
        )
        insert(
            Employee,
            [
                {
                    "organisation_id": org.id,
                    "first_name": "Kari",
                    "last_name": f"Nordmann {n:05d}",
                    "email": f"kari{n}@example.com",
                }
                for n in range(ROWS)
            ],
        )
        insert(
            CustomerInvoice,
            [
                {
                    "number": f"2026-{n:06d}",
                    "organisation_id": org.id,
                    "payer": "Stor Kunde AS",
                    "invoice_date": date(2024, 1, 1) + timedelta(days=n % 700),
                    "due_date": date(2024, 1, 15) + timedelta(days=n % 700),
                    "total": Decimal("500.00"),
                    "outstanding": Decimal("500.00") if n % 2 else Decimal("0.00"),
                }
                for n in range(ROWS)
            ],
        )
        insert(
            Booking,
            [
                {
                    "organisation_id": org.id,
                    "title": "Helsekontroll",
                    "place": "Bergen",
                    "deadline": T0 + timedelta(days=n),
                }
                for n in range(ROWS)
            ],
        )
        insert(
            OnlinePayment,
            [
                {
                    "order_number": f"VM{100_000 + n}",
                    "purpose": PaymentPurpose.INVOICE,
                    "state": PaymentState.PAID,
                    "amount": Decimal("100.00"),
                    "first_name": "Maija",
                    "last_name": "Maksaja",
                    "email": "maija@example.com",
                    "street": "Katu 1",
                    "postcode": "00100",
                    "city": "Helsinki",
                    "paid_code": f"PAID{n:08d}",
                    "created_at": T0 + timedelta(minutes=n),
                    "paid_at": T0 + timedelta(minutes=n + 1),
                }
                for n in range(ROWS)
            ],
        )
        insert(
            OnlinePaymentLine,
            [
                {
                    "payment_id": payment_id,
                    "position": 1,
                    "title": "Lasku",
                    "quantity": Decimal("1"),
                    "price": Decimal("100.00"),
                    "vat_percent": Decimal("25.5"),
                    "merchant_id": USER_NUMBER,
                    "merchant_user_id": customer.id,
                    "commission_class": "1",
                    "commission": Decimal("0.00"),
                    "total": Decimal("100.00"),
                }
                for payment_id in db.session.scalars(sa.select(OnlinePayment.id))
            ],
        )
        insert(
            RejectedPaymentCall,
            [
                {"kind": "return", "reason": "forged", "at": T0 + timedelta(minutes=n)}
                for n in range(ROWS)
            ],
        )
        insert(
            OutboxMessage,
            [
                {
                    "sender": "noreply@example.com",
                    "recipients": ["a@example.com"],
                    "subject": f"Viesti {n}",
                    "body_text": "Hei",
                    "template": "support_confirmation",
                    "status": MailStatus.SENT,
                }
                for n in range(ROWS)
            ],
        )
        db.session.commit()
        codes = {
            "service_code": _service_code(ROWS // 2).lower(),  # as typed
            "ticket": f"T-2026-{ROWS // 2:06d}",
            "reference": _numbered(ROWS // 2)[1],
            "number": _numbered(ROWS // 3)[0],
            "order": str(300_000 + ROWS // 2),
            "payment": f"VM{100_000 + ROWS // 2}",
            "paid_code": f"paid{ROWS // 2:08d}",  # typed in lower case
            "customer_invoice": f"2026-{ROWS // 2:06d}",
            "course": course_id,
            "last_invoice": _numbered(2 * ROWS)[0],
        }
        _analyze()
        return {**ids, **codes}


def login(app: Flask, email: str):
    client = app.test_client()
    response = client.post("/auth/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, email
    return client


def staff_urls(codes: dict) -> list[str]:
    return [
        "/staff/invoices/",
        "/staff/invoices/?last=1",
        "/staff/invoices/search?reference=100102%25",
        "/staff/invoices/search?reference=100102%25&last=1",
        "/staff/invoices/search?payer=maksaja+1",
        "/staff/invoices/search?reference=%25",
        "/staff/invoices/search?status=avoin",
        "/staff/invoices/search?status=lahettamaton",
        "/staff/invoices/search?status=valitetty",
        "/staff/invoices/search?status=korjattava",
        "/staff/invoices/search?status=maksettu",
        "/staff/invoices/search?overdue=1",
        f"/staff/invoices/search?number={codes['number']}",
        "/staff/invoices/receivables",
        f"/staff/invoices/{codes['last_invoice']}",
        "/staff/training/",
        f"/staff/training/courses/{codes['course']}",
        "/staff/support/",
        "/staff/support/?status=",
        "/staff/support/?status=uusi",
        "/staff/support/?status=ratkaistu",
        "/staff/support/?scope=all",
        "/staff/support/?scope=mine",
        "/staff/support/?scope=team",
        "/staff/support/?scope=unassigned",
        "/staff/support/?scope=all&status=",
        "/staff/support/?scope=all&last=1",
        "/staff/support/?organisation_name=kunde+000",
        "/staff/portal/",
        "/staff/portal/?company_name=kunde+0001",  # several: the first ten offered
        "/staff/portal/?company_name=KUNDE+00007+AS",  # the one
        f"/staff/portal/?company={codes['org']}",
        "/staff/portal/bookings",
        "/staff/portal/bookings/new",
        "/staff/portal/invoices",
        "/staff/portal/invoices?company_name=kunde+01",
        "/staff/payments/",
        "/staff/payments/refused",
        "/staff/mail",
        "/staff/mail?status=sent",
        "/auth/organisations",
        "/staff/",
    ] + [
        f"/staff/lookup?code={codes[name]}"
        for name in (
            "service_code",
            "ticket",
            "reference",
            "number",
            "order",
            "payment",
            "paid_code",
            "customer_invoice",
        )
    ]


CUSTOMER_URLS = [
    "/invoices/",
    "/invoices/?last=1",
    "/payments/",
    "/support/",
    "/portal/",
    "/portal/orders",
    "/portal/orders?last=1",
    "/portal/orders?sort=number&dir=asc",
    "/portal/orders?sort=number&dir=asc&last=1",
    "/portal/employees",
    "/portal/employees?last=1",
    "/portal/invoices",
    "/portal/invoices?last=1",
    "/training/",
    "/training/?last=1",
]


@pytest.fixture
def filled(app: Flask, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr(paging, "COUNT_CAP", 100)
    return fill(app)


def test_every_list_search_and_look_up_reads_a_page_through_an_index(app, filled):
    staff, customer = login(app, "kaisa@example.com"), login(app, "tiina@example.com")
    admin = login(app, "aino@example.com")
    visits = [(staff, url) for url in staff_urls(filled)]
    visits += [(customer, url) for url in CUSTOMER_URLS]
    visits += [(admin, "/auth/users"), (admin, "/auth/users?last=1"), (admin, "/auth/users/new")]
    visits += [(admin, f"/auth/users/{filled['customer']}/edit")]
    problems = []
    for client, url in visits:
        with recorded_statements(app) as statements:
            response = client.get(url)
        selects = [(sql, params) for sql, params in statements if sql.lstrip()[:6] == "SELECT"]
        assert response.status_code in (200, 302), (url, response.status_code)
        assert selects, url
        problems += [f"{url}: {problem}" for problem in problems_of(app, selects)]
    assert not problems, "\n".join(problems)


def test_the_staff_look_up_finds_each_code_among_thousands(app, filled):
    staff = login(app, "kaisa@example.com")
    for name in ("service_code", "ticket", "order", "payment", "paid_code"):
        response = staff.get("/staff/lookup", query_string={"code": filled[name]})
        assert response.status_code == 302, (name, response.status_code)


def test_pages_walk_from_first_to_last_and_back_without_gaps(app, filled):
    customer = login(app, "tiina@example.com")
    seen, url = [], "/portal/orders?sort=number&dir=asc"
    for _ in range(ROWS // 25 + 2):
        text = customer.get(url).get_data(as_text=True)
        seen += [int(n) for n in re.findall(r"/portal/orders/(\d+)\"", text)]
        link = re.search(r'<a href="([^"]*)" rel="next"', text)
        if not link:
            break
        url = link.group(1).replace("&amp;", "&")
    assert seen == list(range(300_000, 300_000 + ROWS))


def test_counts_stop_at_the_cap(app, filled):
    staff = login(app, "kaisa@example.com")
    text = staff.get("/staff/invoices/search?reference=100102%25").get_data(as_text=True)
    assert "More than 100 invoices found." in text
    desk = staff.get("/staff/invoices/").get_data(as_text=True)
    assert "100+" in desk


def test_partial_indexes_are_stated_as_their_queries_state_them(app):
    """SQLite uses a partial index only when the query repeats its condition literally."""
    from models.invoicing import ON_THE_DESK
    from models.types import one_of

    index = next(i for i in SalesInvoice.__table__.indexes if i.name == "ix_sales_invoice_desk")
    with app.app_context():
        query = sa.select(SalesInvoice.id).where(one_of(SalesInvoice.status, ON_THE_DESK))
        compiled = str(query.compile(db.engine))
    assert str(index.dialect_options["sqlite"]["where"]) in compiled.replace("sales_invoice.", "")
    assert "?" not in compiled and "%(" not in compiled


def test_the_queue_sorts_the_faster_first_by_the_stored_values():
    from models.support import Urgency

    assert sorted(Urgency, key=lambda urgency: urgency.value) == [
        Urgency.FASTER,
        Urgency.NORMAL,
    ]
