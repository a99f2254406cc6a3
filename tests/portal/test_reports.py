"""The customer portal over HTTP: the reports, on the page and as CSV."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from extensions import db
from models.portal import OrderStatus, Placement
from services import portal
from tests.fixtures import portal as portal_fixtures
from tests.fixtures.portal import (
    BERGEN,
    COMPANY_ROW,
    TESTBEDRIFTEN,
    add_booking,
    add_employee,
    add_invoice,
    add_order,
    employee_form,
    place_directly,
    read_csv,
    report_rows,
    saved_employee,
    text,
    utc,
)

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The portal's world (tests/fixtures/portal.py).
bergen_client = portal_fixtures.bergen_client
company = portal_fixtures.company
customer = portal_fixtures.customer
invoices = portal_fixtures.invoices


# ================================================================= 6. reports

STATUS_COLUMNS = [s.value for s in OrderStatus]  # the report's column order


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
