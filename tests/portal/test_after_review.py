"""The customer portal over HTTP: what the review found (odd dates and numbers, closed
bookings, double clicks, forged grants, amounts in the reader's way)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Role, User
from models.mail import OutboxMessage
from models.portal import (
    Booking,
    BookingSlot,
    CustomerInvoice,
    Employee,
    EmployeeEvent,
    PortalOrder,
)
from services import portal
from tests.fixtures import portal as portal_fixtures
from tests.fixtures.app import run_together
from tests.fixtures.portal import (
    COMPANY,
    CUSTOMER,
    add_employee,
    count,
    employee_form,
    field_error,
    get,
    login,
    pay,
    place,
    saved_employee,
    slots_of,
    text,
)

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The portal's world (tests/fixtures/portal.py).
company = portal_fixtures.company
customer = portal_fixtures.customer
invoices = portal_fixtures.invoices
open_booking = portal_fixtures.open_booking
staff = portal_fixtures.staff


# ================================================================= after the review


@pytest.mark.parametrize("query", ["date_to=9999-12-31", "date_from=0001-01-01", "date_to=x"])
def test_odd_report_dates_fall_back_to_the_default_period(customer, company, query):
    assert customer.get(f"/portal/reports?{query}").status_code == 200
    with customer.get(f"/portal/reports.csv?{query}") as response:
        assert response.status_code == 200


@pytest.mark.parametrize(
    "mobile", ["41234567 ext 12345678901234567", "22 12 34 56", "+47 4123456789012345"]
)
def test_a_mobile_must_be_a_plain_mobile_number(app, customer, mobile):
    response = customer.post("/portal/employees/new", data=employee_form(mobile=mobile))
    assert response.status_code == 200 and 'href="#mobile"' in text(response)
    assert saved_employee(app) is None


def test_an_identity_number_with_odd_digits_is_a_length_error(app, customer):
    response = customer.post("/portal/employees/new", data=employee_form(national_id="12052312³45"))
    assert field_error(text(response), "national_id") == (
        "Enter the 11 digits of a national identity number."
    )


def test_a_closed_booking_is_neither_shown_nor_filled(app, customer, staff, open_booking):
    booking_id, [small, _big], [first, *_] = open_booking
    assert staff.post(f"/staff/portal/bookings/{booking_id}/active").status_code == 302
    assert get(app, Booking, booking_id).active is False
    assert customer.get(f"/portal/bookings/{booking_id}").status_code == 404
    assert place(customer, booking_id, first, small).status_code == 404
    with app.app_context(), pytest.raises(portal.PastDeadline):
        portal.place(db.session.get(BookingSlot, small), db.session.get(Employee, first), "t")
    staff.post(f"/staff/portal/bookings/{booking_id}/active")
    assert customer.get(f"/portal/bookings/{booking_id}").status_code == 200


def test_an_employee_leaving_before_the_time_cannot_be_placed_on_it(app, customer, open_booking):
    booking_id, [small, _big], [first, *_] = open_booking
    with app.app_context():
        employee = db.session.get(Employee, first)
        portal.set_active(employee, False, portal.today() + timedelta(days=5), "test")
        db.session.commit()
    response = place(customer, booking_id, first, small)  # the slot is 20 days away
    assert response.status_code == 400 and field_error(text(response), "employee")
    assert slots_of(app, booking_id)[0].taken == 0


def test_a_double_clicked_order_is_one_order(app, customer, company):
    data = {
        "department": "company",
        "desired_delivery": "Førstehjelpskurs",
        "quantity": "10",
        "contact": "Ola 12345678",
        "location": "Oslo",
    }
    first = customer.post("/portal/orders/new", data=data)
    second = customer.post("/portal/orders/new", data=data)
    assert first.headers["Location"] == second.headers["Location"]
    assert count(app, PortalOrder) == 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1


def test_a_deactivation_sent_twice_at_once_is_one_change(app, app_config, company, customer):
    from app import create_app

    employee_id = add_employee(app, company.id, "Kari", "Dobbel")
    apps = [create_app(app_config) for _ in range(2)]
    clients = [login(worker_app, CUSTOMER) for worker_app in apps]
    url = f"/portal/employees/{employee_id}/deactivate"

    def attempt(_worker_app, n):
        clients[n].post(url, data={"on": portal.today().isoformat()})

    run_together(attempt, apps)
    deactivations = count(
        app,
        EmployeeEvent,
        EmployeeEvent.employee_id == employee_id,
        EmployeeEvent.action == "deactivated",
    )
    assert deactivations == 1


def placed_with_link(app, customer, booking_id: int, employee_id: int, slot_id: int) -> str:
    """Place the employee and return the token of the self-declaration link they got."""
    place(customer, booking_id, employee_id, slot_id)
    with app.app_context():
        mail = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.template == "portal_booking_placed")
        )
        return re.search(r"/portal/egenerklaering/([^\s?]+)", mail.body_text).group(1)


def test_the_self_declaration_link_is_a_secret_and_ends_after_the_appointment(
    app, customer, open_booking
):
    booking_id, [small, _big], [first, *_] = open_booking
    place(customer, booking_id, first, small)
    with app.app_context():
        mail = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.template == "portal_booking_placed")
        )
        assert mail.sensitive  # staff cannot read the link in the outbox
        token = re.search(r"/portal/egenerklaering/([^\s?]+)", mail.body_text).group(1)
        slot = db.session.get(BookingSlot, small)
        slot.starts_at -= timedelta(days=30)
        slot.ends_at -= timedelta(days=30)
        db.session.commit()
    assert customer.get(f"/portal/egenerklaering/{token}").status_code == 404


def test_the_self_declaration_shows_norwegian_time(app, open_booking, client, customer):
    booking_id, [small, _big], [first, *_] = open_booking
    token = placed_with_link(app, customer, booking_id, first, small)
    oslo = slots_of(app, booking_id)[0].starts_at.astimezone(portal.OSLO).strftime("%H:%M")
    page = text(client.get(f"/portal/egenerklaering/{token}", headers={"Accept-Language": "nb"}))
    assert oslo in page


def test_an_unanswered_question_links_to_its_first_choice(app, customer, open_booking, client):
    booking_id, [small, _big], [first, *_] = open_booking
    token = placed_with_link(app, customer, booking_id, first, small)
    response = client.post(f"/portal/egenerklaering/{token}", data={"other": ""})
    assert response.status_code == 400
    assert 'href="#illness-0"' in text(response) and 'id="illness-0"' in text(response)


def test_a_forged_department_grant_is_a_form_error(app, make_user, company):
    make_user("admin@example.com", role=Role.ADMIN, org=None, name="Admin")
    admin = login(app, "admin@example.com")
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id).where(User.email == CUSTOMER))
    response = admin.post(
        f"/auth/users/{user_id}/edit",
        data={
            "email": CUSTOMER,
            "name": "x",
            "role": "customer",
            "organisation": COMPANY,
            "language": "nb",
            "granted_department_ids": ["2147483648"],
        },
    )
    assert response.status_code == 200


def test_staff_filter_orders_by_a_company_typed(app, staff, company, make_org):
    one = text(staff.get("/staff/portal/?company_name=demokunde_t"))
    assert 'value="Demokunde_Test"' in one and "aria-invalid" not in one
    make_org("Demokunde Nord AS", country="NO")
    several = text(staff.get("/staff/portal/?company_name=demokunde&status=ny"))
    assert 'aria-invalid="true"' in several
    links = re.findall(r'href="(/staff/portal/\?[^"]*company=[0-9]+[^"]*)"', several)
    assert len(links) == 2 and all("status=ny" in link for link in links)
    assert "/staff/portal/orders/" not in several  # no rows until one is chosen
    unknown = text(staff.get("/staff/portal/?company_name=Ei+ole+AS"))
    assert 'aria-invalid="true"' in unknown and "/staff/portal/orders/" not in unknown
    by_id = text(staff.get(f"/staff/portal/?company={company.id}"))
    assert 'value="Demokunde_Test"' in by_id


def test_the_payment_field_is_prefilled_the_readers_way_and_read_back(app, staff, invoices):
    """The field once showed "1500.00" on a Norwegian page."""
    with app.app_context():
        invoice_id = db.session.scalar(
            sa.select(CustomerInvoice.id).where(CustomerInvoice.number == "2024-000101")
        )
    staff.post("/language", data={"language": "nb", "next": "/"})
    html = text(staff.get("/staff/portal/invoices"))
    field = re.search(rf'<input id="amount-{invoice_id}"[^>]*>', html).group(0)
    assert 'value="1500,00"' in field
    # What it shows is what the form takes: the whole amount, paid.
    assert pay(app, staff, invoice_id, "1500,00").status_code == 302
    assert get(app, CustomerInvoice, invoice_id).outstanding == Decimal("0.00")
