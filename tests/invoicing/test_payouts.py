"""Payouts to the invoicing users (tilitys): the service's fee fixed and shown before
sending, what is owed after payments and credits, the staff's payout batch with its
pain.001 file (valid against the ISO 20022 schema), statements by mail and as PDF, a
batch never paid twice and never changed, and each user's own view."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from lxml import etree

from extensions import db
from models.audit import AuditEvent
from models.auth import User
from models.invoicing import (
    ClosedBatchError,
    Payout,
    PayoutBatch,
    PayoutLine,
    SalesInvoice,
)
from services import accounts, workdays
from services.invoicing import payouts
from tests.fixtures import invoicing as invoicing_fixtures
from tests.fixtures.invoicing import (
    OLLI,
    TIINA,
    count,
    field_error,
    helsinki_today,
    invoice_form,
    invoice_row,
    mails,
    open_invoice,
    page,
    pay,
    pdf_text,
)

app_config = invoicing_fixtures.app_config
olli = invoicing_fixtures.olli
staff = invoicing_fixtures.staff
tiina = invoicing_fixtures.tiina

PAIN = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}"
TIINA_IBAN = "FI5810171000000122"


def banking_day() -> date:
    return workdays.next_working_day(helsinki_today())


def set_account(app: Flask, email: str, iban: str = TIINA_IBAN) -> None:
    with app.app_context():
        user = accounts.user_by_email(email)
        user.payout_iban, user.payout_name = iban, user.name
        db.session.commit()


def run(staff, day: date | None = None, key: str | None = None):
    data = {"execution_date": (day or banking_day()).isoformat()}
    if key:
        data["form_key"] = key
    return staff.post("/staff/invoices/payouts", data=data)


def paid_invoice(app: Flask, tiina, staff) -> str:
    """An invoice of 125,49 € paid in full: 3,76 € fee (3 %), 121,73 € owed to its user."""
    number = open_invoice(app, tiina, staff)
    assert pay(staff, number, "125,49").status_code == 302
    return number


def batches(app: Flask) -> list[PayoutBatch]:
    with app.app_context():
        return list(db.session.scalars(sa.select(PayoutBatch).order_by(PayoutBatch.id)))


def test_the_fee_is_shown_before_sending_and_fixed_when_sent(app, tiina, staff):
    form = invoice_form(action="add_line")
    shown = page(tiina.post("/invoices/new", data=form))
    assert "The service's fee is 3 % of what the payer pays, VAT included: €3.77" in shown
    assert "you are paid €121.73" in shown  # 125,50 € less 3,77 €
    number = open_invoice(app, tiina, staff)
    assert invoice_row(app, number).fee_percent == Decimal("3.00")
    app.config["INVOICE_SERVICE_FEE_PERCENT"] = "5.00"  # a new fee: not for what was sent
    assert pay(staff, number, "125,49").status_code == 302
    row = invoice_row(app, number)
    assert row.payout_due == Decimal("121.73")  # 125,49 − 3,76


def test_a_part_payment_is_owed_in_part_and_the_rest_later(app, tiina, staff):
    number = open_invoice(app, tiina, staff)
    pay(staff, number, "100,00")
    assert invoice_row(app, number).payout_due == Decimal("97.00")
    pay(staff, number, "25,49")
    assert invoice_row(app, number).payout_due == Decimal("121.73")


def test_a_batch_pays_the_user_with_a_valid_pain001_a_statement_and_a_mail(app, tiina, staff):
    number = paid_invoice(app, tiina, staff)
    set_account(app, TIINA)
    listed = page(staff.get("/staff/invoices/payouts"))
    assert "100102" in listed and "€121.73" in listed
    response = run(staff)
    assert response.status_code == 303
    [batch] = batches(app)
    assert batch.number == f"TIL-{banking_day().year}-000001"
    assert (batch.payouts_count, batch.total, batch.fees) == (1, Decimal("121.73"), Decimal("3.76"))
    row = invoice_row(app, number)
    assert (row.paid_out, row.payout_fee, row.payout_due) == (
        Decimal("121.73"),
        Decimal("3.76"),
        Decimal("0.00"),
    )
    # The bank's file: pain.001.001.03, valid against its schema, the same every time.
    download = staff.get(f"/staff/invoices/payouts/{batch.id}/pain001.xml")
    assert download.status_code == 200
    assert download.data == staff.get(f"/staff/invoices/payouts/{batch.id}/pain001.xml").data
    payouts_schema_valid(download.data)
    document = etree.fromstring(download.data)
    assert document.findtext(f".//{PAIN}GrpHdr/{PAIN}MsgId") == batch.number
    assert document.findtext(f".//{PAIN}GrpHdr/{PAIN}CtrlSum") == "121.73"
    assert document.findtext(f".//{PAIN}ReqdExctnDt") == banking_day().isoformat()
    assert document.findtext(f".//{PAIN}DbtrAcct//{PAIN}IBAN") == "FI2112345600000785"
    assert document.findtext(f".//{PAIN}CdtrAcct//{PAIN}IBAN") == TIINA_IBAN
    assert document.findtext(f".//{PAIN}EndToEndId") == f"{batch.number}-100102"
    with app.app_context():
        downloads = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "payout.file_downloaded")
        )
        assert downloads == 2
    # The user's statement by mail, with the PDF, in the user's language.
    [mail] = mails(app, "invoicing_payout")
    assert mail.recipients == [TIINA]
    assert mail.subject == f"Payout {batch.number}: €121.73"
    assert "to the account FI5810171000000122" in mail.body
    assert mail.attachments == [(f"tilitys-{batch.number}.pdf", "application/pdf")]
    # And on the user's page, with the same statement.
    mine = page(tiina.get("/invoices/payouts"))
    assert batch.number in mine and "€121.73" in mine
    with app.app_context():
        payout_id = db.session.scalar(sa.select(Payout.id))
    text = pdf_text(tiina.get(f"/invoices/payouts/{payout_id}.pdf").data)
    for expected in (number, "125.49", "3.76", "121.73", batch.number):  # in English
        assert expected in text


def payouts_schema_valid(document: bytes) -> None:
    """The file against the official pain.001.001.03 schema, as sepaxml ships it."""
    from sepaxml.validation import try_valid_xml

    try_valid_xml(document, "pain.001.001.03")  # raises on an invalid file


def test_a_batch_is_never_paid_twice(app, tiina, staff):
    paid_invoice(app, tiina, staff)
    set_account(app, TIINA)
    key = "a" * 32
    first = run(staff, key=key)
    again = run(staff, key=key)  # the same form sent twice: the same batch
    assert again.headers["Location"] == first.headers["Location"]
    assert len(batches(app)) == 1
    later = run(staff)  # a new form: nothing is owed any more
    assert later.status_code == 422
    assert "No user is owed a payout with an account given." in page(later)
    assert len(batches(app)) == 1 and count(app, Payout) == 1


def test_two_batches_at_once_cannot_both_pay_an_invoice(app, tiina, staff):
    number = paid_invoice(app, tiina, staff)
    set_account(app, TIINA)
    with app.app_context():
        stale = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        db.session.expunge(stale)  # as another batch read it, before this one paid it
        staff_user = accounts.user_by_email(invoicing_fixtures.KAISA)
        payouts.run_batch(staff_user, banking_day())
        db.session.commit()
        payout = db.session.scalar(sa.select(Payout))
        with pytest.raises(payouts.PayoutError):
            payouts._book(payout, stale, payouts.Share(Decimal("125.49"), Decimal("3.76")))
        db.session.rollback()
    assert invoice_row(app, number).paid_out == Decimal("121.73")


def test_a_closed_batch_never_changes(app, tiina, staff):
    paid_invoice(app, tiina, staff)
    set_account(app, TIINA)
    run(staff)
    with app.app_context():
        line = db.session.scalar(sa.select(PayoutLine))
        line.amount = Decimal("1000.00")
        with pytest.raises(ClosedBatchError):
            db.session.flush()
        db.session.rollback()
        payout = db.session.scalar(sa.select(Payout))
        db.session.delete(payout)
        with pytest.raises(ClosedBatchError):
            db.session.flush()
        db.session.rollback()


def test_a_user_without_an_account_waits(app, tiina, olli, staff):
    paid_invoice(app, tiina, staff)
    other = open_invoice(app, olli, staff)
    pay(staff, other, "125,49")
    set_account(app, OLLI)
    shown = page(staff.get("/staff/invoices/payouts"))
    assert "Waits: no account given" in shown
    run(staff)
    with app.app_context():
        paid = db.session.scalars(sa.select(Payout.user_id)).all()
        assert paid == [accounts.user_by_email(OLLI).id]
    assert "Give the account your payouts are paid to" in page(tiina.get("/invoices/payouts"))


def test_a_credit_after_a_payout_is_taken_back_from_the_next(app, tiina, staff):
    first = paid_invoice(app, tiina, staff)
    set_account(app, TIINA)
    run(staff)
    response = staff.post(f"/staff/invoices/{first}/credit", data={"scope": "full"})
    assert response.status_code == 302
    assert invoice_row(app, first).payout_due == Decimal("-121.73")
    assert "Taken back from your next payouts" in page(tiina.get("/invoices/payouts"))
    assert run(staff).status_code == 422  # the user owes: nothing to pay
    second = paid_invoice(app, tiina, staff)
    third = paid_invoice(app, tiina, staff)
    assert run(staff).status_code == 303
    with app.app_context():
        last = db.session.scalars(sa.select(Payout).order_by(Payout.id.desc())).first()
        assert last.amount == Decimal("121.73")  # 2 × 121,73 − 121,73
        lines = {line.invoice.number: line.amount for line in payouts.lines_of(last)}
    assert lines == {
        first: Decimal("-121.73"),
        second: Decimal("121.73"),
        third: Decimal("121.73"),
    }
    assert invoice_row(app, first).payout_due == 0


def test_the_payment_day_must_be_a_banking_day_after_today(app, tiina, staff):
    paid_invoice(app, tiina, staff)
    set_account(app, TIINA)
    for day in (helsinki_today(), helsinki_today() - timedelta(days=3)):
        response = run(staff, day)
        assert response.status_code == 422
        assert "Choose a banking day after today" in field_error(page(response), "execution_date")
    saturday = banking_day() + timedelta(days=(5 - banking_day().weekday()) % 7)
    assert run(staff, saturday).status_code == 422
    assert batches(app) == []


def test_the_user_gives_the_account_checked_as_an_iban(app, tiina):
    bad = tiina.post("/invoices/payouts", data={"iban": "FI21 1234 5600 0007 86", "name": "T"})
    assert bad.status_code == 422
    assert "Enter a valid IBAN" in field_error(page(bad), "iban")
    good = tiina.post(
        "/invoices/payouts", data={"iban": "fi58 1017 1000 0001 22", "name": "Tiina Testinen"}
    )
    assert good.status_code == 303
    with app.app_context():
        user = accounts.user_by_email(TIINA)
        assert (user.payout_iban, user.payout_name) == (TIINA_IBAN, "Tiina Testinen")


def test_each_user_sees_only_their_own(app, tiina, olli, staff, make_user):
    paid_invoice(app, tiina, staff)
    set_account(app, TIINA)
    run(staff)
    with app.app_context():
        payout_id = db.session.scalar(sa.select(Payout.id))
        batch_id = db.session.scalar(sa.select(PayoutBatch.id))
    assert olli.get(f"/invoices/payouts/{payout_id}.pdf").status_code == 404
    assert "€121.73" not in page(olli.get("/invoices/payouts"))
    assert "Nothing is owed to you now." in page(olli.get("/invoices/payouts/owed"))
    for address in (
        "/staff/invoices/payouts",
        f"/staff/invoices/payouts/{batch_id}",
        f"/staff/invoices/payouts/{batch_id}/pain001.xml",
    ):
        assert tiina.get(address).status_code in (403, 404)
    assert staff.get(f"/staff/invoices/payouts/{batch_id}").status_code == 200
    statement = staff.get(f"/staff/invoices/payouts/{batch_id}/{payout_id}.pdf")
    assert statement.mimetype == "application/pdf"
    assert staff.get(f"/staff/invoices/payouts/{batch_id + 1}/{payout_id}.pdf").status_code == 404


def test_the_owed_list_pages_by_user(app, staff):
    with app.app_context():
        users = [
            User(
                email=f"u{i}@example.com",
                name=f"U {i}",
                password_hash="x",
                invoicing_number=str(200000 + i),
            )
            for i in range(30)
        ]
        db.session.add_all(users)
        db.session.flush()
        for user in users:
            db.session.add(
                SalesInvoice(
                    user_id=user.id,
                    user_number=user.invoicing_number,
                    invoice_date=helsinki_today(),
                    due_date=helsinki_today(),
                    payout_due=Decimal("10.00"),
                )
            )
        db.session.commit()
        ids = [user.id for user in users]
    first = page(staff.get("/staff/invoices/payouts"))
    assert "200024" in first and "200025" not in first
    second = page(staff.get(f"/staff/invoices/payouts?after_user={ids[24]}"))
    assert "200025" in second and "200029" in second and "200024" not in second
