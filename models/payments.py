"""Online payments through the payment service's channel interface (Kanavamalli).

One `OnlinePayment` per attempt: its order number (ORDER_NUMBER) is unique and names the
attempt at the payment service. Its amount and item lines are frozen from the database
when the attempt starts (never taken from the request), and the payment service's answers
move it from created to paid, cancelled or failed. Each line names its merchant and the
channel's commission class, as sent; a line of an invoice also names the invoicing user,
who sees it in the merchants' view.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from extensions import db
from models.types import UTCDateTime, partial_index, utcnow, value_enum


class PaymentState(enum.StrEnum):
    CREATED = "luotu"  # sent to the payment service, no answer yet
    PAID = "maksettu"
    CANCELLED = "peruttu"  # the payer cancelled at the payment service
    FAILED = "epaonnistui"  # the payment service reported a failure


class PaymentPurpose(enum.StrEnum):
    INVOICE = "lasku"  # an invoice of the invoice desk
    COURSE_FEE = "kurssimaksu"  # the fee of an enrolment on a course


class OnlinePayment(db.Model):
    __tablename__ = "online_payment"
    __table_args__ = (
        sa.Index("ix_online_payment_state_created", "state", "created_at", "id"),
        sa.Index("ix_online_payment_created", "created_at", "id"),
        # The staff look-up finds a PAID id in any letter case.
        sa.Index("ix_online_payment_paid_code_upper", sa.text("upper(paid_code)")),
        # What needs action: few rows, counted on every staff list.
        partial_index("ix_online_payment_problem", "id", where="problem IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_number: Mapped[str] = mapped_column(sa.String(64), unique=True)
    purpose: Mapped[PaymentPurpose] = mapped_column(value_enum(PaymentPurpose))
    state: Mapped[PaymentState] = mapped_column(value_enum(PaymentState))
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    currency: Mapped[str] = mapped_column(sa.String(3), default="EUR")
    sales_invoice_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_invoice.id", ondelete="RESTRICT"), index=True
    )
    enrolment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("enrolment.id", ondelete="RESTRICT"), index=True
    )
    # The payer, as confirmed on the payment page (CONTACT_* fields).
    first_name: Mapped[str] = mapped_column(sa.String(64))
    last_name: Mapped[str] = mapped_column(sa.String(64))
    company: Mapped[str] = mapped_column(sa.String(128), default="")
    email: Mapped[str] = mapped_column(sa.String(254))
    street: Mapped[str] = mapped_column(sa.String(128))
    postcode: Mapped[str] = mapped_column(sa.String(16))
    city: Mapped[str] = mapped_column(sa.String(64))
    country: Mapped[str] = mapped_column(sa.String(2), default="FI")
    language: Mapped[str] = mapped_column(sa.String(5), default="fi")
    charset: Mapped[str] = mapped_column(sa.String(10), default="UTF-8")
    # The payment service's answer: PAID (its payment id), METHOD and TIMESTAMP.
    paid_code: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    method: Mapped[str | None] = mapped_column(sa.String(8))
    service_timestamp: Mapped[int | None] = mapped_column(sa.BigInteger)
    # What could not be done with a confirmed payment (staff must act: refund or allocate).
    problem: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # cancelled or failed
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the payer came back
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first notify call

    lines: Mapped[list[OnlinePaymentLine]] = relationship(
        back_populates="payment", order_by="OnlinePaymentLine.position", cascade="all"
    )
    sales_invoice = relationship("SalesInvoice")
    enrolment = relationship("Enrolment")

    @property
    def payer_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def several(self) -> bool:
        """Whether it pays more than one item (invoices or course fees)."""
        items = {(line.sales_invoice_id, line.enrolment_id) for line in self.lines}
        return len(items) > 1

    def __repr__(self) -> str:
        return f"<OnlinePayment {self.order_number} {self.state}>"


class OnlinePaymentLine(db.Model):
    """One ITEM_*[X] group as sent, with what the line comes to."""

    __tablename__ = "online_payment_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("online_payment.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(sa.String(255))
    item_no: Mapped[str] = mapped_column(sa.String(16), default="")
    quantity: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    price: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    vat_percent: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    merchant_id: Mapped[str] = mapped_column(sa.String(8))
    commission_class: Mapped[str] = mapped_column(sa.String(10))
    commission: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))  # the channel's, in euros
    total: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))  # what the payer pays for it
    # The invoicing user whose invoice the line pays (their view of the payments), if any.
    merchant_user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    # What the line pays: an invoice or an enrolment's fee (a payment may pay several).
    sales_invoice_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_invoice.id", ondelete="RESTRICT"), index=True
    )
    enrolment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("enrolment.id", ondelete="RESTRICT"), index=True
    )

    payment: Mapped[OnlinePayment] = relationship(back_populates="lines")
    sales_invoice = relationship("SalesInvoice")
    enrolment = relationship("Enrolment")


# The merchants' view: the newest payment first, each one's lines in order.
sa.Index(
    "ix_online_payment_line_merchant",
    OnlinePaymentLine.merchant_user_id,
    OnlinePaymentLine.payment_id.desc(),
    OnlinePaymentLine.position,
    OnlinePaymentLine.id,
)


class RejectedPaymentCall(db.Model):
    """A return, cancel or notify call that did not pass: forged, altered or unknown."""

    __tablename__ = "rejected_payment_call"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))  # return | cancel | notify
    order_number: Mapped[str] = mapped_column(sa.String(64), default="", index=True)
    remote_addr: Mapped[str] = mapped_column(sa.String(64), default="")
    query: Mapped[str] = mapped_column(sa.String(2000), default="")
    reason: Mapped[str] = mapped_column(sa.String(200))


class RefundState(enum.StrEnum):
    DUE = "palautettava"  # owed to the payer: staff refund it in the merchant panel
    REFUNDED = "palautettu"  # staff made the refund and recorded its reference


class Refund(db.Model):
    """A course fee owed back to its payer: the enrolment it paid was cancelled, or the
    fee was paid when it could no longer be taken.

    The channel interface has no refund call: staff refund the payment's lines of the
    enrolment in the payment service's merchant panel and record here the reference it
    gave. One refund an enrolment of a payment at most (a payment may pay the fees of
    several), so a cancellation seen twice owes nothing twice.
    """

    __tablename__ = "refund"
    __table_args__ = (
        sa.Index("ix_refund_state_created", "state", "created_at", "id"),
        sa.UniqueConstraint("payment_id", "enrolment_id", name="uq_refund_payment_enrolment"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("online_payment.id", ondelete="RESTRICT"), index=True
    )
    enrolment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("enrolment.id", ondelete="RESTRICT"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    cause: Mapped[str] = mapped_column(sa.String(200))  # a reason code (services/reasons)
    state: Mapped[RefundState] = mapped_column(value_enum(RefundState))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refunded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    refunded_by_email: Mapped[str | None] = mapped_column(sa.String(254))
    # The merchant panel's reference of the refund (or a bank transfer's archive id).
    reference: Mapped[str | None] = mapped_column(sa.String(100))

    payment: Mapped[OnlinePayment] = relationship(backref=backref("refunds"))
    enrolment = relationship("Enrolment")

    def __repr__(self) -> str:
        return f"<Refund {self.id} {self.amount} {self.state}>"
