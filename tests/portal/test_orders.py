"""The company customer portal (Kundeportal) over HTTP: orders, employees and their
identity numbers, invoices, bookings with self-declarations, access and reports."""

from __future__ import annotations

import csv
import html as html_module
import io
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from babel.dates import format_datetime
from stdnum.no import fodselsnummer

from extensions import db
from models.auth import Department, Role, User
from models.counters import Counter
from models.mail import OutboxMessage
from models.portal import (
    Booking,
    BookingSlot,
    CustomerInvoice,
    Employee,
    EmployeeEvent,
    OrderEvent,
    OrderStatus,
    Placement,
    PortalOrder,
)
from services import portal
from services.timezones import local_to_utc
from tests.fixtures import portal as portal_fixtures
from tests.fixtures.app import page_link, run_together
from tests.fixtures.mail import deliver_mail
from tests.fixtures.portal import (
    BERGEN,
    BORN,
    COMPANY,
    CUSTOMER,
    MANAGER,
    NUMBER,
    NURSE,
    ORDER_FORM,
    OSLO,
    TESTBEDRIFTEN,
    Company,
    add_booking,
    add_employee,
    add_invoice,
    add_order,
    count,
    employee_form,
    field_error,
    get,
    get_order_id,
    get_order_status,
    group_id,
    listed_employees,
    listed_invoices,
    listed_orders,
    location,
    login,
    make_manager,
    national_id,
    pay,
    place,
    place_directly,
    saved_employee,
    select_options,
    table_row,
    text,
    utc,
)

bergen_client = portal_fixtures.bergen_client
company = portal_fixtures.company
customer = portal_fixtures.customer
health = portal_fixtures.health
open_booking = portal_fixtures.open_booking
other_client = portal_fixtures.other_client
staff = portal_fixtures.staff


# ---------------------------------------------------------------- the world


# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.
pytestmark = pytest.mark.usefixtures("quick_password_hashing")


# ---------------------------------------------------------------- data factories


# ---------------------------------------------------------------- reading pages


# ================================================================= 1. orders


@pytest.fixture
def searchable_orders(app, company) -> dict[str, int]:
    """Four orders of the company, one of another company; numbers by name."""
    c = company
    add_order(
        app,
        c.id,
        300010,
        at=utc(2024, 1, 10),
        group="Helsekontroller",
        description="Årlig helsekontroll",
    )
    add_order(
        app,
        c.id,
        300011,
        at=utc(2024, 2, 14, 23, 30),
        status=OrderStatus.PLANNED,
        department_id=c.dept_testbedriften,
        group="Kurs og opplæring",
    )
    add_order(
        app,
        c.id,
        300012,
        at=utc(2024, 3, 20),
        status=OrderStatus.DELIVERED,
        department_id=c.dept_bergen,
    )
    # 22:30 UTC on 31 March is 00:30 on 1 April in Oslo (summer time).
    add_order(app, c.id, 300013, at=utc(2024, 3, 31, 22, 30), status=OrderStatus.CANCELLED)
    add_order(app, c.other_id, 300014, at=utc(2024, 2, 1))
    return {"company": 300010, "testbedriften": 300011, "bergen": 300012, "april": 300013}


def search_orders(client, **args) -> list[int]:
    response = client.get("/portal/orders", query_string=args)
    assert response.status_code == 200
    return sorted(listed_orders(text(response)))


def test_the_order_list_shows_the_companys_orders_newest_first(customer, searchable_orders):
    html = text(customer.get("/portal/orders"))
    assert listed_orders(html) == [300013, 300012, 300011, 300010]  # not 300014: another's


def test_orders_are_found_by_number(customer, searchable_orders):
    assert search_orders(customer, number="300011") == [300011]
    assert search_orders(customer, number=" 300012 ") == [300012]
    assert search_orders(customer, number="300014") == []  # another company's
    assert search_orders(customer, number="abc") == []
    assert search_orders(customer, number="999999999999") == []


def test_orders_are_found_by_date_in_norwegian_days(customer, searchable_orders):
    # 300011 was ordered at 23:30 UTC on 14 February: 15 February in Oslo.
    assert search_orders(customer, date_from="2024-02-15") == [300011, 300012, 300013]
    assert search_orders(customer, date_to="2024-02-14") == [300010]
    assert search_orders(customer, date_from="2024-02-15", date_to="2024-02-15") == [300011]
    # 300013 is 1 April in Oslo, although still 31 March in UTC.
    assert search_orders(customer, date_to="2024-03-31") == [300010, 300011, 300012]
    assert search_orders(customer, date_from="2024-04-01") == [300013]


def test_orders_are_found_by_status(customer, searchable_orders):
    assert search_orders(customer, status="planlagt") == [300011]
    assert search_orders(customer, status="levert") == [300012]
    assert search_orders(customer, status="behandles") == []
    assert search_orders(customer, status="") == [300010, 300011, 300012, 300013]


def test_orders_are_found_by_department_or_company(customer, company, searchable_orders):
    assert search_orders(customer, department="company") == [300010, 300013]
    assert search_orders(customer, department=str(company.dept_bergen)) == [300012]
    assert search_orders(customer, department=str(company.dept_testbedriften)) == [300011]
    html = text(customer.get("/portal/orders"))
    assert select_options(html, "department") == {
        "": "All",
        "company": COMPANY,
        str(company.dept_bergen): BERGEN,
        str(company.dept_testbedriften): TESTBEDRIFTEN,
    }


def test_orders_are_found_by_product_group(app, customer, searchable_orders):
    assert search_orders(customer, product_group=str(group_id(app, "Helsekontroller"))) == [300010]
    assert search_orders(customer, product_group=str(group_id(app, "Kurs og opplæring"))) == [
        300011
    ]
    assert search_orders(customer, product_group=str(group_id(app, "Helsekontroller") + 99)) == []


def test_order_filters_combine(customer, company, searchable_orders):
    assert search_orders(customer, date_from="2024-02-01", department="company") == [300013]
    assert search_orders(customer, status="mottatt", date_to="2024-03-31") == [300010]


def test_orders_sort_by_number_date_and_status(customer, searchable_orders):
    def listed(**args):
        return listed_orders(text(customer.get("/portal/orders", query_string=args)))

    assert listed(sort="number", dir="asc") == [300010, 300011, 300012, 300013]
    assert listed(sort="number", dir="desc") == [300013, 300012, 300011, 300010]
    assert listed(sort="date", dir="asc") == [300010, 300011, 300012, 300013]
    assert listed(sort="date", dir="desc") == [300013, 300012, 300011, 300010]
    by_status = listed(sort="status", dir="asc")
    assert listed(sort="status", dir="desc") == list(reversed(by_status))
    status = {300010: "mottatt", 300011: "planlagt", 300012: "levert", 300013: "avbestilt"}
    lifecycle = [s.value for s in OrderStatus]  # received → … → delivered, cancelled
    assert [status[n] for n in by_status] == sorted(status.values(), key=lifecycle.index)
    # Nonsense falls back to the newest first.
    assert listed(sort="drop table", dir="sideways") == [300013, 300012, 300011, 300010]


def test_sort_links_keep_the_filters(customer, searchable_orders):
    html = text(customer.get("/portal/orders?status=mottatt&sort=number&dir=asc"))
    links = re.findall(r'href="(/portal/orders\?[^"]*sort=[^"]*)"', html)
    assert links and all("status=mottatt" in link for link in links)
    number_link = next(link for link in links if "sort=number" in link)
    assert "dir=desc" in number_link  # a second click turns the order


def test_orders_come_25_to_a_page(app, customer, company):
    for n in range(30):
        add_order(app, company.id, 300100 + n, at=utc(2024, 1, 1) + timedelta(hours=n))
    first = text(customer.get("/portal/orders?sort=number&dir=asc"))
    assert listed_orders(first) == list(range(300100, 300125))
    next_link = page_link(first)
    assert "after=" in next_link and "sort=number" in next_link and "dir=asc" in next_link
    second = text(customer.get(next_link))
    assert listed_orders(second) == list(range(300125, 300130))
    last = text(customer.get("/portal/orders?sort=number&dir=asc&last=1"))
    assert listed_orders(last) == list(range(300105, 300130))
    assert customer.get("/portal/orders?after=x").status_code == 404
    assert customer.get("/portal/orders?before=0").status_code == 404
    newest = text(customer.get("/portal/orders"))
    assert listed_orders(newest) == list(range(300129, 300104, -1))


def test_a_new_order_needs_its_required_fields(app, customer):
    empty = {key: "" for key in ORDER_FORM}
    response = customer.post("/portal/orders/new", data=empty)
    assert response.status_code == 200
    html = text(response)
    assert field_error(html, "desired_delivery") == "Describe the delivery you want."
    assert field_error(html, "quantity") == "Give the quantity or scope."
    assert field_error(html, "contact") == "Give the contact person's name and phone number."
    assert field_error(html, "location") == "Give the place of the delivery."
    assert field_error(html, "department") is not None
    assert field_error(html, "invoice_reference") is None
    assert field_error(html, "description") is None
    assert count(app, PortalOrder) == 0
    assert count(app, OutboxMessage) == 0
    assert count(app, Counter) == 0


def test_a_new_order_may_not_name_a_department_of_another_company(app, customer, company):
    with app.app_context():
        foreign = db.session.scalar(
            sa.select(Department.id).where(Department.organisation_id == company.other_id)
        )
    response = customer.post("/portal/orders/new", data={**ORDER_FORM, "department": foreign})
    assert response.status_code == 200
    assert field_error(text(response), "department") is not None
    assert count(app, PortalOrder) == 0


def test_a_new_order_gets_a_number_and_mails_the_user_and_the_account_manager(
    app, smtp_server, customer, company, make_user
):
    make_manager(app, make_user, company)
    response = customer.post(
        "/portal/orders/new", data={**ORDER_FORM, "department": str(company.dept_bergen)}
    )
    assert response.status_code == 302
    assert location(response) == "/portal/orders/300001"
    order = text(customer.get("/portal/orders/300001"))
    assert "Order 300001" in order and "Førstehjelpskurs" in order and BERGEN in order
    assert "Received" in order
    with app.app_context():
        saved = db.session.scalar(sa.select(PortalOrder))
        assert (saved.number, saved.department_id, saved.status) == (
            300001,
            company.dept_bergen,
            OrderStatus.RECEIVED,
        )
        assert saved.ordered_by.email == CUSTOMER
        assert (saved.invoice_reference, saved.description) == ("Prosjekt 77", "Helst i mai.")

    deliver_mail(app)
    by_recipient = {m["To"]: m for m in smtp_server.messages}
    assert set(by_recipient) == {CUSTOMER, MANAGER}
    to_user = smtp_server.text_of(by_recipient[CUSTOMER])
    assert "300001" in to_user and "Førstehjelpskurs" in to_user
    assert "http://portal.test/portal/orders/300001" in to_user
    to_manager = smtp_server.text_of(by_recipient[MANAGER])
    assert "300001" in to_manager
    for value in ("Førstehjelpskurs", "12 ansatte", "Ola Olsen - tlf 41234567", "Storgata 1"):
        assert value in to_manager
    assert COMPANY in to_manager and BERGEN in to_manager
    assert "http://portal.test/staff/portal/orders/300001" in to_manager

    second = customer.post("/portal/orders/new", data=ORDER_FORM)
    assert location(second) == "/portal/orders/300002"


def test_without_an_account_manager_only_the_user_is_mailed(app, smtp_server, customer):
    assert customer.post("/portal/orders/new", data=ORDER_FORM).status_code == 302
    deliver_mail(app)
    assert [m["To"] for m in smtp_server.messages] == [CUSTOMER]


def test_the_order_numbers_continue_an_existing_counter(app, customer):
    with app.app_context():
        db.session.add(Counter(key="portal-order", value=307391))
        db.session.commit()
    response = customer.post("/portal/orders/new", data=ORDER_FORM)
    assert location(response) == "/portal/orders/307392"


def test_the_order_page_lists_its_bookings_and_its_status_history(app, customer, staff, company):
    customer.post("/portal/orders/new", data=ORDER_FORM)
    order_id = get_order_id(app, 300001)
    booking_id, _ = add_booking(app, company.id, order_id=order_id, title="Helsekontroll vår")
    add_booking(app, company.id, title="Annen timeavtale")  # not of this order
    group = group_id(app, "Helsekontroller")

    response = staff.post(
        "/staff/portal/orders/300001/status",
        data={"status": "planlagt", "product_group": str(group)},
    )
    assert response.status_code == 302
    html = text(customer.get("/portal/orders/300001"))
    assert f'href="/portal/bookings/{booking_id}"' in html and "Helsekontroll vår" in html
    assert "Annen timeavtale" not in html
    details = re.search(r'<dl class="details">.*?</dl>', html, re.S).group(0)
    assert "Planned" in details and "Helsekontroller" in details
    history = re.search(r"Status history</h2>.*?</table>", html, re.S).group(0)
    assert re.findall(r"badge--order-(\w+)", history) == ["mottatt", "planlagt"]


def test_staff_change_the_status_and_the_customer_sees_it(app, customer, staff, company):
    add_order(app, company.id, 300050, at=utc(2024, 5, 1))
    staff_page = text(staff.get("/staff/portal/orders/300050"))
    assert "Order 300050" in staff_page
    for status, label in [("behandles", "Being processed"), ("levert", "Delivered")]:
        response = staff.post(
            "/staff/portal/orders/300050/status", data={"status": status, "product_group": ""}
        )
        assert location(response) == "/staff/portal/orders/300050"
        details = re.search(
            r'<dl class="details">.*?</dl>', text(customer.get("/portal/orders/300050")), re.S
        ).group(0)
        assert label in details
    # The same status again (a double click) records no second change.
    staff.post("/staff/portal/orders/300050/status", data={"status": "levert"})
    with app.app_context():
        events = db.session.scalars(
            sa.select(OrderEvent.to_status)
            .join(PortalOrder)
            .where(PortalOrder.number == 300050)
            .order_by(OrderEvent.id)
        ).all()
        assert events == [OrderStatus.RECEIVED, OrderStatus.IN_PROGRESS, OrderStatus.DELIVERED]
    assert search_orders(customer, status="levert") == [300050]
    bad = staff.post("/staff/portal/orders/300050/status", data={"status": "slettet"})
    assert bad.status_code == 400
    assert (
        staff.post("/staff/portal/orders/999999/status", data={"status": "levert"}).status_code
        == 404
    )


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/staff/portal/"),
        ("get", "/staff/portal/orders/300050"),
        ("post", "/staff/portal/orders/300050/status"),
        ("get", "/staff/portal/bookings"),
        ("get", "/staff/portal/bookings/new"),
        ("get", "/staff/portal/invoices"),
        ("get", "/staff/portal/employee-changes.json"),
    ],
)
def test_customers_get_403_in_the_staff_portal(app, customer, company, method, url):
    add_order(app, company.id, 300050, at=utc(2024, 5, 1))
    response = getattr(customer, method)(url, data={"status": "levert"})
    assert response.status_code == 403
    assert get_order_status(app, 300050) == OrderStatus.RECEIVED


# ================================================================= 2. employees


@pytest.fixture
def staff_list(app, company) -> dict[str, int]:
    """Employees of the company (and one of another company); ids by first name."""
    c = company
    return {
        "Ola": add_employee(app, c.id, "Ola", "Nordmann", "ola@firma.no"),
        "Kari": add_employee(
            app, c.id, "Kari", "Hansen", "kari.hansen@firma.no", department_id=c.dept_testbedriften
        ),
        "Per": add_employee(
            app, c.id, "Per", "Olsen", "per@bergen.no", department_id=c.dept_bergen
        ),
        "Anne": add_employee(
            app, c.id, "Anne", "Olsen", "anne@bergen.no", department_id=c.dept_bergen, active=False
        ),
        "Øyvind": add_employee(app, c.id, "Øyvind", "Ås", "oyvind@firma.no"),
        "Olga": add_employee(app, c.other_id, "Olga", "Olsen", "olga@annen.no"),
    }


def search_employees(client, **args) -> list[int]:
    response = client.get("/portal/employees", query_string=args)
    assert response.status_code == 200
    return sorted(listed_employees(text(response)))


def test_employees_are_found_by_name_email_and_department(customer, company, staff_list):
    ids = staff_list

    def found(**args):
        return search_employees(customer, **args)

    assert found() == sorted(ids[n] for n in ("Ola", "Kari", "Per", "Øyvind"))
    assert found(q="olsen") == [ids["Per"]]  # Anne is deactivated, Olga another's
    assert found(q="OLSEN", inactive="y") == sorted([ids["Per"], ids["Anne"]])
    assert found(q="kari") == [ids["Kari"]]
    assert found(q="bergen.no") == [ids["Per"]]
    assert found(q="nordmann ola") == [ids["Ola"]]
    assert found(q="ola hansen") == []
    assert found(q="ÅS") == [ids["Øyvind"]]
    assert found(department="company") == sorted([ids["Ola"], ids["Øyvind"]])
    assert found(department=str(company.dept_bergen)) == [ids["Per"]]
    assert found(department=str(company.dept_bergen), inactive="y") == sorted(
        [ids["Per"], ids["Anne"]]
    )
    assert found(department=str(company.dept_testbedriften), q="per") == []


def test_deactivated_employees_are_marked_in_the_list(customer, staff_list):
    row = table_row(text(customer.get("/portal/employees?inactive=y")), "Anne Olsen")
    assert "(deactivated)" in row
    assert "(deactivated)" not in table_row(text(customer.get("/portal/employees")), "Per Olsen")


def test_a_new_employee_is_saved_with_every_field(app, customer, company):
    response = customer.post(
        "/portal/employees/new",
        data=employee_form(
            mobile="+47 412 44 845",
            birth_date="1980-06-01",
            gender="kvinne",
            department=str(company.dept_bergen),
        ),
    )
    employee = saved_employee(app)
    assert location(response) == f"/portal/employees/{employee.id}"
    assert (employee.first_name, employee.last_name) == ("Nora", "Berg")
    assert re.sub(r"\D", "", employee.mobile) == "4741244845"
    assert employee.birth_date == date(1980, 6, 1)
    assert employee.gender.value == "kvinne"
    assert employee.department_id == company.dept_bergen
    assert employee.organisation_id == company.id
    assert employee.active and employee.national_id_masked is None
    page = text(customer.get(location(response)))
    for value in ("Nora Berg", employee.mobile, "Female", BERGEN, "Not registered"):
        assert value in page


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"email": ""}, "email", "Enter the email address."),
        ({"email": "nora.example.com"}, "email", "Enter a valid email address"),
        ({"first_name": " "}, "first_name", "Enter the first name."),
        ({"last_name": ""}, "last_name", "Enter the last name."),
        ({"mobile": "123"}, "mobile", "Enter a mobile number"),
        ({"birth_date": "2005-02-30"}, "birth_date", None),
        ({"birth_date": "1850-01-01"}, "birth_date", "Enter a date between 1900 and today."),
        ({"gender": "ukjent"}, "gender", None),
        ({"department": ""}, "department", None),
    ],
)
def test_a_new_employee_is_checked(app, customer, overrides, field, message):
    response = customer.post("/portal/employees/new", data=employee_form(**overrides))
    assert response.status_code == 200
    error = field_error(text(response), field)
    assert error is not None and (message is None or message in error)
    assert count(app, Employee) == 0
    assert count(app, EmployeeEvent) == 0


def test_the_mobile_number_is_kept_in_international_form(app, customer):
    stored = set()
    for n, typed in enumerate(("41244845", "412 44 845", "+4741244845", "0047 41244845")):
        customer.post("/portal/employees/new", data=employee_form(mobile=typed, email=f"m{n}@x.no"))
        mobile = saved_employee(app, f"m{n}@x.no").mobile
        assert mobile.startswith("+47 ") and re.sub(r"\D", "", mobile) == "4741244845", typed
        stored.add(mobile)
    assert len(stored) == 1  # one form, whatever was typed


def test_a_norwegian_mobile_is_grouped_as_libphonenumber_does(app, customer):
    customer.post("/portal/employees/new", data=employee_form(mobile="412 44 845"))
    assert saved_employee(app).mobile == "+47 41 24 48 45"


def wrong_check_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def bad_date_number() -> str:
    """Right check digits, but the 32nd of January."""
    for individual in range(500, 1000):
        base = f"320105{individual}"
        first = fodselsnummer.calc_check_digit1(base)
        number = base + first + fodselsnummer.calc_check_digit2(base + first)
        if len(number) == 11:
            return number
    raise AssertionError("no such number")


@pytest.mark.parametrize(
    "typed, birth_date, message",
    [
        (NUMBER[:10], "", "Enter the 11 digits of a national identity number."),
        (NUMBER + "1", "", "Enter the 11 digits of a national identity number."),
        (NUMBER[:5] + "O" + NUMBER[6:], "", "Enter the 11 digits of a national identity number."),
        ("abcdefghijk", "", "Enter the 11 digits of a national identity number."),
        (wrong_check_digit(NUMBER), "", "The check digits do not match: check the number."),
        (bad_date_number(), "", "The number holds no valid birth date: check the number."),
        (NUMBER, "2005-03-16", "The number does not match the birth date."),
    ],
    ids=["short", "long", "letter-o", "letters", "check-digit", "no-date", "other-birth-date"],
)
def test_a_wrong_national_identity_number_is_refused(app, customer, typed, birth_date, message):
    response = customer.post(
        "/portal/employees/new", data=employee_form(national_id=typed, birth_date=birth_date)
    )
    assert response.status_code == 200
    html = text(response)
    assert field_error(html, "national_id") == message
    assert typed not in html  # the typed number is never sent back
    assert count(app, Employee) == 0


@pytest.mark.parametrize(
    "typed, birth_date, masked",
    [
        (NUMBER, "", "150305*****"),
        (NUMBER, "2005-03-15", "150305*****"),
        (f"{NUMBER[:6]} {NUMBER[6:]}", "", "150305*****"),
        (national_id(BORN, d_number=True), "", "550305*****"),
    ],
    ids=["fodselsnummer", "with-birth-date", "with-a-space", "d-number"],
)
def test_a_valid_number_is_saved_and_gives_the_birth_date(app, customer, typed, birth_date, masked):
    response = customer.post(
        "/portal/employees/new", data=employee_form(national_id=typed, birth_date=birth_date)
    )
    assert response.status_code == 302
    employee = saved_employee(app)
    assert employee.birth_date == BORN
    assert employee.national_id_masked == masked
    with app.app_context():
        assert portal.vault().decrypt(employee.national_id_encrypted) == typed.replace(" ", "")
    assert masked in text(customer.get(location(response)))


def test_a_number_is_once_per_company(app, customer, other_client, company):
    assert (
        customer.post("/portal/employees/new", data=employee_form(national_id=NUMBER)).status_code
        == 302
    )
    twin = employee_form(first_name="Nils", email="nils@example.com", national_id=NUMBER)
    response = customer.post("/portal/employees/new", data=twin)
    assert response.status_code == 200
    assert field_error(text(response), "national_id") == (
        "Another employee of the company already has this national identity number."
    )
    assert NUMBER not in text(response)
    assert saved_employee(app, "nils@example.com") is None
    # Nor may an existing employee take it.
    nils = customer.post("/portal/employees/new", data={**twin, "national_id": ""})
    edit = customer.post(f"{location(nils)}/edit", data={**twin})
    assert edit.status_code == 200 and field_error(text(edit), "national_id")
    assert saved_employee(app, "nils@example.com").national_id_masked is None
    # Another company may have the same person.
    other = other_client.post("/portal/employees/new", data=employee_form(national_id=NUMBER))
    assert other.status_code == 302
    assert count(app, Employee, Employee.national_id_masked == "150305*****") == 2


def test_editing_without_typing_the_number_keeps_it(app, customer):
    response = customer.post("/portal/employees/new", data=employee_form(national_id=NUMBER))
    url = location(response)
    edit_page = text(customer.get(f"{url}/edit"))
    assert "Saved:" in edit_page and "150305*****" in edit_page
    assert 'name="remove_national_id"' in edit_page
    changed = customer.post(
        f"{url}/edit", data=employee_form(birth_date="2005-03-15", mobile="41244845")
    )
    assert location(changed) == url
    employee = saved_employee(app)
    assert employee.national_id_masked == "150305*****"
    assert re.sub(r"\D", "", employee.mobile) == "4741244845"
    with app.app_context():
        assert portal.vault().decrypt(employee.national_id_encrypted) == NUMBER


def test_a_new_number_replaces_the_saved_one(app, customer):
    url = location(customer.post("/portal/employees/new", data=employee_form(national_id=NUMBER)))
    newer = national_id(date(2006, 7, 1))
    customer.post(f"{url}/edit", data=employee_form(national_id=newer))
    employee = saved_employee(app)
    assert employee.national_id_masked == "010706*****"
    assert employee.birth_date == date(2006, 7, 1)
    with app.app_context():
        assert portal.vault().decrypt(employee.national_id_encrypted) == newer


def test_the_saved_number_can_be_removed(app, customer):
    url = location(customer.post("/portal/employees/new", data=employee_form(national_id=NUMBER)))
    response = customer.post(
        f"{url}/edit", data=employee_form(birth_date="2005-03-15", remove_national_id="y")
    )
    assert location(response) == url
    employee = saved_employee(app)
    assert employee.national_id_masked is None
    assert employee.national_id_encrypted is None
    assert employee.national_id_digest is None
    assert "Not registered" in text(customer.get(url))
    # The number is free again: another employee may have it.
    again = customer.post(
        "/portal/employees/new",
        data=employee_form(first_name="Nils", email="nils@example.com", national_id=NUMBER),
    )
    assert again.status_code == 302


def test_an_edit_with_no_change_records_nothing(app, customer):
    data = employee_form(national_id=NUMBER, mobile="41244845", gender="mann")
    url = location(customer.post("/portal/employees/new", data=data))
    mobile = saved_employee(app).mobile
    same = {**data, "national_id": "", "birth_date": "2005-03-15", "mobile": mobile}
    assert location(customer.post(f"{url}/edit", data=same)) == url
    assert count(app, EmployeeEvent) == 1  # the creation only


def test_a_birth_date_that_contradicts_the_saved_number_is_refused(app, customer):
    url = location(customer.post("/portal/employees/new", data=employee_form(national_id=NUMBER)))
    response = customer.post(f"{url}/edit", data=employee_form(birth_date="1990-01-01"))
    assert response.status_code == 200
    assert field_error(text(response), "birth_date") or field_error(text(response), "national_id")
    assert saved_employee(app).birth_date == BORN


def test_an_emptied_birth_date_is_taken_from_the_saved_number(app, customer):
    url = location(customer.post("/portal/employees/new", data=employee_form(national_id=NUMBER)))
    assert location(customer.post(f"{url}/edit", data=employee_form(birth_date=""))) == url
    assert saved_employee(app).birth_date == BORN


# ---------------------------------------------------------------- the number stays hidden


def every_stored_text(app) -> list[str]:
    """Every text value of every row of every table."""
    values = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(sa.select(table)):
                values += [str(v) for v in row if v is not None]
    return values


def test_the_full_number_is_never_shown_sent_or_logged(
    app, smtp_server, customer, staff, company, caplog
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement and value
    seen: dict[str, str] = {}

    def visit(client, url, method="get", **kwargs):
        response = getattr(client, method)(url, **kwargs)
        with response:
            seen[f"{method.upper()} {url} {kwargs.get('data', '')}"] = response.get_data(
                as_text=True
            )
        return response

    created = visit(
        customer,
        "/portal/employees/new",
        "post",
        data=employee_form(national_id=NUMBER, department=str(company.dept_bergen)),
    )
    url = location(created)
    employee_id = int(url.rsplit("/", 1)[1])
    page = visit(customer, url)
    assert "150305*****" in text(page)
    # The form sent back with an error after the number was typed (right or wrong).
    bad_email = employee_form(national_id=NUMBER, email="not an address")
    assert visit(customer, f"{url}/edit", "post", data=bad_email).status_code == 200
    wrong = wrong_check_digit(NUMBER)
    again = visit(customer, f"{url}/edit", "post", data=employee_form(national_id=wrong))
    assert again.status_code == 200 and wrong not in text(again)
    twin = employee_form(email="twin@example.com", national_id=NUMBER)
    assert visit(customer, "/portal/employees/new", "post", data=twin).status_code == 200
    assert visit(customer, f"{url}/edit", "post", data=employee_form()).status_code == 302

    booking_id, [slot_id] = add_booking(app, company.id)
    placed = visit(
        customer,
        f"/portal/bookings/{booking_id}/place",
        "post",
        data={"employee": str(employee_id), "slot": str(slot_id)},
    )
    assert placed.status_code == 302
    visit(customer, "/portal/orders/new", "post", data=ORDER_FORM)
    for portal_url in [
        "/portal/",
        "/portal/employees",
        "/portal/employees?inactive=y",
        url,
        f"{url}/edit",
        f"/portal/bookings/{booking_id}",
        "/portal/orders",
        "/portal/orders/300001",
        "/portal/reports",
        "/portal/reports.csv",
        "/portal/invoices",
    ]:
        assert visit(customer, portal_url).status_code == 200, portal_url
    visit(customer, f"{url}/deactivate", "post", data={"on": "2030-01-01"})
    visit(customer, f"{url}/reactivate", "post")
    for staff_url in [
        "/staff/portal/",
        "/staff/portal/orders/300001",
        "/staff/portal/bookings",
        f"/staff/portal/bookings/{booking_id}",
        "/staff/portal/invoices",
        "/staff/portal/employee-changes.json",
        "/staff/",
        "/staff/mail",
    ]:
        assert visit(staff, staff_url).status_code == 200, staff_url

    feed = staff.get("/staff/portal/employee-changes.json").get_json()
    assert {c["employee"]["national_id_masked"] for c in feed["changes"]} == {"150305*****"}
    for what, body in seen.items():
        assert NUMBER not in body, f"the number is in the answer to {what}"
    with app.app_context():
        messages = db.session.scalars(sa.select(OutboxMessage)).all()
        assert {m.template for m in messages} >= {"portal_booking_placed"}
        for message in messages:
            for part in (message.subject, message.body_text, message.body_html):
                assert NUMBER not in part, message.template
    deliver_mail(app)
    assert smtp_server.messages
    for sent in smtp_server.messages:
        assert NUMBER not in sent.as_string()
    # The statements' values are logged (the mask among them), but never the number.
    assert any("150305*****" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert NUMBER not in record.getMessage(), record.name
        assert NUMBER not in str(record.__dict__), record.name
    # The database holds it only encrypted: no column of any table has it in clear.
    assert not [v for v in every_stored_text(app) if NUMBER in v]
    employee = get(app, Employee, employee_id)
    assert employee.national_id_masked == "150305*****"
    assert NUMBER not in employee.national_id_encrypted
    assert NUMBER not in (employee.national_id_digest or "")
    with app.app_context():
        assert portal.vault().decrypt(employee.national_id_encrypted) == NUMBER


# ---------------------------------------------------------------- deactivation


def test_a_deactivated_employee_leaves_the_list_and_the_picker(app, customer, company):
    employee_id = add_employee(app, company.id, "Per", "Olsen", "per@firma.no")
    booking_id, [slot_id] = add_booking(app, company.id)

    def in_picker() -> bool:
        html = text(customer.get(f"/portal/bookings/{booking_id}"))
        return str(employee_id) in select_options(html, "employee")

    assert in_picker()

    url = f"/portal/employees/{employee_id}"
    response = customer.post(f"{url}/deactivate", data={"on": "2025-06-30"})
    assert location(response) == url
    employee = get(app, Employee, employee_id)
    assert not employee.active and employee.deactivated_on == date(2025, 6, 30)
    assert employee_id not in listed_employees(text(customer.get("/portal/employees")))
    assert employee_id in listed_employees(text(customer.get("/portal/employees?inactive=y")))
    assert not in_picker()
    page = customer.get(url)
    assert page.status_code == 200 and "Deactivated from" in text(page)
    refused = customer.post(
        f"/portal/bookings/{booking_id}/place",
        data={"employee": str(employee_id), "slot": str(slot_id)},
    )
    assert refused.status_code == 400 and field_error(text(refused), "employee")
    assert count(app, Placement) == 0

    assert location(customer.post(f"{url}/reactivate")) == url
    employee = get(app, Employee, employee_id)
    assert employee.active and employee.deactivated_on is None
    assert employee_id in listed_employees(text(customer.get("/portal/employees")))
    assert in_picker()


def test_a_deactivation_needs_its_date(app, customer, company):
    employee_id = add_employee(app, company.id, "Per", "Olsen")
    for on in ("", "30.06.2025", "1899-01-01"):
        customer.post(f"/portal/employees/{employee_id}/deactivate", data={"on": on})
        assert get(app, Employee, employee_id).active, on
    assert count(app, EmployeeEvent) == 1  # the creation only


def test_placements_are_kept_when_the_employee_is_deactivated(app, customer, company):
    employee_id = add_employee(app, company.id, "Per", "Olsen")
    booking_id, [slot_id] = add_booking(app, company.id)
    place_directly(app, slot_id, employee_id)
    customer.post(f"/portal/employees/{employee_id}/deactivate", data={"on": "2025-06-30"})
    assert "Per Olsen" in text(customer.get(f"/portal/bookings/{booking_id}"))
    assert "Helsekontroll" in text(customer.get(f"/portal/employees/{employee_id}"))
    assert get(app, BookingSlot, slot_id).taken == 1


# ---------------------------------------------------------------- the CRM feed


def feed(client, **args):
    return client.get("/staff/portal/employee-changes.json", query_string=args)


def test_every_change_of_an_employee_is_in_the_feed(app, customer, staff, company):
    url = location(customer.post("/portal/employees/new", data=employee_form(national_id=NUMBER)))
    employee_id = int(url.rsplit("/", 1)[1])
    base = employee_form(birth_date="2005-03-15")
    customer.post(f"{url}/edit", data={**base, "mobile": "41244845"})
    customer.post(
        f"{url}/edit",
        data={
            **base,
            "mobile": "41244845",
            "last_name": "Berg-Hansen",
            "department": str(company.dept_bergen),
        },
    )
    customer.post(
        f"{url}/edit",
        data={
            **base,
            "mobile": "41244845",
            "last_name": "Berg-Hansen",
            "department": str(company.dept_bergen),
            "remove_national_id": "y",
        },
    )
    customer.post(f"{url}/deactivate", data={"on": "2025-06-30"})
    customer.post(f"{url}/reactivate")

    response = feed(staff)
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["more"] is False
    changes = body["changes"]
    assert [(c["action"], c["fields"]) for c in changes] == [
        (
            "created",
            ["birth_date", "email", "first_name", "last_name", "national_id"],
        ),
        ("changed", ["mobile"]),
        ("changed", ["department_id", "last_name"]),
        ("changed", ["national_id"]),
        ("deactivated", ["active", "deactivated_on"]),
        ("reactivated", ["active", "deactivated_on"]),
    ]
    assert [c["cursor"] for c in changes] == sorted(c["cursor"] for c in changes)
    assert body["next"] == changes[-1]["cursor"]
    assert {c["actor"] for c in changes} == {CUSTOMER}
    record = changes[0]["employee"]  # the employee as they are now
    assert record["id"] == employee_id and record["organisation"] == COMPANY
    assert (record["last_name"], record["department"]) == ("Berg-Hansen", BERGEN)
    assert record["national_id_masked"] is None and record["active"] is True


def test_the_feed_pages_with_a_cursor(app, staff, company):
    for n in range(5):
        add_employee(app, company.id, f"Ansatt{n}", "Test")
    first = feed(staff, limit=2).get_json()
    assert len(first["changes"]) == 2 and first["more"] is True
    second = feed(staff, after=first["next"], limit=2).get_json()
    assert len(second["changes"]) == 2 and second["more"] is True
    third = feed(staff, after=second["next"], limit=2).get_json()
    assert len(third["changes"]) == 1 and third["more"] is False
    names = [
        c["employee"]["first_name"] for c in first["changes"] + second["changes"] + third["changes"]
    ]
    assert names == [f"Ansatt{n}" for n in range(5)]
    done = feed(staff, after=third["next"]).get_json()
    assert done == {"changes": [], "next": third["next"], "more": False}
    exactly = feed(staff, limit=5).get_json()
    assert len(exactly["changes"]) == 5 and exactly["more"] is False
    assert len(feed(staff, limit=0).get_json()["changes"]) == 1


@pytest.mark.parametrize(
    "args", [{"after": "abc"}, {"after": "-1"}, {"after": "1.5"}, {"after": ""}, {"limit": "x"}]
)
def test_a_bad_cursor_is_a_400(staff, args):
    response = feed(staff, **args)
    assert response.status_code == 400
    assert "error" in response.get_json()


def test_the_feed_is_for_staff_only(app, client, customer):
    assert feed(customer).status_code == 403
    anonymous = feed(client)
    assert anonymous.status_code == 302 and "/auth/login" in location(anonymous)


# ================================================================= 3. invoices


@pytest.fixture
def invoices(app, company) -> dict[str, str]:
    """Overdue, unpaid (due today), paid (although past due) and unpaid (due tomorrow)."""
    today = portal.today()
    c = company
    add_invoice(
        app,
        c.id,
        "2024-000101",
        issued=date(2024, 1, 10),
        due=today - timedelta(days=1),
        total="1500.00",
    )
    add_invoice(
        app,
        c.id,
        "2024-000102",
        issued=date(2024, 2, 10),
        due=today,
        total="2000.00",
        outstanding="200.00",
    )
    add_invoice(
        app,
        c.id,
        "2024-000103",
        issued=date(2024, 3, 10),
        due=today - timedelta(days=1),
        total="3000.00",
        outstanding="0",
    )
    add_invoice(
        app,
        c.id,
        "2024-000104",
        issued=date(2024, 3, 31),
        due=today + timedelta(days=1),
        total="300.00",
    )
    add_invoice(app, c.other_id, "2024-000199", issued=date(2024, 2, 1), due=today, total="999.00")
    return {
        "overdue": "2024-000101",
        "today": "2024-000102",
        "paid": "2024-000103",
        "tomorrow": "2024-000104",
    }


def search_invoices(client, **args) -> list[str]:
    response = client.get("/portal/invoices", query_string=args)
    assert response.status_code == 200
    return sorted(listed_invoices(text(response)))


def test_the_invoice_list_shows_the_unpaid_ones_first(customer, invoices):
    assert search_invoices(customer) == ["2024-000101", "2024-000102", "2024-000104"]


def test_invoices_are_found_by_status(customer, invoices):
    assert search_invoices(customer, status="ubetalt") == [
        "2024-000101",
        "2024-000102",
        "2024-000104",
    ]
    assert search_invoices(customer, status="forfalt") == ["2024-000101"]
    assert search_invoices(customer, status="betalt") == ["2024-000103"]
    assert search_invoices(customer, status="") == [
        "2024-000101",
        "2024-000102",
        "2024-000103",
        "2024-000104",
    ]


def test_invoices_are_found_by_number_and_date(customer, invoices):
    assert search_invoices(customer, number="2024-000103", status="") == ["2024-000103"]
    assert search_invoices(customer, number=" 2024-000103 ", status="") == ["2024-000103"]
    assert search_invoices(customer, number="2024-000103", status="ubetalt") == []
    assert search_invoices(customer, number="2024-000199", status="") == []  # another's
    assert search_invoices(customer, date_from="2024-02-10", status="") == [
        "2024-000102",
        "2024-000103",
        "2024-000104",
    ]
    assert search_invoices(customer, date_to="2024-03-10", status="") == [
        "2024-000101",
        "2024-000102",
        "2024-000103",
    ]
    assert search_invoices(customer, date_from="2024-03-10", date_to="2024-03-10", status="") == [
        "2024-000103"
    ]
    assert search_invoices(customer, date_from="2024-13-01", status="") == []


def status_shown(html: str, number: str) -> str:
    row = table_row(html, number)
    return re.search(r'badge--invoice-(\w+)">([^<]+)<', row).group(1, 2)


def test_the_status_is_computed_from_the_due_date_and_the_outstanding_amount(
    app, customer, invoices
):
    html = text(customer.get("/portal/invoices?status="))
    assert status_shown(html, "2024-000101") == ("forfalt", "Overdue")
    assert status_shown(html, "2024-000102") == ("ubetalt", "Unpaid")
    assert status_shown(html, "2024-000103") == ("betalt", "Paid")
    assert status_shown(html, "2024-000104") == ("ubetalt", "Unpaid")
    with app.app_context():
        invoice = db.session.scalar(
            sa.select(CustomerInvoice).where(CustomerInvoice.number == "2024-000102")
        )
        due = invoice.due_date
        assert portal.invoice_status(invoice, on=due) == "ubetalt"
        assert portal.invoice_status(invoice, on=due - timedelta(days=1)) == "ubetalt"
        assert portal.invoice_status(invoice, on=due + timedelta(days=1)) == "forfalt"
        invoice.outstanding = Decimal("0.00")
        assert portal.invoice_status(invoice, on=due + timedelta(days=1)) == "betalt"
        db.session.rollback()


def test_amounts_are_shown_as_norwegian_kroner(app, company, invoices, make_user):
    make_user("nb@demokunde.example.com", org=COMPANY, name="Nora Bruker", language="nb")
    norwegian = login(app, "nb@demokunde.example.com")
    row = table_row(text(norwegian.get("/portal/invoices?status=")), "2024-000101")
    assert re.search(r"1[\s\u00a0\u202f]?500,00[\s\u00a0\u202f]*kr", row), row
    assert "1,500.00" not in row


def test_amounts_are_shown_in_english_for_an_english_user(customer, invoices):
    row = table_row(text(customer.get("/portal/invoices?status=")), "2024-000102")
    assert "2,000.00" in row and "200.00" in row and "NOK" in row


def test_an_invoice_downloads_as_pdf(customer, invoices):
    with customer.get("/portal/invoices/2024-000101.pdf") as response:
        assert response.status_code == 200
        assert response.mimetype == "application/pdf"
        assert response.data.startswith(b"%PDF")
        assert "faktura-2024-000101.pdf" in response.headers["Content-Disposition"]
    for missing in ("2024-000199", "2024-999999"):
        with customer.get(f"/portal/invoices/{missing}.pdf") as response:
            assert response.status_code == 404, missing


def test_a_double_click_registers_a_payment_once(app, staff, invoices):
    with app.app_context():
        invoice_id = db.session.scalar(
            sa.select(CustomerInvoice.id).where(CustomerInvoice.number == "2024-000101")
        )
    seen = str(get(app, CustomerInvoice, invoice_id).outstanding)
    url = f"/staff/portal/invoices/{invoice_id}/payment"
    for _click in range(2):
        staff.post(url, data={"amount": "500.00", "seen": seen})
    assert get(app, CustomerInvoice, invoice_id).outstanding == Decimal("1000.00")


def test_staff_register_a_part_payment_and_then_the_rest(app, customer, staff, invoices):
    with app.app_context():
        invoice_id = db.session.scalar(
            sa.select(CustomerInvoice.id).where(CustomerInvoice.number == "2024-000101")
        )
    url = f"/staff/portal/invoices/{invoice_id}/payment"
    response = pay(app, staff, invoice_id, "500.00")
    assert response.status_code == 302
    assert get(app, CustomerInvoice, invoice_id).outstanding == Decimal("1000.00")
    html = text(customer.get("/portal/invoices?status="))
    assert status_shown(html, "2024-000101") == ("forfalt", "Overdue")
    assert "1,000.00" in table_row(html, "2024-000101")
    assert "2024-000101" in search_invoices(customer, status="ubetalt")

    for refused in ("", "0", "-5", "abc", "NaN", "1e12"):
        pay(app, staff, invoice_id, refused)
        assert get(app, CustomerInvoice, invoice_id).outstanding == Decimal("1000.00"), refused

    pay(app, staff, invoice_id, "1000")
    assert get(app, CustomerInvoice, invoice_id).outstanding == Decimal("0.00")
    html = text(customer.get("/portal/invoices?status="))
    assert status_shown(html, "2024-000101") == ("betalt", "Paid")
    assert search_invoices(customer, status="betalt") == ["2024-000101", "2024-000103"]
    assert customer.post(url, data={"amount": "5"}).status_code == 403
    assert (
        staff.post("/staff/portal/invoices/999999/payment", data={"amount": "5"}).status_code == 404
    )


def test_a_payment_larger_than_the_rest_leaves_nothing_outstanding(app, staff, invoices):
    with app.app_context():
        invoice_id = db.session.scalar(
            sa.select(CustomerInvoice.id).where(CustomerInvoice.number == "2024-000104")
        )
    pay(app, staff, invoice_id, "350.00")
    assert get(app, CustomerInvoice, invoice_id).outstanding == Decimal("0.00")


def test_a_payment_may_be_typed_with_a_decimal_comma(app, staff, invoices):
    """The form's own message asks for "1500,00"."""
    with app.app_context():
        invoice_id = db.session.scalar(
            sa.select(CustomerInvoice.id).where(CustomerInvoice.number == "2024-000101")
        )
    pay(app, staff, invoice_id, "500,50")
    assert get(app, CustomerInvoice, invoice_id).outstanding == Decimal("999.50")


# ================================================================= 4. bookings


def local_input(value: datetime) -> str:
    """A datetime-local field's text for an Oslo wall-clock time."""
    return value.strftime("%Y-%m-%dT%H:%M")


def staff_create_booking(staff, company: Company, *, deadline: datetime, **values) -> int:
    data = {
        "organisation": COMPANY,
        "order_number": "",
        "title": "Helsekontroll",
        "place": "Helsestasjonen, Storgata 10, 0155 Oslo",
        "what_to_bring": "Legitimasjon og briller. Kom fastende.",
        "deadline": local_input(deadline),
        **values,
    }
    response = staff.post("/staff/portal/bookings/new", data=data)
    assert response.status_code == 302, text(response)
    return int(location(response).rsplit("/", 1)[1])


def staff_add_slot(staff, booking_id: int, starts: datetime, minutes=45, capacity=2):
    return staff.post(
        f"/staff/portal/bookings/{booking_id}",
        data={
            "starts_at": local_input(starts),
            "ends_at": local_input(starts + timedelta(minutes=minutes)),
            "capacity": str(capacity),
        },
    )


def slots_of(app, booking_id: int) -> list[BookingSlot]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(BookingSlot)
            .where(BookingSlot.booking_id == booking_id)
            .order_by(BookingSlot.starts_at)
        ).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def placements_of(app, booking_id: int, active_only: bool = True) -> list[Placement]:
    with app.app_context():
        stmt = sa.select(Placement).where(Placement.booking_id == booking_id)
        if active_only:
            stmt = stmt.where(Placement.removed_at.is_(None))
        rows = db.session.scalars(stmt.order_by(Placement.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def next_week_at(hour: int) -> datetime:
    """A naive Oslo wall-clock time a week ahead."""
    return datetime.combine(portal.today() + timedelta(days=7), time(hour))


def test_a_placed_employee_gets_the_details_and_answers_the_self_declaration(
    app, smtp_server, customer, staff, health, company, client
):
    deadline = next_week_at(16) - timedelta(days=2)
    booking_id = staff_create_booking(staff, company, deadline=deadline)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert booking.deadline == local_to_utc(deadline, OSLO)
        assert booking.organisation_id == company.id
    assert staff_add_slot(staff, booking_id, next_week_at(9)).status_code == 302
    assert staff_add_slot(staff, booking_id, next_week_at(10), capacity=1).status_code == 302
    first, second = slots_of(app, booking_id)
    assert (first.capacity, first.taken, second.capacity) == (2, 0, 1)
    assert first.starts_at == local_to_utc(next_week_at(9), OSLO)

    employee_id = add_employee(app, company.id, "Per", "Olsen", "per.olsen@firma.no")
    booking_page = text(customer.get(f"/portal/bookings/{booking_id}"))
    assert "Helsekontroll" in booking_page and "Storgata 10" in booking_page
    assert f'href="/portal/bookings/{booking_id}"' in text(customer.get("/portal/"))
    response = place(customer, booking_id, employee_id, first.id)
    assert location(response) == f"/portal/bookings/{booking_id}"
    assert slots_of(app, booking_id)[0].taken == 1
    assert "Per Olsen" in text(customer.get(f"/portal/bookings/{booking_id}"))

    deliver_mail(app)
    [mail] = smtp_server.messages
    assert mail["To"] == "per.olsen@firma.no"
    body = smtp_server.text_of(mail)
    assert "Helsekontroll" in body
    assert "09:00" in body or "09.00" in body  # Norwegian time, as staff typed it
    assert "Storgata 10, 0155 Oslo" in body
    assert "Legitimasjon og briller. Kom fastende." in body
    link = re.search(r"http://portal\.test/portal/egenerklaering/([^\s?]+)", body)
    assert link, body
    token = link.group(1)

    # The link works without logging in, in the language of the employee's browser.
    norwegian = client.get(f"/portal/egenerklaering/{token}", headers={"Accept-Language": "nb"})
    assert norwegian.status_code == 200 and '<html lang="nb">' in text(norwegian)
    english = {"Accept-Language": "en"}
    form = client.get(f"/portal/egenerklaering/{token}", headers=english)
    assert form.status_code == 200
    assert "Do you use medicines regularly?" in text(form) and "Per" in text(form)
    incomplete = client.post(
        f"/portal/egenerklaering/{token}", data={"illness": "yes"}, headers=english
    )
    assert incomplete.status_code == 400
    assert field_error(text(incomplete), "medication") == "Answer yes or no."
    answers = {
        "illness": "yes",
        "medication": "no",
        "noise": "yes",
        "chemicals": "no",
        "talk": "no",
        "other": "Allergisk mot lateks.",
    }
    assert {key for key, _label in portal.DECLARATION_QUESTIONS} == set(answers) - {"other"}
    done = client.post(f"/portal/egenerklaering/{token}", data=answers)
    assert done.status_code == 200
    [placement] = placements_of(app, booking_id)
    assert placement.declaration == answers and placement.declared_at is not None
    assert placement.employee_id == employee_id and placement.placed_by == CUSTOMER
    assert "answered" in table_row(text(customer.get(f"/portal/bookings/{booking_id}")), "Per")

    staff_page = text(health.get(f"/staff/portal/bookings/{booking_id}"))
    for key, question in portal.DECLARATION_QUESTIONS:
        shown = "Yes" if answers[key] == "yes" else "No"
        assert f"{question} <strong>{shown}</strong>" in html_module.unescape(staff_page), key
    assert "Allergisk mot lateks." in staff_page
    assert client.get("/portal/egenerklaering/" + "x" * 43).status_code == 404
    assert client.post("/portal/egenerklaering/wrong", data=answers).status_code == 404
    assert client.get(f"/portal/egenerklaering/{token[:-1]}").status_code == 404


def answered_booking(app, company: Company) -> tuple[int, int, int]:
    """A booking with two employees placed, one of whom has answered the self-declaration:
    (booking id, the answered placement's id, the other's)."""
    booking_id, [slot_id] = add_booking(app, company.id, capacities=(2,))
    answered = place_directly(
        app, slot_id, add_employee(app, company.id, "Per", "Olsen", "per.olsen@firma.no")
    )
    unanswered = place_directly(
        app, slot_id, add_employee(app, company.id, "Kari", "Dahl", "kari.dahl@firma.no")
    )
    with app.app_context():
        answers = {key: "yes" for key, _label in portal.DECLARATION_QUESTIONS}
        answers["other"] = "Allergisk mot lateks."
        portal.save_declaration(db.session.get(Placement, answered), answers)
        db.session.commit()
    return booking_id, answered, unanswered


def health_openings(app) -> list[tuple[str, str]]:
    """The audit log's openings of self-declarations: (record id, who)."""
    from models.audit import AuditAction, AuditEvent

    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                sa.select(AuditEvent.record_id, AuditEvent.actor_email)
                .where(AuditEvent.action == AuditAction.HEALTH_OPENED.value)
                .order_by(AuditEvent.id)
            )
        ]


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
def test_only_health_personnel_read_the_self_declarations_answers(
    app, make_user, company, health, role
):
    """Customer service, the account manager and even admins see that a declaration was
    sent and when; only health personnel see the answers, and each opening is logged."""
    booking_id, answered, _unanswered = answered_booking(app, company)
    url = f"/staff/portal/bookings/{booking_id}"
    make_user("kollega@example.com", role=role, org=None, name="Kollega", language="en")
    colleague = login(app, "kollega@example.com")
    page = text(colleague.get(url))
    assert "Allergisk" not in page and "<strong>Yes</strong>" not in page
    for _key, question in portal.DECLARATION_QUESTIONS:
        assert html_module.escape(str(question)) not in page
    with app.app_context():
        declared_at = db.session.get(Placement, answered).declared_at
    sent = format_datetime(declared_at, "short", tzinfo=OSLO, locale="en")
    assert f"Sent {sent}" in table_row(page, "Per Olsen")  # Norwegian time
    assert "not answered yet" in table_row(page, "Kari Dahl")
    assert health_openings(app) == []  # nothing was shown, nothing is recorded

    page = text(health.get(url))
    assert "Allergisk mot lateks." in page and "Sent" in table_row(page, "Per Olsen")
    for _key, question in portal.DECLARATION_QUESTIONS:
        assert f"{html_module.escape(str(question))} <strong>Yes</strong>" in page
    assert health_openings(app) == [(str(answered), NURSE)]


def test_staff_check_the_booking_and_its_times(app, staff, company):
    response = staff.post("/staff/portal/bookings/new", data={"organisation": COMPANY})
    assert response.status_code == 200 and field_error(text(response), "title")
    wrong_order = staff.post(
        "/staff/portal/bookings/new",
        data={
            "organisation": COMPANY,
            "order_number": "300099",
            "title": "X",
            "place": "Oslo",
            "deadline": local_input(next_week_at(12)),
        },
    )
    assert field_error(text(wrong_order), "order_number") == (
        "The company has no order with this number."
    )
    assert count(app, Booking) == 0
    booking_id = staff_create_booking(staff, company, deadline=next_week_at(12))
    backwards = staff_add_slot(staff, booking_id, next_week_at(9), minutes=-30)
    assert backwards.status_code == 400
    assert field_error(text(backwards), "ends_at") == "The end must be after the start."
    empty = staff_add_slot(staff, booking_id, next_week_at(9), capacity=0)
    assert empty.status_code == 400 and field_error(text(empty), "capacity")
    assert slots_of(app, booking_id) == []


def test_a_booking_may_belong_to_an_order(app, customer, staff, company):
    add_order(app, company.id, 300070, at=utc(2024, 5, 1))
    booking_id = staff_create_booking(
        staff, company, deadline=next_week_at(12), order_number="300070"
    )
    assert get(app, Booking, booking_id).order_id == get_order_id(app, 300070)
    assert f'href="/portal/bookings/{booking_id}"' in text(customer.get("/portal/orders/300070"))


def test_a_full_slot_refuses_more(app, customer, open_booking):
    booking_id, [small, _big], [first, second, _third] = open_booking
    assert place(customer, booking_id, first, small).status_code == 302
    response = place(customer, booking_id, second, small)
    assert response.status_code == 400
    assert field_error(text(response), "slot") == "That time just filled up: choose another."
    assert slots_of(app, booking_id)[0].taken == 1
    assert [p.employee_id for p in placements_of(app, booking_id)] == [first]
    full = re.search(
        rf'<option[^>]*value="{small}"[^>]*>', text(customer.get(f"/portal/bookings/{booking_id}"))
    ).group(0)
    assert "disabled" in full


def test_an_employee_is_placed_once_per_booking(app, customer, open_booking):
    booking_id, [small, big], [first, _second, _third] = open_booking
    assert place(customer, booking_id, first, big).status_code == 302
    for slot in (big, small):
        response = place(customer, booking_id, first, slot)
        assert response.status_code == 400
        assert field_error(text(response), "employee") is not None
    assert len(placements_of(app, booking_id)) == 1
    assert [s.taken for s in slots_of(app, booking_id)] == [0, 1]


def test_a_large_company_searches_the_employee_to_place(app, customer, open_booking, monkeypatch):
    from blueprints.portal import public

    monkeypatch.setattr(public, "PLACE_CHOICES", 2)
    booking_id, [_small, big], [first, second, third] = open_booking
    page = text(customer.get(f"/portal/bookings/{booking_id}"))
    offered = [key for key in select_options(page, "employee") if key]
    assert offered == [str(first), str(second)] and 'name="q"' in page
    found = text(customer.get(f"/portal/bookings/{booking_id}?q=ansatt2"))
    assert [key for key in select_options(found, "employee") if key] == [str(third)]
    # One not offered on the first list can still be placed: the form takes the posted one.
    assert place(customer, booking_id, third, big).status_code == 302
    assert [p.employee_id for p in placements_of(app, booking_id)] == [third]


def test_the_place_form_needs_an_employee_and_a_time(app, customer, open_booking):
    booking_id, [small, _big], [first, *_] = open_booking
    response = customer.post(f"/portal/bookings/{booking_id}/place", data={})
    assert response.status_code == 400
    assert field_error(text(response), "employee") and field_error(text(response), "slot")
    assert place(customer, booking_id, first, 999999).status_code == 400
    assert placements_of(app, booking_id) == []


def test_removal_before_the_deadline_frees_the_place(app, customer, open_booking, client):
    booking_id, [small, _big], [first, second, _third] = open_booking
    place(customer, booking_id, first, small)
    [placement] = placements_of(app, booking_id)
    token_mail = get_placed_mail(app, first)
    token = re.search(r"/portal/egenerklaering/([^\s?]+)", token_mail).group(1)
    response = customer.post(f"/portal/placements/{placement.id}/remove")
    assert location(response) == f"/portal/bookings/{booking_id}"
    assert slots_of(app, booking_id)[0].taken == 0
    assert placements_of(app, booking_id) == []
    assert get(app, Placement, placement.id).removed_at is not None
    assert client.get(f"/portal/egenerklaering/{token}").status_code == 404
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).where(OutboxMessage.template == "portal_booking_removed")
            )
            == 1
        )
    # The freed place can be taken, by the same employee too.
    assert place(customer, booking_id, second, small).status_code == 302
    customer.post(f"/portal/placements/{placements_of(app, booking_id)[0].id}/remove")
    assert place(customer, booking_id, first, small).status_code == 302
    assert slots_of(app, booking_id)[0].taken == 1
    # Removing twice changes nothing.
    customer.post(f"/portal/placements/{placement.id}/remove")
    assert slots_of(app, booking_id)[0].taken == 1


def get_placed_mail(app, employee_id: int) -> str:
    with app.app_context():
        placement_ids = db.session.scalars(
            sa.select(Placement.id).where(Placement.employee_id == employee_id)
        ).all()
        message = db.session.scalar(
            sa.select(OutboxMessage)
            .where(
                OutboxMessage.template == "portal_booking_placed",
                OutboxMessage.record_id.in_([str(i) for i in placement_ids]),
            )
            .order_by(OutboxMessage.id.desc())
        )
        return message.body_text


def test_after_the_deadline_only_staff_change_the_placements(app, customer, staff, open_booking):
    booking_id, [small, big], [first, second, _third] = open_booking
    place(customer, booking_id, first, big)
    [placement] = placements_of(app, booking_id)
    with app.app_context():
        db.session.get(Booking, booking_id).deadline = datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()

    page = text(customer.get(f"/portal/bookings/{booking_id}"))
    assert "The deadline has passed" in page and 'id="employee"' not in page
    refused = place(customer, booking_id, second, big)
    assert refused.status_code == 400
    assert "The deadline has passed" in text(refused)
    customer.post(f"/portal/placements/{placement.id}/remove")
    assert [p.id for p in placements_of(app, booking_id)] == [placement.id]
    assert slots_of(app, booking_id)[1].taken == 1

    response = staff.post(f"/staff/portal/placements/{placement.id}/remove")
    assert location(response) == f"/staff/portal/bookings/{booking_id}"
    assert placements_of(app, booking_id) == []
    assert slots_of(app, booking_id)[1].taken == 0


def test_staff_mark_attendance(app, staff, customer, open_booking):
    booking_id, [small, big], [first, second, _third] = open_booking
    place(customer, booking_id, first, big)
    place(customer, booking_id, second, big)
    one, two = placements_of(app, booking_id)
    staff.post(f"/staff/portal/placements/{one.id}/attended", data={"attended": "yes"})
    staff.post(f"/staff/portal/placements/{two.id}/attended", data={"attended": "no"})
    assert get(app, Placement, one.id).attended is True
    assert get(app, Placement, two.id).attended is False
    assert customer.post(f"/staff/portal/placements/{one.id}/attended").status_code == 403


def test_two_simultaneous_placements_never_overfill_a_slot(app, app_config, company):
    from app import create_app

    booking_id, [slot_id] = add_booking(app, company.id, capacities=(1,))
    employees = [add_employee(app, company.id, f"Samtidig{n}", "Test") for n in range(2)]
    apps = [create_app(app_config) for _ in employees]
    clients = [login(worker_app, CUSTOMER) for worker_app in apps]
    statuses: list[int] = []

    def attempt(worker_app, n):
        statuses.append(place(clients[n], booking_id, employees[n], slot_id).status_code)

    run_together(attempt, apps)
    assert sorted(statuses) == [302, 400]
    assert slots_of(app, booking_id)[0].taken == 1
    assert len(placements_of(app, booking_id)) == 1


def test_one_employee_placed_twice_at_once_is_placed_once(app, app_config, company):
    """Into two slots of one booking at the same instant: one wins, the other is refused
    (no error page), and no place is lost."""
    from app import create_app

    booking_id, slots = add_booking(app, company.id, capacities=(1, 1))
    employee_id = add_employee(app, company.id, "Samme", "Test")
    apps = [create_app(app_config) for _ in slots]
    clients = [login(worker_app, CUSTOMER) for worker_app in apps]
    statuses: list[int] = []

    def attempt(worker_app, n):
        statuses.append(place(clients[n], booking_id, employee_id, slots[n]).status_code)

    run_together(attempt, apps)
    assert sorted(statuses)[0] == 302 and sorted(statuses)[1] in (400, 409)
    assert len(placements_of(app, booking_id)) == 1
    assert sum(s.taken for s in slots_of(app, booking_id)) == 1


def test_the_customer_sees_the_times_in_norwegian_time(app, customer, staff, company):
    booking_id = staff_create_booking(staff, company, deadline=next_week_at(16) - timedelta(days=2))
    staff_add_slot(staff, booking_id, next_week_at(9))
    html = text(customer.get(f"/portal/bookings/{booking_id}"))
    assert re.search(r"9:00\W*AM\W9:45\W*AM", html)
    assert re.search(r"Changes until</dt><dd>[^<]*4:00\W*PM", html)


def test_staff_see_a_bookings_times_as_they_typed_them(app, staff, company):
    booking_id = staff_create_booking(staff, company, deadline=next_week_at(16) - timedelta(days=2))
    staff_add_slot(staff, booking_id, next_week_at(9))
    html = text(staff.get(f"/staff/portal/bookings/{booking_id}"))
    heading = re.search(r"<h2>([^<]*places taken[^<]*)</h2>", html).group(1)
    assert re.search(r"9:00\W*AM\W9:45\W*AM", heading), heading
    assert re.search(r"Changes until</dt><dd>[^<]*4:00\W*PM", html)


# ================================================================= 5. access


@dataclass
class Records:
    """One of each record of a scope of the company: ids and numbers."""

    order: int
    employee: int
    invoice: str
    booking: int
    slot: int
    placement: int


def add_records(app, org_id: int, name: str, number: int, department_id: int | None) -> Records:
    """An order, an employee, an invoice, and a booking of the order with the employee placed
    (a company-level scope gets a booking of no order)."""
    order_id = add_order(app, org_id, number, at=utc(2024, 5, 1), department_id=department_id)
    employee_id = add_employee(app, org_id, name, "Ansatt", department_id=department_id)
    invoice = f"2024-{number}"
    add_invoice(
        app,
        org_id,
        invoice,
        issued=date(2024, 5, 2),
        due=date(2024, 5, 22),
        department_id=department_id,
    )
    booking_id, [slot_id] = add_booking(
        app, org_id, order_id=order_id if department_id else None, title=f"Timeavtale {name}"
    )
    placement_id = place_directly(app, slot_id, employee_id)
    return Records(number, employee_id, invoice, booking_id, slot_id, placement_id)


@pytest.fixture
def scopes(app, company) -> dict[str, Records]:
    """Records of the company as a whole, of each department, and of another company."""
    with app.app_context():
        db.session.add(
            Department(
                organisation_id=company.id, parent_id=company.dept_bergen, name="Bergen Sentrum"
            )
        )
        db.session.commit()
        sentrum = db.session.scalar(
            sa.select(Department.id).where(Department.name == "Bergen Sentrum")
        )
    return {
        "company": add_records(app, company.id, "Felles", 300201, None),
        "testbedriften": add_records(app, company.id, "Oslo", 300202, company.dept_testbedriften),
        "bergen": add_records(app, company.id, "Bergen", 300203, company.dept_bergen),
        "sentrum": add_records(app, company.id, "Sentrum", 300204, sentrum),
        "other": add_records(app, company.other_id, "Annen", 300205, None),
    }


ARGUMENTS = {
    "number": lambda rule, r: r.invoice if rule.endpoint == "portal.invoice_pdf" else r.order,
    "employee_id": lambda rule, r: r.employee,
    "booking_id": lambda rule, r: r.booking,
    "placement_id": lambda rule, r: r.placement,
}
PUBLIC = {"portal.declaration"}  # the self-declaration: its secret link is the key


def portal_rules(app):
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/portal/")]
    assert len(rules) >= 17, "the portal's routes were not found"
    return rules


def record_urls(app, records: Records) -> list[tuple[str, str]]:
    """(method, url) of every customer portal route that names a record, for these records."""
    urls = []
    for rule in portal_rules(app):
        if not rule.arguments or rule.endpoint in PUBLIC:
            continue
        unknown = set(rule.arguments) - set(ARGUMENTS)
        assert not unknown, f"{rule.rule}: a new kind of record; add it to the access tests"
        values = {name: ARGUMENTS[name](rule, records) for name in rule.arguments}
        url = rule.build(values, append_unknown=False)[1]
        urls += [(m.lower(), url) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return urls


def post_data(records: Records) -> dict:
    return {
        **employee_form(first_name="Inntrenger", email="inntrenger@example.com"),
        "on": "2025-01-01",
        "employee": str(records.employee),
        "slot": str(records.slot),
    }


def state(app) -> dict:
    """What a refused request must leave as it was."""
    with app.app_context():
        return {
            "employees": sorted(
                db.session.execute(
                    sa.select(Employee.id, Employee.first_name, Employee.email, Employee.active)
                ).all()
            ),
            "placements": sorted(
                db.session.execute(sa.select(Placement.id, Placement.removed_at)).all()
            ),
            "taken": sorted(db.session.execute(sa.select(BookingSlot.id, BookingSlot.taken)).all()),
            "events": db.session.scalar(sa.select(sa.func.count(EmployeeEvent.id))),
        }


def test_every_record_route_is_covered(app, scopes):
    urls = record_urls(app, scopes["company"])
    endpoints = {app.url_map.bind("").match(url, method=m.upper())[0] for m, url in urls}
    assert endpoints >= {
        "portal.order",
        "portal.employee",
        "portal.edit_employee",
        "portal.deactivate_employee",
        "portal.reactivate_employee",
        "portal.invoice_pdf",
        "portal.booking",
        "portal.place",
        "portal.remove_placement",
    }


def test_another_companys_records_are_not_found(app, other_client, scopes):
    before = state(app)
    for name in ("company", "testbedriften", "bergen", "sentrum"):
        records = scopes[name]
        for method, url in record_urls(app, records):
            with getattr(other_client, method)(url, data=post_data(records)) as response:
                assert response.status_code == 404, f"{method.upper()} {url} ({name})"
    assert state(app) == before
    # Nor may they place their own employee into the company's booking.
    mine = scopes["other"]
    response = place(other_client, scopes["company"].booking, mine.employee, scopes["company"].slot)
    assert response.status_code == 404
    assert state(app) == before
    # Their own records are theirs.
    for method, url in record_urls(app, mine):
        if method == "get":
            with other_client.get(url) as response:
                assert response.status_code == 200, url


def test_another_companys_lists_show_nothing_of_the_company(app, other_client, scopes):
    mine = scopes["other"]
    assert listed_orders(text(other_client.get("/portal/orders"))) == [mine.order]
    assert listed_employees(text(other_client.get("/portal/employees?inactive=y"))) == [
        mine.employee
    ]
    assert listed_invoices(text(other_client.get("/portal/invoices?status="))) == [mine.invoice]
    index = text(other_client.get("/portal/"))
    assert re.findall(r'href="/portal/bookings/(\d+)"', index) == [str(mine.booking)]
    report = text(other_client.get("/portal/reports?date_from=2024-01-01&date_to=2024-12-31"))
    assert COMPANY not in report and TESTBEDRIFTEN not in report and BERGEN not in report
    assert listed_employees(text(other_client.get("/portal/employees?q=Felles"))) == []


def test_a_department_user_sees_only_their_departments(app, bergen_client, scopes):
    before = state(app)
    for name in ("testbedriften", "company"):
        hidden = scopes[name]
        for method, url in record_urls(app, hidden):
            with getattr(bergen_client, method)(url, data=post_data(hidden)) as response:
                assert response.status_code == 404, f"{method.upper()} {url} ({name})"
    assert state(app) == before
    for name in ("bergen", "sentrum"):
        for method, url in record_urls(app, scopes[name]):
            if method == "get":
                with bergen_client.get(url) as response:
                    assert response.status_code == 200, f"{url} ({name})"


def test_a_department_user_may_not_use_a_hidden_employee_on_a_shared_booking(
    app, bergen_client, scopes
):
    """Bergen's booking is theirs, the employee of Testbedriften AS placed on it is not."""
    before = state(app)
    shared, hidden = scopes["bergen"], scopes["testbedriften"]
    with app.app_context():
        foreign = portal.place(
            db.session.get(BookingSlot, shared.slot), db.session.get(Employee, hidden.employee), "x"
        )
        db.session.commit()
        foreign_id = foreign.id
    before = state(app)
    assert bergen_client.post(f"/portal/placements/{foreign_id}/remove").status_code == 404
    response = place(bergen_client, shared.booking, hidden.employee, shared.slot)
    assert response.status_code == 400 and field_error(text(response), "employee")
    assert state(app) == before
    page = text(bergen_client.get(f"/portal/bookings/{shared.booking}"))
    assert "Oslo Ansatt" not in page  # neither placed nor offered
    assert "Felles Ansatt" not in page  # the company's: not offered either
    assert "Bergen Ansatt" in page and "Sentrum Ansatt" in page


def test_a_department_users_lists_hold_only_what_they_may_see(app, bergen_client, scopes, company):
    s = scopes
    visible = ("bergen", "sentrum")
    assert sorted(listed_orders(text(bergen_client.get("/portal/orders")))) == sorted(
        s[n].order for n in visible
    )
    assert sorted(listed_employees(text(bergen_client.get("/portal/employees")))) == sorted(
        s[n].employee for n in visible
    )
    assert sorted(listed_invoices(text(bergen_client.get("/portal/invoices?status=")))) == sorted(
        s[n].invoice for n in visible
    )
    index = text(bergen_client.get("/portal/"))
    assert sorted(int(b) for b in re.findall(r'href="/portal/bookings/(\d+)"', index)) == sorted(
        s[n].booking for n in visible
    )
    for url in (
        "/portal/orders",
        "/portal/employees",
        "/portal/orders/new",
        "/portal/employees/new",
    ):
        options = select_options(text(bergen_client.get(url)), "department")
        labels = set(options.values()) - {"All"}
        assert labels == {BERGEN, f"{BERGEN} / Bergen Sentrum"}, url
    # A department's employee may not be moved into a hidden department.
    response = bergen_client.post(
        f"/portal/employees/{s['bergen'].employee}/edit",
        data=employee_form(department=str(company.dept_testbedriften)),
    )
    assert response.status_code == 200 and field_error(text(response), "department")
    assert get(app, Employee, s["bergen"].employee).department_id == company.dept_bergen


def test_a_department_user_may_not_order_for_a_hidden_department(app, bergen_client, company):
    response = bergen_client.post(
        "/portal/orders/new", data={**ORDER_FORM, "department": str(company.dept_testbedriften)}
    )
    assert response.status_code == 200 and field_error(text(response), "department")
    assert count(app, PortalOrder) == 0
    response = bergen_client.post(
        "/portal/orders/new", data={**ORDER_FORM, "department": str(company.dept_bergen)}
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(PortalOrder.department_id)) == company.dept_bergen


def test_a_logged_out_visitor_is_sent_to_log_in(app, client, scopes):
    records = scopes["company"]
    for rule in portal_rules(app):
        if rule.endpoint in PUBLIC:
            continue
        values = {name: ARGUMENTS[name](rule, records) for name in rule.arguments}
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}):
            with getattr(client, method)(url, data=post_data(records)) as response:
                assert response.status_code == 302, f"{method} {url}"
                assert "/auth/login" in location(response), f"{method} {url}"


def test_a_user_without_an_organisation_has_no_portal(app, staff, scopes):
    assert staff.get("/portal/").status_code == 404
    for method, url in record_urls(app, scopes["company"]) + [("get", "/portal/orders")]:
        with getattr(staff, method)(url, data=post_data(scopes["company"])) as response:
            assert response.status_code == 404, f"{method} {url}"


def test_the_index_counts_only_what_the_user_may_see(app, customer, bergen_client, scopes):
    whole = text(customer.get("/portal/"))
    assert "4 orders" in whole and "4 active employees" in whole and "4 unpaid invoices" in whole
    part = text(bergen_client.get("/portal/"))
    assert "2 orders" in part and "2 active employees" in part and "2 unpaid invoices" in part


def test_a_department_user_may_deactivate_their_departments_employee(app, bergen_client, scopes):
    employee_id = scopes["sentrum"].employee
    url = f"/portal/employees/{employee_id}"
    assert location(bergen_client.post(f"{url}/deactivate", data={"on": "2025-01-01"})) == url
    assert not get(app, Employee, employee_id).active


def browser_form(html: str) -> dict[str, str]:
    """What a browser sends for the page's main form left as it is: the inputs' values and
    each select's selected option (or, with none selected, its first)."""
    form = re.search(r'<form method="post" novalidate class="form">(.*?)</form>', html, re.S)
    body = form.group(1)
    data = {}
    for tag in re.findall(r"<input[^>]*>", body):
        name = re.search(r'name="([^"]+)"', tag)
        kind = re.search(r'type="([^"]+)"', tag)
        if name is None or (kind and kind.group(1) == "checkbox"):
            continue
        value = re.search(r'value="([^"]*)"', tag)
        data[name.group(1)] = html_module.unescape(value.group(1)) if value else ""
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', body, re.S):
        values = re.findall(r'<option([^>]*)value="([^"]*)"', options)
        chosen = [v for attrs, v in values if "selected" in attrs]
        data[name] = chosen[0] if chosen else values[0][1]
    return data


def test_an_edit_form_sent_unchanged_changes_nothing(app, customer, company):
    employee_id = add_employee(
        app, company.id, "Felles", "Ansatt", department_id=company.dept_bergen
    )
    html = text(customer.get(f"/portal/employees/{employee_id}/edit"))
    data = browser_form(html)
    assert data["department"] == str(company.dept_bergen) and data["first_name"] == "Felles"
    assert customer.post(f"/portal/employees/{employee_id}/edit", data=data).status_code == 302
    assert count(app, EmployeeEvent) == 1  # the creation only


def test_a_department_user_sees_nothing_of_the_companys_own_records(
    app, customer, bergen_client, company, scopes
):
    """Records without a department (employees, orders, invoices, bookings of no order or
    of the company's order) are for users who have the whole company: in lists, on their
    pages, in edits and in the exports."""
    own = scopes["company"]
    of_order, [slot_id] = add_booking(
        app, company.id, order_id=get_order_id(app, own.order), title="Felles kurs"
    )
    place_directly(app, slot_id, own.employee)
    before = state(app)
    urls = record_urls(app, own) + [("get", f"/portal/bookings/{of_order}")]
    for method, url in urls:
        with getattr(bergen_client, method)(url, data=post_data(own)) as response:
            assert response.status_code == 404, f"{method.upper()} {url}"
    html = text(bergen_client.get(f"/portal/employees/{own.employee}/edit"))
    assert "Felles" not in html
    assert state(app) == before
    for args in ("", "?department=company", "?q=Felles&inactive=y"):
        assert own.employee not in listed_employees(
            text(bergen_client.get(f"/portal/employees{args}"))
        )
        assert own.order not in listed_orders(text(bergen_client.get(f"/portal/orders{args}")))
    assert own.invoice not in listed_invoices(text(bergen_client.get("/portal/invoices?status=")))
    index = text(bergen_client.get("/portal/"))
    shown = {int(b) for b in re.findall(r'href="/portal/bookings/(\d+)"', index)}
    assert shown == {scopes["bergen"].booking, scopes["sentrum"].booking}
    period = {"date_from": "2024-01-01", "date_to": "2099-12-31"}
    assert COMPANY_ROW not in report_rows(
        text(bergen_client.get("/portal/reports", query_string=period))
    )
    with bergen_client.get("/portal/reports.csv", query_string=period) as response:
        assert COMPANY_ROW not in [row[0] for row in read_csv(response)]
    # The whole company's user has them all.
    for method, url in urls:
        if method == "get":
            with customer.get(url) as response:
                assert response.status_code == 200, url
    assert COMPANY_ROW in report_rows(text(customer.get("/portal/reports", query_string=period)))


# ================================================================= 6. reports

STATUS_COLUMNS = [s.value for s in OrderStatus]  # the report's column order


def report_rows(html: str) -> dict[str, tuple[list[int], str]]:
    """The report table: department → (its whole-number cells, the outstanding amount)."""
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        name = re.search(r'<th scope="row">([^<]*)</th>', row)
        if name is None:
            continue
        cells = re.findall(r'<td class="number">([^<]*)</td>', row)
        rows[html_module.unescape(name.group(1))] = ([int(c) for c in cells[:-1]], cells[-1])
    return rows


@pytest.fixture
def report_data(app, company) -> None:
    """In 2024: orders of each kind, placements (attended or not, one taken off) and open
    invoices; outside it an order and a placement that must not count."""
    c = company
    add_order(app, c.id, 300301, at=utc(2024, 2, 1))
    add_order(app, c.id, 300302, at=utc(2024, 3, 1), status=OrderStatus.DELIVERED)
    for n, day in enumerate((5, 6)):
        add_order(
            app,
            c.id,
            300303 + n,
            at=utc(2024, 4, day),
            status=OrderStatus.PLANNED,
            department_id=c.dept_testbedriften,
        )
    add_order(
        app,
        c.id,
        300305,
        at=utc(2024, 12, 31, 23, 30),
        status=OrderStatus.CANCELLED,
        department_id=c.dept_bergen,
    )  # 1 January 2025 in Oslo: outside
    add_order(
        app,
        c.id,
        300306,
        at=utc(2024, 6, 1),
        status=OrderStatus.CANCELLED,
        department_id=c.dept_bergen,
    )
    add_order(app, c.id, 300307, at=utc(2023, 6, 1), department_id=c.dept_bergen)  # outside
    add_order(app, c.other_id, 300308, at=utc(2024, 6, 1))  # another company's

    oslo = [
        add_employee(app, c.id, f"Oslo{n}", "Test", department_id=c.dept_testbedriften)
        for n in range(3)
    ]
    bergen = add_employee(app, c.id, "Bergen", "Test", department_id=c.dept_bergen)
    _, [in_2024] = add_booking(
        app, c.id, capacities=(5,), starts=utc(2024, 9, 1, 7), deadline=utc(2099, 1, 1)
    )
    _, [in_2023] = add_booking(
        app, c.id, capacities=(5,), starts=utc(2023, 9, 1, 7), deadline=utc(2099, 1, 1)
    )
    attended = [place_directly(app, in_2024, oslo[0]), place_directly(app, in_2024, bergen)]
    place_directly(app, in_2024, oslo[1])
    removed = place_directly(app, in_2024, oslo[2])
    place_directly(app, in_2023, oslo[2])
    with app.app_context():
        for placement_id in attended:
            db.session.get(Placement, placement_id).attended = True
        portal.remove(db.session.get(Placement, removed), "test")
        db.session.commit()

    today = portal.today()
    add_invoice(
        app,
        c.id,
        "R-1",
        issued=date(2024, 1, 1),
        due=today,
        total="1500.00",
        department_id=c.dept_testbedriften,
    )
    add_invoice(
        app,
        c.id,
        "R-2",
        issued=date(2020, 1, 1),
        due=today,
        total="900.00",
        outstanding="500.00",
        department_id=c.dept_testbedriften,
    )
    add_invoice(
        app,
        c.id,
        "R-3",
        issued=date(2024, 1, 1),
        due=today,
        total="700.00",
        outstanding="0",
        department_id=c.dept_bergen,
    )
    add_invoice(app, c.id, "R-4", issued=date(2024, 1, 1), due=today, total="200.00")
    add_invoice(app, c.other_id, "R-5", issued=date(2024, 1, 1), due=today, total="99.00")


COMPANY_ROW = "The company (no department)"
PERIOD = {"date_from": "2024-01-01", "date_to": "2024-12-31"}


def expected_cells(orders: dict[str, int], booked: int, attended: int, open_: int) -> list[int]:
    return [orders.get(s, 0) for s in STATUS_COLUMNS] + [booked, attended, open_]


def test_the_report_counts_per_department(customer, report_data):
    response = customer.get("/portal/reports", query_string=PERIOD)
    assert response.status_code == 200
    rows = report_rows(text(response))
    assert list(rows) == [BERGEN, TESTBEDRIFTEN, COMPANY_ROW]
    assert rows[BERGEN][0] == expected_cells({"avbestilt": 1}, 1, 1, 0)
    assert rows[TESTBEDRIFTEN][0] == expected_cells({"planlagt": 2}, 2, 1, 2)
    assert rows[COMPANY_ROW][0] == expected_cells({"mottatt": 1, "levert": 1}, 0, 0, 1)
    assert "2,000.00" in rows[TESTBEDRIFTEN][1]
    assert "200.00" in rows[COMPANY_ROW][1]
    assert "0.00" in rows[BERGEN][1]


def test_the_report_follows_the_period(customer, report_data):
    rows = report_rows(
        text(customer.get("/portal/reports?date_from=2024-04-06&date_to=2025-01-01"))
    )
    assert rows[TESTBEDRIFTEN][0] == expected_cells({"planlagt": 1}, 2, 1, 2)
    assert rows[BERGEN][0] == expected_cells({"avbestilt": 2}, 1, 1, 0)
    # Dates the wrong way round are the same period.
    swapped = report_rows(
        text(customer.get("/portal/reports?date_from=2025-01-01&date_to=2024-04-06"))
    )
    assert swapped == rows
    older = report_rows(
        text(customer.get("/portal/reports?date_from=2023-01-01&date_to=2023-12-31"))
    )
    assert older[BERGEN][0] == expected_cells({"mottatt": 1}, 0, 0, 0)
    assert older[TESTBEDRIFTEN][0] == expected_cells({}, 1, 0, 2)  # open invoices: as of today


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    data = response.get_data(as_text=True)
    assert data.startswith("\ufeff")
    return list(csv.reader(io.StringIO(data[1:]), delimiter=";"))


def test_the_csv_has_the_same_numbers(customer, report_data):
    page = report_rows(text(customer.get("/portal/reports", query_string=PERIOD)))
    with customer.get("/portal/reports.csv", query_string=PERIOD) as response:
        assert "rapport-2024-01-01-2024-12-31.csv" in response.headers["Content-Disposition"]
        header, *rows = read_csv(response)
    assert header == [
        "Department",
        "Received",
        "Being processed",
        "Planned",
        "Delivered",
        "Cancelled",
        "Booked",
        "Attended",
        "Open invoices",
        "Outstanding (NOK)",
    ]
    assert [row[0] for row in rows] == list(page)
    for row in rows:
        assert [int(cell) for cell in row[1:-1]] == page[row[0]][0], row[0]
    assert {row[0]: row[-1] for row in rows} == {
        BERGEN: "0,00",
        TESTBEDRIFTEN: "2000,00",
        COMPANY_ROW: "200,00",
    }


def test_a_department_user_reports_only_their_departments(app, bergen_client, report_data):
    rows = report_rows(text(bergen_client.get("/portal/reports", query_string=PERIOD)))
    assert TESTBEDRIFTEN not in rows and COMPANY_ROW not in rows
    assert rows[BERGEN][0] == expected_cells({"avbestilt": 1}, 1, 1, 0)
    with bergen_client.get("/portal/reports.csv", query_string=PERIOD) as response:
        _header, *csv_rows = read_csv(response)
    names = [row[0] for row in csv_rows]
    assert TESTBEDRIFTEN not in names and BERGEN in names
    assert "2000,00" not in [row[-1] for row in csv_rows]


def test_an_employee_deactivated_from_a_later_date_can_be_picked_until_then(app, customer):
    from datetime import timedelta

    customer.post("/portal/employees/new", data=employee_form())
    employee = saved_employee(app)
    later = (portal.today() + timedelta(days=10)).isoformat()
    customer.post(f"/portal/employees/{employee.id}/deactivate", data={"on": later})
    assert ">Nora Berg</a>" in text(customer.get("/portal/employees"))
    customer.post(f"/portal/employees/{employee.id}/reactivate")
    customer.post(
        f"/portal/employees/{employee.id}/deactivate", data={"on": portal.today().isoformat()}
    )
    assert ">Nora Berg</a>" not in text(customer.get("/portal/employees"))


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
