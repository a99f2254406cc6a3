"""Credit notes (hyvityslasku): a forwarded invoice credited in full or in part.

An invoice is never edited or deleted once it has gone out; what is wrong with it is
credited. A credit note is an invoice row of its own (`kind` credit note) with the next
number of the user's series, the payer of its invoice, and the credited lines: all that is
still uncredited (in full), or the lines, quantities or amounts staff choose (in part),
never more than a line still holds. Issuing it is one transaction: the note, its lines, the
invoice's `credited` (so its outstanding falls), the history of both, the audit event.
What the payer had paid already beyond what is left to pay is owed back to them
(`refund_due` on the note) and waits for staff on the receivables page until returned.

The note is then sent by the invoice's delivery method through the desk's forwarding
(`desk.forward`): the same claim before the print service or the operator is called, the
same idempotency key for a retry, the payer's mail queued in the same transaction, and the
user told by mail once it went out. An invoice credited in full is *Hyvitetty*: no longer
an open receivable; the bank's payments to it wait for staff with the reason "credited".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from extensions import db
from models.audit import AuditAction
from models.auth import User
from models.invoicing import (
    CREDITABLE,
    OWED_BACK,
    EventKind,
    InvoiceKind,
    InvoiceStatus,
    SalesInvoice,
    SalesInvoiceLine,
)
from models.types import utcnow
from services import audit, vat
from services.invoicing import desk, payouts, reference

ZERO = Decimal("0.00")
# The unit of a line credited by an amount rather than by a quantity.
AMOUNT_UNIT = "erä"
OWED_BACK_SHOWN = 50


class CreditError(ValueError):
    """A credit that cannot be made: the message says why, in the reader's language."""

    def __init__(self, message) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class LineCredit:
    """What to credit of one line of the invoice: a quantity of it, or an amount (VAT
    excluded)."""

    line_id: int
    quantity: Decimal | None = None
    amount: Decimal | None = None


def uncredited(invoice: SalesInvoice) -> dict[int, Decimal]:
    """Each line's sum (VAT excluded) that no credit note has credited yet, by line id."""
    left = {line.id: line.net for line in invoice.lines}
    if not left:
        return left
    rows = db.session.execute(
        sa.select(
            SalesInvoiceLine.credit_of_line_id,
            SalesInvoiceLine.quantity,
            SalesInvoiceLine.unit_price,
        ).where(SalesInvoiceLine.credit_of_line_id.in_(list(left)))
    )
    for line_id, quantity, unit_price in rows:
        left[line_id] -= vat.money(Decimal(quantity) * Decimal(unit_price))
    return left


def can_credit(invoice: SalesInvoice) -> bool:
    """Whether the invoice can still be credited: it went out and is not credited in full."""
    return (
        invoice.kind == InvoiceKind.INVOICE
        and invoice.status in CREDITABLE
        and Decimal(invoice.credited) < Decimal(invoice.gross)
    )


def issue(
    invoice: SalesInvoice,
    actor: User,
    credits: list[LineCredit] | None,
    reason: str = "",
) -> SalesInvoice:
    """Issue a credit note of the invoice: in full (`credits` None) or of the given lines.

    The caller sends it (`desk.forward`) and commits; a CreditError leaves the session for
    the caller to roll back.
    """
    if not can_credit(invoice):
        raise CreditError(_l("Only an invoice that has gone out can be credited, once in full."))
    # The invoice's row, locked for the rest of the transaction: two credits at once are
    # made one after the other, and the second sees what the first credited.
    locked = db.session.execute(
        sa.update(SalesInvoice)
        .where(
            SalesInvoice.id == invoice.id,
            SalesInvoice.kind == InvoiceKind.INVOICE,
            SalesInvoice.status.in_(CREDITABLE),
        )
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if locked.rowcount != 1:
        raise CreditError(_l("Someone else changed the invoice meanwhile; nothing was credited."))
    db.session.refresh(invoice)
    left = uncredited(invoice)
    lines = _credited_lines(invoice, left, credits)
    result = vat.totals(
        vat.Line(Decimal(line.quantity), Decimal(line.unit_price), Decimal(line.vat_percent))
        for line in lines
    )
    remaining = Decimal(invoice.gross) - Decimal(invoice.credited)
    if result.gross <= 0:
        raise CreditError(_l("Nothing of the invoice is left to credit."))
    if credits is not None and result.gross > remaining:
        raise CreditError(
            _l(
                "At most %(amount)s € of the invoice can still be credited.",
                amount=f"{remaining:.2f}".replace(".", ","),
            )
        )
    outstanding = invoice.outstanding
    note = _new_note(invoice, lines, reason, result)
    note.refund_due = max(result.gross - outstanding, ZERO)
    # In full, the rest is credited whatever a cent of rounding of the parts says.
    invoice.credited = min(Decimal(invoice.credited) + result.gross, Decimal(invoice.gross))
    desk._event(invoice, EventKind.CREDITED, actor, note.number)
    if credits is None or invoice.credited >= invoice.gross:
        invoice.status = InvoiceStatus.CREDITED
    else:
        desk._paid_in_full(invoice, actor)  # what is left was paid already: Maksettu
    desk._event(note, EventKind.CREATED, actor)
    db.session.flush()
    payouts.refresh(invoice)  # a credit of what was paid out is owed back by the user
    audit.record(
        AuditAction.INVOICE_CREDITED,
        desk.RECORD_TYPE,
        invoice.id,
        f"invoice {invoice.number} credited {'in full' if credits is None else 'in part'} "
        f"by credit note {note.number}: {result.gross:.2f}"
        + (f", {note.refund_due:.2f} owed back to the payer" if note.refund_due else ""),
        actor=actor,
    )
    return note


def _credited_lines(
    invoice: SalesInvoice, left: dict[int, Decimal], credits: list[LineCredit] | None
) -> list[SalesInvoiceLine]:
    if credits is None:
        return [
            _line_of(line, left[line.id], None, rest=True)
            for line in invoice.lines
            if left[line.id] != 0
        ]
    by_id = {line.id: line for line in invoice.lines}
    lines = []
    for credit in credits:
        line = by_id.get(credit.line_id)
        if line is None:
            raise CreditError(_l("The line is not one of this invoice's."))
        number = line.position
        if left[line.id] <= 0:
            raise CreditError(
                _l("Line %(number)s cannot be credited on its own.", number=number)
                if line.net <= 0
                else _l("Line %(number)s is credited already.", number=number)
            )
        if credit.quantity is not None:
            net = vat.money(credit.quantity * Decimal(line.unit_price))
        else:
            net = vat.money(credit.amount or ZERO)
        if net <= 0:
            raise CreditError(_l("Line %(number)s: enter what to credit.", number=number))
        if net > left[line.id]:
            raise CreditError(
                _l(
                    "Line %(number)s: at most %(amount)s € (excl. VAT) can still be credited.",
                    number=number,
                    amount=f"{left[line.id]:.2f}".replace(".", ","),
                )
            )
        lines.append(_line_of(line, net, credit.quantity))
    if not lines:
        raise CreditError(_l("Choose at least one line to credit."))
    return lines


def _line_of(
    line: SalesInvoiceLine, net: Decimal, quantity: Decimal | None, *, rest: bool = False
) -> SalesInvoiceLine:
    """The credit note's line for `net` of the invoice's line: by the quantity credited,
    or as one lot of the amount; the `rest` of a line by its quantity when that says it
    exactly."""
    price = Decimal(line.unit_price)
    if quantity is None and rest and price:
        whole = (net / price).quantize(Decimal("0.001"))
        if vat.money(whole * price) == net:
            quantity = whole
    if quantity is not None:
        unit, unit_price = line.unit, price
    else:
        quantity, unit, unit_price = Decimal(1), AMOUNT_UNIT, net
    return SalesInvoiceLine(
        description=line.description,
        quantity=quantity,
        unit=unit,
        unit_price=unit_price,
        vat_percent=line.vat_percent,
        credit_of_line_id=line.id,
    )


def _new_note(invoice: SalesInvoice, lines, reason: str, result: vat.Totals) -> SalesInvoice:
    """The credit note: numbered in the user's series, with the invoice's payer."""
    day = desk.today()
    number = desk.next_invoice_number(invoice.user_number)
    note = SalesInvoice(
        kind=InvoiceKind.CREDIT_NOTE,
        credit_of=invoice,
        user=invoice.user,
        user_number=invoice.user_number,
        number=number,
        reference=reference.finnish(number),
        status=InvoiceStatus.CREDIT_UNSENT,
        delivery_method=invoice.delivery_method,
        invoice_date=day,
        payment_days=0,
        due_date=day,
        free_text=reason.strip(),
        currency=invoice.currency,
        net=result.net,
        vat=result.vat,
        gross=result.gross,
        sent_at=utcnow(),
        round=1,
        **{
            column: getattr(invoice, column)
            for column in (
                "payer_name",
                "payer_business_id",
                "payer_street",
                "payer_postcode",
                "payer_city",
                "payer_country",
                "payer_email",
                "payer_einvoice_address",
                "payer_operator",
                "payer_search",
            )
        },
    )
    for position, line in enumerate(lines, start=1):
        line.position = position
    note.lines = lines
    db.session.add(note)
    return note


def owed_back() -> list[SalesInvoice]:
    """The credit notes whose credit is owed back to the payer and not yet returned,
    the oldest first (at most a page of them)."""
    from sqlalchemy.orm import selectinload

    return list(
        db.session.scalars(
            sa.select(SalesInvoice)
            .where(sa.text(OWED_BACK))
            .order_by(SalesInvoice.id)
            .options(selectinload(SalesInvoice.credit_of))
            .limit(OWED_BACK_SHOWN)
        )
    )


def mark_refund_returned(note: SalesInvoice, how: str, actor: User) -> None:
    """Record that staff returned what the credit note owes the payer; once (two staff
    members at once record it once). The caller commits."""
    how = " ".join(how.split())
    if not how:
        raise CreditError(_l("Say how the credit was returned to the payer."))
    done = db.session.execute(
        sa.update(SalesInvoice)
        .where(
            SalesInvoice.id == note.id,
            SalesInvoice.refund_due > 0,
            SalesInvoice.refund_returned_at.is_(None),
        )
        .values(refund_returned_at=utcnow(), refund_note=how[:200])
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise CreditError(_l("Someone else recorded this return a moment ago."))
    db.session.refresh(note)
    desk._event(note, EventKind.REFUND_RETURNED, actor, how[:200])
    audit.record(
        AuditAction.CREDIT_REFUND_RETURNED,
        desk.RECORD_TYPE,
        note.id,
        f"credit note {note.number}: {note.refund_due:.2f} returned to the payer",
        actor=actor,
    )
