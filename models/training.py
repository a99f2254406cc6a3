"""Courses of the training calendar, enrolments and their status history."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.types import UTCDateTime, utcnow, value_enum


class EnrolmentStatus(enum.StrEnum):
    PRELIMINARY = "alustava"  # through PunchOut, until the order is approved
    BINDING = "sitova"
    CANCELLED = "peruttu"
    WAITING = "jonossa"  # on the waiting list of a full course
    OFFERED = "tarjottu"  # a freed seat is held for this person until the offer expires


# The statuses that hold one of the course's seats.
SEAT_HOLDING = (EnrolmentStatus.PRELIMINARY, EnrolmentStatus.BINDING, EnrolmentStatus.OFFERED)
# The statuses in which the same email cannot enrol on the course again.
ACTIVE = (*SEAT_HOLDING, EnrolmentStatus.WAITING)


class CourseOrganiser(db.Model):
    """An organiser of courses registered with the payment service as a merchant: the
    seller of its courses' fees. A course without one is the training institute's own,
    sold under PAYMENT_COURSE_MERCHANT_ID."""

    __tablename__ = "course_organiser"
    __table_args__ = (sa.Index("ix_course_organiser_name", "name", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    # The merchant ID (kauppiastunnus) the payment service gave it: ITEM_MERCHANT_ID.
    merchant_id: Mapped[str] = mapped_column(sa.String(8), unique=True)
    # The channel's commission class of its lines (ITEM_CP), as agreed with the service.
    commission_class: Mapped[str] = mapped_column(sa.String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<CourseOrganiser {self.merchant_id} {self.name!r}>"


class Course(db.Model):
    """A course of the training calendar."""

    __tablename__ = "course"
    __table_args__ = (
        sa.CheckConstraint("seats_taken >= 0", name="seats_not_negative"),
        sa.Index("ix_course_starts_at", "starts_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    topic: Mapped[str] = mapped_column(sa.String(100), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    remote: Mapped[bool] = mapped_column(default=False)
    price: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal("0.00"))
    capacity: Mapped[int] = mapped_column()
    # Kept by the enrolment service with conditional updates, so two enrolments can
    # never take the last seat twice: the count of enrolments in SEAT_HOLDING statuses.
    seats_taken: Mapped[int] = mapped_column(default=0)
    enrolment_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    cancellation_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    # A course fee paid online is refunded when the participant cancels by this time;
    # after it, it is not. None: always refunded. Cancelled by the organiser: refunded.
    refund_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_open: Mapped[bool] = mapped_column(default=True)
    # When staff cancelled the course: closed for good, every enrolment cancelled.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who sells the course's fee; None: the training institute itself.
    organiser_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("course_organiser.id", ondelete="RESTRICT"), index=True
    )

    enrolments: Mapped[list[Enrolment]] = relationship(
        back_populates="course", order_by="Enrolment.created_at"
    )
    organiser: Mapped[CourseOrganiser | None] = relationship()

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.seats_taken, 0)

    @property
    def is_full(self) -> bool:
        return self.seats_taken >= self.capacity

    def __repr__(self) -> str:
        return f"<Course {self.id} {self.title!r}>"


class Enrolment(db.Model):
    """One participant on one course (no group enrolments), or on its waiting list."""

    __tablename__ = "enrolment"
    __table_args__ = (
        # One active enrolment per email and course; a cancelled one may be made again.
        sa.Index(
            "uq_enrolment_active_email",
            "course_id",
            "email",
            unique=True,
            sqlite_where=sa.text("status IN ('alustava', 'sitova', 'tarjottu', 'jonossa')"),
            postgresql_where=sa.text("status IN ('alustava', 'sitova', 'tarjottu', 'jonossa')"),
        ),
        sa.Index("ix_enrolment_course_status", "course_id", "status", "created_at"),
        sa.Index("ix_enrolment_course_created", "course_id", "created_at", "id"),
        # The dashboards' weeks, by when enrolments were made: an index on an expression
        # equal to created_at, which the lists ordered by created_at itself never take for
        # theirs (on SQLite, without statistics, a plain one would).
        sa.Index("ix_enrolment_made", sa.text("coalesce(created_at, welcome_sent_at)")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("course.id", ondelete="RESTRICT"))
    service_code: Mapped[str] = mapped_column(sa.String(8), unique=True)
    status: Mapped[EnrolmentStatus] = mapped_column(value_enum(EnrolmentStatus))
    source: Mapped[str] = mapped_column(sa.String(20), default="web")  # web | punchout
    first_name: Mapped[str] = mapped_column(sa.String(100))
    last_name: Mapped[str] = mapped_column(sa.String(100))
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    organisation: Mapped[str] = mapped_column(sa.String(200))
    phone: Mapped[str | None] = mapped_column(sa.String(30))
    job_title: Mapped[str | None] = mapped_column(sa.String(200))
    billing_address: Mapped[str | None] = mapped_column(sa.Text)
    einvoice_address: Mapped[str | None] = mapped_column(sa.String(35))
    einvoice_operator: Mapped[str | None] = mapped_column(sa.String(35))
    # laskutusviite; a PunchOut order's number, by which its enrolments are found
    billing_reference: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    # The participant chose to pay the fee online: preliminary until paid, then binding.
    pays_online: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    diet: Mapped[str | None] = mapped_column(sa.String(500))
    accessibility: Mapped[str | None] = mapped_column(sa.String(500))
    message: Mapped[str | None] = mapped_column(sa.Text)
    language: Mapped[str] = mapped_column(sa.String(5), default="fi")
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    welcome_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    course: Mapped[Course] = relationship(back_populates="enrolments")
    events: Mapped[list[EnrolmentEvent]] = relationship(
        back_populates="enrolment", order_by="EnrolmentEvent.id", cascade="all, delete-orphan"
    )

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def __repr__(self) -> str:
        return f"<Enrolment {self.service_code} {self.status}>"


class EnrolmentEvent(db.Model):
    """A change of an enrolment's status: when, by whom, from what to what, and why."""

    __tablename__ = "enrolment_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("enrolment.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(254))
    from_status: Mapped[EnrolmentStatus | None] = mapped_column(value_enum(EnrolmentStatus))
    to_status: Mapped[EnrolmentStatus] = mapped_column(value_enum(EnrolmentStatus))
    note: Mapped[str | None] = mapped_column(sa.String(500))

    enrolment: Mapped[Enrolment] = relationship(back_populates="events")


class CalendarFeedKind(enum.StrEnum):
    """Whose courses a secret calendar feed lists."""

    PARTICIPANT = "participant"  # the confirmed courses of an enrolment's email address
    STAFF = "staff"  # a staff member's courses (all of them: no course names its staff)


class CalendarFeed(db.Model):
    """A secret, revocable address of a calendar to subscribe to. Only the token's
    SHA-256 is kept: the address is shown once, when it is made."""

    __tablename__ = "calendar_feed"
    __table_args__ = (
        sa.CheckConstraint(
            "(kind = 'participant' AND email IS NOT NULL)"
            " OR (kind = 'staff' AND user_id IS NOT NULL)",
            name="owner_of_kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[CalendarFeedKind] = mapped_column(value_enum(CalendarFeedKind))
    email: Mapped[str | None] = mapped_column(sa.String(254), index=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    # The language of the texts the feed adds (calendar apps send no preference).
    language: Mapped[str] = mapped_column(sa.String(5), default="fi")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<CalendarFeed {self.id} {self.kind}>"
