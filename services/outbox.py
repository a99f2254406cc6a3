"""The mail outbox: queue in the caller's transaction, deliver after commit, retry."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel.speaklater import LazyString
from flask_mail import Message
from markupsafe import Markup

from extensions import db, mail
from models.mail import MailStatus, OutboxAttachment, OutboxMessage
from models.types import utcnow
from services.timezones import shown_in_zone

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
    timezone: str | None = None,
    render_in_worker: bool = False,
) -> OutboxMessage:
    """Render mail/<template>.{subject.txt,txt,html} in the language and add it to the session.

    The caller commits: the message is saved in the same transaction as what it confirms.
    With `render_in_worker`, only the subject is rendered now (the outbox and the record's
    page show it); the mail worker writes the bodies from the context, which must then be
    plain data (`dump_context`) holding nothing the mail does not show.
    """
    context = {"base_url": current_app.config["BASE_URL"], **(context or {})}
    stored = None
    with force_locale(language), shown_in_zone(timezone):
        if render_in_worker:
            stored = dump_context(context)  # lazy texts translated here, in the language
            context = load_context(stored)  # what the worker will have
        subject = render_template(f"mail/{template}.subject.txt", **context)
        body_text, body_html = ("", None) if stored else _bodies(template, context)
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
        context=stored,
        language=language,
        timezone=timezone,
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


def _bodies(template: str, context: dict) -> tuple[str, str]:
    return (
        render_template(f"mail/{template}.txt", **context),
        render_template(f"mail/{template}.html", **context),
    )


def bodies(message: OutboxMessage) -> tuple[str, str | None]:
    """The message's text and HTML: as stored, or written now from its stored context
    (in its language and time zone) when the worker has not written them yet."""
    if message.context is None:
        return message.body_text, message.body_html
    with force_locale(message.language), shown_in_zone(message.timezone):
        return _bodies(message.template, load_context(message.context))


# --- Plain data for the worker -------------------------------------------------------

_TAGS = {
    "$datetime": (datetime, datetime.fromisoformat),
    "$date": (date, date.fromisoformat),
    "$decimal": (Decimal, Decimal),
}


def dump_context(value: Any) -> Any:
    """A mail's context as JSON: text, numbers, truth values, lists and dicts, with
    datetimes, dates and Decimals tagged; a lazily translated text is translated now.
    Anything else (a database record) is refused: the worker gets values, not rows."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Markup):
        raise TypeError("mail context: markup would be escaped when rendered again")
    if isinstance(value, str):
        return str(value)  # an enum of text by its value
    if isinstance(value, LazyString):
        return str(value)
    for tag, (kind, _) in _TAGS.items():
        if isinstance(value, kind):  # datetime before date: a datetime is a date
            return {tag: value.isoformat() if kind is not Decimal else str(value)}
    if isinstance(value, (list, tuple)):
        return [dump_context(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: dump_context(item) for key, item in value.items()}
    raise TypeError(f"mail context: a {type(value).__name__} is not plain data")


def load_context(value: Any) -> Any:
    """The context `dump_context` stored, with its datetimes, dates and Decimals."""
    if isinstance(value, list):
        return [load_context(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1:
            [(key, item)] = value.items()
            if key in _TAGS:
                return _TAGS[key][1](item)
        return {key: load_context(item) for key, item in value.items()}
    return value


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


def retry(message_id: int) -> bool:
    """Put a failed (or waiting) message back in the queue with fresh attempts.

    A message that a worker is sending right now, or that went out, is left alone.
    """
    table = OutboxMessage.__table__
    result = db.session.execute(
        sa.update(table)
        .where(
            table.c.id == message_id,
            table.c.status.in_([MailStatus.QUEUED.value, MailStatus.FAILED.value]),
        )
        .values(
            status=MailStatus.QUEUED.value, attempts=0, next_attempt_at=utcnow(), locked_until=None
        )
    )
    return result.rowcount == 1


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


def _claim(message_id: int, now: datetime, count_attempt: bool) -> datetime | None:
    """Take one due message for this worker; return the lease, or None if another has it.

    The attempt is counted in the same commit, so a message that crashes the worker
    still runs out of attempts.
    """
    table = OutboxMessage.__table__
    lease = max(now, utcnow()) + LEASE  # from the real clock: a long batch must not
    values: dict = {"status": MailStatus.SENDING.value, "locked_until": lease}  # start stale
    if count_attempt:
        values["attempts"] = table.c.attempts + 1
    result = db.session.execute(
        sa.update(table).where(table.c.id == message_id, _due(now)).values(**values)
    )
    db.session.commit()
    return lease if result.rowcount == 1 else None


def _finish(message_id: int, lease: datetime, status: MailStatus, **values) -> None:
    """Record the outcome, only if this worker still holds the message's lease."""
    table = OutboxMessage.__table__
    result = db.session.execute(
        sa.update(table)
        .where(
            table.c.id == message_id,
            table.c.status == MailStatus.SENDING.value,
            table.c.locked_until == lease,
        )
        .values(status=status.value, locked_until=None, **values)
    )
    db.session.commit()
    if result.rowcount != 1:
        log.warning("mail %s: the lease ran out while sending; it may go out twice", message_id)


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
                lease = _claim(message_id, now, count_attempt=not capture)
                if lease is None:
                    continue
                message = db.session.get(OutboxMessage, message_id)
                if message.attempts > config["MAIL_MAX_ATTEMPTS"]:
                    # Claimed again and again by workers that died while sending it.
                    error = "a worker stopped while sending this message, too many times"
                    _finish(message_id, lease, MailStatus.FAILED, last_error=error)
                    report.failed += 1
                    continue
                if message.context is not None:
                    outcome = _write_bodies(message, lease, now, config, count_attempt=capture)
                    if outcome is not None:
                        report.failed += outcome == MailStatus.FAILED
                        report.retrying += outcome == MailStatus.QUEUED
                        continue
                if capture:
                    _finish(message_id, lease, MailStatus.CAPTURED)
                    report.captured += 1
                    continue
                try:
                    if connection is None:
                        connection = mail.connect().__enter__()
                    connection.send(_to_flask_mail(message))
                except Exception as exc:  # any SMTP or socket failure
                    _close(connection)
                    connection = None
                    if _record_failure(message, lease, exc, now, config) == MailStatus.FAILED:
                        report.failed += 1
                    else:
                        report.retrying += 1
                else:
                    _finish(message_id, lease, MailStatus.SENT, sent_at=utcnow(), last_error=None)
                    report.sent += 1
        finally:
            _close(connection)
    return report


class MailNotWritten(Exception):
    """The bodies of a message could not be written from its context."""


def _write_bodies(
    message: OutboxMessage, lease: datetime, now: datetime, config, count_attempt: bool
) -> MailStatus | None:
    """Write the bodies of a message queued with its context, and forget the context;
    None when done, else what became of the message.

    A message that cannot be written (a template error) fails as a delivery does: tried
    again later, then marked failed, where staff see it with the error.
    """
    table = OutboxMessage.__table__
    try:
        body_text, body_html = bodies(message)
    except Exception as exc:
        log.exception("mail %s: its bodies could not be written", message.id)
        db.session.rollback()
        if count_attempt:  # captured mail counts no attempts of sending
            db.session.execute(
                sa.update(table)
                .where(table.c.id == message.id)
                .values(attempts=table.c.attempts + 1)
            )
            db.session.commit()
        db.session.refresh(message)
        failure = MailNotWritten(f"{type(exc).__name__}: {exc}")
        return _record_failure(message, lease, failure, now, config)
    written = db.session.execute(
        sa.update(table)
        .where(table.c.id == message.id, table.c.locked_until == lease)
        .values(body_text=body_text, body_html=body_html, context=None)
    )
    db.session.commit()
    if written.rowcount != 1:
        log.warning("mail %s: the lease ran out while writing it", message.id)
        return MailStatus.SENDING  # another worker has it now
    db.session.refresh(message)
    return None


def _close(connection) -> None:
    if connection is not None:
        try:
            connection.__exit__(None, None, None)
        except Exception:  # the server may be gone already
            pass


def _record_failure(
    message: OutboxMessage, lease: datetime, exc: Exception, now: datetime, config
) -> MailStatus:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    attempts = message.attempts
    if attempts >= config["MAIL_MAX_ATTEMPTS"]:
        log.error("mail %s failed for good after %s attempts: %s", message.id, attempts, error)
        _finish(message.id, lease, MailStatus.FAILED, last_error=error)
        return MailStatus.FAILED
    log.warning("mail %s attempt %s failed, retrying: %s", message.id, attempts, error)
    retry_at = max(now, utcnow()) + backoff(attempts, config["MAIL_RETRY_BASE_SECONDS"])
    _finish(message.id, lease, MailStatus.QUEUED, last_error=error, next_attempt_at=retry_at)
    return MailStatus.QUEUED


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
