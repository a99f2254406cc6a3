"""The audit log: who read or changed what among the sensitive data. Append-only."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.types import UTCDateTime, utcnow


class AuditAction(enum.StrEnum):
    NATIONAL_ID_CHANGED = "national_id.changed"
    HEALTH_OPENED = "health.opened"
    INVOICE_FORWARDED = "invoice.forwarded"
    INVOICE_REMINDED = "invoice.reminded"
    INVOICE_CREDITED = "invoice.credited"
    CREDIT_REFUND_RETURNED = "invoice.refund_returned"
    PAYMENT_REFUNDED = "payment.refunded"
    PAYMENT_MARKED = "payment.marked"
    PAYOUT_BATCH_RUN = "payout.batch_run"
    PAYOUT_FILE_DOWNLOADED = "payout.file_downloaded"
    PAYOUT_ACCOUNT_CHANGED = "payout.account_changed"
    COURSE_ORGANISER_ADDED = "course_organiser.added"
    COURSE_ORGANISER_CHANGED = "course_organiser.changed"
    ROLE_GRANTED = "role.granted"
    TWO_FACTOR_ENABLED = "two_factor.enabled"
    TWO_FACTOR_DISABLED = "two_factor.disabled"
    TWO_FACTOR_RESET = "two_factor.reset"
    EXPORT_DOWNLOADED = "export.downloaded"  # a list of personal data downloaded


class AuditEvent(db.Model):
    """One event. Its row is never updated or deleted by the application (and on
    PostgreSQL a trigger refuses both); the actor is kept by id and email, without a
    foreign key, so that no change elsewhere ever touches the log."""

    __tablename__ = "audit_event"
    __table_args__ = (
        sa.Index("ix_audit_event_record", "record_type", "record_id", "id"),
        sa.Index("ix_audit_event_actor", "actor_id", "id"),
        sa.Index("ix_audit_event_action", "action", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.Integer)
    actor_email: Mapped[str | None] = mapped_column(sa.String(254))
    action: Mapped[str] = mapped_column(sa.String(40))
    record_type: Mapped[str] = mapped_column(sa.String(40))
    record_id: Mapped[str] = mapped_column(sa.String(64))
    # What happened, in words without personal data ("role: customer -> staff").
    summary: Mapped[str] = mapped_column(sa.String(500), default="")
    address: Mapped[str | None] = mapped_column(sa.String(45))  # the client's IP address

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action} {self.record_type}:{self.record_id}>"
