"""The invoice desk (e-tunnus): the users' sales invoices, their lines, history and payments.

The service issues the invoices in its own name on its users' behalf; a user's invoices
carry the user's 6-digit invoicing number at the head of the invoice number and so of the
reference number, by which staff find them ("100102%").
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.types import UTCDateTime, partial_index, searchable, sql_list, utcnow, value_enum


class DeliveryMethod(enum.StrEnum):
    """Toimitustapa."""

    POST = "posti"
    EMAIL = "sahkoposti"
    EINVOICE = "verkkolasku"


class InvoiceStatus(enum.StrEnum):
    DRAFT = "luonnos"  # the user's, not yet sent
    SUBMITTED = "lahettamaton"  # on the desk: Lähettämättömät laskut
    FORWARDING = "valityksessa"  # at the print service or the operator right now
    CORRECTION = "korjattava"  # back with the user, with staff's question
    FORWARDED = "valitetty"  # forwarded, the process not yet finalised
    OPEN = "avoin"  # Avoimet saatavat
    PAID = "maksettu"
    CREDITED = "hyvitetty"  # credited in full: no longer a receivable
    # A credit note's own life: issued and booked, at the print service or the operator
    # right now, sent to the payer.
    CREDIT_UNSENT = "hyvitys_lahettamaton"
    CREDIT_SENDING = "hyvitys_valityksessa"
    CREDIT_SENT = "hyvitys_lahetetty"


class InvoiceKind(enum.StrEnum):
    """What the document is: an invoice, or a credit note (hyvityslasku) of one."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


# On the desk: Lähettämättömät laskut (at the print service or the operator right now too).
ON_THE_DESK = (InvoiceStatus.SUBMITTED, InvoiceStatus.FORWARDING)
AWAITING_FINALISING = (InvoiceStatus.FORWARDED,)
RECEIVABLE_OPEN = (InvoiceStatus.OPEN,)
IN_CORRECTION = (InvoiceStatus.CORRECTION,)
# Each status's list: the statuses its partial index holds, and the index's order.
STATUS_LISTS = {
    InvoiceStatus.SUBMITTED: ON_THE_DESK,
    InvoiceStatus.FORWARDING: ON_THE_DESK,
    InvoiceStatus.FORWARDED: AWAITING_FINALISING,
    InvoiceStatus.OPEN: RECEIVABLE_OPEN,
    InvoiceStatus.CORRECTION: IN_CORRECTION,
}
# What the user may still change.
EDITABLE = (InvoiceStatus.DRAFT, InvoiceStatus.CORRECTION)
# What is on its way to the payer or with them: open receivables once finalised.
RECEIVABLE = (InvoiceStatus.OPEN, InvoiceStatus.PAID)
# With the payer, who may owe some of it still: the receivables the ageing counts.
WITH_THE_PAYER = (InvoiceStatus.FORWARDED, InvoiceStatus.OPEN)
# A credit note's own statuses (no receivable's: the staff's search lists none of them).
CREDIT_NOTE_STATUSES = (
    InvoiceStatus.CREDIT_UNSENT,
    InvoiceStatus.CREDIT_SENDING,
    InvoiceStatus.CREDIT_SENT,
)
# What a forwarded invoice can still be credited from (it is never edited or deleted).
CREDITABLE = (InvoiceStatus.FORWARDED, InvoiceStatus.OPEN, InvoiceStatus.PAID)
# Credits owed back to the payer (the invoice was paid already) that staff have not yet
# returned: a partial index holds just these credit notes.
OWED_BACK = "refund_due > 0 AND refund_returned_at IS NULL"
# Invoices whose user is owed an amount the payout batches have not yet paid (or owes one
# back, after a credit of what was paid out): a partial index holds just these.
PAYOUT_PENDING = "payout_due <> 0"


class EventKind(enum.StrEnum):
    CREATED = "created"
    SUBMITTED = "submitted"  # Lähetä (again, after a correction)
    CORRECTION = "correction"  # staff's question; the invoice goes back to the user
    FORWARD_FAILED = "forward_failed"
    FORWARDED = "forwarded"
    FINALISED = "finalised"  # Viimeistele: the user is told, open receivables
    PAYMENT = "payment"
    PAID = "paid"
    REMINDER = "reminder"  # Maksumuistutus sent to the payer
    CREDITED = "credited"  # a credit note of the invoice issued (its text: the number)
    REFUND_RETURNED = "refund_returned"  # what the credit owed back, returned by staff


class SalesInvoice(db.Model):
    """Lasku: one invoice of a user of the invoicing service."""

    __tablename__ = "sales_invoice"
    __table_args__ = (
        # Every list walks one of these in its own order and stops after a page (see
        # paging.py); the id last makes the order total, as keyset pages need.
        # The desk's queue in order of arrival, and its counters (the 15:00 promise).
        partial_index(
            "ix_sales_invoice_desk", "sent_at", "id", where=sql_list("status", ON_THE_DESK)
        ),
        # Forwarded, waiting for Viimeistele.
        partial_index(
            "ix_sales_invoice_forwarded",
            "forwarded_at",
            "id",
            where=sql_list("status", AWAITING_FINALISING),
        ),
        # Open receivables by due date; the corrections the desk counts. No index leads
        # with the status: SQLite, without statistics, would take it for any status
        # condition and sort every match.
        partial_index(
            "ix_sales_invoice_open", "due_date", "id", where=sql_list("status", RECEIVABLE_OPEN)
        ),
        partial_index("ix_sales_invoice_correction", "id", where=sql_list("status", IN_CORRECTION)),
        # The receivables' ageing, of every user or of one (services.invoicing.ageing).
        partial_index(
            "ix_sales_invoice_with_payer",
            "user_id",
            "due_date",
            where=sql_list("status", WITH_THE_PAYER),
        ),
        # A payer's other invoices, to pay several in one online payment (not partial: it
        # would compete with the ageing's index for the same rows).
        sa.Index("ix_sales_invoice_payer_email", "payer_email", "id"),
        sa.Index("ix_sales_invoice_user_created", "user_id", "created_at", "id"),
        sa.Index("ix_sales_invoice_user_number", "user_number", "id"),
        sa.Index("ix_sales_invoice_payer_search", "payer_search", "id"),
        sa.Index("ix_sales_invoice_invoice_date", "invoice_date", "id"),
        # The dashboards' days, by when invoices were sent: on an expression, so that the
        # desk's queue, ordered by sent_at, keeps its own partial index (see ix_enrolment_made).
        sa.Index("ix_sales_invoice_sent_day", sa.text("coalesce(sent_at, forwarded_at)")),
        # The automatic reminders' job: the invoices whose next reminder is due.
        partial_index(
            "ix_sales_invoice_reminder_due",
            "next_reminder_on",
            "id",
            where="next_reminder_on IS NOT NULL",
        ),
        sa.CheckConstraint("gross >= 0", name="gross_not_negative"),
        # A credit note's amounts are kept as the credited lines' (positive); what it
        # takes off its invoice is `credited` there.
        sa.CheckConstraint("credited >= 0", name="credited_not_negative"),
        sa.CheckConstraint("refund_due >= 0", name="refund_due_not_negative"),
        partial_index("ix_sales_invoice_owed_back", "id", where=OWED_BACK),
        # What the next payout batch pays the users: the invoices with an amount owed to
        # their user (or owed back, after a credit), by user.
        partial_index("ix_sales_invoice_payout_due", "user_id", "id", where=PAYOUT_PENDING),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="RESTRICT"))
    # The user's invoicing number when the invoice was numbered (kept should it change).
    user_number: Mapped[str] = mapped_column(sa.String(6))
    # Set when first sent (Lähetä): user number + running number, and its reference.
    number: Mapped[str | None] = mapped_column(searchable(19), unique=True)
    reference: Mapped[str | None] = mapped_column(searchable(20), unique=True)
    status: Mapped[InvoiceStatus] = mapped_column(
        value_enum(InvoiceStatus), default=InvoiceStatus.DRAFT
    )
    delivery_method: Mapped[DeliveryMethod] = mapped_column(
        value_enum(DeliveryMethod), default=DeliveryMethod.EMAIL
    )

    payer_name: Mapped[str] = mapped_column(sa.String(70), default="")
    payer_business_id: Mapped[str] = mapped_column(sa.String(20), default="")
    payer_street: Mapped[str] = mapped_column(sa.String(35), default="")
    payer_postcode: Mapped[str] = mapped_column(sa.String(10), default="")
    payer_city: Mapped[str] = mapped_column(sa.String(35), default="")
    payer_country: Mapped[str] = mapped_column(sa.String(2), default="FI")
    payer_email: Mapped[str] = mapped_column(sa.String(254), default="")
    payer_einvoice_address: Mapped[str] = mapped_column(sa.String(35), default="")
    payer_operator: Mapped[str] = mapped_column(sa.String(35), default="")
    # Lower-cased payer name for the staff's search.
    payer_search: Mapped[str] = mapped_column(searchable(70), default="")

    invoice_date: Mapped[date] = mapped_column(sa.Date)
    payment_days: Mapped[int] = mapped_column(default=14)
    due_date: Mapped[date] = mapped_column(sa.Date)
    free_text: Mapped[str] = mapped_column(sa.Text, default="")
    currency: Mapped[str] = mapped_column(sa.String(3), default="EUR")
    net: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    vat: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    gross: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    paid_amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    # What the payment reminders added to the receivable: late-payment interest and fees.
    charges: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    reminder_count: Mapped[int] = mapped_column(default=0)
    # When the automatic reminders' job sends the next one; None: not by the job.
    next_reminder_on: Mapped[date | None] = mapped_column(sa.Date)
    # An invoice or a credit note; a credit note names the invoice it credits.
    kind: Mapped[InvoiceKind] = mapped_column(value_enum(InvoiceKind), default=InvoiceKind.INVOICE)
    credit_of_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_invoice.id", ondelete="RESTRICT"), index=True
    )
    # On an invoice: what its credit notes took off it.
    credited: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    # On a credit note: the part of it that the payer had paid already, owed back to them,
    # and when and how staff returned it.
    refund_due: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    refund_returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refund_note: Mapped[str] = mapped_column(sa.String(200), default="")
    # The payout to the user (tilitys, services.invoicing.payouts). The service's fee in
    # percent, fixed when the invoice is first sent; what the payout batches have paid of
    # it so far (the payer's money they were based on, the fee kept and the user's part,
    # after the fee); what the next batch owes the user; and how many batches paid it.
    fee_percent: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))
    payout_base: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    payout_fee: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    paid_out: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    payout_due: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    payout_count: Mapped[int] = mapped_column(default=0)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The last Lähetä: the 15:00 promise counts from it.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the print service, the operator or the outbox answered: a job or message id.
    forward_receipt: Mapped[str] = mapped_column(sa.String(100), default="")
    finalised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last forwarding failure, shown to staff until a forwarding succeeds.
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    # The staff's question while the invoice is Korjattava.
    question: Mapped[str] = mapped_column(sa.Text, default="")
    round: Mapped[int] = mapped_column(default=0)  # how many times it has been sent
    # The new-invoice form's one-time key: a double click saves one invoice, not two.
    form_key: Mapped[str | None] = mapped_column(sa.String(32), unique=True)

    user = relationship("User")
    credit_of: Mapped[SalesInvoice | None] = relationship(
        remote_side="SalesInvoice.id", back_populates="credit_notes"
    )
    credit_notes: Mapped[list[SalesInvoice]] = relationship(
        back_populates="credit_of", order_by="SalesInvoice.id"
    )
    lines: Mapped[list[SalesInvoiceLine]] = relationship(
        back_populates="invoice",
        order_by="SalesInvoiceLine.position",
        cascade="all, delete-orphan",
    )
    events: Mapped[list[SalesInvoiceEvent]] = relationship(
        back_populates="invoice",
        order_by="SalesInvoiceEvent.id",
        cascade="all, delete-orphan",
    )
    payments: Mapped[list[SalesInvoicePayment]] = relationship(
        back_populates="invoice",
        order_by="SalesInvoicePayment.id",
        cascade="all, delete-orphan",
    )

    reminders: Mapped[list[SalesInvoiceReminder]] = relationship(
        back_populates="invoice",
        order_by="SalesInvoiceReminder.number",
        cascade="all, delete-orphan",
    )

    @property
    def outstanding(self) -> Decimal:
        """What the payer still owes: the invoice and its reminders' charges, less its
        credits and its payments (a credit note: nothing to pay)."""
        if self.kind == InvoiceKind.CREDIT_NOTE:
            return Decimal("0.00")
        return max(
            self.gross + self.charges - (self.credited or 0) - self.paid_amount, Decimal("0.00")
        )

    @property
    def principal_outstanding(self) -> Decimal:
        """What is still unpaid of the invoice itself (the base of late-payment interest)."""
        return max(self.gross - (self.credited or 0) - self.paid_amount, Decimal("0.00"))

    @property
    def is_credit_note(self) -> bool:
        return self.kind == InvoiceKind.CREDIT_NOTE

    def __repr__(self) -> str:
        return f"<SalesInvoice {self.number or self.id}>"


def outstanding_sql() -> sa.ColumnElement:
    """What the payer still owes, in SQL, as `SalesInvoice.outstanding` computes it (not
    floored at 0): the one place a query writes it."""
    return (
        SalesInvoice.gross + SalesInvoice.charges - SalesInvoice.credited - SalesInvoice.paid_amount
    )


class SalesInvoiceLine(db.Model):
    __tablename__ = "sales_invoice_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_invoice.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    description: Mapped[str] = mapped_column(sa.String(200))
    quantity: Mapped[Decimal] = mapped_column(sa.Numeric(12, 3))
    unit: Mapped[str] = mapped_column(sa.String(10), default="kpl")
    unit_price: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))  # VAT excluded
    vat_percent: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2))
    # On a credit note: the invoice's line it credits (never more than is uncredited).
    credit_of_line_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_invoice_line.id", ondelete="RESTRICT"), index=True
    )

    invoice: Mapped[SalesInvoice] = relationship(back_populates="lines")

    @property
    def net(self) -> Decimal:
        """The line's sum without VAT, to the cent (half up), as on the invoice."""
        from services.vat import Line

        return Line(Decimal(self.quantity), Decimal(self.unit_price), Decimal(self.vat_percent)).net


class SalesInvoiceEvent(db.Model):
    """The invoice's history: each sending, question, forwarding and payment."""

    __tablename__ = "sales_invoice_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_invoice.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[EventKind] = mapped_column(value_enum(EventKind))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    round: Mapped[int] = mapped_column(default=0)
    text: Mapped[str] = mapped_column(sa.Text, default="")

    invoice: Mapped[SalesInvoice] = relationship(back_populates="events")
    actor = relationship("User")


class SalesInvoicePayment(db.Model):
    """A payment received for an invoice (a part of it, or all)."""

    __tablename__ = "sales_invoice_payment"
    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_invoice.id", ondelete="CASCADE"), index=True
    )
    paid_on: Mapped[date] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    source: Mapped[str] = mapped_column(sa.String(20), default="manual")  # manual | online | bank
    recorded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    invoice: Mapped[SalesInvoice] = relationship(back_populates="payments")
    recorded_by = relationship("User")


class SalesInvoiceReminder(db.Model):
    """Maksumuistutus: a reminder of an overdue invoice, sent by the invoice's delivery
    method, with the open balance, the late-payment interest and the fee it adds."""

    __tablename__ = "sales_invoice_reminder"
    __table_args__ = (
        sa.UniqueConstraint("invoice_id", "number", name="uq_sales_invoice_reminder_number"),
        sa.CheckConstraint("fee >= 0 AND interest >= 0", name="charges_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sales_invoice.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column()  # the invoice's 1st, 2nd, … reminder
    sent_on: Mapped[date] = mapped_column(sa.Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    automatic: Mapped[bool] = mapped_column(default=False)
    delivery_method: Mapped[DeliveryMethod] = mapped_column(value_enum(DeliveryMethod))
    balance: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))  # open before this reminder
    interest: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))  # accrued since the last one
    interest_rates: Mapped[str] = mapped_column(sa.String(40), default="")  # "10.5;9.5"
    fee: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    total: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))  # to pay by the new due date
    due_date: Mapped[date] = mapped_column(sa.Date)
    receipt: Mapped[str] = mapped_column(sa.String(100), default="")

    invoice: Mapped[SalesInvoice] = relationship(back_populates="reminders")
    sent_by = relationship("User")


class BankPaymentState(enum.StrEnum):
    """Where an incoming bank payment stands."""

    MATCHED = "matched"  # booked on the invoice its reference names
    UNMATCHED = "unmatched"  # waits for staff: to allocate by hand or to return
    ALLOCATED = "allocated"  # booked by staff on the invoice they chose
    RETURNED = "returned"  # staff send it back to the payer (outside the portal)


# The payments staff must act on: unmatched, or overpaid and not yet returned (a partial
# index holds just these rows, so the queue never reads the booked ones).
TO_CHECK = "state = 'unmatched' OR (overpaid > 0 AND handled_at IS NULL)"


class BankFile(db.Model):
    """A bank report imported (camt.054 or camt.053): who brought it, and what it held."""

    __tablename__ = "bank_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10))  # camt.054 | camt.053
    message_id: Mapped[str] = mapped_column(sa.String(35))  # GrpHdr/MsgId
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    account: Mapped[str] = mapped_column(sa.String(34), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    imported_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL")
    )
    credits: Mapped[int] = mapped_column(default=0)  # incoming payments in the file
    booked: Mapped[int] = mapped_column(default=0)  # new ones, matched by their reference
    unmatched: Mapped[int] = mapped_column(default=0)  # new ones, left to staff
    repeated: Mapped[int] = mapped_column(default=0)  # imported before: nothing booked

    imported_by = relationship("User")


class BankPayment(db.Model):
    """An incoming payment from the bank's report, unique by the bank's own reference."""

    __tablename__ = "bank_payment"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        partial_index("ix_bank_payment_to_check", "id", where=TO_CHECK),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_reference: Mapped[str] = mapped_column(sa.String(35), unique=True)  # AcctSvcrRef
    file_id: Mapped[int] = mapped_column(
        sa.ForeignKey("bank_file.id", ondelete="RESTRICT"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    currency: Mapped[str] = mapped_column(sa.String(3))
    booked_on: Mapped[date] = mapped_column(sa.Date)
    reference: Mapped[str] = mapped_column(sa.String(35), default="")  # as the payer gave it
    payer_name: Mapped[str] = mapped_column(sa.String(140), default="")
    state: Mapped[BankPaymentState] = mapped_column(value_enum(BankPaymentState))
    reason: Mapped[str] = mapped_column(sa.String(30), default="")  # why it is unmatched
    invoice_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sales_invoice.id", ondelete="RESTRICT"), index=True
    )
    overpaid: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0.00"))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(sa.String(200), default="")

    file: Mapped[BankFile] = relationship()
    invoice: Mapped[SalesInvoice | None] = relationship()
    handled_by = relationship("User")


class PayoutBatch(db.Model):
    """Tilitysajo: one payout batch run by staff, closed as it is made. Its payouts and
    lines never change after, and its SEPA credit transfer file (pain.001) is kept as
    made, so that every download is the same file for the bank."""

    __tablename__ = "payout_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(20), unique=True)  # TIL-2026-000001
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    execution_date: Mapped[date] = mapped_column(sa.Date)  # the bank pays on this day
    payouts_count: Mapped[int] = mapped_column(default=0)
    total: Mapped[Decimal] = mapped_column(sa.Numeric(14, 2), default=Decimal("0.00"))
    fees: Mapped[Decimal] = mapped_column(sa.Numeric(14, 2), default=Decimal("0.00"))
    pain001: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    # The run form's one-time key: a double click makes one batch, not two.
    form_key: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    downloaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by = relationship("User")


class Payout(db.Model):
    """Tilitys: what one batch pays one user, to the account the user gave."""

    __tablename__ = "payout"
    __table_args__ = (
        sa.UniqueConstraint("batch_id", "user_id", name="uq_payout_batch_user"),
        sa.Index("ix_payout_user", "user_id", "id"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("payout_batch.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="RESTRICT"))
    iban: Mapped[str] = mapped_column(sa.String(34))
    account_name: Mapped[str] = mapped_column(sa.String(70))
    base: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))  # the payers' money
    fee: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))  # the service's fee
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))  # paid to the user
    end_to_end_id: Mapped[str] = mapped_column(sa.String(35))  # in the pain.001

    batch: Mapped[PayoutBatch] = relationship()
    user = relationship("User")


class PayoutLine(db.Model):
    """One invoice's part of a payout: what came in for it since the last batch, the fee
    and the user's part (negative when a credit took back what was paid out before)."""

    __tablename__ = "payout_line"
    __table_args__ = (
        # An invoice's n-th payout, once: two batches at once cannot both pay it.
        sa.UniqueConstraint("invoice_id", "sequence", name="uq_payout_line_invoice_sequence"),
        sa.Index("ix_payout_line_payout", "payout_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payout_id: Mapped[int] = mapped_column(sa.ForeignKey("payout.id", ondelete="RESTRICT"))
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("sales_invoice.id", ondelete="RESTRICT"))
    sequence: Mapped[int] = mapped_column()
    base: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    fee: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))

    payout: Mapped[Payout] = relationship()
    invoice: Mapped[SalesInvoice] = relationship()


class ClosedBatchError(Exception):
    """An attempt to change what a closed payout batch paid."""


@sa.event.listens_for(PayoutBatch, "before_update")
@sa.event.listens_for(Payout, "before_update")
@sa.event.listens_for(PayoutLine, "before_update")
def _unchanged(mapper, connection, target) -> None:
    """A closed batch's payouts and lines never change (but for the file's download time);
    only the run that makes the batch fills it in (`making` set on its objects)."""
    if getattr(target, "making", False):
        return
    state = sa.inspect(target)
    if any(a.history.has_changes() for a in state.attrs if a.key != "downloaded_at"):
        raise ClosedBatchError(f"{type(target).__name__} {target.id} is of a closed batch")


@sa.event.listens_for(PayoutBatch, "before_delete")
@sa.event.listens_for(Payout, "before_delete")
@sa.event.listens_for(PayoutLine, "before_delete")
def _kept(mapper, connection, target) -> None:
    """A closed batch's payouts and lines are never deleted."""
    raise ClosedBatchError(f"{type(target).__name__} {target.id} is of a closed batch")
