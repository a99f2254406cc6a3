"""Incoming bank payments: the bank's report imported, each payment booked on the invoice
whose reference it carries, the others left to staff to allocate by hand or to return.

- The full amount marks the invoice paid; less leaves the rest outstanding (part-paid);
  more pays the invoice and records the overpayment for staff to return.
- A payment with no reference, an unknown one, one to an invoice that is not an open
  receivable (a draft), one credited in full or a credit note ("credited"), one already
  paid, in another currency, or a reversal by the bank waits in the staff's queue with
  its reason.
- Each payment is unique by the bank's own reference (AcctSvcrRef): a file imported
  twice, or two files reporting the same payment (camt.054 and the day's camt.053),
  book it once.

The payment lands on the receivable through `desk.record_payment`, as an online payment
does. The caller commits; nothing of a file is kept when a part of it fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import joinedload

from extensions import db
from models.auth import User
from models.invoicing import (
    TO_CHECK,
    BankFile,
    BankPayment,
    BankPaymentState,
    InvoiceKind,
    InvoiceStatus,
    SalesInvoice,
)
from models.types import utcnow
from services.invoicing import camt, reference
from services.invoicing import desk as invoicing

CURRENCY = "EUR"
PAYABLE = (InvoiceStatus.OPEN, InvoiceStatus.FORWARDED)
CHUNK = 500  # bank references looked up at once

# Why a payment waits for staff, by code; shown in the reader's language.
REASONS = {
    "no_reference": _l("No reference"),
    "unknown_reference": _l("No invoice has this reference"),
    "not_open": _l("The invoice is not an open receivable"),
    "credited": _l("The invoice was credited"),
    "already_paid": _l("The invoice is already paid"),
    "currency": _l("Not in euros"),
    "reversal": _l("A reversal by the bank"),
}


class BankError(ValueError):
    """A staff action on a bank payment that cannot be done: the message says why."""

    def __init__(self, message) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Imported:
    """What an import did."""

    file: BankFile
    booked: int  # new payments booked on their invoice
    unmatched: int  # new payments left to staff
    repeated: int  # payments imported before: nothing booked again
    skipped: int  # entries that are no booked credit (debits, pending)


def invoice_of(text: str) -> SalesInvoice | None:
    """The invoice a payer's creditor reference names (Finnish national or RF), if any."""
    text = "".join(text.split()).upper()
    if text.startswith("RF"):
        try:
            text = reference.finnish_of_rf(text)
        except ValueError:
            return None
    if not reference.is_valid_finnish(text):
        return None
    return db.session.scalar(sa.select(SalesInvoice).where(SalesInvoice.reference == text))


def import_file(data: bytes, filename: str, actor: User | None) -> Imported:
    """Import a camt.054 or camt.053 file (camt.CamtError when it is none); the caller commits."""
    report = camt.parse(data)
    known = _known([credit.bank_reference for credit in report.credits])
    file = BankFile(
        kind=report.kind,
        message_id=report.message_id,
        filename=filename[:200],
        account=report.account[:34],
        imported_by=actor,
        credits=len(report.credits),
        booked=0,
        unmatched=0,
        repeated=0,
    )
    db.session.add(file)
    for credit in report.credits:
        if credit.bank_reference in known:
            file.repeated += 1
            continue
        if credit.amount <= 0:
            continue  # a zero amount pays nothing and is no payment
        payment = BankPayment(
            bank_reference=credit.bank_reference,
            file=file,
            amount=credit.amount,
            currency=credit.currency,
            booked_on=credit.booked_on,
            reference=credit.reference,
            payer_name=credit.payer_name,
            state=BankPaymentState.UNMATCHED,
        )
        db.session.add(payment)
        reason, invoice = _match(credit)
        if not reason:
            try:
                _pay(payment, invoice, actor)
            except invoicing.PaymentError:  # paid meanwhile by another way: nothing booked
                reason = "already_paid"
        if reason:
            payment.reason = reason
            payment.invoice = invoice
            file.unmatched += 1
        else:
            payment.state = BankPaymentState.MATCHED
            file.booked += 1
    db.session.flush()  # two imports of one payment at once: the second fails here, whole
    return Imported(file, file.booked, file.unmatched, file.repeated, report.skipped)


def import_task(task, progress) -> dict:
    """The background task of an uploaded file (services/tasks.py): the whole file in
    one transaction, or nothing of it with the reason the file could not be read."""
    from services.tasks import TaskError

    try:
        done = import_file(task.payload or b"", task.params.get("filename", ""), task.created_by)
    except camt.CamtError as exc:
        raise TaskError(str(exc.message)) from None
    result = {
        "file_id": done.file.id,
        "booked": done.booked,
        "unmatched": done.unmatched,
        "repeated": done.repeated,
    }
    progress.step(processed=1, payload=None)  # commits the import; the upload is let go
    return result


def _known(bank_references: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(bank_references), CHUNK):
        chunk = bank_references[start : start + CHUNK]
        known.update(
            db.session.scalars(
                sa.select(BankPayment.bank_reference).where(BankPayment.bank_reference.in_(chunk))
            )
        )
    return known


def _match(credit: camt.Credit) -> tuple[str, SalesInvoice | None]:
    """Why the payment cannot be booked by its reference ("" when it can), and the invoice."""
    if credit.reversal:
        return "reversal", None
    if credit.currency != CURRENCY:
        return "currency", None
    if not credit.reference:
        return "no_reference", None
    invoice = invoice_of(credit.reference)
    if invoice is None:
        return "unknown_reference", None
    return _bookable(invoice), invoice


def _bookable(invoice: SalesInvoice) -> str:
    if invoice.status == InvoiceStatus.CREDITED or invoice.kind == InvoiceKind.CREDIT_NOTE:
        return "credited"  # credited in full, or the payer used the credit note's reference
    if invoice.status not in PAYABLE:
        return "already_paid" if invoice.status == InvoiceStatus.PAID else "not_open"
    if invoice.outstanding <= 0:
        return "already_paid"
    return ""


def _pay(payment: BankPayment, invoice: SalesInvoice, actor: User | None) -> None:
    """Book the payment on the invoice: up to what is outstanding, the rest overpaid."""
    due = min(payment.amount, invoice.outstanding)
    invoicing.record_payment(invoice, due, payment.booked_on, actor, source="bank")
    payment.invoice = invoice
    payment.overpaid = payment.amount - due


def _handle(payment: BankPayment, waiting: sa.ColumnElement[bool], actor: User, **values) -> None:
    """Record staff's handling of a payment still `waiting`, once: two staff members
    handling it at once act once."""
    done = db.session.execute(
        sa.update(BankPayment)
        .where(BankPayment.id == payment.id, waiting)
        .values(handled_at=utcnow(), handled_by_id=actor.id, **values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise BankError(_l("Someone else handled this payment a moment ago."))
    db.session.refresh(payment)


UNMATCHED = BankPayment.state == BankPaymentState.UNMATCHED


def allocate(payment: BankPayment, invoice_number: str, actor: User) -> SalesInvoice:
    """Book a waiting payment on the invoice staff chose, by its number; the caller commits."""
    number = " ".join(invoice_number.split())
    invoice = db.session.scalar(sa.select(SalesInvoice).where(SalesInvoice.number == number))
    if invoice is None:
        raise BankError(_l("No invoice has the number %(number)s.", number=number))
    if payment.currency != CURRENCY:
        raise BankError(_l("A payment in another currency cannot be booked on an invoice."))
    why = _bookable(invoice)
    if why:
        raise BankError(REASONS[why])
    _handle(
        payment,
        UNMATCHED,
        actor,
        state=BankPaymentState.ALLOCATED,
        note=f"invoice {invoice.number}",
    )
    try:
        _pay(payment, invoice, actor)
    except invoicing.PaymentError:
        raise BankError(REASONS["already_paid"]) from None  # the caller rolls back
    return invoice


def mark_returned(payment: BankPayment, note: str, actor: User) -> None:
    """Record that staff return a waiting payment to its payer; the caller commits."""
    note = " ".join(note.split())
    if not note:
        raise BankError(_l("Say why and how the payment is returned."))
    _handle(payment, UNMATCHED, actor, state=BankPaymentState.RETURNED, note=note[:200])


def mark_overpayment_returned(payment: BankPayment, note: str, actor: User) -> None:
    """Record that staff returned the overpaid part of a booked payment; the caller commits."""
    note = " ".join(note.split())
    if not note:
        raise BankError(_l("Say how the overpaid part was returned."))
    overpaid = sa.and_(BankPayment.overpaid > 0, BankPayment.handled_at.is_(None))
    _handle(payment, overpaid, actor, note=note[:200])


def waiting() -> sa.Select:
    """The payments staff must act on: those left unmatched, and overpayments not returned."""
    return (
        sa.select(BankPayment)
        .where(sa.text(TO_CHECK))
        .options(joinedload(BankPayment.invoice))  # the page links each to its invoice
    )
