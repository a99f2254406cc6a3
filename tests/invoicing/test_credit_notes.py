"""Credit notes (hyvityslasku): a forwarded invoice credited in full or in part, numbered
in the user's series, sent by the invoice's delivery method (email, the print service,
the e-invoice operator as Finvoice INV02 valid against the schema), the receivable
reduced, what was paid already owed back, and the bank's payments to a credited invoice
left to staff."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from lxml import etree

from extensions import db
from models.audit import AuditEvent
from models.invoicing import InvoiceKind, InvoiceStatus, SalesInvoice, SalesInvoiceLine
from services.invoicing import desk as invoicing
from services.invoicing import finvoice
from tests.fixtures import invoicing as invoicing_fixtures
from tests.fixtures.bank import Paid, camt054, entry
from tests.fixtures.invoicing import (
    TIINA,
    count,
    events,
    forward,
    invoice_row,
    mails,
    open_invoice,
    page,
    pay,
    pdf_text,
    print_jobs,
    sent_invoice,
    upload_bank_file,
)
from tests.fixtures.tasks import run_tasks

app_config = invoicing_fixtures.app_config  # the sandboxes mounted
olli = invoicing_fixtures.olli
staff = invoicing_fixtures.staff
tiina = invoicing_fixtures.tiina

TWO_LINES = {
    "lines-0-description": "Konsultointi",
    "lines-0-quantity": "3",
    "lines-0-unit": "h",
    "lines-0-unit_price": "80,00",
    "lines-0-vat_percent": "25.5",
    "lines-1-description": "Kirja",
    "lines-1-quantity": "2",
    "lines-1-unit": "kpl",
    "lines-1-unit_price": "20,00",
    "lines-1-vat_percent": "13.5",
}  # 301,20 + 45,40 = 346,60 €


def forwarded(app: Flask, tiina, staff, method: str = "sahkoposti", **fields) -> str:
    """An invoice of two lines sent by the user and forwarded and finalised by staff."""
    number = sent_invoice(tiina, app, method, **{**TWO_LINES, **fields})
    response = forward(staff, number)
    assert response.status_code == 302
    assert invoice_row(app, number).status == InvoiceStatus.OPEN
    return number


def line_ids(app: Flask, number: str) -> list[int]:
    with app.app_context():
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        return [line.id for line in invoice.lines]


def credit(staff, number: str, **data):
    """Credit the whole invoice; its credit note's sending by post or e-invoice is run at
    once, as the task worker would."""
    response = staff.post(f"/staff/invoices/{number}/credit", data={"scope": "full", **data})
    run_tasks(staff.application)
    return response


def credit_part(staff, app: Flask, number: str, lines: dict[int, dict[str, str]], **data):
    """Credit some lines: {position (0-based): {"quantity": …} or {"amount": …}}."""
    form = {"scope": "part", **data}
    for index, line_id in enumerate(line_ids(app, number)):
        form[f"lines-{index}-line_id"] = str(line_id)
        for name, value in lines.get(index, {}).items():
            form[f"lines-{index}-{name}"] = value
    response = staff.post(f"/staff/invoices/{number}/credit", data=form)
    run_tasks(staff.application)
    return response


def credit_notes(app: Flask, number: str) -> list[SalesInvoice]:
    with app.app_context():
        original = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        notes = db.session.scalars(
            sa.select(SalesInvoice).where(SalesInvoice.credit_of_id == original.id)
            .order_by(SalesInvoice.id)
        ).all()  # fmt: skip
        for note in notes:
            note.lines  # noqa: B018  (loaded before the session ends)
            db.session.expunge(note)
        return list(notes)


def note_pdf(app: Flask, number: str) -> bytes:
    with app.test_request_context():
        note = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        return invoicing.pdf(note)


def note_message(app: Flask, number: str) -> bytes:
    with app.test_request_context():
        note = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        return invoicing.finvoice_message(note)


# ================================================================= numbering and booking


def test_a_full_credit_takes_the_next_number_of_the_users_series_and_clears_the_receivable(
    app, tiina, staff
):
    number = forwarded(app, tiina, staff)
    assert number == "1001021"
    response = credit(staff, number, reason="Tilaus peruttiin")
    assert response.status_code == 302
    [note] = credit_notes(app, number)
    assert response.headers["Location"].endswith(f"/staff/invoices/{note.number}")
    assert note.number == "1001022" and note.kind == InvoiceKind.CREDIT_NOTE
    assert note.reference == "10010226"
    assert note.status == InvoiceStatus.CREDIT_SENT
    assert note.gross == Decimal("346.60") and note.refund_due == 0
    assert note.payer_name == "Asiakas Oy" and note.delivery_method.value == "sahkoposti"
    assert [(line.quantity, line.unit_price) for line in note.lines] == [
        (Decimal("3"), Decimal("80.00")),
        (Decimal("2"), Decimal("20.00")),
    ]
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.CREDITED
    assert row.credited == Decimal("346.60") and row.gross == Decimal("346.60")
    with app.app_context():
        assert db.session.get(SalesInvoice, row.id).outstanding == 0
    assert [kind for kind, _round, _text in events(app, number)][-1] == "credited"
    assert events(app, number)[-1][2] == note.number
    # the next invoice goes on in the same series
    assert sent_invoice(tiina, app) == "1001023"


def test_a_partial_credit_reduces_the_receivable_and_leaves_the_invoice_open(app, tiina, staff):
    number = forwarded(app, tiina, staff)
    response = credit_part(staff, app, number, {0: {"quantity": "1"}, 1: {"amount": "5,00"}})
    assert response.status_code == 302, page(response)
    [note] = credit_notes(app, number)
    # 1 h × 80,00 at 25,5 % = 100,40; 5,00 at 13,5 % = 5,68 (one lot of the amount)
    assert note.gross == Decimal("106.08")
    assert [(line.quantity, line.unit, line.unit_price) for line in note.lines] == [
        (Decimal("1"), "h", Decimal("80.00")),
        (Decimal("1"), "erä", Decimal("5.00")),
    ]
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.OPEN and row.credited == Decimal("106.08")
    with app.app_context():
        assert db.session.get(SalesInvoice, row.id).outstanding == Decimal("240.52")
    # a payment of the rest pays it in full
    assert pay(staff, number, "240,52").status_code == 302
    assert invoice_row(app, number).status == InvoiceStatus.PAID
    # what is left to credit: 2 h of line 1 and 35,00 of line 2
    text = page(staff.get(f"/staff/invoices/{number}"))
    assert "Still to credit: €160.00 excl. VAT" in text
    assert "Still to credit: €35.00 excl. VAT" in text


@pytest.mark.parametrize(
    "lines, message",
    [
        ({0: {"quantity": "4"}}, "Line 1: at most 240,00 € (excl. VAT) can still be credited."),
        ({1: {"amount": "40,01"}}, "Line 2: at most 40,00 € (excl. VAT) can still be credited."),
        ({}, "Enter a quantity or an amount for a line to credit."),
        ({0: {"quantity": "1", "amount": "10,00"}}, "Enter a quantity or an amount, not both."),
        ({0: {"quantity": "-1"}}, "Enter a quantity from"),
        ({1: {"amount": "abc"}}, "Not a valid decimal value."),
    ],
)
def test_over_credit_and_bad_input_are_refused_with_a_message_and_nothing_booked(
    app, tiina, staff, lines, message
):
    number = forwarded(app, tiina, staff)
    before = count(app, SalesInvoice), count(app, SalesInvoiceLine), len(mails(app))
    response = credit_part(staff, app, number, lines)
    assert response.status_code == 422
    assert message in page(response)
    assert (count(app, SalesInvoice), count(app, SalesInvoiceLine), len(mails(app))) == before
    row = invoice_row(app, number)
    assert (row.status, row.credited) == (InvoiceStatus.OPEN, 0)


def test_a_second_credit_can_take_only_what_is_left(app, tiina, staff):
    number = forwarded(app, tiina, staff)
    credit_part(staff, app, number, {0: {"quantity": "2"}})
    refused = credit_part(staff, app, number, {0: {"quantity": "2"}})
    assert refused.status_code == 422
    assert "Line 1: at most 80,00 € (excl. VAT) can still be credited." in page(refused)
    # in full now: the rest of each line
    assert credit(staff, number).status_code == 302
    first, rest = credit_notes(app, number)
    assert (first.number, rest.number) == ("1001022", "1001023")
    assert [(line.quantity, line.description) for line in rest.lines] == [
        (Decimal("1"), "Konsultointi"),
        (Decimal("2"), "Kirja"),
    ]
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.CREDITED and row.credited == row.gross
    # and nothing more
    again = credit(staff, number)
    assert again.status_code == 422
    assert "Only an invoice that has gone out can be credited" in page(again)


def test_an_invoice_not_yet_forwarded_cannot_be_credited(app, tiina, staff):
    number = sent_invoice(tiina, app)
    response = credit(staff, number)
    assert response.status_code == 422
    assert credit_notes(app, number) == []
    assert "Credit and send the credit note" not in page(staff.get(f"/staff/invoices/{number}"))


def test_a_paid_invoice_credited_owes_the_payment_back_visible_to_staff(app, tiina, staff):
    number = open_invoice(app, tiina, staff)  # 125,49 €
    pay(staff, number, "100,00")
    credit(staff, number)
    [note] = credit_notes(app, number)
    assert note.gross == Decimal("125.49") and note.refund_due == Decimal("100.00")
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.CREDITED and row.paid_amount == Decimal("100.00")
    receivables = page(staff.get("/staff/invoices/receivables"))
    assert "Credits owed back to payers" in receivables and note.number in receivables
    note_page = page(staff.get(f"/staff/invoices/{note.number}"))
    assert "Owed back to the payer" in note_page
    text = pdf_text(note_pdf(app, note.number))
    assert "jomaksettu100,00EURpalautetaanmaksajantilille" in text
    # staff return it and say how
    refused = staff.post(f"/staff/invoices/{note.number}/refund-returned", data={"note": " "})
    assert refused.status_code == 422
    done = staff.post(
        f"/staff/invoices/{note.number}/refund-returned",
        data={"note": "Palautettu tilille FI21 1234 5600 0007 85"},
    )
    assert done.status_code == 302
    assert invoice_row(app, note.number).refund_returned_at is not None
    assert "Credits owed back to payers" not in page(staff.get("/staff/invoices/receivables"))
    with app.app_context():
        actions = list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))
    assert "invoice.credited" in actions and "invoice.refund_returned" in actions


# ================================================================= the documents


def test_the_credit_note_pdf_says_hyvityslasku_refers_to_the_invoice_and_has_nothing_to_pay(
    app, tiina, staff
):
    number = forwarded(app, tiina, staff)
    credit(staff, number)
    [note] = credit_notes(app, number)
    text = pdf_text(note_pdf(app, note.number))
    assert "HYVITYSLASKU" in text
    assert f"Hyvityslaskunnumero{note.number}" in text
    assert f"Hyvitettävälasku{number}" in text
    assert "-301,20" in text and "-346,60" in text  # the credited amounts, negative
    assert "Hyvityksensuoritus" in text and "eitarvitsemaksaa" in text
    assert "TILISIIRTO" not in text and "Virtuaaliviivakoodi" not in text
    assert "Maksaverkossa" not in text


def test_the_credit_note_is_finvoice_inv02_with_negative_amounts_valid_against_the_schema(
    app, live_server, tiina, staff
):
    number = forwarded(app, tiina, staff, "verkkolasku")
    credit_part(staff, app, number, {0: {"quantity": "1,5"}})
    [note] = credit_notes(app, number)
    message = note_message(app, note.number)
    shared = Path(__file__).resolve().parents[3] / "shared" / "schemas" / "Finvoice3.0.xsd"
    assert finvoice.errors(message) == []
    if shared.exists():
        assert finvoice.errors(message, shared) == []
    root = etree.fromstring(message)
    details = root.find("InvoiceDetails")
    assert details.findtext("InvoiceTypeCode") == "INV02"
    assert details.findtext("InvoiceTypeText") == "HYVITYSLASKU"
    assert details.findtext("InvoiceNumber") == note.number
    assert details.findtext("OriginalInvoiceNumber") == number
    # 1,5 h × 80,00 = 120,00 + 25,5 % = 150,60, all negative; the unit price stays positive
    assert details.findtext("InvoiceTotalVatExcludedAmount") == "-120,00"
    assert details.findtext("InvoiceTotalVatIncludedAmount") == "-150,60"
    row = root.find("InvoiceRow")
    assert row.findtext("DeliveredQuantity") == "-1,5"
    assert row.findtext("UnitPriceAmount") == "80,00"
    assert row.findtext("RowAmount") == "-150,60"
    assert root.findtext("EpiDetails/EpiPaymentInstructionDetails/EpiInstructedAmount") == (
        "-150,60"
    )


# ================================================================= the channels


def test_an_emailed_invoices_credit_note_is_emailed_to_the_payer_and_the_user_told(
    app, tiina, staff
):
    number = forwarded(app, tiina, staff)
    credit(staff, number)
    [note] = credit_notes(app, number)
    [to_payer] = mails(app, "invoicing_credit_to_payer")
    assert to_payer.recipients == ["reskontra@asiakas.example.com"]
    assert to_payer.attachments == [(f"hyvityslasku-{note.number}.pdf", "application/pdf")]
    assert note.number in to_payer.subject and number in to_payer.body
    [told] = mails(app, "invoicing_credited")
    assert told.recipients == [TIINA]
    assert told.subject == f"Invoice {number} has been credited"
    assert note.number in told.body
    assert note.forward_receipt.startswith("mail ")


def test_a_posted_invoices_credit_note_goes_to_the_print_service(app, live_server, tiina, staff):
    number = forwarded(app, tiina, staff, "posti")
    [invoice_job] = print_jobs(app)
    response = credit(staff, number)
    assert response.status_code == 302
    [note] = credit_notes(app, number)
    assert note.status == InvoiceStatus.CREDIT_SENT
    jobs = [job for job in print_jobs(app) if job != invoice_job]
    [job] = jobs
    assert note.forward_receipt == job.stem
    assert "HYVITYSLASKU" in pdf_text(job.read_bytes())
    assert mails(app, "invoicing_credit_to_payer") == []
    assert len(mails(app, "invoicing_credited")) == 1


def test_an_einvoices_credit_note_goes_to_the_operator_as_finvoice(app, live_server, tiina, staff):
    number = forwarded(app, tiina, staff, "verkkolasku")
    response = credit(staff, number)
    assert response.status_code == 302
    [note] = credit_notes(app, number)
    assert note.status == InvoiceStatus.CREDIT_SENT
    folder = Path(app.config["INVOICE_SANDBOX_DIR"]) / "einvoice"
    [message] = [
        path
        for path in folder.glob("OP-*.xml")
        if not path.name.endswith(".frame.xml") and path.stem == note.forward_receipt
    ]
    data = message.read_bytes()
    assert finvoice.errors(data) == []
    assert etree.fromstring(data).findtext("InvoiceDetails/InvoiceTypeCode") == "INV02"


def test_a_failed_sending_keeps_the_credit_booked_and_staff_send_it_again(
    app, live_server, tiina, staff, monkeypatch
):
    from services.invoicing import print_service
    from services.invoicing.forwarding_errors import ForwardingError

    number = forwarded(app, tiina, staff, "posti")
    real = print_service.exchange
    failing = [True]

    def once_down(*args, **kwargs):
        if failing:
            failing.clear()
            raise ForwardingError("The print service did not answer.")
        return real(*args, **kwargs)

    monkeypatch.setattr(print_service, "exchange", once_down)
    response = credit(staff, number)
    [note] = credit_notes(app, number)
    text = page(staff.get(response.headers["Location"]))
    assert "it is being sent" in text and 'badge--task-failed">Failed</span>' in text
    assert note.status == InvoiceStatus.CREDIT_UNSENT and "did not answer" in note.last_error
    assert invoice_row(app, number).status == InvoiceStatus.CREDITED  # booked whole
    assert mails(app, "invoicing_credited") == []
    again = forward(staff, note.number, finalise=False)
    assert again.status_code == 302
    [note] = credit_notes(app, number)
    assert note.status == InvoiceStatus.CREDIT_SENT and note.last_error == ""
    assert len(mails(app, "invoicing_credited")) == 1


# ================================================================= lists, pages, access


def test_credit_notes_are_no_receivables_but_are_found_by_number_and_linked_both_ways(
    app, tiina, staff
):
    number = open_invoice(app, tiina, staff)
    other = open_invoice(app, tiina, staff)
    credit_part(staff, app, number, {0: {"quantity": "1"}})
    [note] = credit_notes(app, number)
    search = page(staff.get("/staff/invoices/search", query_string={"reference": "100102%"}))
    assert f'href="/staff/invoices/{number}"' in search
    assert f'href="/staff/invoices/{other}"' in search
    assert f'href="/staff/invoices/{note.number}"' not in search
    receivables = page(staff.get("/staff/invoices/receivables"))
    assert f'href="/staff/invoices/{note.number}"' not in receivables
    found = staff.get("/staff/lookup", query_string={"code": note.number})
    assert found.headers["Location"].endswith(f"/staff/invoices/{note.number}")
    original_page = page(staff.get(f"/staff/invoices/{number}"))
    assert f'href="/staff/invoices/{note.number}"' in original_page
    note_page = page(staff.get(f"/staff/invoices/{note.number}"))
    assert f"Credit note {note.number}" in note_page
    assert f'href="/staff/invoices/{number}"' in note_page
    # the user's pages too
    with app.app_context():
        original_id = db.session.scalars(sa.select(SalesInvoice.id).filter_by(number=number)).one()
    users_page = page(tiina.get(f"/invoices/{original_id}"))
    assert f'href="/invoices/{note.id}"' in users_page
    users_note = page(tiina.get(f"/invoices/{note.id}"))
    assert f"Credit note {note.number}" in users_note
    assert f'href="/invoices/{original_id}"' in users_note
    assert tiina.get(f"/invoices/{note.id}/lasku.pdf").status_code == 200


def test_another_user_and_customers_cannot_credit_or_see_a_credit_note(app, tiina, olli, staff):
    number = forwarded(app, tiina, staff)
    assert olli.post(f"/staff/invoices/{number}/credit", data={"scope": "full"}).status_code in (
        403,
        404,
    )
    assert tiina.post(f"/staff/invoices/{number}/credit", data={"scope": "full"}).status_code in (
        403,
        404,
    )
    assert credit_notes(app, number) == []
    credit(staff, number)
    [note] = credit_notes(app, number)
    assert olli.get(f"/invoices/{note.id}").status_code == 404
    assert olli.get(f"/invoices/{note.id}/lasku.pdf").status_code == 404


def test_crediting_needs_the_csrf_token(app, tiina, staff):
    number = forwarded(app, tiina, staff)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = credit(staff, number)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == 400
    assert credit_notes(app, number) == []
    assert invoice_row(app, number).credited == 0


# ================================================================= the bank


def upload(client, data: bytes):
    return upload_bank_file(client, data)


def test_a_bank_payment_to_a_credited_invoice_waits_for_staff_as_credited(app, tiina, staff):
    number = open_invoice(app, tiina, staff)
    ref = invoice_row(app, number).reference
    credit(staff, number)
    [note] = credit_notes(app, number)
    upload(
        staff, camt054(entry([Paid("BR-1", "125.49", ref), Paid("BR-2", "5.00", note.reference)]))
    )
    with app.app_context():
        from models.invoicing import BankPayment

        reasons = dict(
            db.session.execute(sa.select(BankPayment.bank_reference, BankPayment.reason)).all()
        )
    assert reasons == {"BR-1": "credited", "BR-2": "credited"}
    row = invoice_row(app, number)
    assert row.paid_amount == 0 and row.status == InvoiceStatus.CREDITED
    assert "The invoice was credited" in page(staff.get("/staff/invoices/bank"))


def test_a_bank_payment_to_a_partly_credited_invoice_pays_what_is_left(app, tiina, staff):
    number = forwarded(app, tiina, staff)
    ref = invoice_row(app, number).reference
    credit_part(staff, app, number, {1: {"quantity": "2"}})  # 45,40 off 346,60
    upload(staff, camt054(entry([Paid("BR-1", "310.00", ref)])))
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.PAID and row.paid_amount == Decimal("301.20")
    with app.app_context():
        from models.invoicing import BankPayment

        overpaid = db.session.scalar(sa.select(BankPayment.overpaid))
    assert overpaid == Decimal("8.80")


def test_an_online_payment_of_a_partly_credited_invoice_pays_what_is_left(app, tiina, staff):
    from services.payments import attempts

    number = forwarded(app, tiina, staff)
    credit_part(staff, app, number, {1: {"quantity": "2"}})  # 45,40 off 346,60
    with app.test_request_context():
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        lines = attempts._invoice_lines(invoice)
        assert sum(line.price for line in lines) == Decimal("301.20")


@pytest.mark.browser
def test_staff_credit_part_of_an_invoice_in_the_browser(browser_page, app, tiina, staff):
    """The credit form, its error state, the credit note and the lists pass axe."""
    from tests.fixtures.browser import _log_in
    from tests.fixtures.invoicing import KAISA, make_sent

    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    browser = browser_page
    page = browser.page
    _log_in(browser, KAISA)
    browser.goto(f"/staff/invoices/{number}")
    submit = f"form[action$='/{number}/credit'] button[type=submit]"
    page.check("#scope-1")  # some lines
    browser.navigate(lambda: page.locator(submit).click())  # none chosen: the error state
    assert page.locator(".error-summary").is_visible()
    assert credit_notes(app, number) == []
    page.check("#scope-1")
    page.fill("#lines-0-amount", "20,00")
    browser.navigate(lambda: page.locator(submit).click())
    [note] = credit_notes(app, number)
    assert page.url.endswith(f"/staff/invoices/{note.number}")
    assert note.gross == Decimal("25.10")
    browser.goto(f"/staff/invoices/{number}")
    assert page.locator(f"a[href='/staff/invoices/{note.number}']").count() == 1
    browser.goto("/staff/invoices/receivables")
