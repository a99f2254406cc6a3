"""The receivables' ageing: the buckets by days past due, what counts as outstanding,
whose receivables each page shows, the chart, the table and the CSV, and the queries."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from extensions import db
from models.invoicing import InvoiceStatus, SalesInvoice
from services.invoicing import ageing
from tests.fixtures import invoicing as invoicing_fixtures
from tests.fixtures.app import recorded_statements
from tests.fixtures.invoicing import OLLI, TIINA, give_number, helsinki_today, make_sent, page
from tests.fixtures.users import login

staff = invoicing_fixtures.staff
tiina = invoicing_fixtures.tiina
olli = invoicing_fixtures.olli

DAY = date(2026, 12, 4)


def receivable(
    app: Flask,
    email: str,
    due: date,
    gross: str = "100.00",
    paid: str = "0.00",
    status: InvoiceStatus = InvoiceStatus.OPEN,
) -> str:
    """An invoice of the user with the payer, due on `due`, `paid` of it paid; its number."""
    number = make_sent(app, email, status=status, price=gross)
    with app.app_context():
        db.session.execute(
            sa.update(SalesInvoice)
            .where(SalesInvoice.number == number)
            .values(due_date=due, gross=Decimal(gross), paid_amount=Decimal(paid))
        )
        db.session.commit()
    return number


def figures(app: Flask, day: date = DAY, **scope) -> dict[str, tuple[int, Decimal]]:
    with app.app_context():
        result = ageing.ageing(day=day, **scope)
    return {b.key: (b.count, b.amount) for b in result.buckets}


def user_id(app: Flask, email: str) -> int:
    from services import accounts

    with app.app_context():
        return accounts.user_by_email(email).id


def test_each_invoice_falls_in_its_bucket_by_the_days_past_due(app, tiina):
    # Days past due: each bucket's first and last day, and a few beyond.
    for days, gross in [
        (-10, "1.00"),
        (0, "2.00"),  # due today: not yet overdue
        (1, "10.00"),
        (30, "20.00"),
        (31, "100.00"),
        (60, "200.00"),
        (61, "1000.00"),
        (90, "2000.00"),
        (91, "10000.00"),
        (400, "20000.00"),
    ]:
        receivable(app, TIINA, DAY - timedelta(days=days), gross)
    assert figures(app) == {
        "not_due": (2, Decimal("3.00")),
        "1-30": (2, Decimal("30.00")),
        "31-60": (2, Decimal("300.00")),
        "61-90": (2, Decimal("3000.00")),
        "over-90": (2, Decimal("30000.00")),
    }
    with app.app_context():
        result = ageing.ageing(day=DAY)
    assert (result.outstanding, result.overdue, result.count) == (
        Decimal("33333.00"),
        Decimal("33330.00"),
        10,
    )
    assert result.overdue_count == 8
    # A day later, what was due today is one day past due.
    assert figures(app, DAY + timedelta(days=1))["1-30"] == (2, Decimal("12.00"))


def test_what_is_outstanding_counts_and_what_is_not_with_the_payer_does_not(app, tiina):
    due = DAY - timedelta(days=5)
    receivable(app, TIINA, due, "125.49", paid="100.00")  # part paid: 25,49 outstanding
    receivable(app, TIINA, due, "80.00", status=InvoiceStatus.FORWARDED)  # not yet finalised
    receivable(app, TIINA, due, "50.00", paid="50.00", status=InvoiceStatus.PAID)
    receivable(app, TIINA, due, "60.00", paid="60.00", status=InvoiceStatus.FORWARDED)  # online
    for status in (InvoiceStatus.SUBMITTED, InvoiceStatus.CORRECTION, InvoiceStatus.FORWARDING):
        receivable(app, TIINA, due, "70.00", status=status)  # not sent to the payer yet
    assert figures(app)["1-30"] == (2, Decimal("105.49"))
    assert sum(count for count, _amount in figures(app).values()) == 2


def test_a_payment_recorded_by_staff_takes_its_amount_off(app, tiina, staff):
    from tests.fixtures.invoicing import open_invoice, pay

    number = open_invoice(app, tiina, staff)  # 125,49 €, due in 14 days
    assert figures(app, helsinki_today())["not_due"] == (1, Decimal("125.49"))
    pay(staff, number, "100,00")
    assert figures(app, helsinki_today())["not_due"] == (1, Decimal("25.49"))
    pay(staff, number, "25,49")
    assert figures(app, helsinki_today())["not_due"] == (0, Decimal("0.00"))


def test_users_see_only_their_own_receivables(app, tiina, olli):
    today = helsinki_today()
    receivable(app, TIINA, today - timedelta(days=3), "111.11")
    receivable(app, OLLI, today - timedelta(days=45), "222.22")
    mine = page(tiina.get("/invoices/receivables"))
    assert "111.11" in mine and "222.22" not in mine
    theirs = page(olli.get("/invoices/receivables"))
    assert "222.22" in theirs and "111.11" not in theirs
    with tiina.get("/invoices/receivables.csv") as response:
        assert "111,11" not in response.text  # English: a decimal point
        assert "111.11" in response.text and "222.22" not in response.text
    # The user's invoice list links to the page.
    assert 'href="/invoices/receivables"' in page(tiina.get("/invoices/"))


def test_the_pages_are_for_their_people_only(app, tiina, staff, make_user):
    assert tiina.get("/staff/invoices/ageing").status_code in (403, 404)
    assert tiina.get("/staff/invoices/ageing.csv").status_code in (403, 404)
    assert staff.get("/invoices/receivables").status_code == 404
    assert staff.get("/invoices/receivables.csv").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get("/invoices/receivables").status_code == 302
    make_user("uusi@example.com", org="Uusi Oy")  # not yet an invoicing user
    newcomer = login(app, "uusi@example.com")
    assert newcomer.get("/invoices/receivables").status_code == 302


def test_staff_see_every_user_or_one_by_invoicing_number(app, tiina, olli, staff):
    today = helsinki_today()
    receivable(app, TIINA, today - timedelta(days=3), "111.11")
    receivable(app, OLLI, today - timedelta(days=45), "222.22")
    every = page(staff.get("/staff/invoices/ageing"))
    assert "333.33" in every and "Receivables of every user" in every
    assert 'aria-current="page"' in every.split('href="/staff/invoices/ageing"')[1][:30]
    one = page(staff.get("/staff/invoices/ageing", query_string={"user_number": " 100103 "}))
    assert "222.22" in one and "111.11" not in one and "(100103)" in one
    assert 'href="/staff/invoices/ageing.csv?user_number=100103"' in one
    with staff.get("/staff/invoices/ageing.csv?user_number=100103") as response:
        assert "222.22" in response.text and "111.11" not in response.text
        assert "saatavien-ikajakauma-100103-" in response.headers["Content-Disposition"]
    for typed, message in [
        ("999999", "No user has the invoicing number 999999."),
        ("12ab", "An invoicing number has 6 digits."),
        ("1001021", "An invoicing number has 6 digits."),
    ]:
        response = staff.get("/staff/invoices/ageing", query_string={"user_number": typed})
        assert response.status_code == 200
        shown = page(response)
        assert message in shown, shown
        assert "333.33" not in shown and 'role="img"' not in shown
        refused = staff.get("/staff/invoices/ageing.csv", query_string={"user_number": typed})
        assert refused.status_code == 404


def _read_csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_the_csv_has_the_tables_figures_in_the_users_language(app, staff, make_user):
    make_user("liisa@example.com", org="Liisa Oy", name="Liisa", language="fi")
    give_number(app, "liisa@example.com", "100104")
    liisa = login(app, "liisa@example.com")
    today = helsinki_today()
    receivable(app, "liisa@example.com", today + timedelta(days=3), "1234.50")
    receivable(app, "liisa@example.com", today - timedelta(days=100), "10.05", paid="5.00")
    response = liisa.get("/invoices/receivables.csv")
    disposition = response.headers["Content-Disposition"]
    assert disposition == (
        f'attachment; filename="saatavien-ikajakauma-100104-{today.isoformat()}.csv"'
    )
    rows = _read_csv(response)
    assert len(rows) == 8 and all(len(row) == 3 for row in rows)
    header, *buckets, total, overdue = rows
    assert len(header) == 3  # in the language of the user (its translation to come)
    assert [row[1:] for row in buckets] == [
        ["1", "1234,50"],
        ["0", "0,00"],
        ["0", "0,00"],
        ["0", "0,00"],
        ["1", "5,05"],
    ]
    assert total[1:] == ["2", "1239,55"] and overdue[1:] == ["1", "5,05"]
    # Staff in English: decimal points, every user's figures.
    english = _read_csv(staff.get("/staff/invoices/ageing.csv"))
    assert english[0] == ["Days past due", "Invoices", "Outstanding (EUR)"]
    assert english[1] == ["Not due", "1", "1234.50"]
    assert english[-2] == ["Total", "2", "1239.55"]
    assert (
        "saatavien-ikajakauma-2"
        in staff.get("/staff/invoices/ageing.csv").headers["Content-Disposition"]
    )


def test_the_chart_has_a_text_alternative_and_a_bar_for_each_bucket(app, tiina):
    today = helsinki_today()
    receivable(app, TIINA, today, "200.00")
    receivable(app, TIINA, today - timedelta(days=95), "50.00")
    shown = page(tiina.get("/invoices/receivables"))
    svg = re.search(r'<svg role="img".*?</svg>', shown, re.S).group(0)
    assert 'role="img"' in svg and 'aria-labelledby="ageing-chart-caption ageing-chart-text"' in svg
    title = re.search(r'<title id="ageing-chart-text">(.*?)</title>', svg, re.S).group(1)
    assert "Not due: €200.00, 1 invoice" in title
    assert "Over 90 days past due: €50.00, 1 invoice" in title
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([0-9.]+)"', svg)]
    assert widths == [190.0, 0, 0, 0, 47.5]
    # The same figures as a table, with the totals.
    assert re.search(r'data-bucket="total">\s*<th scope="row">Total</th>', shown)
    assert "€250.00" in shown and "€50.00" in shown


def test_an_empty_ageing_shows_zeros(app, tiina, staff):
    shown = page(tiina.get("/invoices/receivables"))
    assert '<svg role="img"' in shown
    assert page(staff.get("/staff/invoices/ageing")).count("€0.00") >= 7


def test_the_ageing_is_one_select_however_many_invoices(app, tiina, staff):
    today = helsinki_today()
    receivable(app, TIINA, today - timedelta(days=3))
    staff.get("/staff/invoices/ageing")  # the user and the page's kept parts, loaded once
    tiina.get("/invoices/receivables")
    with recorded_statements(app) as one_staff:
        staff.get("/staff/invoices/ageing")
    with recorded_statements(app) as one_user:
        tiina.get("/invoices/receivables")
    for days in (0, 40, 70, 100, 200):
        receivable(app, TIINA, today - timedelta(days=days))
    with recorded_statements(app) as many_staff:
        assert "€600.00" in page(staff.get("/staff/invoices/ageing"))
    with recorded_statements(app) as many_user:
        assert "€600.00" in page(tiina.get("/invoices/receivables"))
    assert len(many_staff) == len(one_staff) and len(many_user) == len(one_user)
    ageing_selects = [s for s, _p in many_user if "sales_invoice" in s]
    assert len(ageing_selects) == 1 and "count(" in ageing_selects[0].lower()


@pytest.mark.parametrize("one_user", [False, True])
def test_the_ageing_reads_the_receivables_through_their_index(app, tiina, one_user):
    receivable(app, TIINA, DAY)
    for status in (InvoiceStatus.PAID, InvoiceStatus.SUBMITTED):
        receivable(app, TIINA, DAY, status=status)
    scope = {"user_id": user_id(app, TIINA)} if one_user else {}
    with recorded_statements(app) as seen:
        figures(app, **scope)
    [(statement, parameters)] = [(s, p) for s, p in seen if "sales_invoice" in s]
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(
                row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)
            )
            connection.exec_driver_sql("RESET ALL")
            assert "Seq Scan" not in plan and "ix_sales_invoice_with_payer" in plan, plan
        else:
            plan = " | ".join(
                str(row[-1])
                for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            if one_user:
                # Without statistics SQLite costs the two indexes that lead with the user
                # alike and takes either: both walk only this user's invoices.
                assert "SEARCH sales_invoice USING INDEX" in plan and "(user_id=?" in plan, plan
            else:
                assert "ix_sales_invoice_with_payer" in plan, plan
