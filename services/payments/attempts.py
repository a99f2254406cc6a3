"""Online payments: attempts, the payment service's answers, and what they pay.

The portal is a sales channel of the payment service (services.payments.channel builds and
checks its messages). An attempt (`OnlinePayment`) freezes its amount and item lines from
the database; the payer's browser posts the channel form to the payment service; the
service answers at three addresses of ours:

- return: the payer comes back after paying (or, without PAID, after a failure);
- cancel: the payer comes back after cancelling or a failure;
- notify: the service calls us itself when it records the payment as paid, usually just
  before the return, possibly a banking day later, possibly more than once.

Every answer is verified by its RETURN_AUTHCODE before anything is read from it. A paid
answer moves the attempt to paid once (a conditional UPDATE, so a notify and a return at
the same moment cannot both win) and applies the payment once to what it pays: an
invoice gets an online payment (a receivable paid in full is Maksettu), an enrolment
paying online turns binding. Answers that change nothing (a second notify, a return after
the notify) are accepted and change nothing; forged or altered ones are recorded as
`RejectedPaymentCall`, logged, and shown to staff.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_decimal
from flask_babel import gettext as _

from extensions import db
from models.auth import User
from models.invoicing import WITH_THE_PAYER, InvoiceStatus, SalesInvoice
from models.payments import (
    OnlinePayment,
    OnlinePaymentLine,
    PaymentPurpose,
    PaymentState,
    RejectedPaymentCall,
)
from models.training import Course, Enrolment, EnrolmentStatus
from models.types import one_of, utcnow
from services import counters, reasons, training
from services.invoicing import desk as invoicing
from services.outbox import queue_mail
from services.payments import channel as payment_channel
from services.payments.links import RECORD_TYPE
from services.payments.refunds import owe_refund
from services.urls import external_url
from services.vat import CENT, money

log = logging.getLogger(__name__)

ORDER_PREFIX = "VM"
ORDER_COUNTER = "online_payment"
CULTURES = {"fi": "fi_FI", "sv": "sv_SE"}  # others see the service in English
MAX_ITEMS = 10  # the most invoices or course fees one payment pays


class NotPayable(Exception):
    """The object cannot be paid online now (paid already, cancelled, nothing to pay)."""


@dataclass(frozen=True)
class Contact:
    """The payer's details for the payment service (CONTACT_* fields)."""

    first_name: str
    last_name: str
    email: str
    street: str
    postcode: str
    city: str
    country: str = "FI"
    company: str = ""


@dataclass(frozen=True)
class Answer:
    """What an answer of the payment service came to, for the page or the notify reply."""

    payment: OnlinePayment | None
    accepted: bool
    changed: bool = False


# ---------------------------------------------------------------- configuration


def commission_percent(commission_class: str) -> Decimal:
    """The percentage of a configured commission class; RuntimeError for another."""
    classes = current_app.config["PAYMENT_COMMISSION_CLASSES"]
    if commission_class not in classes:
        raise RuntimeError(f"commission class {commission_class!r} is not configured")
    return Decimal(classes[commission_class])


# ---------------------------------------------------------------- links


# ---------------------------------------------------------------- what can be paid


def invoice_payable(invoice: SalesInvoice) -> bool:
    """Sent to the payer (forwarded or an open receivable) with something outstanding."""
    return (
        invoice.status in (InvoiceStatus.FORWARDED, InvoiceStatus.OPEN) and invoice.outstanding > 0
    )


def course_fee_payable(enrolment: Enrolment) -> bool:
    """A participant who chose to pay online, not yet paid, with a seat held: until the
    deadline, after which the seat goes to others."""
    return (
        enrolment.pays_online
        and enrolment.status == EnrolmentStatus.PRELIMINARY
        and enrolment.course.price > 0
        and utcnow() < training.payment_deadline(enrolment)
    )


def invoice_contact(invoice: SalesInvoice) -> dict:
    """The payer's details from the invoice, to prefill the payment page."""
    return {
        "company": invoice.payer_name,
        "email": invoice.payer_email,
        "street": invoice.payer_street,
        "postcode": invoice.payer_postcode,
        "city": invoice.payer_city,
        "country": invoice.payer_country or "FI",
    }


def enrolment_contact(enrolment: Enrolment) -> dict:
    """The payer's details the enrolment already has, to fill the payer form."""
    return {
        "first_name": enrolment.first_name,
        "last_name": enrolment.last_name,
        "email": enrolment.email,
        "company": enrolment.organisation,
    }


def _line(
    position: int,
    title: str,
    item_no: str,
    total: Decimal,
    vat_percent: Decimal,
    merchant_id: str,
    commission_class: str,
    merchant_user: User | None = None,
    paying: SalesInvoice | Enrolment | None = None,
) -> OnlinePaymentLine:
    """One line of quantity 1 at a VAT-inclusive price: what the payer pays is exact. The
    channel's commission is the class's share of it, never more than the line (p. 4)."""
    total = money(total)
    charset = current_app.config["PAYMENT_CHARSET"]
    commission = min(money(total * commission_percent(commission_class) / 100), total)
    return OnlinePaymentLine(
        position=position,
        title=payment_channel.clean_text(title, charset)[:255],
        item_no=payment_channel.clean_text(item_no, charset)[:16],
        quantity=Decimal(1),
        price=total,
        vat_percent=Decimal(vat_percent),
        merchant_id=merchant_id,
        commission_class=commission_class,
        commission=commission,
        total=total,
        merchant_user_id=merchant_user.id if merchant_user else None,
        sales_invoice=paying if isinstance(paying, SalesInvoice) else None,
        enrolment=paying if isinstance(paying, Enrolment) else None,
    )


def _invoice_lines(invoice: SalesInvoice) -> list[OnlinePaymentLine]:
    """One line per VAT rate (its totals to the cent; of a part-paid invoice, its share of
    the balance pro rata). The service, which issues the invoice in its own name, is the
    merchant (PAYMENT_MERCHANT_ID); the invoicing user sees the lines of their invoices."""
    config = current_app.config
    cp = config["PAYMENT_INVOICE_COMMISSION_CLASS"]
    rows = invoicing.totals(invoice).rows
    title = _("Invoice %(number)s", number=invoice.number)
    whole = [(row.percent, row.base + row.vat) for row in rows if row.base + row.vat != 0]
    if whole and all(total > 0 for _rate, total in whole):
        settled = invoice.paid_amount or invoice.credited  # part-paid or part-credited
        parts = _pro_rata(invoice.outstanding, whole) if settled else whole
    else:  # credit lines among them: the balance as it is
        parts = [(rows[0].percent if len(rows) == 1 else Decimal(0), invoice.outstanding)]
    if invoice.paid_amount or invoice.credited:
        title = _("%(title)s, the balance", title=title)
    many = len(parts) > 1
    return [
        _line(
            position,
            _("%(title)s, VAT %(rate)s", title=title, rate=_percent(rate)) if many else title,
            total=total,
            vat_percent=rate,
            commission_class=cp,
            merchant_user=invoice.user,
            item_no=invoice.number,
            merchant_id=config["PAYMENT_MERCHANT_ID"],
            paying=invoice,
        )
        for position, (rate, total) in enumerate(parts)
    ]


def _pro_rata(amount: Decimal, shares: list[tuple[Decimal, Decimal]]):
    """`amount` split in cents in proportion to the shares' totals, adding up exactly
    (the largest remainders get the odd cents); shares that get nothing are left out."""
    whole = sum(total for _rate, total in shares)
    cents = int(amount / CENT)
    exact = [Decimal(cents) * total / whole for _rate, total in shares]
    split = [int(value) for value in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: exact[i] - split[i], reverse=True)
    for i in by_remainder[: cents - sum(split)]:
        split[i] += 1
    return [(rate, split[i] * CENT) for i, (rate, _t) in enumerate(shares) if split[i]]


def _percent(rate: Decimal) -> str:
    return format_decimal(Decimal(rate).normalize(), format="#,##0.##") + " %"


def seller(course: Course) -> tuple[str, str]:
    """The merchant ID and commission class a course's fee is sold under: its organiser's,
    registered with the payment service, or the training institute's own."""
    if course.organiser is not None:
        return course.organiser.merchant_id, course.organiser.commission_class
    config = current_app.config
    return config["PAYMENT_COURSE_MERCHANT_ID"], config["PAYMENT_COURSE_COMMISSION_CLASS"]


def _course_lines(enrolment: Enrolment) -> list[OnlinePaymentLine]:
    config = current_app.config
    course = enrolment.course
    merchant_id, commission_class = seller(course)
    return [
        _line(
            0,
            _("Course fee: %(title)s", title=course.title),
            item_no=enrolment.service_code,
            total=course.price,
            vat_percent=Decimal(config["PAYMENT_COURSE_VAT_PERCENT"]),
            merchant_id=merchant_id,
            commission_class=commission_class,
            paying=enrolment,
        )
    ]


# ---------------------------------------------------------------- several at once


def other_invoices(invoice: SalesInvoice) -> list[SalesInvoice]:
    """The payer's other invoices that can be paid now, to pay with this one in a single
    payment: those sent to the same email address, the oldest due first (a few at most,
    through the index of the invoices with the payer)."""
    if not invoice.payer_email:
        return []
    found = db.session.scalars(
        sa.select(SalesInvoice)
        .where(
            one_of(SalesInvoice.status, WITH_THE_PAYER),
            SalesInvoice.payer_email == invoice.payer_email,
            SalesInvoice.id != invoice.id,
        )
        .order_by(SalesInvoice.due_date, SalesInvoice.id)
        .limit(MAX_ITEMS - 1)
    )
    return [other for other in found if invoice_payable(other)]


def other_course_fees(enrolment: Enrolment) -> list[Enrolment]:
    """The participant's other course fees that can be paid now (their other enrolments
    paying online, by the same email address), to pay with this one in a single payment."""
    found = db.session.scalars(
        sa.select(Enrolment)
        .where(
            Enrolment.email == enrolment.email,
            Enrolment.id != enrolment.id,
            Enrolment.status == EnrolmentStatus.PRELIMINARY,
            Enrolment.pays_online.is_(True),
        )
        .order_by(Enrolment.id)
        .limit(MAX_ITEMS - 1)
    )
    return [other for other in found if course_fee_payable(other)]


def _numbered(lines: list[OnlinePaymentLine]) -> list[OnlinePaymentLine]:
    for position, line in enumerate(lines):
        line.position = position
    return lines


# ---------------------------------------------------------------- starting


def _next_order_number() -> str:
    return f"{ORDER_PREFIX}{counters.next_value(ORDER_COUNTER, start=100001)}"


def start_invoice_payment(
    invoice: SalesInvoice,
    contact: Contact,
    language: str,
    also: Sequence[SalesInvoice] = (),
) -> OnlinePayment:
    """A new attempt to pay what is outstanding on the invoice, and on the payer's other
    invoices `also` (of `other_invoices`), in one payment; the caller commits."""
    if not invoice_payable(invoice) or not all(invoice_payable(other) for other in also):
        raise NotPayable
    lines = [line for each in (invoice, *also) for line in _invoice_lines(each)]
    return _start(
        PaymentPurpose.INVOICE, _numbered(lines), contact, language, sales_invoice=invoice
    )


def start_course_fee_payment(
    enrolment: Enrolment,
    contact: Contact,
    language: str,
    also: Sequence[Enrolment] = (),
) -> OnlinePayment:
    """A new attempt to pay the course fee of an enrolment, and of the participant's other
    enrolments `also` (of `other_course_fees`, perhaps of other organisers: a payment of
    several merchants), in one payment; the caller commits."""
    if not course_fee_payable(enrolment) or not all(course_fee_payable(e) for e in also):
        raise NotPayable
    lines = [line for each in (enrolment, *also) for line in _course_lines(each)]
    return _start(
        PaymentPurpose.COURSE_FEE, _numbered(lines), contact, language, enrolment=enrolment
    )


def _start(purpose, lines, contact: Contact, language: str, **target) -> OnlinePayment:
    payment = OnlinePayment(
        order_number=_next_order_number(),
        purpose=purpose,
        state=PaymentState.CREATED,
        amount=sum((line.total for line in lines), Decimal("0.00")),
        first_name=contact.first_name,
        last_name=contact.last_name,
        company=contact.company,
        email=contact.email,
        street=contact.street,
        postcode=contact.postcode,
        city=contact.city,
        country=contact.country,
        language=language,
        charset=payment_channel.normalise_charset(current_app.config["PAYMENT_CHARSET"]),
        lines=lines,
        created_at=utcnow(),
        **target,
    )
    db.session.add(payment)
    channel_form(payment)  # anything the service would refuse fails now, not at the service
    db.session.flush()
    return payment


def channel_form(payment: OnlinePayment) -> list[tuple[str, str]]:
    """The fields the payer's browser posts to the payment service, AUTHCODE last."""
    config = current_app.config
    order = payment_channel.Payment(
        order_number=payment.order_number,
        return_address=external_url("payments.returned"),
        cancel_address=external_url("payments.cancelled"),
        notify_address=external_url("payments.notify"),
        contact_email=payment.email,
        contact_firstname=payment.first_name,
        contact_lastname=payment.last_name,
        contact_company=payment.company,
        contact_addr_street=payment.street,
        contact_addr_zip=payment.postcode,
        contact_addr_city=payment.city,
        contact_addr_country=payment.country,
        culture=CULTURES.get(payment.language, "en_US"),
        include_vat=True,
        items=[
            payment_channel.Item(
                title=line.title,
                no=line.item_no,
                amount=Decimal(line.quantity).normalize(),
                price=money(line.price),
                tax=Decimal(line.vat_percent).normalize(),
                merchant_id=line.merchant_id,
                cp=line.commission_class,
                commission=money(line.commission),
            )
            for line in payment.lines
        ],
    )
    return payment_channel.build_form(
        order,
        channel_id=config["PAYMENT_CHANNEL_ID"],
        secret=config["PAYMENT_CHANNEL_SECRET"],
        charset=payment.charset,
    )


# ---------------------------------------------------------------- answers


def _reject(kind: str, params: Mapping[str, str], reason: str, remote: str, query: str) -> Answer:
    order_number = str(params.get("ORDER_NUMBER", ""))[:64]
    log.warning(
        "rejected payment %s call for order %r from %s: %s", kind, order_number, remote, reason
    )
    db.session.rollback()
    db.session.add(
        RejectedPaymentCall(
            kind=kind,
            order_number=order_number,
            remote_addr=remote[:64],
            query=query[:2000],
            reason=reason[:200],
            at=utcnow(),
        )
    )
    return Answer(None, accepted=False)


def receive(kind: str, params: Mapping[str, str], *, remote: str = "", query: str = "") -> Answer:
    """Handle a return, cancel or notify call (`kind`) with its `params`, from the address
    `remote` with the query string `query` as it came (kept when refused). The caller
    commits what it changes, or the refused call's record."""
    params = {key: value for key, value in params.items() if key in payment_channel.RETURN_FIELDS}
    config = current_app.config
    try:
        result = payment_channel.verify_return(
            params, config["PAYMENT_CHANNEL_SECRET"], charset=config["PAYMENT_CHARSET"]
        )
    except ValueError as exc:  # e.g. text the channel's charset cannot represent
        return _reject(kind, params, str(exc), remote, query)
    if not result.authentic:
        return _reject(kind, params, result.error or "not authentic", remote, query)
    payment = db.session.scalar(
        sa.select(OnlinePayment).where(OnlinePayment.order_number == result.order_number)
    )
    if payment is None:
        return _reject(kind, params, "unknown order number", remote, query)
    if kind == "notify" and not result.paid:
        return _reject(kind, params, "a notify without PAID", remote, query)
    now = utcnow()
    if result.paid:
        changed = _paid(payment, result, now)
    else:
        state = PaymentState.CANCELLED if kind == "cancel" else PaymentState.FAILED
        changed = _closed(payment, state, result, now)
        if not changed and payment.state == PaymentState.PAID:
            log.info("payment %s: a late %s after it was paid", payment.order_number, kind)
    # When the payer came back and when the service first told us: set once.
    stamp = "notified_at" if kind == "notify" else "returned_at"
    first = db.session.execute(
        sa.update(OnlinePayment)
        .where(OnlinePayment.id == payment.id, getattr(OnlinePayment, stamp).is_(None))
        .values({stamp: now})
        .execution_options(synchronize_session=False)
    )
    if not changed and not first.rowcount:
        log.info("payment %s: a repeated %s changed nothing", payment.order_number, kind)
    return Answer(payment, accepted=True, changed=changed)


def _closed(payment: OnlinePayment, state: PaymentState, result, now: datetime) -> bool:
    """Created -> cancelled or failed, once; a paid attempt stays paid."""
    done = db.session.execute(
        sa.update(OnlinePayment)
        .where(OnlinePayment.id == payment.id, OnlinePayment.state == PaymentState.CREATED)
        .values(state=state, closed_at=now, service_timestamp=int(result.timestamp))
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1


def _paid(payment: OnlinePayment, result, now: datetime) -> bool:
    """Paid once: the first authentic PAID wins; the payment is applied in the same
    transaction. A later PAID with a different payment id is a second charge: flagged."""
    done = db.session.execute(
        sa.update(OnlinePayment)
        .where(OnlinePayment.id == payment.id, OnlinePayment.state != PaymentState.PAID)
        .values(
            state=PaymentState.PAID,
            paid_code=result.paid_code,
            method=result.method,
            service_timestamp=int(result.timestamp),
            paid_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(payment)
    if done.rowcount != 1:
        if payment.paid_code != result.paid_code:
            _problem(
                payment,
                f"a second payment id {result.paid_code} for an order already paid "
                f"({payment.paid_code}): refund one",
            )
        return False
    _apply(payment)
    _receipt(payment)
    return True


def _problem(payment: OnlinePayment, text: str) -> None:
    log.error("payment %s: %s", payment.order_number, text)
    payment.problem = "; ".join(filter(None, [payment.problem, text]))[:500]


def paid_items(payment: OnlinePayment) -> tuple[dict[int, Decimal], list[int]]:
    """What the payment's lines pay: each invoice's id with its amount, and the ids of the
    enrolments whose fees it pays, in the lines' order (a line of a payment made before
    payments paid several items pays the payment's own item)."""
    invoices: dict[int, Decimal] = {}
    enrolments: list[int] = []
    for line in payment.lines:
        if payment.purpose == PaymentPurpose.INVOICE:
            key = line.sales_invoice_id or payment.sales_invoice_id
            invoices[key] = invoices.get(key, Decimal("0.00")) + line.total
        else:
            key = line.enrolment_id or payment.enrolment_id
            if key not in enrolments:
                enrolments.append(key)
    return invoices, enrolments


def _apply(payment: OnlinePayment) -> None:
    """Give each paid object its part of the payment, once (the caller won the paid
    transition); what one object cannot take is flagged and leaves the others paid."""
    invoices, enrolments = paid_items(payment)
    for invoice_id, amount in invoices.items():
        _apply_to_invoice(payment, db.session.get(SalesInvoice, invoice_id), amount)
    for enrolment_id in enrolments:
        _apply_to_enrolment(payment, db.session.get(Enrolment, enrolment_id))


def _apply_to_invoice(payment: OnlinePayment, invoice: SalesInvoice, amount: Decimal) -> None:
    try:
        with db.session.begin_nested():
            invoicing.record_payment(invoice, amount, invoicing.today(), None, source="online")
    except invoicing.PaymentError:
        db.session.refresh(invoice)
        _problem(
            payment,
            f"invoice {invoice.number} could not take {amount:.2f} "
            f"(status {invoice.status.value}, outstanding {invoice.outstanding:.2f}): "
            "refund or allocate by hand",
        )


def _apply_to_enrolment(payment: OnlinePayment, enrolment: Enrolment) -> None:
    try:
        with db.session.begin_nested():
            training.mark_paid(enrolment, payment.order_number)
    except training.EnrolmentError:
        db.session.refresh(enrolment)
        if enrolment.status == EnrolmentStatus.CANCELLED:
            owe_refund(payment, reasons.coded("paid_after_cancel"), enrolment)
        elif enrolment.status == EnrolmentStatus.BINDING:
            owe_refund(payment, reasons.coded("paid_twice"), enrolment)
        else:
            _problem(
                payment,
                f"enrolment {enrolment.service_code} is {enrolment.status.value}, "
                "not preliminary: refund or restore the enrolment by hand",
            )


def _receipt(payment: OnlinePayment) -> None:
    queue_mail(
        "payments_receipt",
        [payment.email],
        language=payment.language,
        context={"payment": payment},
        record=(RECORD_TYPE, str(payment.id)),
    )


# ---------------------------------------------------------------- refunds


# ---------------------------------------------------------------- finding


def by_code(text: str) -> OnlinePayment | None:
    """The attempt with this order number or PAID id (any letter case, spaces ignored)."""
    code = "".join(text.split())
    if not code or len(code) > 64:
        return None
    code = code.upper()
    return db.session.scalar(
        sa.select(OnlinePayment).where(
            sa.or_(
                OnlinePayment.order_number == code,
                sa.func.upper(OnlinePayment.paid_code) == code,
            )
        )
    )
