"""The mail outbox: every email is a row written with the thing it confirms."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.types import UTCDateTime, utcnow, value_enum


class MailStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for its (next) attempt
    SENDING = "sending"  # claimed by a worker until locked_until
    SENT = "sent"  # accepted by the SMTP server
    CAPTURED = "captured"  # no MAIL_SERVER: kept for staff to read instead of sent
    FAILED = "failed"  # gave up after MAIL_MAX_ATTEMPTS


class OutboxMessage(db.Model):
    """One email: recipients, rendered bodies, delivery state and what it belongs to."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.Index("ix_outbox_message_due", "status", "next_attempt_at"),
        sa.Index("ix_outbox_message_status_id", "status", "id"),
        sa.Index("ix_outbox_message_record", "record_type", "record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sender: Mapped[str] = mapped_column(sa.String(320))
    recipients: Mapped[list[str]] = mapped_column(sa.JSON)
    reply_to: Mapped[str | None] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(500))
    body_text: Mapped[str] = mapped_column(sa.Text)  # "" until the worker writes it
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    template: Mapped[str] = mapped_column(sa.String(100))
    # A message whose bodies the mail worker writes: what they are written from (plain
    # data, only what the mail shows), in the recipient's language and time zone. The
    # context is removed once the bodies are written.
    context: Mapped[dict | None] = mapped_column(sa.JSON)
    language: Mapped[str | None] = mapped_column(sa.String(5))
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    # Carries a personal link (a password or invitation link, a self-declaration link):
    # staff may not read its body once a real mail server is in use.
    sensitive: Mapped[bool] = mapped_column(default=False)
    # The record the message belongs to, e.g. ("enrolment", "42"), so a failure shows there.
    record_type: Mapped[str | None] = mapped_column(sa.String(50))
    record_id: Mapped[str | None] = mapped_column(sa.String(50))
    status: Mapped[MailStatus] = mapped_column(value_enum(MailStatus), default=MailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    attachments: Mapped[list[OutboxAttachment]] = relationship(
        back_populates="message", cascade="all, delete-orphan", order_by="OutboxAttachment.id"
    )

    __mapper_args__ = {"eager_defaults": True}

    @property
    def message_id_header(self) -> str:
        """A stable Message-ID, so a rare second delivery after a crash can be recognised."""
        return f"<outbox-{self.id}-{int(self.created_at.timestamp())}@portal>"

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.status}>"


class OutboxAttachment(db.Model):
    """A file attached to an outbox message (an invoice PDF, for example)."""

    __tablename__ = "outbox_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        sa.ForeignKey("outbox_message.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)

    message: Mapped[OutboxMessage] = relationship(back_populates="attachments")
