"""Replies by email: the mail that reaches the support address goes into its ticket.

Every mail about a ticket is sent with a Reply-To of its own, the support address with the
ticket number as a plus address (`tuki+T-2026-000003@example.com`,
services.support.reply_address), and a subject that carries the number. A mail that
comes back to it, by IMAP (services.support_imap) or through the pipe command
(`flask support receive`), is taken by `receive`:

- once: its Message-ID (or, without one, the digest of the message) is unique, so a
  message delivered twice lands once;
- never from a machine: an auto-reply (Auto-Submitted, Precedence, X-Autoreply,
  X-Autorespond), a mailing list's mail or a message from the mail system itself is
  ignored, so that no reply answers a reply; a delivery report (DSN, multipart/report)
  marks the portal's own mail it names failed, with the report's diagnosis;
- from the ticket's customer or a colleague in their organisation only: another sender's
  mail waits for staff in the review queue, never in the ticket;
- its text without the quoted history (mail-parser-reply, with the Finnish and Norwegian
  headers added to its tables) and its images checked and cleaned as on the form; a
  resolved ticket is reopened within SUPPORT_REOPEN_DAYS, and after that the mail opens a
  new ticket that follows up the old one;
- whatever it holds: a message that cannot be read is kept aside with the reason, and
  the reader goes on with the next.

The caller commits each message (one transaction each): a message is added with its
entry and its mails, or not at all.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from extensions import db
from models.auth import User
from models.mail import MailStatus, OutboxMessage
from models.support import WAITING_FOR_STAFF, InboundMail, InboundState, Ticket
from models.types import utcnow
from services import support

log = logging.getLogger(__name__)

MAX_RAW_BYTES = 10 * 1024 * 1024  # kept of a message staff may look at
MAX_PIPE_BYTES = 30 * 1024 * 1024  # read of one message (three images at their limit fit)
MAX_TEXT = 20_000  # characters of a reply kept in the ticket
MAX_IMAGES = 3  # as on the form
_PLUS = re.compile(r"\+(T-\d{4}-\d{6})@", re.I)
_NUMBER = re.compile(r"\bT-(\d{4})-(\d{6})\b", re.I)
_OUTBOX_ID = re.compile(r"<outbox-(\d+)-\d+@portal>")
_MACHINE_SENDERS = ("mailer-daemon", "postmaster", "noreply", "no-reply")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # but tab and line feed


@dataclass(frozen=True)
class Received:
    """What `receive` did with a message: its record, and whether it was new."""

    mail: InboundMail
    new: bool


# ---------------------------------------------------------------- receiving


def receive(raw: bytes, source: str) -> Received:
    """Take one message as it came (`source` imap or pipe) and record what became of it;
    the caller commits. Never raises for what the message holds."""
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        message_id = _header(message, "Message-ID")[:255] or digest
    except Exception as exc:  # noqa: BLE001 - a message is never allowed to stop the reader
        return _keep(digest, source, InboundState.MALFORMED, f"unreadable: {exc}", raw=raw)
    existing = db.session.scalar(sa.select(InboundMail).where(InboundMail.message_id == message_id))
    if existing is not None:
        return Received(existing, new=False)
    try:
        with db.session.begin_nested():
            return _take(message, message_id, source, raw)
    except Exception as exc:  # noqa: BLE001
        log.exception("inbound mail %s could not be taken", message_id)
        return _keep(message_id, source, InboundState.MALFORMED, f"unreadable: {exc}", raw=raw)


def _take(message: EmailMessage, message_id: str, source: str, raw: bytes) -> Received:
    sender = parseaddr(_header(message, "From"))[1].strip().lower()
    subject = _header(message, "Subject")
    keep = {"sender": sender, "subject": subject}
    if _is_report(message):
        failed = _mark_bounced(message)
        reason = f"delivery report for outbox mail {failed}" if failed else "delivery report"
        return _keep(message_id, source, InboundState.BOUNCE, reason, **keep)
    machine = _machine_reason(message, sender)
    if machine:
        return _keep(message_id, source, InboundState.IGNORED, machine, **keep)
    ticket = _ticket_of(message)
    if ticket is None:
        return _keep(message_id, source, InboundState.IGNORED, "no ticket named", **keep)
    text = reply_text(message, ticket.language)
    if not _may_write(ticket, sender):
        return _keep(
            message_id,
            source,
            InboundState.REVIEW,
            "the sender is not the ticket's customer",
            ticket=ticket,
            raw=raw,
            **keep,
        )
    mail = InboundMail(
        message_id=message_id,
        source=source,
        state=InboundState.ADDED,
        ticket=ticket,
        received_at=utcnow(),
        **keep,
    )
    db.session.add(mail)
    db.session.flush()
    images, refused = _images(message, f"mail:{mail.id}")
    if refused:
        text += "\n\n" + "\n".join(refused)
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == sender))
    written = support.customer_writes(ticket, user, text or "–", images, author=sender)
    mail.ticket, mail.entry_id = written.ticket, written.entry.id
    if written.follow_up:
        mail.reason = f"a follow-up of {ticket.number}"
    elif written.ticket is not ticket:
        mail.reason = f"{ticket.number} was merged into {written.ticket.number}"
    return Received(mail, new=True)


def _keep(
    message_id: str,
    source: str,
    state: InboundState,
    reason: str,
    *,
    sender: str = "",
    subject: str = "",
    ticket: Ticket | None = None,
    raw: bytes | None = None,
) -> Received:
    """Record a message that goes into no ticket (kept raw when staff may look at it)."""
    log.info("inbound mail %s: %s (%s)", message_id, state.value, reason)
    mail = InboundMail(
        message_id=message_id,
        source=source,
        state=state,
        reason=reason[:200],
        sender=sender[:254],
        subject=subject[:255],
        ticket=ticket,
        raw=raw[:MAX_RAW_BYTES] if raw is not None else None,
        received_at=utcnow(),
    )
    db.session.add(mail)
    db.session.flush()
    return Received(mail, new=True)


def _header(message: EmailMessage, name: str) -> str:
    value = message.get(name)
    return " ".join(str(value).split()) if value is not None else ""


# ---------------------------------------------------------------- machines


def _is_report(message: EmailMessage) -> bool:
    return message.get_content_type() == "multipart/report" or (
        message.get_content_type() == "multipart/mixed"
        and any(part.get_content_type() == "message/delivery-status" for part in message.walk())
    )


def _machine_reason(message: EmailMessage, sender: str) -> str | None:
    """Why the message is a machine's (RFC 3834 and the common practice), or None."""
    auto = _header(message, "Auto-Submitted").lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"[:200]
    precedence = _header(message, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "List-Id", "List-Unsubscribe"):
        if message.get(name) is not None:
            return f"{name} header"
    if _header(message, "X-Auto-Response-Suppress").lower() in ("all", "oof", "autoreply"):
        return "X-Auto-Response-Suppress"
    if not sender or sender.partition("@")[0] in _MACHINE_SENDERS:
        return "from the mail system"
    if message.get("Return-Path") is not None and not _header(message, "Return-Path").strip("<> "):
        return "a null return path (a machine's message)"
    return None


def _mark_bounced(message: EmailMessage) -> int | None:
    """Mark the portal's mail a delivery report names failed; its outbox id, or None."""
    returned = ""
    diagnosis = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in part.iter_parts() if part.is_multipart() else []:
                for name in ("Diagnostic-Code", "Status", "Action"):
                    if block.get(name):
                        diagnosis.append(f"{name}: {' '.join(str(block[name]).split())}")
            payload = part.get_payload()
            if isinstance(payload, str):
                diagnosis.append(" ".join(payload.split())[:200])
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            returned += part.as_string() if part.is_multipart() else str(part.get_payload())
    found = _OUTBOX_ID.search(returned) or _OUTBOX_ID.search(_header(message, "In-Reply-To"))
    if found is None:
        return None
    outbox_id = int(found.group(1))
    outbox = db.session.get(OutboxMessage, outbox_id)
    if outbox is None:
        return None
    outbox.status = MailStatus.FAILED
    outbox.last_error = ("bounced: " + "; ".join(diagnosis))[:2000]
    return outbox_id


# ---------------------------------------------------------------- the ticket and its writer


def _ticket_of(message: EmailMessage) -> Ticket | None:
    """The ticket the message answers: its plus address, else its subject's number."""
    recipients = " ".join(
        address
        for name in ("Delivered-To", "X-Original-To", "To", "Cc", "Envelope-To")
        for _display, address in getaddresses(message.get_all(name, []))
    )
    found = _PLUS.search(recipients)
    number = found.group(1) if found else None
    if number is None:
        match = _NUMBER.search(_header(message, "Subject"))
        number = match.group(0) if match else None
    return support.by_number(number) if number else None


def _may_write(ticket: Ticket, sender: str) -> bool:
    """The ticket's customer, or a user of the customer's organisation (a colleague)."""
    if not sender:
        return False
    if sender == (ticket.email or "").lower():
        return True
    colleague = db.session.scalar(
        sa.select(User.id)
        .where(sa.func.lower(User.email) == sender, User.organisation_id == ticket.organisation_id)
        .limit(1)
    )
    return colleague is not None


# ---------------------------------------------------------------- the text and images


def reply_text(message: EmailMessage, language: str = "fi") -> str:
    """The new text of a reply: its plain part (or its HTML part as text), without the
    quoted history the mail programs add. A signature goes only when it is set off as
    the parser knows it (a "-- " line, or a sign-off block of its languages); a short
    closing such as "Terveisin, Maija" stays, as it would in a message on the web."""
    from mailparser_reply import EmailReplyParser

    _register_languages()
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    text = body.get_content()
    if body.get_content_type() == "text/html":
        import lxml.html

        text = lxml.html.document_fromstring(text or "<p></p>").text_content()
    text = text.replace("\r\n", "\n")
    languages = list(dict.fromkeys([language, "fi", "sv", "nb", "en"]))
    reply = EmailReplyParser(languages=languages).parse_reply(text=text)
    cleaned = "\n".join(line.rstrip() for line in (reply or "").strip().splitlines())
    return _CONTROL.sub("", cleaned)[:MAX_TEXT]


def _images(message: EmailMessage, owner: str) -> tuple[list, list[str]]:
    """The message's images, checked and re-encoded as the form's are (pending for
    `owner`), and the reasons of those refused."""
    taken, refused = [], []
    for part in message.iter_attachments():
        if part.get_content_maintype() != "image":
            continue
        name = part.get_filename() or "kuva"
        if len(taken) >= MAX_IMAGES:
            refused.append(f"({name}: more than {MAX_IMAGES} images; not kept)")
            continue
        data = part.get_content()
        upload = FileStorage(stream=io.BytesIO(data), filename=name, content_type="")
        try:
            taken.append(support.store_upload(upload, owner))
        except support.UploadRejected as exc:
            refused.append(f"({exc})")
    return taken, refused


_REGISTERED = False


def _register_languages() -> None:
    """Add the reply headers of Finnish and Norwegian mail programs to the library's
    tables (it knows English, Swedish and Danish among others, but not these two)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from mailparser_reply.constants import MAIL_LANGUAGES, QUOTED_MATCH_INCLUDE

    def entry(wrote: str, fields: str, sent_from: str, signatures: list[str]) -> dict:
        return {
            "wrote_header": rf"^({QUOTED_MATCH_INCLUDE}.{{0,200}}\s{wrote}:)$",
            "from_header": r"((?:(?:^|\n|\n"
            + QUOTED_MATCH_INCLUDE
            + rf")[* ]*(?:{fields}):[ *]*(?:\s{{,2}}).*){{2,}}(?:\n.*){{,1}})",
            "disclaimers": [],
            "signatures": signatures,
            "sent_from": sent_from,
        }

    MAIL_LANGUAGES.setdefault(
        "fi",
        entry(
            "kirjoitti",
            "Lähettäjä|Lähetetty|Vastaanottaja|Aihe|Päivämäärä|Kopio",
            "Lähetetty .{0,40}(?:iPhone|Android|puhelime)",
            ["Ystävällisin terveisin", "Terveisin", "Parhain terveisin", "T:"],
        ),
    )
    MAIL_LANGUAGES.setdefault(
        "nb",
        entry(
            "skrev",
            "Fra|Sendt|Til|Emne|Dato|Kopi",
            "Sendt fra min",
            ["Med vennlig hilsen", "Vennlig hilsen", "Hilsen", "Mvh"],
        ),
    )
    _REGISTERED = True


# ---------------------------------------------------------------- the staff's review


def waiting() -> sa.Select:
    """The mails that wait for staff: from a stranger, or unreadable (the condition as the
    partial index states it)."""
    return sa.select(InboundMail).where(sa.text(WAITING_FOR_STAFF))


def text_of(mail: InboundMail) -> str:
    """What the kept message says, its quoted history cut off ("" when unreadable)."""
    if not mail.raw:
        return ""
    try:
        message = BytesParser(policy=policy.default).parsebytes(mail.raw)
        return reply_text(message, mail.ticket.language if mail.ticket else "fi")
    except Exception:  # noqa: BLE001 - unreadable is what it is kept aside for
        return ""


class NotWaiting(Exception):
    """The mail is no longer waiting (another staff member took it a moment ago)."""


def accept(mail: InboundMail) -> support.Written:
    """Staff let a stranger's mail into its ticket as the customer's message, images and
    all; the caller commits."""
    if mail.state != InboundState.REVIEW or mail.ticket is None:
        raise NotWaiting
    ticket = mail.ticket
    _settle(mail, InboundState.ADDED, "added by staff")  # first: one staff member wins
    message = BytesParser(policy=policy.default).parsebytes(mail.raw or b"")
    text = reply_text(message, ticket.language)
    images, refused = _images(message, f"mail:{mail.id}")
    if refused:
        text += "\n\n" + "\n".join(refused)
    written = support.customer_writes(ticket, None, text or "–", images, author=mail.sender)
    mail.ticket, mail.entry_id = written.ticket, written.entry.id
    return written


def discard(mail: InboundMail) -> None:
    """Staff threw the mail away; the caller commits."""
    if mail.state not in (InboundState.REVIEW, InboundState.MALFORMED):
        raise NotWaiting
    _settle(mail, InboundState.DISCARDED, mail.reason)


def _settle(mail: InboundMail, state: InboundState, reason: str) -> None:
    done = db.session.execute(
        sa.update(InboundMail)
        .where(InboundMail.id == mail.id, InboundMail.state == mail.state)
        .values(state=state, reason=reason[:200])
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise NotWaiting
    db.session.expire(mail, ["state", "reason"])
