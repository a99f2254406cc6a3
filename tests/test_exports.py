"""Every list's export (services/exports.py): CSV and .xlsx opened back, the rows the page
shows for the same filters, typed cells, the user's scope, identity numbers never in
full, the audit event of personal data, and reads in bounded batches."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from extensions import db
from models.audit import AuditAction, AuditEvent
from models.invoicing import InvoiceStatus
from models.mail import OutboxMessage
from models.portal import OrderStatus
from models.training import Enrolment, EnrolmentStatus
from services import exports
from tests.fixtures import portal as portal_fixtures
from tests.fixtures.app import recorded_statements
from tests.fixtures.invoicing import TIINA, invoicer, make_sent
from tests.fixtures.portal import (
    BORN,
    NUMBER,
    add_employee,
    add_invoice,
    add_order,
    listed_employees,
    listed_invoices,
    listed_orders,
    text,
    utc,
)

company = portal_fixtures.company
customer = portal_fixtures.customer
bergen_client = portal_fixtures.bergen_client
other_client = portal_fixtures.other_client
staff = portal_fixtures.staff

BIG_TABLES = (
    "portal_order",
    "employee",
    "customer_invoice",
    "sales_invoice",
    "ticket",
    "online_payment",
    "refund",
    "outbox_message",
    "enrolment",
    "course",
)


def read_csv(response) -> list[list[str]]:
    """The rows of a CSV download: UTF-8 with its BOM, semicolons."""
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.get_data(as_text=True)
    assert data.startswith("\ufeff")
    return list(csv.reader(io.StringIO(data[1:]), delimiter=";"))


def read_xlsx(response):
    """The only sheet of an .xlsx download."""
    assert response.status_code == 200, response.status_code
    assert response.mimetype == exports.XLSX_MIMETYPE
    workbook = load_workbook(io.BytesIO(response.get_data()))
    return workbook.worksheets[0]


def sheet_rows(sheet) -> list[list]:
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def export_events(app) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == AuditAction.EXPORT_DOWNLOADED)
        ).all()
        db.session.expunge_all()
        return rows


def unbounded_selects(statements) -> list[str]:
    """The SELECTs of a big table read without a LIMIT (an IN list of ids, the eager
    loading of one batch's related rows, is bounded by the batch; so is one row got by
    its primary key)."""
    found = []
    for sql, _params in statements:
        if sql.lstrip()[:6] != "SELECT":
            continue
        tables = set(re.findall(r"\bFROM (\w+)|\bJOIN (\w+)", sql))
        names = {name for pair in tables for name in pair if name}
        by_key = re.search(r"WHERE \w+\.id = (\?|%\(\w+\)s(::\w+)?)$", sql.strip())
        if names & set(BIG_TABLES) and "LIMIT" not in sql and " IN (" not in sql and not by_key:
            found.append(sql)
    return found


# ---------------------------------------------------------------- the portal


@pytest.fixture
def orders(app, company) -> dict[str, int]:
    c = company
    add_order(app, c.id, 300001, at=utc(2024, 3, 1), description="Helsekontroll")
    add_order(
        app,
        c.id,
        300002,
        at=utc(2024, 3, 2),
        department_id=c.dept_bergen,
        status=OrderStatus.DELIVERED,
        description='=HYPERLINK("http://evil.example")',
    )
    add_order(app, c.id, 300003, at=utc(2024, 3, 3), department_id=c.dept_testbedriften)
    add_order(app, c.other_id, 300099, at=utc(2024, 3, 4))
    return {"company": 300001, "bergen": 300002, "testbedriften": 300003}


@pytest.mark.parametrize(
    "query",
    [{}, {"status": "levert"}, {"sort": "number", "dir": "asc"}, {"number": "300003"}],
)
def test_the_orders_export_holds_the_rows_the_page_shows(customer, orders, query):
    shown = listed_orders(text(customer.get("/portal/orders", query_string=query)))
    rows = read_csv(customer.get("/portal/orders/export.csv", query_string=query))
    assert rows[0][0] == "Order number"
    assert [int(row[0]) for row in rows[1:]] == shown
    sheet = read_xlsx(customer.get("/portal/orders/export.xlsx", query_string=query))
    assert [row[0] for row in sheet_rows(sheet)[1:]] == shown


def test_the_orders_export_keeps_to_the_users_organisation_and_departments(
    customer, bergen_client, other_client, orders
):
    everyone = [int(r[0]) for r in read_csv(customer.get("/portal/orders/export.csv"))[1:]]
    assert sorted(everyone) == [300001, 300002, 300003]
    bergen = [int(r[0]) for r in read_csv(bergen_client.get("/portal/orders/export.csv"))[1:]]
    assert bergen == [300002]
    other = [int(r[0]) for r in read_csv(other_client.get("/portal/orders/export.csv"))[1:]]
    assert other == [300099]


def test_a_cell_a_spreadsheet_would_run_stays_text(customer, orders):
    rows = read_csv(customer.get("/portal/orders/export.csv", query_string={"number": "300002"}))
    assert rows[1][3].startswith("'=HYPERLINK")
    sheet = read_xlsx(customer.get("/portal/orders/export.xlsx", query_string={"number": "300002"}))
    cell = sheet.cell(row=2, column=4)
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")


def test_the_export_links_keep_the_filters(customer, orders):
    html = text(customer.get("/portal/orders", query_string={"status": "levert"}))
    links = re.findall(r'href="(/portal/orders/export\.(?:csv|xlsx)[^"]*)"', html)
    assert len(links) == 2
    assert all("status=levert" in link for link in links)


@pytest.fixture
def staff_of_company(app, company) -> dict[str, int]:
    c = company
    return {
        "nora": add_employee(app, c.id, "Nora", "Berg", national_id=NUMBER),
        "ola": add_employee(app, c.id, "Ola", "Dahl", department_id=c.dept_bergen),
        "kari": add_employee(app, c.id, "Kari", "Aas", department_id=c.dept_testbedriften),
        "gone": add_employee(app, c.id, "Per", "Eik", active=False),
        "other": add_employee(app, c.other_id, "Anne", "Fjell"),
    }


def test_the_employees_export_shows_the_birth_date_never_the_identity_number(
    app, customer, staff_of_company
):
    csv_response = customer.get("/portal/employees/export.csv")
    assert NUMBER not in csv_response.get_data(as_text=True)
    assert NUMBER[-5:] not in csv_response.get_data(as_text=True)
    rows = read_csv(csv_response)
    assert rows[0][:3] == ["Last name", "First name", "Birth date"]
    by_name = {row[1]: row for row in rows[1:]}
    assert by_name["Nora"][2] == BORN.isoformat()
    sheet = read_xlsx(customer.get("/portal/employees/export.xlsx"))
    values = sheet_rows(sheet)
    assert not any(NUMBER in str(v) for row in values for v in row if v is not None)
    nora = next(row for row in sheet.iter_rows(min_row=2) if row[1].value == "Nora")
    assert isinstance(nora[2].value, datetime) and nora[2].value.date() == BORN
    assert nora[2].number_format == "yyyy-mm-dd"


def test_the_employees_export_holds_the_page_and_keeps_to_the_departments(
    app, customer, bergen_client, staff_of_company
):
    ids = {v: k for k, v in staff_of_company.items()}
    for query in ({}, {"q": "berg"}, {"inactive": "y"}):
        shown = [
            ids[i]
            for i in listed_employees(text(customer.get("/portal/employees", query_string=query)))
        ]
        rows = read_csv(customer.get("/portal/employees/export.csv", query_string=query))
        assert [row[1].lower() for row in rows[1:]] == [
            {"nora": "nora", "ola": "ola", "kari": "kari", "gone": "per"}[n] for n in shown
        ]
    bergen = read_csv(bergen_client.get("/portal/employees/export.csv"))
    assert [row[1] for row in bergen[1:]] == ["Ola"]


def test_an_export_of_personal_data_is_audited_with_its_filters_and_rows(
    app, customer, staff_of_company
):
    response = customer.get("/portal/employees/export.csv", query_string={"q": "Berg"})
    read_csv(response)
    (event,) = export_events(app)
    assert event.record_type == "export" and event.record_id == "portal.employees"
    assert event.actor_email == "kunde@demokunde.example.com"
    assert "q=…" in event.summary and "Berg" not in event.summary
    assert "rows: 1" in event.summary and "format: csv" in event.summary
    read_xlsx(customer.get("/portal/employees/export.xlsx"))
    assert [e.summary.split("; ")[0] for e in export_events(app)] == [
        "format: csv",
        "format: xlsx",
    ]


def test_an_export_of_no_personal_data_is_not_audited(app, customer, orders):
    read_csv(customer.get("/portal/orders/export.csv"))
    assert export_events(app) == []


def test_the_invoices_export_has_typed_cells(app, customer, company, portal_invoices):
    shown = listed_invoices(text(customer.get("/portal/invoices", query_string={"status": ""})))
    rows = read_csv(customer.get("/portal/invoices/export.csv", query_string={"status": ""}))
    assert [row[0] for row in rows[1:]] == shown
    first = next(row for row in rows if row[0] == "2024-000101")
    assert first[2] == "2024-01-10" and first[6] == "1500,00"
    sheet = read_xlsx(customer.get("/portal/invoices/export.xlsx", query_string={"status": ""}))
    header = next(sheet.iter_rows(max_row=1))
    assert [c.value for c in header][:3] == ["Invoice number", "KID", "Invoice date"]
    assert all(cell.font.b for cell in header)
    assert sheet.freeze_panes == "A2"
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "2024-000101")
    assert isinstance(row[2].value, datetime) and row[2].value.date() == date(2024, 1, 10)
    assert isinstance(row[6].value, (int, float)) and row[6].value == 1500
    assert row[6].number_format == "#,##0.00"
    assert "2024-000199" not in [r[0].value for r in sheet.iter_rows()]


@pytest.fixture
def portal_invoices(app, company):
    today = date.today()
    add_invoice(app, company.id, "2024-000101", issued=date(2024, 1, 10), due=today)
    add_invoice(app, company.id, "2024-000102", issued=date(2024, 2, 10), due=today, total="25.5")
    add_invoice(app, company.other_id, "2024-000199", issued=date(2024, 2, 1), due=today)


# ---------------------------------------------------------------- bounds


def test_an_export_reads_in_keyset_batches_and_stops_at_the_cap(
    app, customer, staff_of_company, monkeypatch
):
    monkeypatch.setattr(exports, "BATCH", 2)
    with recorded_statements(app) as statements:
        rows = read_csv(
            customer.get("/portal/employees/export.csv", query_string={"inactive": "y"})
        )
    assert len(rows) == 1 + 4
    selects = [sql for sql, _ in statements if "FROM employee" in sql]
    assert len(selects) >= 3  # 2 + 2 + the last, short batch
    assert unbounded_selects(statements) == []
    monkeypatch.setattr(exports, "EXPORT_MAX_ROWS", 3)
    rows = read_csv(customer.get("/portal/employees/export.csv", query_string={"inactive": "y"}))
    assert len(rows) == 1 + 3 + 1 and "stops at" in rows[-1][0]
    sheet = read_xlsx(customer.get("/portal/employees/export.xlsx", query_string={"inactive": "y"}))
    assert "stops at" in sheet_rows(sheet)[-1][0]


# ---------------------------------------------------------------- the staff's lists


@pytest.fixture
def staff_world(app, make_user, make_course, staff):
    """A little of everything the staff's lists show."""
    invoicer(app, make_user, TIINA, "100102", "Toiminimi Testinen")
    make_sent(app, TIINA, "Asiakas Oy")
    make_sent(app, TIINA, "Maksaja Oy", status=InvoiceStatus.OPEN, price="1234.50")
    course = make_course()
    with app.app_context():
        db.session.add(
            Enrolment(
                course_id=course.id,
                service_code="ABCD2345",
                status=EnrolmentStatus.BINDING,
                first_name="Maija",
                last_name="Meikäläinen",
                email="maija@example.com",
                organisation="Testivirasto",
            )
        )
        db.session.add(
            OutboxMessage(
                sender="noreply@example.com",
                recipients=["a@example.com"],
                subject="Hei",
                body_text="",
                template="auth_invitation",
                context={},
            )
        )
        db.session.commit()
        mail = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
    return {"course": course.id, "mail": mail}


def staff_exports(world: dict) -> list[tuple[str, str, str, int]]:
    """Each staff list, its export, its first heading and how many rows it has."""
    course = world["course"]
    return [
        ("/staff/invoices/", "/staff/invoices/export", "Invoice number", 1),
        (
            "/staff/invoices/search?reference=%25",
            "/staff/invoices/search/export",
            "Invoice number",
            2,
        ),
        ("/staff/invoices/receivables", "/staff/invoices/receivables/export", "Invoice number", 1),
        ("/staff/support/?scope=all", "/staff/support/export", "Ticket number", 0),
        ("/staff/payments/", "/staff/payments/export", "Order number", 0),
        ("/staff/payments/refunds", "/staff/payments/refunds/export", "Payment", 0),
        ("/staff/mail", "/staff/mail/export", "Created", world["mail"]),
        ("/staff/training/", "/staff/training/export", "Course", 1),
        (
            f"/staff/training/courses/{course}",
            f"/staff/training/courses/{course}/export",
            "Service code",
            1,
        ),
    ]


def test_every_staff_list_exports_in_both_formats_in_bounded_reads(app, staff, staff_world):
    for page, export, heading, count in staff_exports(staff_world):
        html = text(staff.get(page))
        path, _, query = page.partition("?")
        assert f'href="{export}.csv' in html.replace("&amp;", "&"), page
        with recorded_statements(app) as statements:
            rows = read_csv(staff.get(f"{export}.csv?{query}"))
            sheet = read_xlsx(staff.get(f"{export}.xlsx?{query}"))
        assert rows[0][0] == heading, export
        assert len(rows) == 1 + count, (export, rows)
        assert len(sheet_rows(sheet)) == 1 + count, export
        assert unbounded_selects(statements) == [], export


def test_the_receivables_export_has_money_and_dates(app, staff, staff_world):
    sheet = read_xlsx(staff.get("/staff/invoices/receivables/export.xlsx"))
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    row = list(sheet.iter_rows(min_row=2))[0]
    total = row[header.index("Total")]
    assert total.number_format == "#,##0.00" and float(total.value) > 1234
    due = row[header.index("Due date")]
    assert isinstance(due.value, datetime)
    rows = read_csv(staff.get("/staff/invoices/receivables/export.csv"))
    assert re.fullmatch(r"\d+,\d\d", rows[1][header.index("Total")])


def test_staff_exports_of_personal_data_are_audited(app, staff, staff_world):
    read_csv(staff.get("/staff/mail/export.csv"))
    read_xlsx(staff.get(f"/staff/training/courses/{staff_world['course']}/export.xlsx"))
    read_csv(staff.get("/staff/training/export.csv"))  # courses: no personal data
    assert [e.record_id for e in export_events(app)] == ["staff.mail", "training.participants"]


def test_the_participants_csv_moved_to_the_export(app, staff, staff_world):
    course = staff_world["course"]
    response = staff.get(f"/staff/training/courses/{course}/participants.csv?status=sitova")
    assert response.status_code == 308
    assert response.location.endswith(f"/courses/{course}/export.csv?status=sitova")


def test_customers_get_no_staff_export(customer, staff_world):
    for _page, export, _heading, _count in staff_exports(staff_world):
        assert customer.get(f"{export}.csv").status_code in (302, 403, 404), export


def test_the_users_own_invoices_and_tickets_export(app, make_user, staff):
    tiina = invoicer(app, make_user, TIINA, "100102", "Toiminimi Testinen")
    make_sent(app, TIINA, "Asiakas Oy")
    rows = read_csv(tiina.get("/invoices/export.csv"))
    assert rows[0][0] == "Invoice number" and len(rows) == 2
    assert read_xlsx(tiina.get("/invoices/export.xlsx")).max_row == 2
    tickets = read_csv(tiina.get("/support/export.csv"))
    assert tickets[0][0] == "Ticket number"


def test_an_unknown_format_is_not_found(customer, orders):
    assert customer.get("/portal/orders/export.pdf").status_code == 404


def test_csv_cells_are_iso_dates_local_times_and_decimal_commas(app):
    from datetime import UTC
    from decimal import Decimal

    def cell(kind, value):
        return exports.csv_text(exports.Column("x", lambda r: r, kind), value)

    with app.test_request_context():  # nobody logged in: Helsinki, UTC+2 in January
        assert cell("datetime", datetime(2026, 1, 5, 10, 0, tzinfo=UTC)) == "2026-01-05 12:00"
        assert cell("date", date(2026, 1, 5)) == "2026-01-05"
        assert cell("money", Decimal("-1234.5")) == "-1234,50"
        assert cell("text", "-1+1") == "'-1+1"
        assert cell("int", 7) == "7"


def test_the_portal_staff_lists_export_every_company_with_the_filters(
    app, staff, orders, portal_invoices
):
    html = text(staff.get("/staff/portal/?status=levert")).replace("&amp;", "&")
    assert 'href="/staff/portal/export.csv?status=levert"' in html
    with recorded_statements(app) as statements:
        rows = read_csv(staff.get("/staff/portal/export.csv"))
        delivered = read_csv(staff.get("/staff/portal/export.csv?status=levert"))
        sheet = read_xlsx(staff.get("/staff/portal/invoices/export.xlsx"))
    assert unbounded_selects(statements) == []
    header = rows[0]
    assert header[:3] == ["Order number", "Order date", "Company"]
    # every company's orders, the newest first, the other company's too
    assert [row[0] for row in rows[1:]] == ["300099", "300003", "300002", "300001"]
    assert [row[0] for row in delivered[1:]] == ["300002"]
    assert delivered[1][header.index("Department")] == "Bergen TEST"
    values = sheet_rows(sheet)
    assert values[0][:2] == ["Invoice number", "Company"]
    assert sorted(row[0] for row in values[1:]) == ["2024-000101", "2024-000102", "2024-000199"]
    total = list(sheet.iter_rows(min_row=2))[0][values[0].index("Total")]
    assert total.number_format == "#,##0.00"
    assert read_csv(staff.get("/staff/portal/invoices/export.csv?status=betalt"))[1:] == []


def test_customers_get_no_portal_staff_export(customer, orders):
    for export in ("/staff/portal/export.csv", "/staff/portal/invoices/export.xlsx"):
        assert customer.get(export).status_code in (302, 403, 404), export


# ---------------------------------------------------------------- in the background


def test_a_big_export_is_prepared_in_the_background_as_its_owner_gets_it(
    app, customer, bergen_client, staff_of_company
):
    from html import unescape

    from forms.tasks import new_key
    from tests.fixtures.tasks import run_tasks

    page = text(customer.get("/portal/employees", query_string={"q": "Berg"}))
    targets = [unescape(t) for t in re.findall(r'name="target" value="([^"]+)"', page)]
    assert len(targets) == 2 and all("q=Berg" in target for target in targets)
    form = {"key": new_key(), "target": targets[0]}
    first = customer.post("/tasks/export", data=form)
    second = customer.post("/tasks/export", data=form)  # a double click
    assert first.status_code == 303 and second.location == first.location
    assert 'badge--task-queued">Queued</span>' in text(customer.get(first.location))
    assert export_events(app) == []  # nothing read yet

    assert run_tasks(app) == 1
    page = text(customer.get(first.location))
    assert 'badge--task-done">Done</span>' in page and f"{first.location}/file" in page
    rows = read_csv(customer.get(f"{first.location}/file"))
    assert rows == read_csv(customer.get(targets[0]))  # the same rows as the direct download
    assert len(rows) == 2 and "Berg" in rows[1]
    # Made as its owner, within their scope, and audited as theirs.
    [made, _direct] = export_events(app)
    assert made.actor_email == "kunde@demokunde.example.com" and "rows: 1" in made.summary
    # Nobody else gets the task or its file.
    assert bergen_client.get(first.location).status_code == 404
    assert bergen_client.get(f"{first.location}/file").status_code == 404


@pytest.mark.parametrize(
    "target",
    [
        "/portal/employees",  # a page, not an export
        "https://evil.example/portal/employees/export.csv",
        "//evil.example/portal/employees/export.csv",
        "/nowhere/export.csv",
    ],
)
def test_only_an_export_of_the_portal_is_prepared(customer, target):
    from forms.tasks import new_key

    assert (
        customer.post("/tasks/export", data={"key": new_key(), "target": target}).status_code == 400
    )


def test_a_background_export_of_a_list_the_user_may_not_see_fails_with_a_reason(
    app, customer, staff_world
):
    from forms.tasks import new_key
    from tests.fixtures.tasks import run_tasks

    target = "/staff/invoices/export.csv"
    response = customer.post("/tasks/export", data={"key": new_key(), "target": target})
    run_tasks(app)
    page = text(customer.get(response.location))
    assert 'badge--task-failed">Failed</span>' in page and "You may not export this list." in page
    assert export_events(app) == []
