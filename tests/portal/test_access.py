"""The customer portal over HTTP: who sees what (the company, its departments, other
companies, staff), on every route of the portal."""

from __future__ import annotations

import html as html_module
import re
from dataclasses import dataclass
from datetime import date

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Department
from models.portal import BookingSlot, Employee, EmployeeEvent, Placement, PortalOrder
from services import portal
from tests.fixtures import portal as portal_fixtures
from tests.fixtures.portal import (
    BERGEN,
    COMPANY,
    COMPANY_ROW,
    ORDER_FORM,
    TESTBEDRIFTEN,
    add_booking,
    add_employee,
    add_invoice,
    add_order,
    count,
    employee_form,
    field_error,
    get,
    get_order_id,
    listed_employees,
    listed_invoices,
    listed_orders,
    location,
    place,
    place_directly,
    read_csv,
    report_rows,
    select_options,
    text,
    utc,
)

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The portal's world (tests/fixtures/portal.py).
bergen_client = portal_fixtures.bergen_client
company = portal_fixtures.company
customer = portal_fixtures.customer
invoices = portal_fixtures.invoices
other_client = portal_fixtures.other_client
staff = portal_fixtures.staff


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
    "fmt": lambda rule, r: "csv",  # a list's export: no record (tests/test_exports.py)
}
LIST_ARGUMENTS = {"fmt"}
PUBLIC = {"portal.declaration"}  # the self-declaration: its secret link is the key


def portal_rules(app):
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/portal/")]
    assert len(rules) >= 17, "the portal's routes were not found"
    return rules


def record_urls(app, records: Records) -> list[tuple[str, str]]:
    """(method, url) of every customer portal route that names a record, for these records."""
    urls = []
    for rule in portal_rules(app):
        if set(rule.arguments) <= LIST_ARGUMENTS or rule.endpoint in PUBLIC:
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
