"""The company customer portal (Kundeportal): orders, employees, invoices and bookings."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.types import UTCDateTime, partial_index, utcnow, value_enum
from services import kid

# Unpaid: outstanding above this, written into the SQL as the partial index states it.
UNPAID_MINIMUM = "0"


class OrderStatus(enum.StrEnum):
    """Ordrestatus, from the order's arrival to its delivery."""

    RECEIVED = "mottatt"
    IN_PROGRESS = "behandles"
    PLANNED = "planlagt"
    DELIVERED = "levert"
    CANCELLED = "avbestilt"


class ProductGroup(db.Model):
    """Produktgruppe: what kind of service an order is (set by staff)."""

    __tablename__ = "product_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    position: Mapped[int] = mapped_column(default=0)


class PortalOrder(db.Model):
    """Bestilling: an order a company sends through the portal."""

    __tablename__ = "portal_order"
    __table_args__ = (
        sa.Index("ix_portal_order_organisation", "organisation_id", "ordered_at", "id"),
        sa.Index("ix_portal_order_organisation_number", "organisation_id", "number"),
        sa.Index("ix_portal_order_ordered", "ordered_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)  # Bestillingsnummer, e.g. 307390
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT")
    )
    department_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("department.id", ondelete="RESTRICT"), index=True
    )
    product_group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("product_group.id", ondelete="SET NULL")
    )
    status: Mapped[OrderStatus] = mapped_column(
        value_enum(OrderStatus), default=OrderStatus.RECEIVED
    )
    desired_delivery: Mapped[str] = mapped_column(sa.String(200))  # Ønsket leveranse
    quantity: Mapped[str] = mapped_column(sa.String(100))  # Antall/omfang
    contact: Mapped[str] = mapped_column(sa.String(200))  # Navn og tlf nr til kontaktperson
    invoice_reference: Mapped[str] = mapped_column(sa.String(100))  # Faktura merkes med
    location: Mapped[str] = mapped_column(sa.String(200))  # Sted/lokasjon for leveranse
    description: Mapped[str] = mapped_column(sa.Text, default="")  # Bestillingsbeskrivelse
    ordered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation = relationship("Organisation")
    department = relationship("Department")
    product_group: Mapped[ProductGroup | None] = relationship()
    ordered_by = relationship("User")
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan"
    )
    bookings: Mapped[list[Booking]] = relationship(back_populates="order", order_by="Booking.id")


class OrderEvent(db.Model):
    """A change of an order's status: when, by whom, from what to what."""

    __tablename__ = "portal_order_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        sa.ForeignKey("portal_order.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(254))
    from_status: Mapped[OrderStatus | None] = mapped_column(value_enum(OrderStatus))
    to_status: Mapped[OrderStatus] = mapped_column(value_enum(OrderStatus))

    order: Mapped[PortalOrder] = relationship(back_populates="events")


class Gender(enum.StrEnum):
    MALE = "mann"
    FEMALE = "kvinne"
    OTHER = "annet"


class Employee(db.Model):
    """Ansatt: an employee of a customer company, as the service provider knows them."""

    __tablename__ = "employee"
    __table_args__ = (
        sa.Index("ix_employee_organisation", "organisation_id", "last_name", "first_name", "id"),
        # One person once per company: found by a keyed digest, never by the number itself.
        sa.UniqueConstraint("organisation_id", "national_id_digest"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT")
    )
    department_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("department.id", ondelete="RESTRICT"), index=True
    )
    first_name: Mapped[str] = mapped_column(sa.String(100))
    last_name: Mapped[str] = mapped_column(sa.String(100))
    email: Mapped[str] = mapped_column(sa.String(254))
    mobile: Mapped[str | None] = mapped_column(sa.String(30))
    birth_date: Mapped[date | None] = mapped_column(sa.Date)
    gender: Mapped[Gender | None] = mapped_column(value_enum(Gender))
    # Fødselsnummer: encrypted with the configured key; shown only as the mask
    # (120523*****); the digest (an HMAC) finds duplicates without decrypting.
    national_id_encrypted: Mapped[str | None] = mapped_column(sa.Text)
    national_id_masked: Mapped[str | None] = mapped_column(sa.String(11))
    national_id_digest: Mapped[str | None] = mapped_column(sa.String(64))
    active: Mapped[bool] = mapped_column(default=True)
    deactivated_on: Mapped[date | None] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation = relationship("Organisation")
    department = relationship("Department")

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class EmployeeEvent(db.Model):
    """A change to an employee, for the CRM integration's feed (its id is the cursor).

    It names the fields that changed, never their values: the feed's reader fetches the
    employee as it is now, and the identity number is never in it.
    """

    __tablename__ = "employee_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(
        sa.ForeignKey("employee.id", ondelete="CASCADE"), index=True
    )
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(sa.String(20))  # created|changed|deactivated|reactivated
    fields: Mapped[list] = mapped_column(sa.JSON, default=list)
    actor: Mapped[str] = mapped_column(sa.String(254))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    employee: Mapped[Employee] = relationship()


def _invoice_kid(context) -> str | None:
    """The KID of the invoice being inserted: a column default, so that rows inserted in
    bulk get theirs too, not only those added one by one."""
    number = context.get_current_parameters().get("number")
    return kid.for_invoice(number) if number else None


class CustomerInvoice(db.Model):
    """Faktura: an invoice of the service provider to the company (or one department).

    Its status is not stored: Betalt when nothing is outstanding, Forfalt when something
    is and the due date has passed, Ubetalt otherwise (see services.portal).
    """

    __tablename__ = "customer_invoice"
    __table_args__ = (
        sa.Index("ix_customer_invoice_organisation", "organisation_id", "invoice_date", "id"),
        sa.Index("ix_customer_invoice_due", "due_date", "id"),
        # Ubetalt, the list's default, in its own order; and counted on the Info tab.
        partial_index(
            "ix_customer_invoice_unpaid",
            "organisation_id",
            "invoice_date",
            "id",
            where=f"outstanding > {UNPAID_MINIMUM}",
        ),
        # A KID names one invoice: the bank's payment report and the look-ups find it.
        sa.Index("ix_customer_invoice_reference", "reference", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(30), unique=True)  # 2017-118350
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT")
    )
    department_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("department.id", ondelete="RESTRICT"), index=True
    )
    order_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("portal_order.id", ondelete="SET NULL")
    )
    payer: Mapped[str] = mapped_column(sa.String(200))  # Betaler
    invoice_date: Mapped[date] = mapped_column(sa.Date)
    due_date: Mapped[date] = mapped_column(sa.Date)
    currency: Mapped[str] = mapped_column(sa.String(3), default="NOK")
    total: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    outstanding: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))  # Utestående
    # The lines as printed: [{"description", "quantity", "unit_price", "vat_rate"}], as text.
    lines: Mapped[list] = mapped_column(sa.JSON, default=list)
    # KID, made of the number when the row is inserted (services.portal_kid); one given
    # with the row (an imported invoice's own) is kept.
    reference: Mapped[str | None] = mapped_column(sa.String(30), default=_invoice_kid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation = relationship("Organisation")
    department = relationship("Department")


class Booking(db.Model):
    """Timeavtale: e.g. a Helsekontroll for a company, with time slots to fill."""

    __tablename__ = "booking"
    __table_args__ = (
        sa.Index("ix_booking_deadline", "deadline", "id"),
        sa.Index("ix_booking_organisation_deadline", "organisation_id", "deadline", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    order_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("portal_order.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    place: Mapped[str] = mapped_column(sa.String(200))
    what_to_bring: Mapped[str] = mapped_column(sa.Text, default="")
    # Until when the customer may place employees and take them off.
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation = relationship("Organisation")
    order: Mapped[PortalOrder | None] = relationship(back_populates="bookings")
    slots: Mapped[list[BookingSlot]] = relationship(
        back_populates="booking",
        order_by="(BookingSlot.starts_at, BookingSlot.id)",
        cascade="all, delete-orphan",
    )


class BookingSlot(db.Model):
    """A time of a booking with room for `capacity` employees."""

    __tablename__ = "booking_slot"
    __table_args__ = (
        sa.CheckConstraint("taken >= 0 AND taken <= capacity", name="taken_within_capacity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        sa.ForeignKey("booking.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column()
    # Kept with conditional updates (like course seats): the count of placed employees.
    taken: Mapped[int] = mapped_column(default=0)

    booking: Mapped[Booking] = relationship(back_populates="slots")
    placements: Mapped[list[Placement]] = relationship(
        back_populates="slot", order_by="Placement.id"
    )

    @property
    def free(self) -> int:
        return max(self.capacity - self.taken, 0)


class Placement(db.Model):
    """An employee placed into a slot, and their self-declaration (egenerklæring)."""

    __tablename__ = "booking_placement"
    __table_args__ = (
        # An employee once per booking while placed.
        sa.Index(
            "uq_placement_active",
            "booking_id",
            "employee_id",
            unique=True,
            sqlite_where=sa.text("removed_at IS NULL"),
            postgresql_where=sa.text("removed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id", ondelete="CASCADE"))
    slot_id: Mapped[int] = mapped_column(
        sa.ForeignKey("booking_slot.id", ondelete="CASCADE"), index=True
    )
    employee_id: Mapped[int] = mapped_column(
        sa.ForeignKey("employee.id", ondelete="CASCADE"), index=True
    )
    placed_by: Mapped[str] = mapped_column(sa.String(254))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The self-declaration link's secret, as a SHA-256 hash; the answers once given.
    declaration_token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    declaration: Mapped[dict | None] = mapped_column(sa.JSON)
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attended: Mapped[bool | None] = mapped_column()

    slot: Mapped[BookingSlot] = relationship(back_populates="placements")
    employee: Mapped[Employee] = relationship()
