"""The invoice desk's rules: invoicing numbers, invoice numbers and references, the
user's sending, the staff's forwarding by delivery method, corrections and payments.

Every change of state is one transaction with its history entry and its mail. A
forwarding that reaches a print service or an operator happens before the transaction
that records it; a failure there changes nothing but the error shown to staff, and a
repeated forwarding carries the same idempotency key, so the payer gets one invoice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from extensions import db
from models.audit import AuditAction
from models.auth import Role, User
from models.invoicing import (
    EDITABLE,
    ON_THE_DESK,
    RECEIVABLE_OPEN,
    DeliveryMethod,
    EventKind,
    InvoiceKind,
    InvoiceStatus,
    SalesInvoice,
    SalesInvoiceEvent,
    SalesInvoiceLine,
    SalesInvoicePayment,
    outstanding_sql,
)
from models.types import one_of, utcnow
from paging import capped_count, starts_with
from services import audit, counters, vat, workdays
from services.invoicing import finvoice, invoice_pdf, payouts, reference
from services.invoicing.forwarding_errors import ForwardingError
from services.outbox import Attachment, queue_mail
from services.payments import links as payment_links
from services.urls import external_url

FIRST_USER_NUMBER = 100001
# The largest invoice the columns (and the Finvoice amounts) hold, with room to spare.
MAX_TOTAL = Decimal("1000000000")
RECORD_TYPE = "sales_invoice"


# Not yet out of the door: the desk's queue.


class InvoiceStateError(Exception):
    """The invoice is no longer in the state the action needs (someone else acted first)."""


def today() -> date:
    """The date in Helsinki, where the desk works."""
    return utcnow().astimezone(workdays.HELSINKI).date()


# ---------------------------------------------------------------- invoicing numbers


def start_service(user: User) -> str:
    """Give a customer user the next free 6-digit invoicing number (once: from two tabs
    at once, the first number stays and the second is given back)."""
    if user.invoicing_number:
        return user.invoicing_number
    if user.role != Role.CUSTOMER:
        raise ValueError("only customer users invoice through the service")
    highest = db.session.scalar(sa.select(sa.func.max(User.invoicing_number)))
    start = max(FIRST_USER_NUMBER, int(highest) + 1 if highest else FIRST_USER_NUMBER)
    while True:
        number = str(counters.next_value("invoicing:user-number", start=start))
        if len(number) != 6:
            raise RuntimeError("the 6-digit invoicing numbers have run out")
        taken = db.session.scalar(sa.select(User.id).where(User.invoicing_number == number))
        if taken is None:
            break
    given = db.session.execute(
        sa.update(User)
        .where(User.id == user.id, User.invoicing_number.is_(None))
        .values(invoicing_number=number)
        .execution_options(synchronize_session=False)
    )
    if given.rowcount != 1:
        db.session.rollback()
        db.session.refresh(user)
        return user.invoicing_number
    user.invoicing_number = number
    return number


def next_invoice_number(user_number: str) -> str:
    """The user's number and the next running number of the user's series, e.g. 10010215.

    Taken in the caller's transaction from a counter row: gapless and unique under
    concurrency (a rolled-back sending gives its number back).
    """
    running = counters.next_value(f"invoicing:invoice:{user_number}")
    return f"{user_number}{running}"


# ---------------------------------------------------------------- the user's side


def new_invoice(user: User) -> SalesInvoice:
    """A new draft invoice of the user: dated today, due in 14 days, payer in Finland."""
    day = today()
    return SalesInvoice(
        user=user,
        user_number=user.invoicing_number,
        status=InvoiceStatus.DRAFT,
        invoice_date=day,
        payment_days=14,
        due_date=day + timedelta(days=14),
        payer_country="FI",
    )


@dataclass(frozen=True)
class LineData:
    """An invoice line as the user's form gives it."""

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat_percent: Decimal


def set_lines(invoice: SalesInvoice, lines: list[LineData]) -> None:
    """Replace the invoice's lines and compute its totals exactly."""
    invoice.lines = [
        SalesInvoiceLine(
            position=position,
            description=line.description,
            quantity=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            vat_percent=line.vat_percent,
        )
        for position, line in enumerate(lines, start=1)
    ]
    result = totals(invoice)
    invoice.net, invoice.vat, invoice.gross = result.net, result.vat, result.gross


def totals(invoice: SalesInvoice) -> vat.Totals:
    """The invoice's VAT breakdown and totals from its lines."""
    return vat.totals(
        vat.Line(Decimal(line.quantity), Decimal(line.unit_price), Decimal(line.vat_percent))
        for line in invoice.lines
    )


def _event(
    invoice: SalesInvoice, kind: EventKind, actor: User | None, text: str = ""
) -> SalesInvoiceEvent:
    event = SalesInvoiceEvent(kind=kind, actor=actor, round=invoice.round, text=text, at=utcnow())
    invoice.events.append(event)
    return event


record_event = _event  # the desk's other modules (reminders) write the same history


def created(invoice: SalesInvoice, actor: User) -> None:
    """Record the invoice's creation by `actor` in its history."""
    _event(invoice, EventKind.CREATED, actor)


def submit(invoice: SalesInvoice, actor: User) -> None:
    """Lähetä: number the invoice (the first time), put it on the desk, confirm by mail."""
    if invoice.status not in (InvoiceStatus.DRAFT, InvoiceStatus.CORRECTION):
        raise InvoiceStateError(invoice.status)
    if invoice.number is None:
        payouts.fix_fee(invoice)
        invoice.user_number = invoice.user.invoicing_number
        invoice.number = next_invoice_number(invoice.user_number)
        invoice.reference = reference.finnish(invoice.number)
    invoice.status = InvoiceStatus.SUBMITTED
    invoice.sent_at = utcnow()
    invoice.round += 1
    invoice.question = ""
    invoice.last_error = ""
    _event(invoice, EventKind.SUBMITTED, actor)
    _mail_user(invoice, "invoicing_submitted")


def delete_draft(invoice: SalesInvoice) -> None:
    """Delete a draft that was never numbered; InvoiceStateError for any other invoice."""
    if invoice.status != InvoiceStatus.DRAFT or invoice.number is not None:
        raise InvoiceStateError(invoice.status)
    db.session.delete(invoice)


# ---------------------------------------------------------------- the desk


def forwarding_day(invoice: SalesInvoice) -> date | None:
    """The day the desk promises to forward the invoice, or None while it is unsent."""
    return workdays.forwarding_day(invoice.sent_at) if invoice.sent_at else None


def forwarding_state(invoice: SalesInvoice, now: datetime | None = None) -> str | None:
    """The sent invoice's forwarding: "today", "late" or "later"; None while unsent."""
    if not invoice.sent_at:
        return None
    return workdays.forwarding_state(invoice.sent_at, now or utcnow())


def on_the_desk() -> sa.Select:
    """The unsent invoices on the desk: the desk's list and its export."""
    return sa.select(SalesInvoice).where(one_of(SalesInvoice.status, ON_THE_DESK))


def open_receivables() -> sa.Select:
    """The open receivables: the list and its export."""
    return sa.select(SalesInvoice).where(one_of(SalesInvoice.status, RECEIVABLE_OPEN))


def desk_counts(now: datetime | None = None) -> dict[str, int]:
    """How many unsent invoices are due today and how many are late.

    An invoice sent by 15:00 on a working day is due that day: so whatever was sent before
    the last cutoff that is not today is late, and whatever was sent before today's
    cutoff (or, on a day off, the previous) is due today.
    """
    late_until, today_until = workdays.desk_cutoffs(now or utcnow())
    sent = SalesInvoice.sent_at
    queue = on_the_desk()
    # Each a range of the queue's index, counted up to the cap (see paging.capped_count).
    return {
        "today": capped_count(queue.where(sent > late_until, sent <= today_until)),
        "late": capped_count(queue.where(sent <= late_until)),
        "later": capped_count(queue.where(sent > today_until)),
    }


def _claim(
    invoice: SalesInvoice,
    expected: InvoiceStatus | tuple[InvoiceStatus, ...],
    new: InvoiceStatus,
    *conditions: sa.ColumnElement[bool],
) -> None:
    """Move the invoice on only if it is still where the caller saw it (one winner).

    The UPDATE waits for a concurrent one on the same row (row lock, or SQLite's write
    lock) and then finds the status changed: the second of two clicks does nothing.
    """
    expected = expected if isinstance(expected, tuple) else (expected,)
    result = db.session.execute(
        sa.update(SalesInvoice)
        .where(SalesInvoice.id == invoice.id, SalesInvoice.status.in_(expected), *conditions)
        .values(status=new, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise InvoiceStateError(invoice.status)
    invoice.status = new


def lock_editable(invoice: SalesInvoice) -> bool:
    """Take the invoice for a change by its user, if it is still editable (a second tab
    that sends the same draft at the same moment finds it sent and changes nothing)."""
    try:
        _claim(invoice, EDITABLE, invoice.status)
    except InvoiceStateError:
        return False
    return True


def request_correction(invoice: SalesInvoice, actor: User, question: str) -> None:
    """Korjattava: back to the user with the staff's question, by mail."""
    _claim(invoice, InvoiceStatus.SUBMITTED, InvoiceStatus.CORRECTION)
    invoice.question = question
    _event(invoice, EventKind.CORRECTION, actor, question)
    _mail_user(invoice, "invoicing_correction", question=question)


def idempotency_key(invoice: SalesInvoice) -> str:
    """The same for every attempt of one round: a retried forwarding is not a second one."""
    return f"{invoice.number}-{invoice.round}"


def stale_forwarding_cutoff() -> datetime:
    """A forwarding begun before this has certainly ended (its call timed out long ago):
    its process died, and the invoice may be forwarded again (with the same key)."""
    return utcnow() - timedelta(seconds=current_app.config["FORWARDING_TIMEOUT"] * 2 + 30)


def stages(invoice: SalesInvoice) -> tuple[InvoiceStatus, InvoiceStatus, InvoiceStatus]:
    """Where the document waits to be sent, where it is during the call, and where it is
    once sent: an invoice on the desk, or a credit note issued and not yet sent."""
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        return InvoiceStatus.CREDIT_UNSENT, InvoiceStatus.CREDIT_SENDING, InvoiceStatus.CREDIT_SENT
    return InvoiceStatus.SUBMITTED, InvoiceStatus.FORWARDING, InvoiceStatus.FORWARDED


def can_forward(invoice: SalesInvoice) -> bool:
    """Whether staff may forward the invoice: on the desk, or its forwarding long dead."""
    waiting, sending, _sent = stages(invoice)
    if invoice.status == waiting:
        return True
    return invoice.status == sending and invoice.updated_at < stale_forwarding_cutoff()


def forward(invoice: SalesInvoice, actor: User, *, finalise_too: bool = False) -> None:
    """Forward the invoice by its delivery method; with `finalise_too` also Viimeistele.

    By email, the payer's mail is queued in the transaction that records it. To the print
    service or the operator, the invoice is first claimed (Välityksessä, committed), so
    that nobody sends it back for correction or forwards it twice during the call; the
    call carries the round's idempotency key and the PDF is the same bytes each time, so
    a retry after a lost answer is the same job. A failure puts the invoice back on the
    desk with the error and raises ForwardingError.
    """
    if not can_forward(invoice):
        raise InvoiceStateError(invoice.status)
    config = current_app.config
    waiting, sending, sent = stages(invoice)  # a credit note is sent the same way
    if invoice.delivery_method == DeliveryMethod.EMAIL:
        _claim(invoice, waiting, sent)
        receipt = _deliver(invoice, config)
    else:
        _claim(
            invoice,
            (waiting, sending),
            sending,
            sa.or_(
                SalesInvoice.status == waiting,
                SalesInvoice.updated_at < stale_forwarding_cutoff(),
            ),
        )
        invoice_id = invoice.id
        db.session.commit()
        try:
            receipt = _deliver(invoice, config)
        except ForwardingError as error:
            db.session.rollback()
            invoice = db.session.get(SalesInvoice, invoice_id)
            _claim(invoice, sending, waiting)
            invoice.last_error = str(error)
            _event(invoice, EventKind.FORWARD_FAILED, actor, str(error))
            db.session.commit()
            raise
        _claim(invoice, sending, sent)
    invoice.forwarded_at = utcnow()
    invoice.forward_receipt = receipt[:100]
    invoice.last_error = ""
    _event(invoice, EventKind.FORWARDED, actor, receipt)
    audit.record(
        AuditAction.INVOICE_FORWARDED,
        RECORD_TYPE,
        invoice.id,
        f"{document_name(invoice)} {invoice.number} forwarded by {invoice.delivery_method.value}",
        actor=actor,
    )
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        _mail_user(invoice, "invoicing_credited", original=invoice.credit_of)
        return  # nothing to finalise: the credit was booked when the note was issued
    if finalise_too:
        finalise(invoice, actor)


def _deliver(invoice: SalesInvoice, config) -> str:
    credit_note = invoice.kind == InvoiceKind.CREDIT_NOTE
    return deliver(
        invoice,
        name=file_stem(invoice),
        pdf=lambda: pdf(invoice),
        document=lambda: finvoice_document(invoice, config),
        key=idempotency_key(invoice),
        mail=(
            "invoicing_credit_to_payer" if credit_note else "invoicing_to_payer",
            {"invoice": invoice, "seller": seller(config), "original": invoice.credit_of},
        ),
    )


def deliver(
    invoice: SalesInvoice,
    *,
    name: str,
    pdf: Callable[[], bytes],
    document: Callable[[], finvoice.Invoice],
    key: str,
    mail: tuple[str, dict],
) -> str:
    """Send a document about the invoice (the invoice, a reminder, a credit note) to its
    payer by the invoice's delivery method; the receipt of the sending.

    By email the PDF `name`.pdf is queued with the `mail` (template, context) in the
    caller's transaction; the print service gets the PDF and the operator the Finvoice
    message of `document`, both with the idempotency `key`.
    """
    config = current_app.config
    method = invoice.delivery_method
    if method == DeliveryMethod.EMAIL:
        template, context = mail
        message = queue_mail(
            template,
            invoice.payer_email,
            language="fi",
            context=context,
            record=(RECORD_TYPE, invoice.id),
            attachments=[Attachment(f"{name}.pdf", "application/pdf", pdf())],
            sender=config["INVOICE_MAIL_SENDER"],
            reply_to=config["INVOICE_SELLER_EMAIL"],
        )
        db.session.flush()
        return f"mail {message.id}"
    if method == DeliveryMethod.POST:
        from services.invoicing import print_service

        return print_service.submit(
            pdf(),
            job_name=name,
            recipient=print_service.Recipient(
                name=invoice.payer_name,
                street=invoice.payer_street,
                postcode=invoice.payer_postcode,
                city=invoice.payer_city,
                country=invoice.payer_country,
            ),
            idempotency_key=key,
            base_url=service_url("PRINT_SERVICE_URL"),
            token=config["PRINT_SERVICE_TOKEN"],
            timeout=config["FORWARDING_TIMEOUT"],
        )
    from services.invoicing import einvoice_operator

    message = document()
    return einvoice_operator.submit(
        finvoice.build(message),
        message_id=message.message_id,
        sender=(config["INVOICE_EINVOICE_ADDRESS"], config["INVOICE_EINVOICE_OPERATOR"]),
        receiver=(invoice.payer_einvoice_address, invoice.payer_operator),
        base_url=service_url("EINVOICE_OPERATOR_URL"),
        token=config["EINVOICE_OPERATOR_TOKEN"],
        timeout=config["FORWARDING_TIMEOUT"],
    )


SANDBOX_PATHS = {
    "PRINT_SERVICE_URL": "/sandbox/print",
    "EINVOICE_OPERATOR_URL": "/sandbox/einvoice",
}


def service_url(key: str) -> str:
    """The configured address of a counterpart, or the local sandbox's."""
    configured = current_app.config[key]
    if configured:
        return configured
    if not current_app.config["INVOICE_SANDBOX"]:
        raise ForwardingError(f"{key} is not configured")
    return current_app.config["BASE_URL"] + SANDBOX_PATHS[key]


def finalise(invoice: SalesInvoice, actor: User) -> None:
    """Viimeistele: the user is told the invoice went out; it is an open receivable."""
    _claim(invoice, InvoiceStatus.FORWARDED, InvoiceStatus.OPEN)
    invoice.finalised_at = utcnow()
    _event(invoice, EventKind.FINALISED, actor)
    _mail_user(invoice, "invoicing_forwarded")
    # The automatic reminders' first (reminders.schedule keeps the dates after).
    if invoice.user.invoice_reminders == "automatic":
        after = current_app.config["INVOICE_REMINDER_AFTER_DAYS"]
        invoice.next_reminder_on = invoice.due_date + timedelta(days=after)
    _paid_in_full(invoice, actor)


# ---------------------------------------------------------------- receivables


class PaymentError(ValueError):
    """A payment that cannot be recorded, with the reason for the person recording it."""


def record_payment(
    invoice: SalesInvoice,
    amount: Decimal,
    paid_on: date,
    actor: User | None,
    *,
    source: str = "manual",
) -> SalesInvoicePayment:
    """A payment received: the rest stays outstanding; paid in full, the invoice is Maksettu.

    One conditional UPDATE adds the amount, so two payments recorded at once cannot take
    the invoice over its sum.
    """
    amount = vat.money(amount)
    if amount <= 0:
        raise PaymentError("amount")
    result = db.session.execute(
        sa.update(SalesInvoice)
        .where(
            SalesInvoice.id == invoice.id,
            # Online, the payer may pay as soon as the invoice went out, before it is
            # finalised; staff record payments of open receivables.
            SalesInvoice.status.in_(
                (InvoiceStatus.FORWARDED, InvoiceStatus.OPEN)
                if source in ("online", "bank")
                else (InvoiceStatus.OPEN,)
            ),
            # In whole cents: SQLite keeps the numbers as floats (125.49 - 100 < 25.49).
            sa.func.round(outstanding_sql() * 100) >= int(amount * 100),
        )
        .values(paid_amount=SalesInvoice.paid_amount + amount)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise PaymentError("outstanding")  # nothing changed; the caller decides what to undo
    db.session.refresh(invoice)
    payment = SalesInvoicePayment(amount=amount, paid_on=paid_on, source=source, recorded_by=actor)
    invoice.payments.append(payment)
    _event(invoice, EventKind.PAYMENT, actor, f"{amount:.2f}")
    payouts.refresh(invoice)
    _paid_in_full(invoice, actor)
    if source != "online":  # marked by staff; the payment service's own is its record
        audit.record(
            AuditAction.PAYMENT_MARKED,
            RECORD_TYPE,
            invoice.id,
            f"invoice {invoice.number}: payment of {amount:.2f} recorded, "
            + ("paid" if invoice.status == InvoiceStatus.PAID else "part paid"),
            actor=actor,
        )
    return payment


def _paid_in_full(invoice: SalesInvoice, actor: User | None) -> None:
    """An open receivable with nothing outstanding is Maksettu; a forwarded invoice becomes
    so when finalised (the user is told first that it went out)."""
    if invoice.status == InvoiceStatus.OPEN and invoice.outstanding == 0:
        invoice.status = InvoiceStatus.PAID
        invoice.next_reminder_on = None
        _event(invoice, EventKind.PAID, actor)
        _mail_user(invoice, "invoicing_paid")  # by any way: the bank, online, staff


def is_overdue(invoice: SalesInvoice, day: date | None = None) -> bool:
    """Whether the invoice is open with an amount outstanding after its due date."""
    return (
        invoice.status == InvoiceStatus.OPEN
        and invoice.outstanding > 0
        and invoice.due_date < (day or today())
    )


# ---------------------------------------------------------------- documents


def seller(config) -> finvoice.Party:
    """The invoice desk as the seller of the invoices, from the configuration."""
    return finvoice.Party(
        name=config["INVOICE_SELLER_NAME"],
        street=config["INVOICE_SELLER_STREET"],
        postcode=config["INVOICE_SELLER_POSTCODE"],
        town=config["INVOICE_SELLER_CITY"],
        country="FI",
        business_id=config["INVOICE_SELLER_BUSINESS_ID"],
    )


def finvoice_document(invoice: SalesInvoice, config=None) -> finvoice.Invoice:
    """The invoice as the data the PDF and the Finvoice message are made of."""
    config = config or current_app.config
    original = invoice.credit_of if invoice.kind == InvoiceKind.CREDIT_NOTE else None
    # A credit note's amounts are negative in Finvoice: the credited quantities are, the
    # unit prices stay positive, and so the rows, the VAT and the totals come out negative.
    sign = Decimal(-1) if original is not None else Decimal(1)
    return finvoice.Invoice(
        number=invoice.number or "",
        invoice_date=invoice.invoice_date,
        due_date=invoice.due_date,
        reference=invoice.reference or "",
        seller=seller(config),
        buyer=finvoice.Party(
            name=invoice.payer_name,
            street=invoice.payer_street,
            postcode=invoice.payer_postcode,
            town=invoice.payer_city,
            country=invoice.payer_country,
            business_id=invoice.payer_business_id or None,
            einvoice_address=invoice.payer_einvoice_address or None,
            operator=invoice.payer_operator or None,
        ),
        rows=[
            finvoice.Row(
                description=line.description,
                quantity=sign * Decimal(line.quantity),
                unit=line.unit,
                unit_price=Decimal(line.unit_price),
                vat_percent=Decimal(line.vat_percent),
            )
            for line in invoice.lines
        ],
        iban=config["INVOICE_IBAN"],
        bic=config["INVOICE_BIC"],
        free_text=invoice.free_text,
        message_id=idempotency_key(invoice),
        # Stable for the round: the same message (and PDF) however often it is made.
        created_at=(invoice.sent_at or invoice.created_at or utcnow()).astimezone(
            workdays.HELSINKI
        ),
        seller_einvoice=(config["INVOICE_EINVOICE_ADDRESS"], config["INVOICE_EINVOICE_OPERATOR"]),
        **(
            {
                "type_code": finvoice.CREDIT_NOTE_CODE,
                "type_text": finvoice.CREDIT_NOTE_TEXT,
                "original_number": original.number or "",
                "original_date": original.invoice_date,
            }
            if original is not None
            else {}
        ),
    )


def document_name(invoice: SalesInvoice) -> str:
    """ "invoice" or "credit note", for the logs and the audit trail."""
    return "credit note" if invoice.kind == InvoiceKind.CREDIT_NOTE else "invoice"


def file_stem(invoice: SalesInvoice) -> str:
    """The name of the document's PDF (without .pdf) and of its print job."""
    prefix = "hyvityslasku" if invoice.kind == InvoiceKind.CREDIT_NOTE else "lasku"
    return f"{prefix}-{invoice.number}"


def pdf(invoice: SalesInvoice) -> bytes:
    """The invoice as a PDF: its biller, the desk's contact and the pay link if any; a
    credit note says how the credit is settled instead, and has nothing to pay."""
    config = current_app.config
    user = invoice.user
    credit_note = invoice.kind == InvoiceKind.CREDIT_NOTE
    return invoice_pdf.render(
        finvoice_document(invoice, config),
        biller=[f"Laskuttaja: {user.name}, laskuttajanumero {invoice.user_number}"],
        seller_contact=[config["INVOICE_SELLER_EMAIL"]],
        payment_url=None if credit_note else payment_link(invoice),
        settlement=_settlement(invoice) if credit_note else (),
    )


def _settlement(note: SalesInvoice) -> list[str]:
    """How a credit note is settled, in the words of its PDF (from what it was issued
    with, so a retried sending prints the same)."""
    original = note.credit_of
    return invoice_pdf.settlement_lines(
        original.number or "",
        Decimal(note.gross),
        Decimal(note.refund_due),
        in_full=Decimal(note.gross) == Decimal(original.gross),
    )


def payment_link(invoice: SalesInvoice, language: str | None = None) -> str | None:
    """The invoice's online payment link, once it has a number and payments are set up;
    in `language` when it goes in a mail (a credit note has nothing to pay)."""
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        return None
    if not invoice.number or not payment_links.is_configured():
        return None
    return payment_links.invoice_payment_url(invoice, language)


def finvoice_message(invoice: SalesInvoice) -> bytes:
    """The invoice as a Finvoice 3.0 message."""
    return finvoice.build(finvoice_document(invoice))


# ---------------------------------------------------------------- finding invoices


def compact_code(code: str) -> str:
    """An invoice number or reference as typed, without spaces and in capitals."""
    return "".join(code.split()).upper()


def by_code(code: str) -> list[SalesInvoice]:
    """The invoices an invoice number, a reference or an RF reference names.

    A number can be another invoice's reference (invoice 13 of user 100102 is 10010213,
    the reference of its invoice 1), so a code may name two invoices.
    """
    compact = compact_code(code)
    if compact.startswith("RF"):
        try:
            compact = reference.finnish_of_rf(compact)
        except Exception:  # noqa: BLE001  (stdnum raises several kinds; none is a hit)
            return []
    if not compact.isdigit() or len(compact) > 20:
        return []
    # Two look-ups, each answered by its unique index (an OR of both would not be).
    found = {
        invoice.id: invoice
        for column in (SalesInvoice.number, SalesInvoice.reference)
        for invoice in db.session.scalars(sa.select(SalesInvoice).where(column == compact))
    }
    return [found[key] for key in sorted(found)]


def reference_condition(text: str) -> sa.ColumnElement[bool] | None:
    """The seed's search: "100102%" lists the references that begin with 100102; without a
    trailing % the reference must match exactly. Every other character is literal."""
    compact = "".join(text.split())
    if not compact:
        return None
    if compact.endswith("%"):
        prefix = compact[:-1]
        if not prefix:
            return None  # "%" alone: no condition, every invoice
        return starts_with(SalesInvoice.reference, prefix)
    if compact.upper().startswith("RF"):  # the RF form of a reference names it exactly
        try:
            compact = reference.finnish_of_rf(compact)
        except Exception:  # noqa: BLE001  (not a valid RF reference: no invoice has it)
            return sa.false()
    return SalesInvoice.reference == compact


def _mail_user(invoice: SalesInvoice, template: str, **context) -> None:
    user = invoice.user
    db.session.flush()  # a new invoice gets its id for the links
    queue_mail(
        template,
        user.email,
        language=user.language,
        context={
            "invoice": invoice,
            "user": user,
            "invoice_url": external_url(
                "invoicing.invoice", invoice_id=invoice.id, language=user.language
            ),
            "edit_url": external_url(
                "invoicing.edit", invoice_id=invoice.id, language=user.language
            ),
            **context,
        },
        record=(RECORD_TYPE, invoice.id),
    )
