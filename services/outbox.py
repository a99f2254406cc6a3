"""The mail outbox: queue in the caller's transaction, deliver after commit, retry."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_mail import Message

from extensions import db, mail
from models.mail import MailStatus, OutboxAttachment, OutboxMessage
from models.types import utcnow

log = logging.getLogger(__name__)

# How long a worker owns a message it claimed; after that another worker may take it.
LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


def queue_mail(
    template: str,
    recipients: str | Sequence[str],
    *,
    language: str,
    context: dict | None = None,
    record: tuple[str, object] | None = None,
    attachments: Iterable[Attachment] = (),
    sender: str | None = None,
    reply_to: str | None = None,
    sensitive: bool = False,
) -> OutboxMessage:
    """Render mail/<template>.{subject.txt,txt,html} in the language and add it to the session.

    The caller commits: the message is saved in the same transaction as what it confirms.
    """
    context = {"base_url": current_app.config["BASE_URL"], **(context or {})}
    with force_locale(language):
        subject = render_template(f"mail/{template}.subject.txt", **context)
        body_text = render_template(f"mail/{template}.txt", **context)
        body_html = render_template(f"mail/{template}.html", **context)
    if isinstance(recipients, str):
        recipients = [recipients]
    message = OutboxMessage(
        sender=sender or current_app.config["MAIL_DEFAULT_SENDER"],
        recipients=list(recipients),
        reply_to=reply_to,
        subject=" ".join(subject.split()),
        body_text=body_text,
        body_html=body_html,
        template=template,
        sensitive=sensitive,
        record_type=record[0] if record else None,
        record_id=str(record[1]) if record else None,
        status=MailStatus.QUEUED,
        attempts=0,
        next_attempt_at=utcnow(),
        attachments=[
            OutboxAttachment(filename=a.filename, content_type=a.content_type, data=a.data)
            for a in attachments
        ],
    )
    db.session.add(message)
    return message


def failed_mail_for(record_type: str, *record_ids: object) -> list[OutboxMessage]:
    """Return the messages of these records that failed for good, so their page says so."""
    return list(
        db.session.scalars(
            sa.select(OutboxMessage)
            .where(
                OutboxMessage.record_type == record_type,
                OutboxMessage.record_id.in_([str(i) for i in record_ids]),
                OutboxMessage.status == MailStatus.FAILED,
            )
            .order_by(OutboxMessage.id)
        )
    )


def retry(message: OutboxMessage) -> None:
    """Put a failed (or any unsent) message back in the queue with fresh attempts."""
    if message.status in (MailStatus.SENT, MailStatus.CAPTURED):
        return
    message.status = MailStatus.QUEUED
    message.attempts = 0
    message.next_attempt_at = utcnow()
    message.locked_until = None


def backoff(attempts: int, base_seconds: int) -> timedelta:
    """Exponential backoff after the given number of failed attempts."""
    return min(timedelta(seconds=base_seconds * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _due(now: datetime) -> sa.ColumnElement[bool]:
    """Queued and due, or claimed by a worker whose lease ran out (it died)."""
    table = OutboxMessage.__table__
    return sa.or_(
        sa.and_(table.c.status == MailStatus.QUEUED.value, table.c.next_attempt_at <= now),
        sa.and_(table.c.status == MailStatus.SENDING.value, table.c.locked_until < now),
    )


def _claim(message_id: int, now: datetime) -> bool:
    """Take one due message for this worker; True if no other worker has it."""
    table = OutboxMessage.__table__
    result = db.session.execute(
        sa.update(table)
        .where(table.c.id == message_id, _due(now))
        .values(
            status=MailStatus.SENDING.value,
            locked_until=now + LEASE,
        )
    )
    db.session.commit()
    return result.rowcount == 1


def _due_ids(now: datetime, limit: int) -> list[int]:
    table = OutboxMessage.__table__
    return list(
        db.session.scalars(
            sa.select(table.c.id)
            .where(_due(now))
            .order_by(table.c.next_attempt_at, table.c.id)
            .limit(limit)
        )
    )


@contextmanager
def _socket_timeout(seconds: int):
    # Flask-Mail opens smtplib connections without a timeout; a hung server must not
    # hang the worker.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _to_flask_mail(message: OutboxMessage) -> Message:
    msg = Message(
        subject=message.subject,
        recipients=list(message.recipients),
        body=message.body_text,
        html=message.body_html,
        sender=message.sender,
        reply_to=message.reply_to,
    )
    msg.msgId = message.message_id_header
    for att in message.attachments:
        msg.attach(att.filename, att.content_type, att.data)
    return msg


@dataclass
class DeliveryReport:
    sent: int = 0
    captured: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.captured + self.retrying + self.failed


def deliver_due(now: datetime | None = None, limit: int = 100) -> DeliveryReport:
    """Send every message that is due once; failures are rescheduled or given up."""
    config = current_app.config
    report = DeliveryReport()
    now = now or utcnow()
    ids = _due_ids(now, limit)
    if not ids:
        return report
    capture = not config.get("MAIL_SERVER")
    with _socket_timeout(config["MAIL_TIMEOUT"]):
        connection = None
        try:
            for message_id in ids:
                if not _claim(message_id, now):
                    continue
                message = db.session.get(OutboxMessage, message_id)
                if capture:
                    message.status = MailStatus.CAPTURED
                    message.locked_until = None
                    db.session.commit()
                    report.captured += 1
                    continue
                message.attempts += 1
                try:
                    if connection is None:
                        connection = mail.connect().__enter__()
                    connection.send(_to_flask_mail(message))
                except Exception as exc:  # any SMTP or socket failure
                    if connection is not None:
                        try:
                            connection.__exit__(None, None, None)
                        except Exception:
                            pass
                    connection = None
                    _record_failure(message, exc, now, config)
                    if message.status == MailStatus.FAILED:
                        report.failed += 1
                    else:
                        report.retrying += 1
                else:
                    message.status = MailStatus.SENT
                    message.sent_at = utcnow()
                    message.locked_until = None
                    message.last_error = None
                    report.sent += 1
                db.session.commit()
        finally:
            if connection is not None:
                try:
                    connection.__exit__(None, None, None)
                except Exception:
                    pass
    return report


def _record_failure(message: OutboxMessage, exc: Exception, now: datetime, config) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    message.last_error = error
    message.locked_until = None
    if message.attempts >= config["MAIL_MAX_ATTEMPTS"]:
        message.status = MailStatus.FAILED
        log.error(
            "mail %s failed for good after %s attempts: %s", message.id, message.attempts, error
        )
    else:
        message.status = MailStatus.QUEUED
        message.next_attempt_at = now + backoff(message.attempts, config["MAIL_RETRY_BASE_SECONDS"])
        log.warning("mail %s attempt %s failed, retrying: %s", message.id, message.attempts, error)


def run_worker(interval: float, stop_after: float | None = None) -> None:
    """Deliver due mail every `interval` seconds until interrupted (or `stop_after`)."""
    started = time.monotonic()
    while True:
        try:
            report = deliver_due()
            if report.handled:
                log.info("mail worker: %s", report)
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            log.exception("mail worker: database error, will try again")
        finally:
            db.session.remove()
        if stop_after is not None and time.monotonic() - started >= stop_after:
            return
        time.sleep(interval)
