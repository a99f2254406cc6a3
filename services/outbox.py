"""The mail outbox: queue in the caller's transaction, deliver after commit, retry.

Delivery is at least once: a message is never lost, and in one narrow case sent twice.
A worker claims one message at a time with a lease (MAIL_LEASE_SECONDS, in
`locked_until`) and records what the SMTP server answered. A worker that dies, even by
SIGKILL, leaves its message claimed; another worker takes it once the lease has run out
and sends it again, with the same Message-ID (`OutboxMessage.message_id_header`).

The one way a message can go out twice: the server took it (answered the end of DATA
with 250) and the worker did not record that within its lease. That is the window
between the server's reply and our commit, where the worker may die (SIGKILL, a crash,
the host going down) or the database may not answer; the reply itself may also be lost
on the way (the connection drops after the server took the message; SMTP cannot tell
that from a refusal, so the attempt is recorded as failed and retried). A worker frozen
for longer than its lease (a suspended virtual machine) falls in it too: its late record
is refused (`_finish`) and logged. The window is kept as small as it can be: the record
is written straight after the server's reply, on the database connection the worker
already holds, with nothing in between (Flask-Mail's `Connection.send` emits a signal
and may reconnect there, so smtplib's `sendmail` is called directly), and the lease is
kept well above MAIL_TIMEOUT, which bounds each step of an SMTP transaction (the worker
warns at start when it is not). The second copy carries the first one's Message-ID,
which receiving systems and mail clients use to drop the duplicate.

The worker stops cleanly on SIGTERM or SIGINT (`stop_on_signals`): it takes no new
message, finishes and records the one it is sending, closes the SMTP connection and
returns.
"""

from __future__ import annotations

import importlib
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel.speaklater import LazyString
from flask_mail import BadHeaderError, Message, sanitize_address, sanitize_addresses
from markupsafe import Markup

from extensions import db, mail
from models.mail import MailStatus, OutboxAttachment, OutboxMessage
from models.types import utcnow
from services.timezones import shown_in_zone

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)
# The lease should cover this many MAIL_TIMEOUTs: connecting, greeting, STARTTLS and
# login, MAIL, RCPT, DATA and the server's final reply are each bounded by one.
LEASE_IN_TIMEOUTS = 10


@dataclass(frozen=True)
class Attachment:
    """A file attached to a queued message."""

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
    worker_attachments: str | None = None,
) -> OutboxMessage:
    """Render mail/<template>.{subject.txt,txt,html} in the language and add it to the session.

    The caller commits: the message is saved in the same transaction as what it confirms.
    With `render_in_worker`, only the subject is rendered now (the outbox and the record's
    page show it); the mail worker writes the bodies from the context, which must then be
    plain data (`dump_context`) holding nothing the mail does not show. The worker then
    also makes the files of `worker_attachments` ("module:function", given the message,
    its record named by `record`) and attaches them with the bodies.
    """
    context = {"base_url": current_app.config["BASE_URL"], **(context or {})}
    if worker_attachments:
        if not render_in_worker:
            raise ValueError("attachments are made by the worker of a mail it writes")
        context[WORKER_ATTACHMENTS] = worker_attachments
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


# The context's key naming the maker of the files the worker attaches ("module:function").
WORKER_ATTACHMENTS = "worker_attachments"


def worker_attachments(message: OutboxMessage) -> list[Attachment]:
    """The files the worker makes for a message queued with `worker_attachments`: its
    maker, imported only when a message needs it, given the message."""
    maker = (message.context or {}).get(WORKER_ATTACHMENTS)
    if not maker:
        return []
    module, _, name = maker.partition(":")
    return list(getattr(importlib.import_module(module), name)(message))


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
    # From the real clock: a lease taken late in a long batch must not start stale.
    lease = max(now, utcnow()) + lease_length(current_app.config)
    values: dict = {"status": MailStatus.SENDING.value, "locked_until": lease}
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


def lease_length(config) -> timedelta:
    """How long a worker owns a message it claimed; after that another worker may take it."""
    return timedelta(seconds=config["MAIL_LEASE_SECONDS"])


def lease_problem(config) -> str | None:
    """Why the lease is too short to cover a slow delivery, if it is."""
    lease, timeout = config["MAIL_LEASE_SECONDS"], config["MAIL_TIMEOUT"]
    if lease >= LEASE_IN_TIMEOUTS * timeout:
        return None
    return (
        f"MAIL_LEASE_SECONDS ({lease}) should be at least {LEASE_IN_TIMEOUTS} times "
        f"MAIL_TIMEOUT ({timeout}): a worker still sending after its lease may see "
        "another worker send the same message again"
    )


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


class StopFlag(Protocol):
    """What tells a delivery loop to stop: a `threading.Event` or a `StopSignal`."""

    def is_set(self) -> bool:
        """Whether stopping was asked for."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until stopping is asked for or the timeout passes; whether it was."""
        ...


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
    msg.date = time.time()
    for att in message.attachments:
        msg.attach(att.filename, att.content_type, att.data)
    if msg.has_bad_headers():
        raise BadHeaderError("a header holds a line break")
    return msg


def _envelope(msg: Message) -> tuple[str, list[str], bytes]:
    """What smtplib sends: the envelope sender, the recipients and the message bytes,
    all made before the SMTP transaction starts."""
    return sanitize_address(msg.sender), list(sanitize_addresses(msg.send_to)), msg.as_bytes()


def _transmit(connection, envelope: tuple[str, list[str], bytes]) -> dict:
    """One SMTP transaction; returns when the server has answered the end of DATA.

    Flask-Mail's `Connection.send` is not used: after the server's reply it emits
    `email_dispatched` and, with MAIL_MAX_EMAILS, reconnects, and a failure there
    would be recorded as a failed delivery of a message that went out."""
    sender, recipients, data = envelope
    if connection.host is None:  # MAIL_SUPPRESS_SEND
        return {}
    return connection.host.sendmail(sender, recipients, data)


@dataclass
class DeliveryReport:
    """What one delivery pass did: how many messages were sent, captured, retried, failed."""

    sent: int = 0
    captured: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        """The number of messages the pass handled, whatever became of them."""
        return self.sent + self.captured + self.retrying + self.failed


def deliver_due(
    now: datetime | None = None, limit: int = 100, stop: StopFlag | None = None
) -> DeliveryReport:
    """Send every message that is due once; failures are rescheduled or given up.

    Once `stop` is set, no further message is claimed; the one being sent is finished.
    """
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
                if stop is not None and stop.is_set():
                    break  # the rest stay queued for the next worker
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
                # The session keeps the connection it read the message on, so the
                # outcome is written without a pool checkout (and its pre-ping) between
                # the server's reply and the record.
                try:
                    envelope = _envelope(_to_flask_mail(message))
                    if connection is None:
                        connection = mail.connect().__enter__()
                    refused = _transmit(connection, envelope)
                except Exception as exc:  # any SMTP or socket failure
                    _close(connection)
                    connection = None
                    if _record_failure(message, lease, exc, now, config) == MailStatus.FAILED:
                        report.failed += 1
                    else:
                        report.retrying += 1
                else:
                    # The server has the message: record it before anything else.
                    _finish(message_id, lease, MailStatus.SENT, sent_at=utcnow(), last_error=None)
                    report.sent += 1
                    if refused:
                        log.warning("mail %s: %s recipients refused", message_id, len(refused))
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
        attachments = worker_attachments(message)
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
    if written.rowcount == 1:  # the files with the bodies, in one transaction
        db.session.add_all(
            OutboxAttachment(
                message_id=message.id, filename=a.filename, content_type=a.content_type, data=a.data
            )
            for a in attachments
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


# --- The worker process ---------------------------------------------------------------


class StopSignal:
    """A stop flag that a signal handler may set, with an Event's `is_set` and `wait`.

    `threading.Event.set()` takes the lock that `Event.wait()` holds for a moment in the
    thread the signal interrupts, the main thread, and would deadlock there; setting this
    flag only stores a value and writes a byte to a pipe, which wakes `wait` at once.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._set = False
        self.reason: str | None = None

    def set(self, reason: str | None = None) -> None:
        """Ask to stop (the first reason given is kept) and wake `wait` at once."""
        self.reason = self.reason or reason
        self._set = True
        try:
            os.write(self._write, b"x")
        except OSError:  # the pipe is full (set before) or closed: already awake
            pass

    def is_set(self) -> bool:
        """Whether stopping was asked for."""
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until stopping is asked for or the timeout passes; whether it was."""
        if not self._set:
            select.select([self._read], [], [], timeout)
        return self._set

    def close(self) -> None:
        """Close the pipe that wakes `wait`."""
        os.close(self._read)
        os.close(self._write)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(process: str = "Mail worker") -> Iterator[StopSignal]:
    """A `StopSignal` set by SIGTERM or SIGINT while the block runs; the previous handlers
    come back after it. Outside the main thread no handler can be set: the caller stops
    the worker through the flag."""
    stop = StopSignal()

    def handle(signum: int, _frame) -> None:
        name = signal.Signals(signum).name
        if not stop.is_set():
            # os.write, not print or logging: the main thread may be inside either.
            line = f"{process}: {name} received; stopping (a message being sent is finished).\n"
            try:
                os.write(2, line.encode())
            except OSError:
                pass
        stop.set(name)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, handle)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        stop.close()


def run_worker(
    interval: float, stop_after: float | None = None, stop: StopFlag | None = None
) -> None:
    """Deliver due mail every `interval` seconds until `stop` is set (or `stop_after`)."""
    problem = lease_problem(current_app.config)
    if problem:
        log.warning("mail worker: %s", problem)
    stop = stop or threading.Event()
    started = time.monotonic()
    while not stop.is_set():
        try:
            report = deliver_due(stop=stop)
            if report.handled:
                log.info("mail worker: %s", report)
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            log.exception("mail worker: database error, will try again")
        finally:
            db.session.remove()
        if stop_after is not None and time.monotonic() - started >= stop_after:
            return
        stop.wait(interval)  # a stop while waiting ends the wait at once
