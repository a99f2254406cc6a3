"""The customer portal over HTTP: the company's invoices, their PDFs, and payments
recorded by staff."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from extensions import db
from models.portal import CustomerInvoice
from services import portal
from tests.fixtures import portal as portal_fixtures
from tests.fixtures.portal import COMPANY, get, listed_invoices, login, pay, table_row, text

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The portal's world (tests/fixtures/portal.py).
company = portal_fixtures.company
customer = portal_fixtures.customer
invoices = portal_fixtures.invoices
staff = portal_fixtures.staff


# ================================================================= 3. invoices


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
