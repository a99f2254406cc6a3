"""The bank's files as the Finnish banks lay them out (Finance Finland's ISO 20022
Account Reporting guideline): a camt.054 notification of the day's reference payments,
the camt.053 statement of the same day, and the notification in version .001.08. Kept
as documents in tests/data/bank, not generated, so the reading is checked against the
shape the banks send, with what a real file carries beside the payments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models.invoicing import InvoiceStatus
from services.invoicing import camt
from tests.fixtures import invoicing as invoicing_fixtures
from tests.fixtures.invoicing import invoice_row, open_invoice, page, upload_bank_file

app_config = invoicing_fixtures.app_config
staff = invoicing_fixtures.staff
tiina = invoicing_fixtures.tiina

DOCUMENTS = Path(__file__).resolve().parents[1] / "data" / "bank"


def document(name: str) -> bytes:
    return (DOCUMENTS / name).read_bytes()


def test_the_notification_gives_each_reference_payment_of_the_batch():
    report = camt.parse(document("camt054_001_02_reference_payments.xml"))
    assert (report.kind, report.message_id, report.account) == (
        "camt.054", "20261203-VIITE-000345", "FI2112345600000785",
    )  # fmt: skip
    assert report.skipped == 0
    assert [(c.bank_reference, c.amount, c.reference, c.payer_name) for c in report.credits] == [
        ("261203593497ZZ0001", Decimal("125.49"), "10010213", "ASIAKAS OY"),
        ("261203593497ZZ0002", Decimal("50.00"), "RF4610010226", "MEIKALAINEN MATTI"),
        ("261203593497ZZ0003", Decimal("20.00"), "", "VIRTANEN LIISA"),
    ]
    assert {(c.booked_on, c.currency, c.reversal) for c in report.credits} == {
        (date(2026, 12, 3), "EUR", False)
    }


def test_the_statement_books_only_its_single_credit():
    """The batch of reference payments is summed up in the statement (its payments come in
    the notification); the service charge is a debit and the pending credit not booked."""
    report = camt.parse(document("camt053_001_02_statement.xml"))
    assert (report.kind, report.message_id) == ("camt.053", "20261204-TILIOTE-000077")
    assert [(c.bank_reference, c.amount, c.reference) for c in report.credits] == [
        ("261203ZZ00000402", Decimal("100.00"), "RF8310010239")
    ]
    assert report.skipped == 3


def test_the_newer_version_reads_the_same():
    report = camt.parse(document("camt054_001_08_reference_payments.xml"))
    [credit] = report.credits
    assert (credit.bank_reference, credit.amount, credit.reference, credit.payer_name) == (
        "261203593498ZZ0001", Decimal("125.49"), "10010213", "ASIAKAS OY",
    )  # fmt: skip


def upload(client: FlaskClient, name: str):
    return upload_bank_file(client, document(name), name)


@pytest.fixture
def three_open(app: Flask, tiina: FlaskClient, staff: FlaskClient) -> list[str]:
    """Invoices 1001021–1001023 of 125,49 € each, open receivables (references 10010213,
    10010226 and 10010239, as the documents pay them)."""
    return [open_invoice(app, tiina, staff) for _ in range(3)]


def test_the_days_files_book_what_they_name_and_queue_the_rest(app, staff, three_open):
    first, second, third = three_open
    response = upload(staff, "camt054_001_02_reference_payments.xml")
    assert response.status_code == 303
    text = page(staff.get(response.location))
    assert "2 payments booked on their invoices" in text
    assert "VIRTANEN LIISA" in text and "No reference" in text  # waits for staff
    assert invoice_row(app, first).status == InvoiceStatus.PAID
    part = invoice_row(app, second)
    assert (part.status, part.paid_amount) == (InvoiceStatus.OPEN, Decimal("50.00"))
    upload(staff, "camt053_001_02_statement.xml")
    assert invoice_row(app, third).paid_amount == Decimal("100.00")
    # The same files again book nothing more.
    again = upload(staff, "camt054_001_02_reference_payments.xml")
    assert "0 payments booked" in page(staff.get(again.location))
    assert invoice_row(app, second).paid_amount == Decimal("50.00")
