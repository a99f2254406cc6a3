"""Payment reminders (maksumuistutus) of overdue invoices, with late-payment interest.

A reminder goes by the invoice's own delivery method (email, the print service, the
e-invoice operator) and carries the invoice's number and reference, the open balance,
the interest accrued since the last reminder (`interest.py`), a reminder fee and a new
due date at least 14 days away. What it claims is added to the receivable (`charges`),
so that paying the reminder's total by its reference pays the invoice in full.

The invoicing user chooses how reminders go: by hand (the user or staff press the
button) or by the job `invoice-reminders`, up to the number the user chose, never more
than `INVOICE_REMINDER_MAX`. A consumer's reminder fee is capped by law (laki saatavien
perinnästä 10 a §: 5 €), and a consumer's next reminder waits until the previous one is
due (14 days at least). A reminder to the print service or the operator is sent before
the transaction that records it, with an idempotency key of its own; a second press
after the first finds the reminder sent and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_date
from flask_babel import gettext as _

from extensions import db
from models.audit import AuditAction
from models.auth import User
from models.invoicing import (
    EventKind,
    InvoiceStatus,
    SalesInvoice,
    SalesInvoiceReminder,
)
from models.types import utcnow
from services import audit
from services.invoicing import desk, finvoice, interest
from services.invoicing.forwarding_errors import ForwardingError

CONSUMER_FEE_CAP = Decimal("5.00")  # laki saatavien perinnästä 10 a §
MIN_DAYS_TO_PAY = 14  # the payer has at least 14 days from the reminder
MANUAL, AUTOMATIC = "manual", "automatic"
MODES = (MANUAL, AUTOMATIC)
TYPE_CODE, TYPE_TEXT = "INV03", "MAKSUMUISTUTUS"  # Finvoice's reminder (huomautuslasku)
JOB_BATCH = 100


class ReminderError(Exception):
    """Why no reminder can go now: a code the pages turn into a sentence."""

    def __init__(self, code: str, day: date | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.day = day  # for "not_yet": the first day a reminder may go


def refusal(error: ReminderError) -> str:
    """Why no reminder can go now, in the reader's language."""
    if error.code == "not_yet" and error.day:
        return _(
            "The next reminder can be sent from %(day)s: a reminder gives at least 14 days "
            "to pay, counted from the due date or the previous reminder.",
            day=format_date(error.day, "medium"),
        )
    return {
        "not_open": _("Only an open receivable can be reminded."),
        "paid": _("Nothing is outstanding on the invoice."),
        "limit": _("The invoice has had all the reminders allowed for it."),
    }.get(error.code, _("No reminder can be sent now."))


@dataclass(frozen=True)
class Calculation:
    """What a reminder of an invoice claims when sent on `day` (the next one, or one
    sent, rebuilt from its record)."""

    number: int  # the invoice's first, second, … reminder
    day: date
    balance: Decimal  # open before this reminder: the invoice and earlier charges
    interest: Decimal  # accrued from the due date to `day`, less earlier reminders'
    rates: tuple[Decimal, ...]  # the interest rates applied, % a year
    interest_from: date  # the day after the due date
    fee: Decimal
    due_date: date
    business: bool
    assumed: bool = False  # a reference rate was not in the table

    @property
    def total(self) -> Decimal:
        """What the reminder asks the payer to pay."""
        return self.balance + self.interest + self.fee


def is_business(invoice: SalesInvoice) -> bool:
    """A payer with a business ID is a business: the 4 a § rate, no consumer fee cap."""
    return bool(invoice.payer_business_id.strip())


def fee_for(invoice: SalesInvoice, config=None) -> Decimal:
    """The reminder fee: the business fee for a business, for a consumer at most 5 €."""
    config = config or current_app.config
    if is_business(invoice):
        return Decimal(config["INVOICE_REMINDER_FEE_BUSINESS"])
    return min(Decimal(config["INVOICE_REMINDER_FEE"]), CONSUMER_FEE_CAP)


def rates(config=None) -> interest.Rates:
    """The reference rates the desk counts interest with."""
    config = config or current_app.config
    return interest.Rates.configured(config["INVOICE_REFERENCE_RATES"])


def limit_for(user: User, config=None) -> int:
    """How many reminders an invoice of the user may get."""
    config = config or current_app.config
    ceiling = config["INVOICE_REMINDER_MAX"]
    if user.invoice_reminders == AUTOMATIC:
        return max(0, min(user.invoice_reminder_limit, ceiling))
    return ceiling


def first_day(invoice: SalesInvoice) -> date:
    """The first day the next reminder may go: after the due date, or after the last
    reminder's due date (so a reminder always has its 14 days)."""
    if invoice.reminders:
        return invoice.reminders[-1].due_date + timedelta(days=1)
    return invoice.due_date + timedelta(days=1)


def check(invoice: SalesInvoice, day: date | None = None) -> None:
    """Raise ReminderError if the invoice cannot be reminded on `day` (default today)."""
    day = day or desk.today()
    if invoice.status != InvoiceStatus.OPEN:
        raise ReminderError("not_open")
    if invoice.outstanding <= 0:
        raise ReminderError("paid")
    if invoice.reminder_count >= limit_for(invoice.user):
        raise ReminderError("limit")
    earliest = first_day(invoice)
    if day < earliest:
        raise ReminderError("not_yet", earliest)


def calculate(invoice: SalesInvoice, day: date | None = None) -> Calculation:
    """The next reminder's figures on `day`: the interest from the due date to the day,
    less what earlier reminders claimed already."""
    config = current_app.config
    day = day or desk.today()
    payments = [(payment.paid_on, Decimal(payment.amount)) for payment in invoice.payments]
    accrued = interest.late_interest(
        Decimal(invoice.gross) - Decimal(invoice.credited or 0),
        invoice.due_date,
        day,
        payments=payments,
        business=is_business(invoice),
        rates=rates(config),
    )
    claimed = sum((Decimal(r.interest) for r in invoice.reminders), Decimal("0.00"))
    days = max(MIN_DAYS_TO_PAY, config["INVOICE_REMINDER_DAYS"])
    return Calculation(
        number=invoice.reminder_count + 1,
        day=day,
        balance=invoice.outstanding,
        interest=max(accrued.amount - claimed, Decimal("0.00")),
        rates=accrued.rates,
        interest_from=invoice.due_date + timedelta(days=1),
        fee=fee_for(invoice, config),
        due_date=day + timedelta(days=days),
        business=is_business(invoice),
        assumed=accrued.assumed,
    )


def sent(invoice: SalesInvoice, reminder: SalesInvoiceReminder) -> Calculation:
    """A reminder sent, as its figures were: for its PDF again."""
    return Calculation(
        number=reminder.number,
        day=reminder.sent_on,
        balance=Decimal(reminder.balance),
        interest=Decimal(reminder.interest),
        rates=tuple(Decimal(rate) for rate in reminder.interest_rates.split(";") if rate),
        interest_from=invoice.due_date + timedelta(days=1),
        fee=Decimal(reminder.fee),
        due_date=reminder.due_date,
        business=is_business(invoice),
    )


def idempotency_key(invoice: SalesInvoice, number: int) -> str:
    """The key of the invoice's reminder `number` at the print service and the operator."""
    return f"{desk.idempotency_key(invoice)}-m{number}"


def _rate_text(rate: Decimal) -> str:
    return format(rate.normalize(), "f").replace(".", ",")


def claim_rows(invoice: SalesInvoice, calculation: Calculation) -> list[tuple[str, Decimal]]:
    """The reminder's lines, in Finnish as on the invoice: the balance, the interest by
    rate and time, the fee."""
    rows = [
        (
            f"Lasku {invoice.number}, eräpäivä {invoice.due_date:%-d.%-m.%Y}: avoinna",
            calculation.balance,
        )
    ]
    if calculation.interest > 0:
        rates_text = " / ".join(f"{_rate_text(rate)} %" for rate in calculation.rates)
        rows.append(
            (
                f"Viivästyskorko {rates_text} ajalta {calculation.interest_from:%-d.%-m.%Y}–"
                f"{calculation.day:%-d.%-m.%Y}"
                + (" (aiemmin veloitettu vähennetty)" if calculation.number > 1 else ""),
                calculation.interest,
            )
        )
    if calculation.fee > 0:
        rows.append(("Muistutusmaksu", calculation.fee))
    return rows


def document(invoice: SalesInvoice, calculation: Calculation, config=None) -> finvoice.Invoice:
    """The reminder as the data its PDF and its Finvoice message are made of: the
    invoice's parties and reference, the claims as VAT-free rows, the new due date."""
    config = config or current_app.config
    base = desk.finvoice_document(invoice, config)
    rows = [
        finvoice.Row(description=text, quantity=Decimal(1), unit="kpl", unit_price=amount,
                     vat_percent=Decimal(0))
        for text, amount in claim_rows(invoice, calculation)
    ]  # fmt: skip
    return finvoice.Invoice(
        **{
            **base.__dict__,
            "invoice_date": calculation.day,
            "due_date": calculation.due_date,
            "rows": rows,
            "free_text": (
                "Laskumme on kirjanpitomme mukaan vielä maksamatta. Pyydämme maksamaan "
                f"avoimen saldon viimeistään {calculation.due_date:%-d.%-m.%Y} samalla "
                "viitenumerolla. Jos olette jo maksaneet, tämä muistutus on aiheeton."
            ),
            "message_id": idempotency_key(invoice, calculation.number),
            "type_code": TYPE_CODE,
            "type_text": TYPE_TEXT,
            "original_number": invoice.number or "",
            "original_date": invoice.invoice_date,
        }
    )


def pdf(invoice: SalesInvoice, calculation: Calculation) -> bytes:
    """The reminder as a PDF, with the transfer form for its total."""
    from services.invoicing import invoice_pdf

    config = current_app.config
    return invoice_pdf.render(
        document(invoice, calculation, config),
        biller=[
            f"Laskuttaja: {invoice.user.name}, laskuttajanumero {invoice.user_number}",
            f"{calculation.number}. maksumuistutus laskusta {invoice.number}, "
            f"päivätty {invoice.invoice_date:%-d.%-m.%Y}",
        ],
        seller_contact=[config["INVOICE_SELLER_EMAIL"]],
        payment_url=desk.payment_link(invoice),
    )


def _deliver(invoice: SalesInvoice, calculation: Calculation) -> str:
    """Send the reminder by the invoice's delivery method; the receipt of the sending."""
    config = current_app.config
    context = {
        "invoice": invoice,
        "calculation": calculation,
        "seller": desk.seller(config),
        "payment_url": desk.payment_link(invoice, "fi"),
    }
    return desk.deliver(
        invoice,
        name=f"maksumuistutus-{invoice.number}-{calculation.number}",
        pdf=lambda: pdf(invoice, calculation),
        document=lambda: document(invoice, calculation, config),
        key=idempotency_key(invoice, calculation.number),
        mail=("invoicing_reminder", context),
    )


def send(
    invoice: SalesInvoice, actor: User | None, *, automatic: bool = False
) -> SalesInvoiceReminder:
    """Send the invoice's next reminder and record it; the caller commits.

    ReminderError when no reminder can go now; ForwardingError when the print service
    or the operator did not take it (nothing is recorded); desk.InvoiceStateError when
    another reminder or a payment came first (nothing is recorded either).
    """
    check(invoice)
    calculation = calculate(invoice)
    invoice_id, seen = invoice.id, invoice.reminder_count
    receipt = _deliver(invoice, calculation)
    # One winner: the count moves on only from what this calculation saw.
    result = db.session.execute(
        sa.update(SalesInvoice)
        .where(
            SalesInvoice.id == invoice_id,
            SalesInvoice.reminder_count == seen,
            SalesInvoice.status == InvoiceStatus.OPEN,
            SalesInvoice.paid_amount == invoice.paid_amount,
        )
        .values(
            reminder_count=seen + 1,
            charges=SalesInvoice.charges + calculation.interest + calculation.fee,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise desk.InvoiceStateError(invoice.status)
    db.session.refresh(invoice)
    reminder = SalesInvoiceReminder(
        number=calculation.number,
        sent_on=calculation.day,
        sent_by=actor,
        automatic=automatic,
        delivery_method=invoice.delivery_method,
        balance=calculation.balance,
        interest=calculation.interest,
        interest_rates=";".join(str(rate) for rate in calculation.rates)[:40],
        fee=calculation.fee,
        total=calculation.total,
        due_date=calculation.due_date,
        receipt=receipt[:100],
    )
    invoice.reminders.append(reminder)
    desk.record_event(
        invoice,
        EventKind.REMINDER,
        actor,
        f"{calculation.number}. {calculation.total:.2f} {calculation.due_date.isoformat()}",
    )
    audit.record(
        AuditAction.INVOICE_REMINDED,
        desk.RECORD_TYPE,
        invoice.id,
        f"invoice {invoice.number}: reminder {calculation.number} sent by "
        f"{invoice.delivery_method.value}" + (" (automatic)" if automatic else ""),
        actor=actor,
    )
    schedule(invoice)
    return reminder


# ---------------------------------------------------------------- automatic reminders


def schedule(invoice: SalesInvoice) -> None:
    """Set the day the job sends the invoice's next reminder (None: not by the job)."""
    user = invoice.user
    if (
        user.invoice_reminders != AUTOMATIC
        or invoice.status != InvoiceStatus.OPEN
        or invoice.outstanding <= 0
        or invoice.reminder_count >= limit_for(user)
    ):
        invoice.next_reminder_on = None
        return
    after = timedelta(days=current_app.config["INVOICE_REMINDER_AFTER_DAYS"])
    invoice.next_reminder_on = first_day(invoice) - timedelta(days=1) + after


def set_mode(user: User, mode: str, limit: int) -> None:
    """The user's choice; their open invoices are looked at again by the next job run
    (one UPDATE through the user's index, whatever their number)."""
    if mode not in MODES:
        raise ValueError(mode)
    user.invoice_reminders = mode
    user.invoice_reminder_limit = max(0, min(limit, current_app.config["INVOICE_REMINDER_MAX"]))
    db.session.execute(
        sa.update(SalesInvoice)
        .where(SalesInvoice.user_id == user.id, SalesInvoice.status == InvoiceStatus.OPEN)
        .values(next_reminder_on=desk.today() if mode == AUTOMATIC else None)
        .execution_options(synchronize_session=False)
    )


def due_for_job(day: date, limit: int = JOB_BATCH) -> list[SalesInvoice]:
    """The invoices whose next reminder the job sends on `day`, the longest waiting first
    (a range of the partial index ix_sales_invoice_reminder_due)."""
    return list(
        db.session.scalars(
            sa.select(SalesInvoice)
            .where(SalesInvoice.next_reminder_on.is_not(None))
            .where(SalesInvoice.next_reminder_on <= day)
            .order_by(SalesInvoice.next_reminder_on, SalesInvoice.id)
            .limit(limit)
        )
    )


def run_job(day: date | None = None) -> str:
    """The job `invoice-reminders`: every reminder due today, each in its own transaction.

    An invoice not yet due for one (its user just chose automatic reminders) gets its day;
    one that failed to go (the print service was down) is tried again the next day.
    """
    day = day or desk.today()
    sent = rescheduled = failed = 0
    done: set[int] = set()
    while True:
        batch = [invoice for invoice in due_for_job(day) if invoice.id not in done]
        if not batch:
            break
        for invoice in batch:
            done.add(invoice.id)
            try:
                check(invoice, day)
            except ReminderError:
                schedule(invoice)
                if invoice.next_reminder_on is not None and invoice.next_reminder_on <= day:
                    invoice.next_reminder_on = day + timedelta(days=1)
                rescheduled += 1
                db.session.commit()
                continue
            try:
                send(invoice, None, automatic=True)
            except (ForwardingError, desk.InvoiceStateError):
                db.session.rollback()
                invoice = db.session.get(SalesInvoice, invoice.id)
                invoice.next_reminder_on = day + timedelta(days=1)
                failed += 1
            else:
                sent += 1
            db.session.commit()
    return f"{sent} reminders sent, {rescheduled} rescheduled, {failed} to try again tomorrow."
