"""The contact form (Yhteydenotto): applications, tickets, their messages and screenshots."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.types import UTCDateTime, partial_index, sql_list, utcnow, value_enum


class TicketType(enum.StrEnum):
    """Tyyppi: what the contact is about, in the seed's order."""

    DEVELOPMENT_IDEA = "kehitysidea"
    MALFUNCTION = "toimintahairio"
    SUPPORT_REQUEST = "tukipyynto"
    PHONE_SUPPORT = "puhelintukipyynto"
    SALES = "myyntiasiat"
    TRAINING = "koulutusasiat"
    BILLING = "laskutusasiat"
    QUALITY_FEEDBACK = "laatupalaute"
    OTHER = "muut"
    CONTRACT_CHANGE = "sopimusmuutos"


class Urgency(enum.StrEnum):
    """Käsittelynopeus."""

    NORMAL = "normaali"
    FASTER = "nopeampi"  # Normaalia nopeammin


class TicketStatus(enum.StrEnum):
    NEW = "uusi"
    IN_PROGRESS = "kasittelyssa"
    WAITING = "odottaa"  # waiting for the customer
    RESOLVED = "ratkaistu"


OPEN_STATUSES = (TicketStatus.NEW, TicketStatus.IN_PROGRESS, TicketStatus.WAITING)


class EntryKind(enum.StrEnum):
    """What an entry of a ticket's thread is."""

    CUSTOMER = "customer"  # the contact's message, or a later addition of theirs
    REPLY = "reply"  # staff's answer, mailed to the contact
    NOTE = "note"  # staff's internal note, never shown to the customer
    STATUS = "status"  # a change of status
    ASSIGNED = "assigned"  # a change of handler, for staff only


CUSTOMER_VISIBLE = (EntryKind.CUSTOMER, EntryKind.REPLY, EntryKind.STATUS)


class TeamKind(enum.StrEnum):
    """Who a team is: the customer service, or an application's maintenance."""

    CUSTOMER_SERVICE = "asiakaspalvelu"
    MAINTENANCE = "sovellusyllapito"


class Rating(enum.IntEnum):
    """The customer's satisfaction with a resolved ticket, one click in the mail."""

    POOR = 1
    OKAY = 2
    GOOD = 3


support_team_member = sa.Table(
    "support_team_member",
    db.metadata,
    sa.Column("team_id", sa.ForeignKey("support_team.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "user_id", sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)

# Colleagues of the customer's organisation who get the ticket's mail as a copy.
ticket_cc = sa.Table(
    "ticket_cc",
    db.metadata,
    sa.Column("ticket_id", sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "user_id", sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
    ),
)


class Application(db.Model):
    """Sovellus: an application the contact is about; staff keep the list."""

    __tablename__ = "support_application"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The part of this portal it stands for ("training", …), so that the form opened from
    # that part has it chosen; None for applications outside the portal.
    part: Mapped[str | None] = mapped_column(sa.String(50), unique=True)
    # The name in each language ({"fi": "Koulutuskalenteri", "sv": …}); Finnish always.
    names: Mapped[dict] = mapped_column(sa.JSON)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    sub_applications: Mapped[list[SubApplication]] = relationship(
        back_populates="application",
        order_by="(SubApplication.position, SubApplication.id)",
    )

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["fi"]


class SubApplication(db.Model):
    """Alisovellus, e.g. Raportti (the application's reports)."""

    __tablename__ = "support_sub_application"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("support_application.id", ondelete="CASCADE"), index=True
    )
    names: Mapped[dict] = mapped_column(sa.JSON)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    application: Mapped[Application] = relationship(back_populates="sub_applications")

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["fi"]


class Team(db.Model):
    """A team that handles tickets: the customer service, or the maintenance of one
    application, which gets that application's new tickets."""

    __tablename__ = "support_team"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TeamKind] = mapped_column(value_enum(TeamKind))
    # The application a maintenance team looks after (one team per application).
    application_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("support_application.id", ondelete="SET NULL"), unique=True
    )
    names: Mapped[dict] = mapped_column(sa.JSON)
    # The team's shared address, told of its new tickets; without one, its members are.
    email: Mapped[str | None] = mapped_column(sa.String(254))
    active: Mapped[bool] = mapped_column(default=True)

    application: Mapped[Application | None] = relationship()
    members = relationship("User", secondary=support_team_member, order_by="User.name")

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["fi"]


class CannedReply(db.Model):
    """Valmisvastaus: a reply staff insert, written in each language, with the ticket's
    fields ({{ number }}, {{ customer }}, …) filled in when it is used."""

    __tablename__ = "support_canned_reply"

    id: Mapped[int] = mapped_column(primary_key=True)
    titles: Mapped[dict] = mapped_column(sa.JSON)  # {"fi": …, "sv": …, "nb": …, "en": …}
    bodies: Mapped[dict] = mapped_column(sa.JSON)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    def title(self, language: str) -> str:
        return self.titles.get(language) or self.titles["fi"]

    def body(self, language: str) -> str:
        return self.bodies.get(language) or self.bodies["fi"]


# The open tickets, few among years of resolved ones: the queue's indexes hold them only.
OPEN_TICKETS = sql_list("status", OPEN_STATUSES)


class Ticket(db.Model):
    """One contact sent through the form, with its ticket number (tikettinumero)."""

    __tablename__ = "ticket"
    __table_args__ = (
        # The queue, by when the next answer is due: all tickets, the open ones, a team's
        # and a handler's open ones.
        sa.Index("ix_ticket_due", "due_at", "id"),
        partial_index("ix_ticket_open_due", "due_at", "id", where=OPEN_TICKETS),
        partial_index("ix_ticket_team_due", "team_id", "due_at", "id", where=OPEN_TICKETS),
        partial_index("ix_ticket_assignee_due", "assignee_id", "due_at", "id", where=OPEN_TICKETS),
        sa.Index("ix_ticket_organisation", "organisation_id", "created_at", "id"),
        sa.Index("ix_ticket_resolved_at", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(20), unique=True)  # T-2026-004217
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT")
    )
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    email: Mapped[str] = mapped_column(sa.String(254))
    language: Mapped[str] = mapped_column(sa.String(5), default="fi")
    type: Mapped[TicketType] = mapped_column(value_enum(TicketType))
    urgency: Mapped[Urgency] = mapped_column(value_enum(Urgency), default=Urgency.NORMAL)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("support_application.id", ondelete="RESTRICT"), index=True
    )
    sub_application_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("support_sub_application.id", ondelete="SET NULL")
    )
    # Kohdistustieto as typed, and the portal record it matched in the organisation.
    target_reference: Mapped[str | None] = mapped_column(sa.String(100))
    target_type: Mapped[str | None] = mapped_column(sa.String(50))
    target_id: Mapped[str | None] = mapped_column(sa.String(50))
    status: Mapped[TicketStatus] = mapped_column(value_enum(TicketStatus), default=TicketStatus.NEW)
    assignee_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("support_team.id", ondelete="SET NULL")
    )
    # The targets in service hours (services.support_sla), fixed when the ticket comes:
    # the first response is due by one, the resolution by the other. `due_at` is the
    # next of them (the first response until it is given), what the queue sorts by.
    first_response_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # While the ticket waits for the customer the clock stops: the service minutes left.
    paused_minutes: Mapped[int | None] = mapped_column()
    # The ticket this duplicate was merged into; its thread went there.
    merged_into_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="SET NULL")
    )
    rating: Mapped[int | None] = mapped_column(sa.SmallInteger)
    rating_comment: Mapped[str | None] = mapped_column(sa.Text)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Mixed into the signature of the tracking link; a new nonce revokes the old link.
    link_nonce: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The resolved ticket this one follows up: the customer wrote after it could reopen.
    follows_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="SET NULL"), index=True
    )

    organisation = relationship("Organisation")
    follows: Mapped[Ticket | None] = relationship(remote_side=[id], foreign_keys=[follows_id])
    merged_into: Mapped[Ticket | None] = relationship(
        remote_side=[id], foreign_keys=[merged_into_id]
    )
    team: Mapped[Team | None] = relationship()
    cc_users = relationship("User", secondary=ticket_cc, order_by="User.name")
    user = relationship("User", foreign_keys=[user_id])
    assignee = relationship("User", foreign_keys=[assignee_id])
    application: Mapped[Application] = relationship()
    sub_application: Mapped[SubApplication | None] = relationship()
    entries: Mapped[list[TicketEntry]] = relationship(
        back_populates="ticket",
        order_by="(TicketEntry.created_at, TicketEntry.id)",
        cascade="all, delete-orphan",
    )

    @property
    def is_open(self) -> bool:
        return self.status != TicketStatus.RESOLVED

    @property
    def message(self) -> str:
        """The contact's own message (Viesti), the thread's first entry."""
        return self.entries[0].body if self.entries else ""

    def __repr__(self) -> str:
        return f"<Ticket {self.number} {self.status}>"


class TicketEntry(db.Model):
    """An entry of a ticket's thread: a message, reply, internal note or change."""

    __tablename__ = "ticket_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[EntryKind] = mapped_column(value_enum(EntryKind))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    # The name shown, kept as it was (a user may be renamed or removed later).
    author_name: Mapped[str] = mapped_column(sa.String(254))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    from_status: Mapped[TicketStatus | None] = mapped_column(value_enum(TicketStatus))
    to_status: Mapped[TicketStatus | None] = mapped_column(value_enum(TicketStatus))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="entries")
    author = relationship("User")
    attachments: Mapped[list[TicketAttachment]] = relationship(
        back_populates="entry", order_by="TicketAttachment.id"
    )


class TicketAttachment(db.Model):
    """A screenshot (kuvakaappaus), re-encoded on upload and kept outside static/.

    Uploaded before the message is sent (a form that comes back with an error keeps
    its images): until then it has no entry, only the key its form carries.
    """

    __tablename__ = "ticket_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket_entry.id", ondelete="CASCADE"), index=True
    )
    # The form that uploaded it, while it is pending: who may claim it, and its key.
    owner: Mapped[str | None] = mapped_column(sa.String(50))
    upload_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    stored_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(50))
    size: Mapped[int] = mapped_column()
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    entry: Mapped[TicketEntry | None] = relationship(back_populates="attachments")


class InboundState(enum.StrEnum):
    """What became of a mail that reached the support address."""

    ADDED = "added"  # added to its ticket (or a follow-up ticket) as the customer's message
    REVIEW = "review"  # waits for staff: the sender is not the ticket's customer or colleague
    IGNORED = "ignored"  # an auto-reply, a mailing list's mail, or no ticket named
    BOUNCE = "bounce"  # a delivery report: the portal's mail it names is marked failed
    MALFORMED = "malformed"  # could not be read; kept aside with the reason
    DISCARDED = "discarded"  # staff looked at it and threw it away


# The mails staff look at: those the queries state literally, as the index does.
WAITING_FOR_STAFF = "state IN ('review', 'malformed')"


class InboundMail(db.Model):
    """A mail received at the support address, by IMAP or the pipe command, once: its
    Message-ID (or the digest of a message without one) is unique, so the same message
    delivered twice lands once. The raw message is kept for those staff look at."""

    __tablename__ = "inbound_mail"
    __table_args__ = (
        # The staff's review queue: the few waiting among years of added ones.
        partial_index("ix_inbound_mail_review", "received_at", "id", where=WAITING_FOR_STAFF),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(sa.String(10))  # imap | pipe
    sender: Mapped[str] = mapped_column(sa.String(254), default="")
    subject: Mapped[str] = mapped_column(sa.String(255), default="")
    state: Mapped[InboundState] = mapped_column(value_enum(InboundState))
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket.id", ondelete="SET NULL"), index=True
    )
    entry_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket_entry.id", ondelete="SET NULL")
    )
    raw: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)

    ticket: Mapped[Ticket | None] = relationship()

    def __repr__(self) -> str:
        return f"<InboundMail {self.id} {self.state}>"
