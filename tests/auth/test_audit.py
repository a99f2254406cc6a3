"""The audit log: each sensitive read or change recorded where it happens, through the
pages that do it; the admins' list, its pages and filters, bounded by its indexes; and
a log that the application never changes or deletes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

import paging
from extensions import db
from models.audit import AuditAction, AuditEvent
from models.auth import Role
from models.mail import OutboxMessage
from models.portal import CustomerInvoice, Employee, Placement
from services import outbox
from tests.fixtures import portal as portal_fixtures
from tests.fixtures import scale as scale_fixtures
from tests.fixtures.app import page_link, recorded_statements
from tests.fixtures.invoicing import KAISA, forward, open_invoice, pay, sent_invoice
from tests.fixtures.invoicing import invoicer as invoicing_user
from tests.fixtures.portal import (
    CUSTOMER,
    NUMBER,
    STAFF,
    add_booking,
    add_employee,
    add_invoice,
    employee_form,
    login,
    national_id,
    place,
    saved_employee,
    text,
)
from tests.fixtures.portal import pay as pay_portal_invoice

# The portal's fixtures: its company with a customer user.
company = portal_fixtures.company
customer = portal_fixtures.customer
# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

ADMIN = "admin@example.com"


def _on_postgres(app: Flask) -> bool:
    with app.app_context():
        return db.engine.dialect.name == "postgresql"


def events(app: Flask, action: AuditAction | None = None) -> list[AuditEvent]:
    """The log, oldest first (of one action), detached."""
    with app.app_context():
        stmt = sa.select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action.value)
        rows = db.session.scalars(stmt).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def every_text(event: AuditEvent) -> str:
    return " ".join(str(getattr(event, c.key)) for c in AuditEvent.__table__.columns)


@pytest.fixture
def admin(app, make_user):
    make_user(ADMIN, role=Role.ADMIN, org=None, name="Aino Admin", language="en")
    return login(app, ADMIN)


@pytest.fixture
def portal_staff(app, make_user):
    # Health personnel: the only staff who read the answers of a self-declaration.
    make_user(STAFF, role=Role.HEALTH, org=None, name="Siri Staff", language="en")
    return login(app, STAFF)


# ---------------------------------------------------------------- the events


def test_a_national_identity_number_set_changed_and_removed_is_logged_without_it(app, customer):
    created = customer.post("/portal/employees/new", data=employee_form(national_id=NUMBER))
    assert created.status_code == 302
    employee_id = saved_employee(app).id
    url = created.headers["Location"]
    newer = national_id(date(2006, 7, 1))
    assert customer.post(f"{url}/edit", data=employee_form(national_id=newer)).status_code == 302
    # Other details changed without the number: nothing for the log.
    assert (
        customer.post(
            f"{url}/edit", data=employee_form(birth_date="2006-07-01", mobile="41244845")
        ).status_code
        == 302
    )
    removed = customer.post(
        f"{url}/edit", data=employee_form(birth_date="2006-07-01", remove_national_id="y")
    )
    assert removed.status_code == 302

    logged = events(app)
    assert [(e.action, e.record_type, e.record_id) for e in logged] == [
        (AuditAction.NATIONAL_ID_CHANGED.value, "employee", str(employee_id))
    ] * 3
    assert [e.summary for e in logged] == [
        "national identity number set",
        "national identity number changed",
        "national identity number removed",
    ]
    assert {e.actor_email for e in logged} == {CUSTOMER}
    for event in logged:
        stored = every_text(event)
        for number in (NUMBER, newer, NUMBER[:6], newer[:6], "Nora", "Berg"):
            assert number not in stored


def test_a_refused_number_leaves_nothing_in_the_log(app, customer):
    customer.post("/portal/employees/new", data=employee_form(national_id=NUMBER))
    twin = employee_form(first_name="Nils", email="nils@example.com", national_id=NUMBER)
    response = customer.post("/portal/employees/new", data=twin)
    assert response.status_code == 200  # another employee of the company has it
    assert len(events(app)) == 1


def _answered_declaration(app, customer, company) -> tuple[int, int, int]:
    """A booking with two employees placed by the customer, one of whom has answered
    through the emailed link: (booking id, answered placement id, the other's)."""
    booking_id, [slot_id] = add_booking(app, company.id, capacities=(2,))
    per = add_employee(app, company.id, "Per", "Olsen", "per.olsen@firma.no")
    kari = add_employee(app, company.id, "Kari", "Dahl", "kari.dahl@firma.no")
    for employee_id in (per, kari):
        assert place(customer, booking_id, employee_id, slot_id).status_code == 302
    with app.app_context():
        message = next(
            m
            for m in db.session.scalars(sa.select(OutboxMessage))
            if "per.olsen@firma.no" in m.recipients
        )
        token = re.search(r"/portal/egenerklaering/([^\s?]+)", outbox.bodies(message)[0]).group(1)
        placements = {
            p.employee_id: p.id
            for p in db.session.scalars(
                sa.select(Placement).where(Placement.booking_id == booking_id)
            )
        }
    answers = {
        "illness": "yes",
        "medication": "no",
        "noise": "yes",
        "chemicals": "no",
        "talk": "no",
        "other": "Allergisk mot lateks.",
    }
    assert (
        app.test_client().post(f"/portal/egenerklaering/{token}", data=answers).status_code == 200
    )
    return booking_id, placements[per], placements[kari]


def test_staff_opening_the_answers_of_a_self_declaration_is_logged(
    app, customer, company, portal_staff
):
    booking_id, answered, unanswered = _answered_declaration(app, customer, company)
    # The customer's page says only whether it was answered: not an opening.
    assert "answered" in text(customer.get(f"/portal/bookings/{booking_id}"))
    assert events(app) == []

    for _visit in range(2):
        page = text(portal_staff.get(f"/staff/portal/bookings/{booking_id}"))
        assert "Allergisk mot lateks." in page
    logged = events(app)
    assert [(e.action, e.record_type, e.record_id) for e in logged] == [
        (AuditAction.HEALTH_OPENED.value, "placement", str(answered))
    ] * 2
    assert logged[0].summary == f"self-declaration {answered} (booking {booking_id})"
    assert {e.actor_email for e in logged} == {STAFF}
    assert str(unanswered) not in {e.record_id for e in logged}
    for event in logged:
        stored = every_text(event)
        assert "lateks" not in stored and "Per" not in stored and "Olsen" not in stored
        assert "yes" not in stored


def test_an_invoice_forwarded_from_the_staff_desk_is_logged(app, make_user):
    tiina = invoicing_user(app, make_user, "tiina@example.com", "100102", "Toiminimi Testinen")
    make_user(KAISA, role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa", language="en")
    staff = login(app, KAISA)
    number = sent_invoice(tiina, app)
    assert forward(staff, number).status_code == 302
    [event] = events(app)
    assert (event.action, event.record_type, event.actor_email) == (
        AuditAction.INVOICE_FORWARDED.value,
        "sales_invoice",
        KAISA,
    )
    assert event.summary == f"invoice {number} forwarded by sahkoposti"
    assert "Asiakas" not in event.summary
    # Forwarding again is refused (the invoice moved on): logged once.
    forward(staff, number)
    assert len(events(app)) == 1


def test_a_payment_recorded_by_staff_on_a_receivable_is_logged(app, make_user):
    tiina = invoicing_user(app, make_user, "tiina@example.com", "100102", "Toiminimi Testinen")
    make_user(KAISA, role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa", language="en")
    staff = login(app, KAISA)
    number = open_invoice(app, tiina, staff)
    assert pay(staff, number, "100,00").status_code == 302
    assert pay(staff, number, "30,00").status_code == 422  # over the outstanding: nothing
    assert pay(staff, number, "25,49").status_code == 302
    marked = events(app, AuditAction.PAYMENT_MARKED)
    assert [e.summary for e in marked] == [
        f"invoice {number}: payment of 100.00 recorded, part paid",
        f"invoice {number}: payment of 25.49 recorded, paid",
    ]
    assert {(e.record_type, e.actor_email) for e in marked} == {("sales_invoice", KAISA)}


def test_a_payment_registered_by_staff_on_a_portal_invoice_is_logged(app, company, portal_staff):
    today = datetime.now(UTC).date()
    invoice_id = add_invoice(
        app, company.id, "2024-000101", issued=today, due=today, total="1500.00"
    )
    assert pay_portal_invoice(app, portal_staff, invoice_id, "500.00").status_code == 302
    # A second click with the amount the page showed before changes nothing.
    portal_staff.post(
        f"/staff/portal/invoices/{invoice_id}/payment", data={"amount": "500", "seen": "1500.00"}
    )
    assert pay_portal_invoice(app, portal_staff, invoice_id, "1000.00").status_code == 302
    with app.app_context():
        assert db.session.get(CustomerInvoice, invoice_id).outstanding == 0
    marked = events(app, AuditAction.PAYMENT_MARKED)
    assert [e.summary for e in marked] == [
        "invoice 2024-000101: payment of 500.00 registered, 1000.00 outstanding",
        "invoice 2024-000101: payment of 1000.00 registered, paid",
    ]
    assert {(e.record_type, e.record_id, e.actor_email) for e in marked} == {
        ("customer_invoice", str(invoice_id), STAFF)
    }


def test_an_employee_saved_without_a_number_logs_nothing(app, company):
    add_employee(app, company.id, "Per", "Olsen")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Employee)) == 1
    assert events(app) == []


# ---------------------------------------------------------------- the page


def add_events(app: Flask, rows: list[dict]) -> None:
    with app.app_context():
        db.session.execute(sa.insert(AuditEvent), rows)
        db.session.commit()


def an_event(n: int, **values) -> dict:
    return {
        "at": datetime(2026, 1, 5, 8, 0, tzinfo=UTC) + timedelta(minutes=n),
        "action": AuditAction.INVOICE_FORWARDED.value,
        "record_type": "sales_invoice",
        "record_id": str(n),
        "summary": f"event {n}",
        "actor_id": None,
        "actor_email": None,
        **values,
    }


def listed(html: str) -> list[str]:
    return re.findall(r"<td>event (\d+)</td>", html)


def test_the_log_is_for_admins_only(app, client, admin, portal_staff, customer):
    assert admin.get("/staff/audit/").status_code == 200
    assert portal_staff.get("/staff/audit/").status_code == 403
    assert customer.get("/staff/audit/").status_code == 403
    anonymous = client.get("/staff/audit/")
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    # In the staff area's navigation for admins only.
    assert 'href="/staff/audit/"' in text(admin.get("/staff/"))
    assert 'href="/staff/audit/"' not in text(portal_staff.get("/staff/"))


def test_the_application_has_no_way_to_change_or_delete_an_event(app):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("audit.")]
    assert rules and all(rule.methods <= {"GET", "HEAD", "OPTIONS"} for rule in rules)


def test_the_log_pages_newest_first_from_first_to_last_and_back(app, admin):
    add_events(app, [an_event(n) for n in range(1, 121)])
    first = text(admin.get("/staff/audit/"))
    assert listed(first) == [str(n) for n in range(120, 70, -1)]
    seen, url = [], "/staff/audit/"
    while url:
        html = text(admin.get(url))
        seen += listed(html)
        url = page_link(html)
    assert seen == [str(n) for n in range(120, 0, -1)]
    # The last page is the oldest fifty; the one before it the fifty before those.
    last = text(admin.get("/staff/audit/?last=1"))
    assert listed(last) == [str(n) for n in range(50, 0, -1)]
    assert ">First<" in last and ">Last<" not in last
    previous = text(admin.get(page_link(last, "prev")))
    assert listed(previous) == [str(n) for n in range(100, 50, -1)]


def test_the_log_is_filtered_by_event_record_and_user(app, admin, make_user):
    someone = make_user("kaisa@example.com", role=Role.STAFF, org=None, name="Kaisa")
    add_events(
        app,
        [
            an_event(1),
            an_event(2, action=AuditAction.PAYMENT_MARKED.value),
            an_event(3, record_type="employee", record_id="7"),
            an_event(4, actor_id=someone.id, actor_email="kaisa@example.com"),
            an_event(5, record_type="employee", record_id="7", actor_id=someone.id),
        ],
    )
    by_action = text(admin.get("/staff/audit/?action=payment.marked"))
    assert listed(by_action) == ["2"]
    by_record = text(admin.get("/staff/audit/?record_type=employee&record_id=7"))
    assert listed(by_record) == ["5", "3"]
    by_user = text(admin.get("/staff/audit/?actor=Kaisa@Example.com"))
    assert listed(by_user) == ["5", "4"]
    combined = text(
        admin.get("/staff/audit/?record_type=employee&record_id=7&actor=kaisa@example.com")
    )
    assert listed(combined) == ["5"]
    # Each row links to its record's events and to its user's.
    assert 'href="/staff/audit/?record_type=employee&amp;record_id=7"' in by_user
    assert 'href="/staff/audit/?actor=kaisa@example.com"' in by_user


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("actor=nobody@example.com", "actor", "No user has this email address."),
        ("actor=not-an-address", "actor", "Enter a valid email address"),
        ("record_id=7", "record_type", "Choose the record type."),
        ("record_type=employee", "record_id", "Give the record id too."),
        ("record_type=nothing&record_id=1", "record_type", "Not a valid choice"),
        ("action=nothing", "action", "Not a valid choice"),
        (f"record_type=employee&record_id={'9' * 65}", "record_id", "65"),
    ],
)
def test_a_filter_not_understood_is_told_and_lists_nothing(app, admin, query, field, message):
    add_events(app, [an_event(1, record_type="employee", record_id="7")])
    response = admin.get(f"/staff/audit/?{query}")
    html = text(response)
    assert response.status_code == 200
    assert f'id="{field}-error"' in html
    if message != "65":
        assert message in html
    assert listed(html) == [] and "No events." in html


@pytest.mark.parametrize("cursor", ["after=x", "before=-1", "after=99999999999"])
def test_a_bad_cursor_is_not_found(app, admin, cursor):
    assert admin.get(f"/staff/audit/?{cursor}").status_code == 404


def test_every_page_and_filter_of_the_log_reads_a_page_through_an_index(
    app, admin, make_user, monkeypatch
):
    someone = make_user("kaisa@example.com", role=Role.STAFF, org=None, name="Kaisa")
    # As a log is: mostly self-declarations opened, the other events few and far between;
    # one user among many. A filter on a rare event or user is answered by its index.
    rare = [a.value for a in AuditAction if a != AuditAction.HEALTH_OPENED]
    add_events(
        app,
        [
            an_event(
                n,
                action=rare[(n // 10) % len(rare)] if n % 10 == 0 else "health.opened",
                record_type="employee" if n % 3 else "placement",
                record_id=str(n % 40),
                actor_id=someone.id if n % 20 == 1 else None,
                actor_email="kaisa@example.com" if n % 20 == 1 else None,
            )
            for n in range(scale_fixtures.ROWS)
        ],
    )
    with app.app_context():
        scale_fixtures._analyze()
        middle = db.session.scalar(
            sa.select(AuditEvent.id).offset(scale_fixtures.ROWS // 2).limit(1)
        )
    monkeypatch.setattr(
        scale_fixtures, "LARGE_TABLES", scale_fixtures.LARGE_TABLES | {"audit_event"}
    )
    monkeypatch.setattr(paging, "COUNT_CAP", 100)
    urls = [
        "/staff/audit/",
        "/staff/audit/?last=1",
        f"/staff/audit/?after={middle}",
        f"/staff/audit/?before={middle}",
        "/staff/audit/?action=payment.marked",
        "/staff/audit/?action=payment.marked&last=1",
        f"/staff/audit/?action=health.opened&after={middle}",
        "/staff/audit/?record_type=employee&record_id=7",
        "/staff/audit/?record_type=employee&record_id=7&last=1",
        "/staff/audit/?actor=kaisa@example.com",
        "/staff/audit/?actor=kaisa@example.com&last=1",
        f"/staff/audit/?actor=kaisa@example.com&before={middle}",
        "/staff/audit/?record_type=employee&record_id=7&actor=kaisa@example.com",
    ]
    problems = []
    for url in urls:
        with recorded_statements(app) as statements:
            response = admin.get(url)
        assert response.status_code == 200, url
        selects = [(sql, params) for sql, params in statements if sql.lstrip()[:6] == "SELECT"]
        assert any("audit_event" in sql for sql, _params in selects), url
        problems += [f"{url}: {problem}" for problem in scale_fixtures.problems_of(app, selects)]
    assert not problems, "\n".join(problems)


def test_on_postgresql_the_database_refuses_to_change_or_delete_an_event(app):
    if not _on_postgres(app):
        pytest.skip("the append-only trigger is PostgreSQL's")
    add_events(app, [an_event(1)])
    for statement in (
        "UPDATE audit_event SET summary = 'rewritten'",
        "DELETE FROM audit_event",
    ):
        with app.app_context(), pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with db.engine.begin() as connection:
                connection.exec_driver_sql(statement)
    [event] = events(app)
    assert event.summary == "event 1"


# ---------------------------------------------------------------- in the browser


@pytest.mark.browser
def test_an_admin_reads_and_filters_the_log_on_a_phone(browser_page, app, make_user):
    make_user(ADMIN, role=Role.ADMIN, org=None, name="Aino Admin", language="en")
    add_events(
        app,
        [an_event(n) for n in range(1, 60)]
        + [an_event(60, action=AuditAction.HEALTH_OPENED.value, record_type="placement")],
    )
    browser = browser_page
    page = browser.page
    page.set_viewport_size({"width": 375, "height": 800})
    browser.goto("/auth/login")
    page.get_by_label("Sähköpostiosoite").fill(ADMIN)
    page.get_by_label("Salasana").fill("correct horse battery")
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    page.locator(".staff-nav summary").click()  # the staff menu, folded on a phone
    browser.navigate(lambda: page.get_by_role("link", name="Audit log").click())
    assert page.get_by_role("heading", name="Audit log").is_visible()
    assert page.locator("tbody tr").count() == 50
    browser.navigate(lambda: page.get_by_role("link", name="Next").click())
    assert page.locator("tbody tr").count() == 10
    page.get_by_label("Event", exact=True).select_option(AuditAction.HEALTH_OPENED.value)
    browser.navigate(lambda: page.get_by_role("button", name="Search").click())
    assert page.locator("tbody tr").count() == 1
    page.get_by_label("Done by (email)").fill("nobody@example.com")
    browser.navigate(lambda: page.get_by_role("button", name="Search").click())
    assert page.locator(".error-summary").is_visible()
