"""Tickets of the contact form: numbers, screenshots, the thread, its mail and links."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import Signer
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

import fragments
from extensions import db
from models.auth import Organisation, User
from models.support import (
    Application,
    EntryKind,
    SubApplication,
    Team,
    TeamKind,
    Ticket,
    TicketAttachment,
    TicketEntry,
    TicketStatus,
    TicketType,
    Urgency,
)
from models.types import utcnow
from services import (
    counters,
    images,
    outbox,
    registry,
    service_hours,
    support_ratings,
    support_sla,
)
from services.timezones import utc_to_local
from services.urls import external_url

TYPE_LABELS = {
    TicketType.DEVELOPMENT_IDEA: _l("Development idea"),
    TicketType.MALFUNCTION: _l("Malfunction"),
    TicketType.SUPPORT_REQUEST: _l("Support request"),
    TicketType.PHONE_SUPPORT: _l("Phone support request"),
    TicketType.SALES: _l("Sales matters"),
    TicketType.TRAINING: _l("Training matters"),
    TicketType.BILLING: _l("Billing matters"),
    TicketType.QUALITY_FEEDBACK: _l("Quality feedback"),
    TicketType.OTHER: _l("Other matters"),
    TicketType.CONTRACT_CHANGE: _l("Contract change"),
}

_DETAIL = _l("Describe the situation in as much detail as you can.")
TYPE_GUIDANCE = {
    TicketType.DEVELOPMENT_IDEA: _l(
        "Describe the situation in as much detail as you can: what you would like to do, "
        "and how the idea would help."
    ),
    TicketType.MALFUNCTION: _l(
        "Describe the situation in as much detail as you can, and tell where and when the "
        "fault happens or happened: what you were doing, on which page, at what time. "
        "Then it can be located and fixed faster. A screenshot helps."
    ),
    TicketType.SUPPORT_REQUEST: _DETAIL,
    TicketType.PHONE_SUPPORT: _l(
        "Tell what the call is about, and the phone number and times at which we can reach you."
    ),
    TicketType.SALES: _l("Tell which service or product the matter concerns."),
    TicketType.TRAINING: _l(
        "If the matter concerns an enrolment, give its service code as the target reference."
    ),
    TicketType.BILLING: _l(
        "If the matter concerns a single invoice, give its invoice number as the target "
        "reference: it speeds up handling."
    ),
    TicketType.QUALITY_FEEDBACK: _l("Tell what went well, or what should be better."),
    TicketType.OTHER: _l("For anything that none of the other types fits."),
    TicketType.CONTRACT_CHANGE: _l("Tell which contract should change, how, and from which date."),
}

URGENCY_LABELS = {Urgency.NORMAL: _l("Normal"), Urgency.FASTER: _l("Faster than normal")}

STATUS_LABELS = {
    TicketStatus.NEW: _l("New"),
    TicketStatus.IN_PROGRESS: _l("In progress"),
    TicketStatus.WAITING: _l("Waiting for customer"),
    TicketStatus.RESOLVED: _l("Resolved"),
}

# The applications a new installation starts with: the portal's own parts, each with
# a Raportti sub-application for its reports. Staff keep the list from then on.
_REPORT = {"fi": "Raportti", "sv": "Rapport", "nb": "Rapport", "en": "Report"}
DEFAULT_APPLICATIONS = (
    ("training", {"fi": "Koulutuskalenteri", "sv": "Utbildningskalender",
                  "nb": "Kurskalender", "en": "Training calendar"}),
    ("punchout", {"fi": "PunchOut-tilaukset", "sv": "PunchOut-beställningar",
                  "nb": "PunchOut-bestillinger", "en": "PunchOut orders"}),
    ("invoices", {"fi": "Laskutus", "sv": "Fakturering", "nb": "Fakturering",
                  "en": "Invoicing"}),
    ("portal", {"fi": "Asiakasportaali", "sv": "Kundportal", "nb": "Kundeportal",
                "en": "Customer portal"}),
    ("payments", {"fi": "Verkkomaksu", "sv": "Nätbetalning", "nb": "Nettbetaling",
                  "en": "Online payment"}),
    ("support", {"fi": "Yhteydenotto", "sv": "Kontakt", "nb": "Kontakt", "en": "Contact"}),
)  # fmt: skip

CUSTOMER_SERVICE_NAMES = {
    "fi": "Asiakaspalvelu",
    "sv": "Kundtjänst",
    "nb": "Kundeservice",
    "en": "Customer service",
}
_MAINTENANCE = {
    "fi": "Sovellusylläpito: {}",
    "sv": "Applikationsförvaltning: {}",
    "nb": "Applikasjonsforvaltning: {}",
    "en": "Application maintenance: {}",
}

_NUMBER = re.compile(r"T?[\s-]*(\d{4})[\s-]*(\d{1,6})", re.IGNORECASE | re.ASCII)
_UPLOAD_KEY = re.compile(r"[A-Za-z0-9_-]{43}")
PENDING_UPLOAD_HOURS = 24
PURGE_BATCH = 500  # stored names checked against the database at a time
MAX_IMAGES = 3


def ensure_default_applications() -> None:
    """Add the portal's parts that are missing from the applications (safe to rerun)."""
    have = set(db.session.scalars(sa.select(Application.part).where(Application.part.is_not(None))))
    for position, (part, names) in enumerate(DEFAULT_APPLICATIONS):
        if part not in have:
            app = Application(part=part, names=names, position=position * 10, active=True)
            app.sub_applications.append(SubApplication(names=_REPORT, position=0, active=True))
            db.session.add(app)
    db.session.flush()
    ensure_default_teams()


def ensure_default_teams() -> None:
    """The customer service, and a maintenance team for each application that has none
    (safe to rerun): a new installation's tickets have somewhere to go."""
    if not db.session.scalar(sa.select(Team.id).where(Team.kind == TeamKind.CUSTOMER_SERVICE)):
        db.session.add(Team(kind=TeamKind.CUSTOMER_SERVICE, names=dict(CUSTOMER_SERVICE_NAMES)))
    covered = sa.select(Team.application_id).where(Team.application_id.is_not(None))
    for application in db.session.scalars(
        sa.select(Application).where(Application.id.not_in(covered)).order_by(Application.id)
    ):
        names = {
            code: pattern.format(application.name(code)) for code, pattern in _MAINTENANCE.items()
        }
        db.session.add(Team(kind=TeamKind.MAINTENANCE, application_id=application.id, names=names))


@dataclass(frozen=True)
class Offered:
    """An application (or sub-application) as the contact form offers it."""

    id: int
    names: dict[str, str]
    subs: tuple[Offered, ...] = ()
    part: str | None = None  # the portal's part it stands for

    def name(self, language: str) -> str:
        """The application's name in the language, or its Finnish name."""
        return self.names.get(language) or self.names["fi"]


# What the contact form shows rows of: the applications, and the user's own details.
CONTACT_FORM_TABLES = (
    Application.__tablename__,
    SubApplication.__tablename__,
    User.__tablename__,
    Organisation.__tablename__,
)


def offered_applications() -> tuple[Offered, ...]:
    """The active applications with their active sub-applications, in the staff's order:
    what every contact form offers, read once per page-cache slot (fragments.py), for a
    customer who has just sent a form too: customers never change them, and the staff's
    change shows at once on the process that saved it, on the others within the slot."""
    return fragments.cached_value(
        ("offered-applications",),
        _read_offered_applications,
        tables=CONTACT_FORM_TABLES[:2],
        fresh_for_writers=False,
    )


def _read_offered_applications() -> tuple[Offered, ...]:
    applications = db.session.scalars(
        sa.select(Application)
        .options(selectinload(Application.sub_applications))
        .where(Application.active)
        .order_by(Application.position, Application.id)
    )
    return tuple(
        Offered(
            a.id,
            dict(a.names),
            tuple(Offered(s.id, dict(s.names)) for s in a.sub_applications if s.active),
            a.part,
        )
        for a in applications
    )


# ---------------------------------------------------------------- numbers and links


def new_number() -> str:
    """The next ticket number of the year, e.g. T-2026-004217 (in the caller's transaction)."""
    year = utc_to_local(utcnow()).year
    return f"T-{year}-{counters.next_value(f'ticket:{year}'):06d}"


def normalise_number(text: str) -> str | None:
    """The ticket number as stored, from what a person typed ("t 2026 4217"); or None."""
    text = (text or "").strip()
    match = _NUMBER.fullmatch(text) if len(text) <= 40 else None
    if not match:
        return None
    return f"T-{match.group(1)}-{int(match.group(2)):06d}"


def by_number(text: str) -> Ticket | None:
    """The ticket of a number as typed, or None."""
    number = normalise_number(text)
    if number is None:
        return None
    return db.session.scalar(sa.select(Ticket).where(Ticket.number == number))


def _signer() -> Signer:
    return Signer(
        current_app.config["SECRET_KEY"], salt="support-ticket-link", digest_method=hashlib.sha256
    )


def link_signature(ticket: Ticket) -> str:
    """The secret of the ticket's status link, which works without logging in."""
    return _signer().get_signature(f"{ticket.number}:{ticket.link_nonce}").decode()


def ticket_by_link(number: str, signature: str) -> Ticket | None:
    """The ticket the status link names, if its signature is right (checked in constant time)."""
    ticket = by_number(number)
    if ticket is None or not signature.isascii():
        return None
    value = f"{ticket.number}:{ticket.link_nonce}".encode()
    if not _signer().verify_signature(value, signature.encode()):
        return None
    return ticket


def reply_address(ticket: Ticket) -> str | None:
    """The Reply-To of the ticket's mails: the support address that takes replies
    (SUPPORT_REPLY_ADDRESS) with the ticket number as its plus address,
    tuki+T-2026-000003@example.com (services.support_mail reads what comes back); None
    when no address takes replies."""
    address = current_app.config.get("SUPPORT_REPLY_ADDRESS")
    if not address or "@" not in address:
        return None
    local, _, domain = address.rpartition("@")
    return f"{local}+{ticket.number}@{domain}"


def status_link(ticket: Ticket, language: str | None = None) -> str:
    """The ticket's status page without logging in; in `language` when given (a mail's)."""
    return external_url(
        "support.track",
        number=ticket.number,
        signature=link_signature(ticket),
        language=language,
    )


# ---------------------------------------------------------------- screenshots


class UploadRejected(ValueError):
    """A file that is not taken, with the message to show next to the field."""


class AlreadySent(RuntimeError):
    """The images of this form went with a message already (the form was sent twice)."""


# Images one form owner may have waiting, unsent, at a time (a day's worth of tries).
MAX_PENDING = 30


def _upload_dir() -> Path:
    path = Path(current_app.config["SUPPORT_UPLOAD_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def attachment_path(attachment: TicketAttachment) -> Path:
    """Where the attachment's file is kept in the upload folder."""
    return _upload_dir() / attachment.stored_name


def image_limits() -> dict:
    """The limits as people read them, e.g. {"megabytes": "5", "megapixels": "40"}."""
    from flask_babel import format_decimal

    return {
        "megabytes": format_decimal(
            current_app.config["SUPPORT_MAX_IMAGE_BYTES"] / (1024 * 1024), "#,##0.##"
        ),
        "megapixels": format_decimal(
            current_app.config["SUPPORT_MAX_IMAGE_PIXELS"] / 1_000_000, "#,##0.##"
        ),
    }


def rejection_message(reason: str, filename: str) -> str:
    """Why an uploaded file was refused, naming it, in the page's language."""
    from flask_babel import gettext as _

    limits = image_limits()
    messages = {
        "not_image": _("%(file)s is not a PNG, JPEG, GIF or WebP image.", file=filename),
        "too_large": _("%(file)s is larger than %(megabytes)s MB.", file=filename, **limits),
        "too_many_pixels": _(
            "%(file)s has more than %(megapixels)s million pixels.", file=filename, **limits
        ),
        "broken": _("%(file)s is damaged and cannot be opened.", file=filename),
    }
    return messages[reason]


def store_upload(upload: FileStorage, owner: str) -> TicketAttachment:
    """Check and re-encode an uploaded image and keep it, pending, for `owner`'s form.

    Raises UploadRejected with the reason in the user's language.
    """
    from flask_babel import gettext as _

    limit = current_app.config["SUPPORT_MAX_IMAGE_BYTES"]
    shown = images.clean_name(upload.filename)  # as the person knows it
    since = utcnow() - timedelta(hours=PENDING_UPLOAD_HOURS)
    waiting = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(TicketAttachment)
        .where(
            TicketAttachment.owner == owner,
            TicketAttachment.entry_id.is_(None),
            TicketAttachment.created_at > since,
        )
    )
    if waiting >= MAX_PENDING:
        raise UploadRejected(
            _(
                "%(file)s was not taken: too many images wait unsent. Try again tomorrow.",
                file=shown or "?",
            )
        )
    data = upload.stream.read(limit + 1)
    try:
        clean = images.sanitise(
            data, max_bytes=limit, max_pixels=current_app.config["SUPPORT_MAX_IMAGE_PIXELS"]
        )
    except images.ImageRejected as exc:
        raise UploadRejected(rejection_message(exc.reason, shown or "?")) from exc
    stored_name = secrets.token_hex(16) + clean.extension
    path = _upload_dir() / stored_name
    temporary = path.with_suffix(".part")
    temporary.write_bytes(clean.data)
    os.replace(temporary, path)
    attachment = TicketAttachment(
        owner=owner,
        upload_key=secrets.token_urlsafe(32),
        stored_name=stored_name,
        filename=images.display_name(upload.filename, clean.extension),
        content_type=clean.content_type,
        size=len(clean.data),
        width=clean.width,
        height=clean.height,
    )
    db.session.add(attachment)
    return attachment


def pending_uploads(keys: list[str], owner: str) -> list[TicketAttachment]:
    """The owner's images uploaded with an earlier try of the same form (by their keys)."""
    keys = [key for key in keys if _UPLOAD_KEY.fullmatch(key)][:MAX_IMAGES]
    if not keys:
        return []
    since = utcnow() - timedelta(hours=PENDING_UPLOAD_HOURS)
    return list(
        db.session.scalars(
            sa.select(TicketAttachment)
            .where(
                TicketAttachment.upload_key.in_(keys),
                TicketAttachment.owner == owner,
                TicketAttachment.entry_id.is_(None),
                TicketAttachment.created_at > since,
            )
            .order_by(TicketAttachment.id)
        )
    )


def purge_uploads(now=None) -> int:
    """Remove images never sent with a message, and files that no record names (left by
    a transaction that was rolled back); return how many went."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=PENDING_UPLOAD_HOURS)
    stale = list(
        db.session.scalars(
            sa.select(TicketAttachment).where(
                TicketAttachment.entry_id.is_(None), TicketAttachment.created_at < cutoff
            )
        )
    )
    for attachment in stale:
        db.session.delete(attachment)
    db.session.commit()
    for attachment in stale:
        attachment_path(attachment).unlink(missing_ok=True)
    orphans = 0
    old = (p for p in _upload_dir().iterdir() if p.stat().st_mtime < cutoff.timestamp())
    # Asked of the database a batch of names at a time, never the whole table at once.
    while batch := list(itertools.islice(old, PURGE_BATCH)):
        known = set(
            db.session.scalars(
                sa.select(TicketAttachment.stored_name).where(
                    TicketAttachment.stored_name.in_([path.name for path in batch])
                )
            )
        )
        for path in batch:
            if path.name not in known:
                path.unlink(missing_ok=True)
                orphans += 1
    return len(stale) + orphans


def _attach(entry: TicketEntry, attachments: list[TicketAttachment]) -> None:
    """Give the pending images to the entry, each one once: a form sent twice at the same
    moment finds its images taken by the first and raises AlreadySent."""
    if not attachments:
        return
    db.session.flush()  # the entry's id
    ids = [attachment.id for attachment in attachments]
    claimed = db.session.execute(
        sa.update(TicketAttachment)
        .where(TicketAttachment.id.in_(ids), TicketAttachment.entry_id.is_(None))
        .values(entry_id=entry.id, owner=None, upload_key=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != len(ids):
        raise AlreadySent()
    for attachment in attachments:
        db.session.expire(attachment)
    db.session.expire(entry, ["attachments"])


# ---------------------------------------------------------------- the thread


@dataclass
class Contact:
    """What the form gives: everything but the organisation, which the session decides."""

    type: TicketType
    urgency: Urgency
    email: str
    application: Application | Offered  # a row, or as the form offered it: an id, names
    sub_application: SubApplication | Offered | None
    target_reference: str | None
    message: str


def create_ticket(user, contact: Contact, attachments: list[TicketAttachment], language: str):
    """Save the contact as a new ticket with its number and queue its confirmation.

    Everything happens in the caller's transaction: the ticket, its first entry, its
    images and its mail are saved together or not at all.
    """
    now = utcnow()
    ticket = Ticket(
        number=new_number(),
        organisation_id=user.organisation_id,
        user_id=user.id,
        email=contact.email,
        language=language,
        type=contact.type,
        urgency=contact.urgency,
        application_id=contact.application.id,
        sub_application_id=contact.sub_application.id if contact.sub_application else None,
        target_reference=contact.target_reference,
        status=TicketStatus.NEW,
        link_nonce=secrets.token_hex(16),
        created_at=now,
        updated_at=now,
        team_id=team_for(contact.application.id),
    )
    start_clock(ticket, now)
    match = registry.match_reference(
        current_app, contact.target_reference or "", user.organisation_id
    )
    if match:
        ticket.target_type, ticket.target_id = match
    entry = TicketEntry(
        kind=EntryKind.CUSTOMER,
        author_id=user.id,
        author_name=user.name,
        body=contact.message,
        attachments=[],  # known to be none until _attach gives it some: no query for them
    )
    ticket.entries.append(entry)
    db.session.add(ticket)
    _attach(entry, attachments)
    db.session.flush()
    named = (contact.application, contact.sub_application)  # the mails name them: no query
    _mail_contact(ticket, "support_confirmation", entry=entry, named=named, new=True)
    _notify_staff(ticket, entry, new=True, named=named)
    return ticket


@dataclass(frozen=True)
class Written:
    """Where a customer's message went: its ticket (a follow-up one, or the one a merged
    duplicate went into, perhaps) and entry."""

    ticket: Ticket
    entry: TicketEntry
    follow_up: bool = False  # a new ticket, opened because the old could not reopen


def reopens(ticket: Ticket) -> bool:
    """Whether the customer writing on the resolved ticket reopens it: within
    SUPPORT_REOPEN_DAYS of its resolution (after that, a follow-up ticket is opened)."""
    window = timedelta(days=current_app.config["SUPPORT_REOPEN_DAYS"])
    return ticket.resolved_at is not None and utcnow() - ticket.resolved_at <= window


def final(ticket: Ticket) -> Ticket:
    """The ticket a merged duplicate ended in (following merges, boundedly)."""
    for _step in range(10):
        if ticket.merged_into_id is None:
            break
        ticket = ticket.merged_into
    return ticket


def customer_writes(
    ticket: Ticket, user, body: str, attachments: list[TicketAttachment], author: str = ""
) -> Written:
    """The customer writes on a ticket, on the web or by email (`author`: the address it
    came from). An open ticket takes the message; a resolved one is reopened within
    SUPPORT_REOPEN_DAYS, and after that the message opens a new ticket that follows the
    old one up. A merged duplicate's message goes to the ticket it was merged into."""
    ticket = final(ticket)
    if ticket.status == TicketStatus.RESOLVED:
        if not reopens(ticket):
            return _follow_up(ticket, user, body, attachments, author)
        _change_status(ticket, None, TicketStatus.IN_PROGRESS)
    return Written(ticket, add_customer_message(ticket, user, body, attachments, author))


def _follow_up(ticket: Ticket, user, body: str, attachments, author: str) -> Written:
    now = utcnow()
    follow = Ticket(
        number=new_number(),
        organisation_id=ticket.organisation_id,
        user_id=user.id if user else ticket.user_id,
        email=author or (user.email if user else ticket.email),
        language=ticket.language,
        type=ticket.type,
        urgency=ticket.urgency,
        application_id=ticket.application_id,
        sub_application_id=ticket.sub_application_id,
        target_reference=ticket.number,
        status=TicketStatus.NEW,
        link_nonce=secrets.token_hex(16),
        created_at=now,
        updated_at=now,
        follows_id=ticket.id,
        team_id=ticket.team_id,
    )
    start_clock(follow, now)
    entry = TicketEntry(
        kind=EntryKind.CUSTOMER,
        author_id=user.id if user else None,
        author_name=user.name if user else follow.email,
        body=body,
        attachments=[],
    )
    follow.entries.append(entry)
    db.session.add(follow)
    _attach(entry, attachments)
    db.session.flush()
    _mail_contact(follow, "support_confirmation", entry=entry, new=True)
    _notify_staff(follow, entry, new=True)
    return Written(follow, entry, follow_up=True)


def add_customer_message(
    ticket: Ticket, user, body: str, attachments: list[TicketAttachment], author: str = ""
):
    """The contact adds to an open ticket; one that waited for them is worked on again."""
    entry = TicketEntry(
        kind=EntryKind.CUSTOMER,
        author_id=user.id if user else None,
        author_name=user.name if user else (author or ticket.email),
        body=body,
    )
    ticket.entries.append(entry)
    _attach(entry, attachments)
    if ticket.status == TicketStatus.WAITING:
        _change_status(ticket, None, TicketStatus.IN_PROGRESS)
    ticket.updated_at = utcnow()
    db.session.flush()
    _notify_staff(ticket, entry, new=False)
    return entry


def reply(ticket: Ticket, staff, body: str, status: TicketStatus, attachments) -> TicketEntry:
    """Staff's answer: added to the thread and mailed to the contact."""
    entry = TicketEntry(kind=EntryKind.REPLY, author_id=staff.id, author_name=staff.name, body=body)
    ticket.entries.append(entry)
    _attach(entry, attachments)
    if ticket.assignee_id is None:
        ticket.assignee_id = staff.id
    if ticket.first_response_at is None:
        ticket.first_response_at = utcnow()
        ticket.due_at = ticket.resolution_due or ticket.due_at  # now the resolution is next
    if status != ticket.status:
        _change_status(ticket, staff, status)
    ticket.updated_at = utcnow()
    db.session.flush()
    _mail_contact(ticket, "support_reply", entry=entry)
    return entry


def add_note(ticket: Ticket, staff, body: str, attachments) -> TicketEntry:
    """An internal note: staff only, never mailed or shown to the customer."""
    entry = TicketEntry(kind=EntryKind.NOTE, author_id=staff.id, author_name=staff.name, body=body)
    ticket.entries.append(entry)
    _attach(entry, attachments)
    ticket.updated_at = utcnow()
    return entry


def assign_to(ticket: Ticket, staff) -> bool:
    """Make `staff` the ticket's handler; a new ticket is then in progress."""
    if ticket.assignee_id == staff.id:
        return False
    ticket.assignee_id = staff.id
    ticket.entries.append(
        TicketEntry(kind=EntryKind.ASSIGNED, author_id=staff.id, author_name=staff.name)
    )
    if ticket.status == TicketStatus.NEW:
        _change_status(ticket, staff, TicketStatus.IN_PROGRESS)
    ticket.updated_at = utcnow()
    return True


def set_status(ticket: Ticket, staff, status: TicketStatus) -> bool:
    """Change the status by hand; the contact hears when their ticket is resolved."""
    if status == ticket.status:
        return False
    _change_status(ticket, staff, status)
    ticket.updated_at = utcnow()
    db.session.flush()
    if status == TicketStatus.RESOLVED:
        rating_urls = support_ratings.rating_links(ticket, ticket.language)
        _mail_contact(
            ticket,
            "support_resolved",
            entry=None,
            rating_urls=rating_urls,
            reopen_days=current_app.config["SUPPORT_REOPEN_DAYS"] if reply_address(ticket) else 0,
        )
    return True


def send_new_link(ticket: Ticket, staff, email: str) -> None:
    """Send the contact a new status link, to a corrected address if need be; the old
    link stops working (say, when the first went to a mistyped address)."""
    from flask_babel import gettext as _

    old = ticket.email
    ticket.email = email
    ticket.link_nonce = secrets.token_hex(16)
    note = f"{old} → {email}" if old != email else email
    ticket.entries.append(
        TicketEntry(
            kind=EntryKind.NOTE,
            author_id=staff.id,
            author_name=staff.name,
            body=_("New status link sent: %(address)s", address=note),
        )
    )
    ticket.updated_at = utcnow()
    db.session.flush()
    _mail_contact(ticket, "support_new_link", entry=None)


def _change_status(ticket: Ticket, staff, status: TicketStatus) -> None:
    ticket.entries.append(
        TicketEntry(
            kind=EntryKind.STATUS,
            author_id=staff.id if staff else None,
            author_name=staff.name if staff else ticket.email,
            from_status=ticket.status,
            to_status=status,
        )
    )
    _run_clock(ticket, ticket.status, status)
    ticket.status = status
    ticket.resolved_at = utcnow() if status == TicketStatus.RESOLVED else None


# ---------------------------------------------------------------- teams and the clock


# What the teams' routing is read from: a commit to any of them renews it (fragments.py).
TEAM_TABLES = ("support_team", "support_team_member", User.__tablename__)


@dataclass(frozen=True)
class Routing:
    """Where new tickets go and who hears of them, as plain values read once per slot."""

    by_application: dict[int, int]  # the application's maintenance team
    customer_service: int | None  # the first active customer service team
    recipients: dict[int, tuple[tuple[str, str], ...]]  # an active team's (address, language)


def routing() -> Routing:
    """The active teams' routing, read once per page-cache slot: the contact form's
    submission asks nothing of the database for it (staff's changes show at once on the
    process that saved them, on the others within the slot)."""
    return fragments.cached_value(
        ("support-routing",), _read_routing, tables=TEAM_TABLES, fresh_for_writers=False
    )


def _read_routing() -> Routing:
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    teams = db.session.scalars(
        sa.select(Team)
        .options(selectinload(Team.members).load_only(User.email, User.language))
        .where(Team.active)
        .order_by(Team.id)
        .limit(1000)
    )
    by_application, customer_service, recipients = {}, None, {}
    for team in teams:
        if team.application_id is not None:
            by_application[team.application_id] = team.id
        elif team.kind == TeamKind.CUSTOMER_SERVICE and customer_service is None:
            customer_service = team.id
        if team.email:
            recipients[team.id] = ((team.email, default),)
        else:
            recipients[team.id] = tuple((m.email, m.language) for m in team.members)
    return Routing(by_application, customer_service, recipients)


def team_for(application_id: int) -> int | None:
    """The team a new ticket of the application goes to: the application's maintenance
    team, or else the customer service (the first active one); None without teams."""
    teams = routing()
    return teams.by_application.get(application_id, teams.customer_service)


def start_clock(ticket: Ticket, received) -> None:
    """Fix the ticket's targets in service hours from its type and urgency, as it comes."""
    due = support_sla.due_times(current_app.config, ticket.type, ticket.urgency, received)
    ticket.first_response_due = due.first_response
    ticket.resolution_due = due.resolution
    ticket.due_at = due.first_response
    ticket.paused_minutes = None


def _run_clock(ticket: Ticket, old: TicketStatus, new: TicketStatus) -> None:
    """Stop the clock while the ticket waits for the customer, and start it again with the
    service minutes it had left (a first response still to come keeps its distance to the
    resolution); a reopened ticket is due again by its resolution target counted from now."""
    config, now = current_app.config, utcnow()
    if old == TicketStatus.RESOLVED and new != TicketStatus.RESOLVED:
        target = support_sla.target_for(config, ticket.type, ticket.urgency)
        ticket.resolution_due = support_sla.resumed_due(config, target.resolution, now)
        ticket.due_at = ticket.resolution_due
        ticket.paused_minutes = None
    if new == TicketStatus.WAITING and old != TicketStatus.WAITING:
        ticket.paused_minutes = support_sla.paused_minutes(config, ticket.due_at, now)
    elif old == TicketStatus.WAITING and new != TicketStatus.WAITING:
        if ticket.paused_minutes is not None and new != TicketStatus.RESOLVED:
            due = support_sla.resumed_due(config, ticket.paused_minutes, now)
            if ticket.first_response_at is None:
                if ticket.first_response_due and ticket.resolution_due:
                    hours = service_hours.from_config(config)
                    gap = service_hours.minutes_between(
                        hours, ticket.first_response_due, ticket.resolution_due
                    )
                    ticket.resolution_due = service_hours.add_minutes(hours, due, gap)
                ticket.first_response_due = due
            else:
                ticket.resolution_due = due
            ticket.due_at = due
        ticket.paused_minutes = None


def due_state(ticket: Ticket, now=None) -> str | None:
    """ "late", "soon" or "ok" for an open ticket by when its next answer is due; "paused"
    while it waits for the customer; None when resolved."""
    if ticket.status == TicketStatus.RESOLVED:
        return None
    if ticket.status == TicketStatus.WAITING:
        return "paused"
    return support_sla.due_state(current_app.config, ticket.due_at, now or utcnow())


# ---------------------------------------------------------------- mail


# A ticket's application and sub-application, when the caller has them at hand (anything
# with a name(language)); otherwise they are the ticket's own rows.
Named = tuple[Any, Any]


def summary(ticket: Ticket, language: str, named: Named | None = None) -> dict:
    """The ticket's facts for a mail or page, in the given language."""
    application, sub = named or (ticket.application, ticket.sub_application)
    return {
        "type": TYPE_LABELS[ticket.type],
        "urgency": URGENCY_LABELS[ticket.urgency],
        "application": application.name(language),
        "sub_application": sub.name(language) if sub else None,
    }


def _mailed(
    ticket: Ticket, entry: TicketEntry | None, language: str, named: Named | None = None
) -> dict:
    """What a ticket's mail shows, and so all the mail worker writes it from."""
    return {
        "ticket": {
            "number": ticket.number,
            "status": ticket.status,
            "target_reference": ticket.target_reference,
            "first_response_due": ticket.first_response_due,
            "due_at": ticket.due_at,
        },
        "entry": None
        if entry is None
        else {
            "author_name": entry.author_name,
            "body": entry.body,
            "attachments": [{"filename": a.filename} for a in entry.attachments],
        },
        "facts": summary(ticket, language, named),
        "organisation": ticket.organisation.name,
    }


def copied(ticket: Ticket) -> list[str]:
    """The addresses of the colleagues copied on the ticket, the contact's own left out."""
    return [user.email for user in ticket.cc_users if user.email.lower() != ticket.email.lower()]


def _mail_contact(
    ticket: Ticket,
    template: str,
    entry: TicketEntry | None,
    named: Named | None = None,
    *,
    new: bool = False,
    **extra,
) -> None:
    """Mail the contact, and the colleagues copied on the ticket (a new ticket has none)."""
    outbox.queue_mail(
        template,
        [ticket.email] + ([] if new else copied(ticket)),
        language=ticket.language,
        context={
            **_mailed(ticket, entry, ticket.language, named),
            **extra,
            "status_url": status_link(ticket, ticket.language),
            "ticket_url": external_url(
                "support.ticket", number=ticket.number, language=ticket.language
            ),
        },
        record=("ticket", ticket.id),
        timezone="Europe/Oslo" if ticket.organisation.country == "NO" else None,
        render_in_worker=True,
        reply_to=reply_address(ticket),
    )


def staff_recipients(ticket: Ticket) -> list[tuple[str, str]]:
    """Who hears of the ticket, as (address, language): its handler; else its team's
    address or, without one, the team's members; else the support address."""
    if ticket.assignee_id is not None:
        return [(ticket.assignee.email, ticket.assignee.language)]
    return team_recipients(ticket.team_id)


def team_recipients(team_id: int | None) -> list[tuple[str, str]]:
    """A team's (address, language): its shared address, or else each of its members;
    without a team (or one out of use, or nobody in it) the support address
    SUPPORT_TEAM_EMAIL."""
    if team_id is not None and (known := routing().recipients.get(team_id)):
        return list(known)
    address = current_app.config.get("SUPPORT_TEAM_EMAIL")
    return [(address, current_app.config["BABEL_DEFAULT_LOCALE"])] if address else []


def notify_staff(ticket: Ticket, template: str, entry: TicketEntry | None, **context) -> None:
    """Mail the ticket's staff (staff_recipients), each in their language, with the
    ticket's facts and a link to it in the staff area."""
    named = context.pop("named", None)
    for recipient, language in staff_recipients(ticket):
        outbox.queue_mail(
            template,
            recipient,
            language=language,
            context={
                **_mailed(ticket, entry, language, named),
                **context,
                "staff_url": external_url(
                    "support_staff.ticket", number=ticket.number, language=language
                ),
            },
            record=("ticket", ticket.id),
            render_in_worker=True,
        )


def _notify_staff(
    ticket: Ticket, entry: TicketEntry, new: bool, named: Named | None = None
) -> None:
    """Tell the handler, or the team, that the customer wrote."""
    notify_staff(ticket, "support_staff_notice", entry, new=new, named=named)
