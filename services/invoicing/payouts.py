"""Payouts to the invoicing users (tilitys).

The service invoices in its own name, to its own account, so the payers' money comes to
the service. Of what a payer paid of an invoice, the service keeps its fee (a percentage,
VAT included, fixed on the invoice when it is first sent and shown to the user before
sending) and owes the user the rest. The reminders' fees and interest are the service's
costs of collecting, so they are not paid out: a payment counts towards the invoice
itself first, and what is owed back to the payer after a credit note is not the user's.

Each invoice keeps what the payout batches have paid of it so far and what the next one
owes (`payout_due`, negative when a credit took back what was paid out). `refresh` sets
that after every payment and credit. A payout batch (tilitysajo) pays every user whose
invoices together are owed more than nothing and who gave an account: one payout a user,
one line an invoice, a SEPA credit transfer file (pain.001.001.03, made and checked
against its schema by sepaxml) for the bank, and a statement to each user by mail. A
batch is closed as it is made: its payouts and lines never change (models.invoicing),
and an invoice's n-th payout line is unique, so that two batches run at once cannot both
pay the same money.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from extensions import db
from models.audit import AuditAction
from models.auth import User
from models.invoicing import (
    InvoiceKind,
    Payout,
    PayoutBatch,
    PayoutLine,
    SalesInvoice,
)
from models.types import utcnow
from services import audit, counters, vat, workdays
from services.outbox import Attachment, queue_mail
from services.urls import external_url

ZERO = Decimal("0.00")
RECORD_TYPE = "payout_batch"
USERS_PER_QUERY = 200  # a batch reads the users owed, and their invoices, in chunks
PENDING = SalesInvoice.payout_due != 0  # as PAYOUT_PENDING, which the partial index holds


class PayoutError(Exception):
    """A batch that cannot be run; `message` says why in the reader's language."""

    def __init__(self, message) -> None:
        super().__init__(str(message))
        self.message = message


def fee_percent(invoice: SalesInvoice | None = None) -> Decimal:
    """The fee of the invoice (fixed when it was first sent), or the service's fee now."""
    if invoice is not None and invoice.fee_percent is not None:
        return Decimal(invoice.fee_percent)
    return Decimal(current_app.config["INVOICE_SERVICE_FEE_PERCENT"])


def fee_of(base: Decimal, percent: Decimal) -> Decimal:
    """The service's fee of `base`, to the cent (half up)."""
    return vat.money(Decimal(base) * Decimal(percent) / 100)


def fee_vat(fee: Decimal) -> Decimal:
    """The VAT included in a fee."""
    rate = Decimal(current_app.config["INVOICE_SERVICE_FEE_VAT_PERCENT"])
    return vat.money(Decimal(fee) * rate / (100 + rate))


def fix_fee(invoice: SalesInvoice) -> None:
    """Fix the service's fee on an invoice that is sent for the first time."""
    if invoice.fee_percent is None:
        invoice.fee_percent = fee_percent()


def _refunds(invoice_ids: list[int]) -> dict[int, Decimal]:
    """What the credit notes of these invoices owe back to their payers, by invoice."""
    if not invoice_ids:
        return {}
    rows = db.session.execute(
        sa.select(SalesInvoice.credit_of_id, sa.func.sum(SalesInvoice.refund_due))
        .where(SalesInvoice.credit_of_id.in_(invoice_ids))
        .group_by(SalesInvoice.credit_of_id)
    )
    return {invoice_id: vat.money(Decimal(str(total or 0))) for invoice_id, total in rows}


def base_of(invoice: SalesInvoice, refunded: Decimal) -> Decimal:
    """The payers' money the user's part of the invoice is based on: what was paid,
    less what its credits owe back, up to the invoice's own uncredited sum."""
    kept = Decimal(invoice.paid_amount) - refunded
    own = Decimal(invoice.gross) - Decimal(invoice.credited)
    return max(min(kept, own), ZERO)


@dataclass(frozen=True)
class Share:
    """An invoice's payout so far and now: the payers' money, the fee and the user's part."""

    base: Decimal
    fee: Decimal

    @property
    def amount(self) -> Decimal:
        """The user's part: what the payers paid less the service's fee."""
        return self.base - self.fee


def share(invoice: SalesInvoice, refunded: Decimal) -> Share:
    """What the invoice's user is owed in all, by what came in for it until now."""
    base = base_of(invoice, refunded)
    return Share(base, fee_of(base, fee_percent(invoice)))


def refresh(invoice: SalesInvoice) -> None:
    """Set what the next payout batch owes the user for the invoice, after a payment or a
    credit (the caller holds the invoice's row locked by its UPDATE, and commits)."""
    if invoice.kind != InvoiceKind.INVOICE:
        return
    db.session.flush()
    whole = share(invoice, _refunds([invoice.id]).get(invoice.id, ZERO))
    invoice.payout_due = whole.amount - Decimal(invoice.paid_out)


# ---------------------------------------------------------------- what is owed


@dataclass(frozen=True)
class Owed:
    """What the next batch owes one user: over how many invoices, and whether it can pay."""

    user: User
    invoices: int
    amount: Decimal

    @property
    def payable(self) -> bool:
        """Whether the batch pays it: more than nothing, to an account the user gave."""
        return self.amount > 0 and bool(self.user.payout_iban)


def _owed_rows(after_user_id: int, limit: int) -> list[tuple[int, int, Decimal]]:
    rows = db.session.execute(
        sa.select(SalesInvoice.user_id, sa.func.count(), sa.func.sum(SalesInvoice.payout_due))
        .where(PENDING, SalesInvoice.user_id > after_user_id)
        .group_by(SalesInvoice.user_id)
        .order_by(SalesInvoice.user_id)
        .limit(limit)
    )
    return [(user_id, count, vat.money(Decimal(str(total)))) for user_id, count, total in rows]


def owed(after_user_id: int = 0, limit: int = 25) -> list[Owed]:
    """The users with an amount pending, in the order of their id, from `after_user_id`:
    one page for the staff's view (the partial index holds only the pending invoices)."""
    rows = _owed_rows(after_user_id, limit)
    users = {
        user.id: user
        for user in db.session.scalars(sa.select(User).where(User.id.in_([r[0] for r in rows])))
    }
    return [Owed(users[user_id], count, amount) for user_id, count, amount in rows]


def owed_to(user: User) -> Decimal:
    """What the next payout batch owes the user (negative: what a credit took back)."""
    total = db.session.scalar(
        sa.select(sa.func.sum(SalesInvoice.payout_due)).where(
            SalesInvoice.user_id == user.id, PENDING
        )
    )
    return vat.money(Decimal(str(total or 0)))


def pending_invoices(user: User) -> sa.Select:
    """The user's invoices with an amount the next batch pays (to page by id)."""
    return sa.select(SalesInvoice).where(SalesInvoice.user_id == user.id, PENDING)


def user_payouts(user: User) -> sa.Select:
    """The payouts made to the user (to page, the newest first)."""
    return sa.select(Payout).where(Payout.user_id == user.id)


def next_execution_date(day: date | None = None) -> date:
    """The first banking day after `day` (today in Helsinki): a batch's default date."""
    return workdays.next_working_day(day or utcnow().astimezone(workdays.HELSINKI).date())


# ---------------------------------------------------------------- the batch


def _owed_payable() -> Iterator[list[tuple[User, list[SalesInvoice]]]]:
    """The users a batch pays, in chunks: each with their pending invoices."""
    after = 0
    while True:
        rows = _owed_rows(after, USERS_PER_QUERY)
        if not rows:
            return
        after = rows[-1][0]
        ids = [user_id for user_id, _count, amount in rows if amount > 0]
        users = db.session.scalars(
            sa.select(User).where(User.id.in_(ids), User.payout_iban != "").order_by(User.id)
        ).all()
        invoices: dict[int, list[SalesInvoice]] = {user.id: [] for user in users}
        for invoice in db.session.scalars(
            sa.select(SalesInvoice)
            .where(SalesInvoice.user_id.in_(list(invoices)), PENDING)
            .order_by(SalesInvoice.user_id, SalesInvoice.id)
        ):
            invoices[invoice.user_id].append(invoice)
        yield [(user, invoices[user.id]) for user in users]


def _lines(invoices: list[SalesInvoice]) -> list[tuple[SalesInvoice, Share]]:
    """Each invoice's part of the payout now: what came in since the last batch, its fee."""
    refunds = _refunds([invoice.id for invoice in invoices])
    parts = []
    for invoice in invoices:
        whole = share(invoice, refunds.get(invoice.id, ZERO))
        part = Share(
            whole.base - Decimal(invoice.payout_base), whole.fee - Decimal(invoice.payout_fee)
        )
        if part.base or part.fee or part.amount:
            parts.append((invoice, part))
    return parts


def _book(payout: Payout, invoice: SalesInvoice, part: Share) -> None:
    """Add the invoice's line to the payout, and what it pays to the invoice, at once:
    the UPDATE takes the invoice's n-th payout only if no other batch took it meanwhile."""
    sequence = invoice.payout_count + 1
    result = db.session.execute(
        sa.update(SalesInvoice)
        .where(SalesInvoice.id == invoice.id, SalesInvoice.payout_count == invoice.payout_count)
        .values(
            payout_base=sa.func.round(SalesInvoice.payout_base + part.base, 2),
            payout_fee=sa.func.round(SalesInvoice.payout_fee + part.fee, 2),
            paid_out=sa.func.round(SalesInvoice.paid_out + part.amount, 2),
            payout_due=sa.func.round(SalesInvoice.payout_due - part.amount, 2),
            payout_count=sequence,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise PayoutError(_l("Another payout batch was run meanwhile; nothing was paid."))
    db.session.add(
        PayoutLine(
            payout=payout,
            invoice_id=invoice.id,
            sequence=sequence,
            base=part.base,
            fee=part.fee,
            amount=part.amount,
        )
    )


def _transfer(batch_number: str):
    """The bank file's builder, the service's account paying (sepaxml, pain.001.001.03)."""
    from sepaxml import SepaTransfer

    config = current_app.config
    debtor = {
        "name": config["INVOICE_SELLER_NAME"],
        "IBAN": "".join(config["INVOICE_IBAN"].split()),
        "BIC": config["INVOICE_BIC"],
        "batch": True,
        "currency": "EUR",
    }
    transfer = SepaTransfer(debtor, schema="pain.001.001.03", clean=True)
    # The message's id is the batch's number: the bank refuses a file it has seen.
    transfer._xml.find("CstmrCdtTrfInitn/GrpHdr/MsgId").text = batch_number
    return transfer


def run_batch(actor: User, execution_date: date, form_key: str | None = None) -> PayoutBatch:
    """Run a payout batch: pay every user owed more than nothing who gave an account, on
    `execution_date`. The caller commits; a PayoutError leaves the session to roll back."""
    if execution_date < next_execution_date() or not workdays.is_working_day(execution_date):
        raise PayoutError(_l("Choose a banking day after today for the payment."))
    year = execution_date.year
    number = f"TIL-{year}-{counters.next_value(f'invoicing:payout-batch:{year}'):06d}"
    transfer = _transfer(number)
    batch = PayoutBatch(
        number=number,
        created_by=actor,
        execution_date=execution_date,
        form_key=form_key,
        pain001=b"",
    )
    batch.making = True  # filled in below, then closed (models.invoicing)
    db.session.add(batch)
    payouts: list[Payout] = []
    for chunk in _owed_payable():
        for user, invoices in chunk:
            parts = _lines(invoices)
            amount = sum((part.amount for _invoice, part in parts), ZERO)
            if amount <= 0:
                continue  # what a credit took back waits for the next money in
            payout = Payout(
                batch=batch,
                user=user,
                iban=user.payout_iban,
                account_name=user.payout_name or user.name,
                base=sum((part.base for _invoice, part in parts), ZERO),
                fee=sum((part.fee for _invoice, part in parts), ZERO),
                amount=amount,
                end_to_end_id=f"{number}-{user.invoicing_number}",
            )
            db.session.add(payout)
            for invoice, part in parts:
                _book(payout, invoice, part)
            transfer.add_payment(
                {
                    "name": payout.account_name,
                    "IBAN": payout.iban,
                    "amount": int(amount * 100),
                    "execution_date": execution_date,
                    "description": f"Tilitys {number} / {user.invoicing_number}",
                    "endtoend_id": payout.end_to_end_id,
                }
            )
            payouts.append(payout)
    if not payouts:
        raise PayoutError(_l("No user is owed a payout with an account given."))
    batch.payouts_count = len(payouts)
    batch.total = sum((p.amount for p in payouts), ZERO)
    batch.fees = sum((p.fee for p in payouts), ZERO)
    batch.pain001 = transfer.export(validate=True)
    db.session.flush()
    batch.making = False
    for payout in payouts:
        _mail_statement(payout)
    audit.record(
        AuditAction.PAYOUT_BATCH_RUN,
        RECORD_TYPE,
        batch.id,
        f"payout batch {number}: {len(payouts)} payouts, {batch.total:.2f} to the users, "
        f"{batch.fees:.2f} in fees",
        actor=actor,
    )
    return batch


def record_download(batch: PayoutBatch, actor: User) -> None:
    """Note that the batch's bank file was downloaded (the first time is kept); the caller
    commits."""
    if batch.downloaded_at is None:
        batch.downloaded_at = utcnow()
    audit.record(
        AuditAction.PAYOUT_FILE_DOWNLOADED,
        RECORD_TYPE,
        batch.id,
        f"payout batch {batch.number}: bank file downloaded",
        actor=actor,
    )


def set_account(user: User, iban: str, name: str) -> None:
    """The account the user's payouts go to; the caller commits."""
    user.payout_iban = iban
    user.payout_name = name
    audit.record(AuditAction.PAYOUT_ACCOUNT_CHANGED, "user", user.id, "payout account set")


def lines_of(payout: Payout) -> list[PayoutLine]:
    """The payout's lines with their invoices, in the invoices' order."""
    return list(
        db.session.scalars(
            sa.select(PayoutLine)
            .where(PayoutLine.payout_id == payout.id)
            .options(sa.orm.joinedload(PayoutLine.invoice))
            .order_by(PayoutLine.id)
        )
    )


def statement_pdf(payout: Payout, language: str) -> bytes:
    """The payout statement (tilityserittely) as PDF, in the user's language."""
    from services.invoicing import payout_pdf

    with force_locale(language):
        return payout_pdf.render(payout, lines_of(payout), fee_vat(payout.fee))


def statement_filename(payout: Payout) -> str:
    """The statement's file name, by its batch's number (tilitys = payout statement)."""
    return f"tilitys-{payout.batch.number}.pdf"


def _mail_statement(payout: Payout) -> None:
    user = payout.user
    queue_mail(
        "invoicing_payout",
        user.email,
        language=user.language,
        context={
            "payout": payout,
            "batch": payout.batch,
            "payouts_url": external_url("invoicing.payouts", language=user.language),
        },
        record=(RECORD_TYPE, payout.batch.id),
        attachments=[
            Attachment(
                statement_filename(payout),
                "application/pdf",
                statement_pdf(payout, user.language),
            )
        ],
    )
