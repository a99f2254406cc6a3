"""Incoming bank payments: the bank's camt.054 and camt.053 files imported, each payment
booked on the invoice its reference names, the rest handled by staff."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models.invoicing import BankFile, BankPayment, BankPaymentState, InvoiceStatus
from services.invoicing import bank, camt, reference
from tests.fixtures import invoicing as invoicing_fixtures
from tests.fixtures.bank import Paid, camt053, camt054, entry
from tests.fixtures.invoicing import TIINA, invoice_row, mails, open_invoice, page
from tests.fixtures.invoicing import upload_bank_file as upload

app_config = invoicing_fixtures.app_config  # the sandboxes mounted
staff = invoicing_fixtures.staff
tiina = invoicing_fixtures.tiina


@pytest.fixture
def receivable(app: Flask, tiina: FlaskClient, staff: FlaskClient):
    """An open receivable of 125,49 €: its number and its reference."""
    number = open_invoice(app, tiina, staff)
    return number, invoice_row(app, number).reference


def payments(app: Flask) -> dict[str, BankPayment]:
    with app.app_context():
        found = db.session.scalars(sa.select(BankPayment).order_by(BankPayment.id)).all()
        for payment in found:
            db.session.expunge(payment)
        return {p.bank_reference: p for p in found}


def test_a_payment_in_full_marks_the_invoice_paid_and_tells_the_user(app, staff, receivable):
    number, ref = receivable
    response = upload(staff, camt054(entry([Paid("BR-1", "125.49", ref)])))
    assert response.status_code == 303
    assert "1 payments booked on their invoices" in page(staff.get(response.location))
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.PAID and row.paid_amount == Decimal("125.49")
    paid = payments(app)["BR-1"]
    assert (paid.state, paid.overpaid, paid.reason) == (BankPaymentState.MATCHED, 0, "")
    [notice] = mails(app, "invoicing_paid")
    assert notice.recipients == [TIINA]
    assert number in notice.subject


def test_less_leaves_the_rest_outstanding(app, staff, receivable):
    number, ref = receivable
    upload(staff, camt054(entry([Paid("BR-1", "100.00", ref)])))
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.OPEN and row.paid_amount == Decimal("100.00")
    assert mails(app, "invoicing_paid") == []


def test_more_pays_the_invoice_and_the_overpayment_waits_for_staff(app, staff, receivable):
    number, ref = receivable
    upload(staff, camt054(entry([Paid("BR-1", "130.00", ref)])))
    assert invoice_row(app, number).status == InvoiceStatus.PAID
    paid = payments(app)["BR-1"]
    assert paid.overpaid == Decimal("4.51")
    queue = page(staff.get("/staff/invoices/bank"))
    assert "Overpaid by" in queue and "4.51" in queue
    refused = staff.post(f"/staff/invoices/bank/{paid.id}/returned", data={"note": " "})
    assert refused.status_code == 422
    assert "Say how it is returned." in page(refused)
    done = staff.post(
        f"/staff/invoices/bank/{paid.id}/returned", data={"note": "Returned to FI21… on 4.12."}
    )
    assert done.status_code == 303
    assert payments(app)["BR-1"].handled_at is not None
    assert "Overpaid by" not in page(staff.get("/staff/invoices/bank"))


def test_an_rf_reference_finds_its_invoice(app, staff, receivable):
    number, ref = receivable
    upload(staff, camt054(entry([Paid("BR-1", "125.49", reference.rf(ref))])))
    assert invoice_row(app, number).status == InvoiceStatus.PAID


@pytest.mark.parametrize(
    ("paid", "reason", "shown"),
    [
        (Paid("BR-9", "10.00"), "no_reference", "No reference"),
        (Paid("BR-9", "10.00", "1232"), "unknown_reference", "No invoice has this reference"),
        (Paid("BR-9", "10.00", "RF18539007547034"), "unknown_reference", "No invoice has"),
        (Paid("BR-9", "10.00", "{ref}", currency="SEK"), "currency", "Not in euros"),
    ],
)
def test_what_the_reference_does_not_book_waits_with_its_reason(
    app,
    staff,
    receivable,
    paid,
    reason,
    shown,
):
    number, ref = receivable
    paid = Paid(
        paid.bank_reference, paid.amount, paid.reference.format(ref=ref), paid.payer, paid.currency
    )
    upload(staff, camt054(entry([paid])))
    waiting = payments(app)["BR-9"]
    assert (waiting.state, waiting.reason) == (BankPaymentState.UNMATCHED, reason)
    assert shown in page(staff.get("/staff/invoices/bank"))
    assert invoice_row(app, number).paid_amount == 0


def test_a_payment_to_an_invoice_already_paid_waits(app, staff, receivable):
    number, ref = receivable
    upload(staff, camt054(entry([Paid("BR-1", "125.49", ref), Paid("BR-2", "125.49", ref)])))
    found = payments(app)
    assert found["BR-1"].state == BankPaymentState.MATCHED
    assert (found["BR-2"].state, found["BR-2"].reason) == (
        BankPaymentState.UNMATCHED,
        "already_paid",
    )
    assert invoice_row(app, number).paid_amount == Decimal("125.49")


def test_a_reversal_and_debits_book_nothing(app, staff, receivable):
    number, ref = receivable
    upload(
        staff,
        camt054(
            entry([Paid("BR-1", "125.49", ref)], reversal=True, entry_reference="E1"),
            entry([Paid("BR-2", "125.49", ref)], credit=False, entry_reference="E2"),
            entry([Paid("BR-3", "125.49", ref)], status="PDNG", entry_reference="E3"),
        ),
    )
    found = payments(app)
    assert list(found) == ["BR-1"] and found["BR-1"].reason == "reversal"
    assert invoice_row(app, number).paid_amount == 0


def test_staff_book_a_waiting_payment_on_the_invoice_they_name(app, staff, receivable):
    number, _ref = receivable
    upload(staff, camt054(entry([Paid("BR-1", "125.49", "")])))
    waiting = payments(app)["BR-1"]
    wrong = staff.post(
        f"/staff/invoices/bank/{waiting.id}/allocate", data={"invoice_number": "999999-1"}
    )
    assert wrong.status_code == 422
    assert "No invoice has the number 999999-1." in page(wrong)
    assert 'value="999999-1"' in page(wrong)  # what was typed is kept
    done = staff.post(
        f"/staff/invoices/bank/{waiting.id}/allocate", data={"invoice_number": number}
    )
    assert done.status_code == 303
    assert invoice_row(app, number).status == InvoiceStatus.PAID
    assert payments(app)["BR-1"].state == BankPaymentState.ALLOCATED
    again = staff.post(
        f"/staff/invoices/bank/{waiting.id}/allocate", data={"invoice_number": number}
    )
    assert again.status_code == 422  # handled once


def test_staff_record_a_waiting_payment_returned(app, staff, receivable):
    upload(staff, camt054(entry([Paid("BR-1", "50.00", "")])))
    waiting = payments(app)["BR-1"]
    staff.post(f"/staff/invoices/bank/{waiting.id}/returned", data={"note": "Returned by the bank"})
    returned = payments(app)["BR-1"]
    assert (returned.state, returned.note) == (BankPaymentState.RETURNED, "Returned by the bank")
    assert "No payments to handle." in page(staff.get("/staff/invoices/bank"))


def test_a_file_imported_twice_books_nothing_twice(app, staff, receivable):
    number, ref = receivable
    document = camt054(entry([Paid("BR-1", "60.00", ref)]))
    upload(staff, document)
    second = upload(staff, document)
    assert "0 payments booked on their invoices" in page(staff.get(second.location))
    # The day's statement reports the same payment again: it is known by its reference;
    # a batch it reports as a lump sum, without the payments, is no new payment either.
    upload(staff, camt053(entry([Paid("BR-1", "60.00", ref)])), "camt053.xml")
    lump = entry([], entry_reference="20261203RF0001").replace(
        "<NbOfTxs>0</NbOfTxs>", "<NbOfTxs>1</NbOfTxs>"
    )
    upload(
        staff, camt053(lump.replace('Ccy="EUR">0.00', 'Ccy="EUR">60.00'), message_id="S2"), "s2.xml"
    )
    assert invoice_row(app, number).paid_amount == Decimal("60.00")
    with app.app_context():
        files = db.session.scalars(sa.select(BankFile).order_by(BankFile.id)).all()
        assert [(f.kind, f.booked, f.repeated) for f in files] == [
            ("camt.054", 1, 0),
            ("camt.054", 0, 1),
            ("camt.053", 0, 1),
            ("camt.053", 0, 0),
        ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<?xml version='1.0'?><!DOCTYPE d [<!ENTITY a 'x'>]><d>&a;</d>", "DTD or entities"),
        (b"<Document><x/></Document>", "not an ISO 20022 camt.054 or camt.053"),
        (b"<Document", "not well-formed XML"),
        (b"", "The file is empty."),
        (None, "Choose the bank's file."),
    ],
)
def test_a_file_that_is_no_bank_report_is_refused_with_a_reason(app, staff, data, message):
    if data is None:
        response = staff.post("/staff/invoices/bank", data={}, content_type="multipart/form-data")
    else:
        response = upload(staff, data)
    assert response.status_code == 422
    assert message in page(response)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(BankFile)) == 0


def test_one_bad_entry_keeps_nothing_of_the_file(app, staff, receivable):
    number, ref = receivable
    bad = entry([Paid("BR-2", "12.345", ref), Paid("BR-3", "1.00", ref)], entry_reference="E2")
    response = upload(staff, camt054(entry([Paid("BR-1", "125.49", ref)]), bad))
    assert response.status_code == 422
    assert "A payment of entry 2 has no valid amount." in page(response)
    assert payments(app) == {} and invoice_row(app, number).paid_amount == 0


def test_the_parser_reads_the_guidelines_batch_entry():
    report = camt.parse(
        camt054(entry([Paid("BR-1", "10.00", "1232", "Maksaja Oy"), Paid("BR-2", "5.50", "")]))
    )
    assert (report.kind, report.message_id, report.account) == (
        "camt.054",
        "CAMT054-20261203-0001",
        "FI2112345600000785",
    )
    assert [(c.bank_reference, c.amount, c.reference, c.payer_name) for c in report.credits] == [
        ("BR-1", Decimal("10.00"), "1232", "Maksaja Oy"),
        ("BR-2", Decimal("5.50"), "", "Asiakas Oy"),
    ]


def test_the_bank_pages_are_staff_only(app, tiina):
    assert tiina.get("/staff/invoices/bank").status_code in (302, 403, 404)


def test_the_command_imports_a_spool_folder(app, staff, receivable, tmp_path):
    number, ref = receivable
    (tmp_path / "a.xml").write_bytes(camt054(entry([Paid("BR-1", "125.49", ref)])))
    (tmp_path / "b.xml").write_bytes(b"<not-camt/>")
    result = app.test_cli_runner().invoke(
        args=["invoicing", "import-bank", "--spool", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "a.xml: 1 booked" in result.output
    assert (tmp_path / "done" / "a.xml").exists() and (tmp_path / "failed" / "b.xml").exists()
    assert "not an ISO 20022" in (tmp_path / "failed" / "b.txt").read_text()
    assert invoice_row(app, number).status == InvoiceStatus.PAID


def test_the_queue_reads_one_page_through_its_index(app):
    with app.app_context():
        sql = str(bank.waiting().compile(db.engine))
    assert "unmatched" in sql and "handled_at IS NULL" in sql


@pytest.mark.parametrize(
    ("variant", "status", "paid", "waiting"),
    [
        ("full", InvoiceStatus.PAID, "125.49", 0),
        ("rf", InvoiceStatus.PAID, "125.49", 0),
        ("partial", InvoiceStatus.OPEN, "62.74", 0),
        ("over", InvoiceStatus.PAID, "125.49", 1),
        ("unmatched", InvoiceStatus.OPEN, "0.00", 2),
    ],
)
def test_the_bank_sandboxs_file_imports_at_the_desk(
    app, staff, receivable, variant, status, paid, waiting
):
    number, _ref = receivable
    page_shown = page(staff.get("/sandbox/bank/"))
    assert number in page_shown
    download = staff.post("/sandbox/bank/camt054", data={"variant": variant})
    assert download.mimetype == "application/xml"
    assert "attachment" in download.headers["Content-Disposition"]
    report = camt.parse(download.data)
    assert report.kind == "camt.054" and report.account == "FI2112345600000785"
    upload(staff, download.data)
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (status, Decimal(paid))
    with app.app_context():
        assert len(db.session.scalars(bank.waiting()).all()) == waiting


def test_the_queue_reads_no_more_for_more_payments(app, staff, receivable):
    from tests.fixtures.app import recorded_statements
    from tests.fixtures.invoicing import make_sent

    number, ref = receivable
    upload(staff, camt054(entry([Paid("BR-1", "130.00", ref)])))  # an overpayment
    staff.get("/staff/invoices/bank")  # the user and the page's kept parts, loaded once
    with recorded_statements(app) as one:
        assert page(staff.get("/staff/invoices/bank")).count("Overpaid by") == 1
    others = [make_sent(app, TIINA, status=InvoiceStatus.OPEN) for _ in range(4)]
    overpaid = [
        Paid(f"BR-{n}", "200.00", invoice_row(app, o).reference) for n, o in enumerate(others, 2)
    ]
    upload(staff, camt054(entry(overpaid), message_id="M2"))
    with recorded_statements(app) as five:
        assert page(staff.get("/staff/invoices/bank")).count("Overpaid by") == 5
    assert len(five) == len(one)
