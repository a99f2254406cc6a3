"""The customer portal over HTTP: employees and their identity numbers (kept hidden),
deactivation, and the CRM feed."""

from __future__ import annotations

import logging
import re
from datetime import date

import pytest
import sqlalchemy as sa
from stdnum.no import fodselsnummer

from extensions import db
from models.mail import OutboxMessage
from models.portal import BookingSlot, Employee, EmployeeEvent, Placement
from services import portal
from tests.fixtures import portal as portal_fixtures
from tests.fixtures.mail import deliver_mail
from tests.fixtures.portal import (
    BERGEN,
    BORN,
    COMPANY,
    CUSTOMER,
    NUMBER,
    ORDER_FORM,
    add_booking,
    add_employee,
    count,
    employee_form,
    field_error,
    get,
    listed_employees,
    location,
    national_id,
    place_directly,
    saved_employee,
    select_options,
    table_row,
    text,
)

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The portal's world (tests/fixtures/portal.py).
company = portal_fixtures.company
customer = portal_fixtures.customer
invoices = portal_fixtures.invoices
other_client = portal_fixtures.other_client
staff = portal_fixtures.staff


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
