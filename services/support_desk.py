"""The helpdesk around the tickets: teams and who handles what, the queue's scopes,
copies to colleagues, merging a duplicate, and the morning summary of what is late.

A new ticket goes to the team of its application (services.support.team_for); staff give
a ticket to a colleague or a team, and whoever gets it is told by mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from extensions import db
from models.auth import Role, User
from models.support import (
    OPEN_STATUSES,
    EntryKind,
    Team,
    Ticket,
    TicketEntry,
    TicketStatus,
    support_team_member,
    ticket_cc,
)
from models.types import one_of, utcnow
from services import accounts, outbox, service_hours, support
from services.urls import external_url

STAFF_ROLES = (Role.STAFF, Role.HEALTH, Role.ADMIN)
MAX_CC = 10  # colleagues copied on one ticket
SUMMARY_ROWS = 50  # late tickets listed in one morning mail; the rest are counted
COUNT_CAP = 1000

SCOPES = ("next", "mine", "team", "unassigned", "all")


# ---------------------------------------------------------------- teams


def teams(active_only: bool = True) -> list[Team]:
    """The teams, the customer service first (a few dozen at most: one per application)."""
    stmt = sa.select(Team).order_by(Team.application_id.is_not(None), Team.id)
    if active_only:
        stmt = stmt.where(Team.active)
    return list(db.session.scalars(stmt.limit(500)))


def staff_users(limit: int = 500) -> list[User]:
    """The staff who may handle tickets, by name (bounded)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.role.in_(STAFF_ROLES), User.active)
            .order_by(User.name, User.id)
            .limit(limit)
        )
    )


def team_ids_of(user: User) -> list[int]:
    """The teams the staff member belongs to."""
    return list(
        db.session.scalars(
            sa.select(support_team_member.c.team_id).where(support_team_member.c.user_id == user.id)
        )
    )


# ---------------------------------------------------------------- the queue's scopes


def narrow_to_scope(stmt: sa.Select, scope: str, user: User) -> sa.Select:
    """The queue's tickets of a scope for `user`: "next" (the default) is what they work on
    next, the open tickets that are theirs or unassigned in their teams (in any team if
    they belong to none); "mine" only theirs, "team" their teams', "unassigned" nobody's,
    "all" everything."""
    if scope == "mine":
        return stmt.where(Ticket.assignee_id == user.id)
    if scope == "unassigned":
        return stmt.where(Ticket.assignee_id.is_(None))
    if scope == "all":
        return stmt
    mine = team_ids_of(user)
    if scope == "team":
        return stmt.where(_in_teams(mine))
    unassigned = Ticket.assignee_id.is_(None)
    if mine:
        unassigned = sa.and_(unassigned, Ticket.team_id.in_(mine))
    # Written as one CASE, which no index answers: the few open tickets are then walked in
    # their due order by the open tickets' index and filtered, rather than the matches of
    # two indexes sorted (a page stays a page at any volume).
    ours = sa.case((Ticket.assignee_id == user.id, 1), (unassigned, 1), else_=0) == 1
    return stmt.where(one_of(Ticket.status, OPEN_STATUSES), ours)


def _in_teams(team_ids: list[int]) -> sa.ColumnElement[bool]:
    if not team_ids:
        return sa.false()
    if len(team_ids) == 1:  # the team's own index, in due order
        return Ticket.team_id == team_ids[0]
    # Several teams: filtered while the due order is walked, not sorted after (see above).
    return sa.case((Ticket.team_id.in_(team_ids), 1), else_=0) == 1


# ---------------------------------------------------------------- assignment


@dataclass(frozen=True)
class Assignee:
    """Whom a ticket is given to: a colleague (and so their team stays) or a team."""

    user: User | None = None
    team: Team | None = None

    def name(self, language: str) -> str:
        """How the assignee is named in the thread and the mail."""
        return self.user.name if self.user else self.team.name(language)


def parse_assignee(value: str) -> Assignee | None:
    """The colleague or team a select's "user:<id>" or "team:<id>" names, if it may
    handle tickets."""
    kind, _sep, number = (value or "").partition(":")
    if not number.isdigit() or len(number) > 9:
        return None
    if kind == "user":
        user = db.session.get(User, int(number))
        ok = user is not None and user.role in STAFF_ROLES and user.active
        return Assignee(user=user) if ok else None
    if kind == "team":
        team = db.session.get(Team, int(number))
        return Assignee(team=team) if team is not None and team.active else None
    return None


def assign(ticket: Ticket, staff: User, to: Assignee) -> bool:
    """Give the ticket to a colleague or a team; whoever gets it (the colleague, or the
    team's address or members) is told by mail, unless they gave it to themselves.

    A new ticket given to a colleague is in progress; given to a team it waits there,
    nobody's, for one of them to take it."""
    if to.user is not None:
        if ticket.assignee_id == to.user.id:
            return False
        ticket.assignee = to.user
    else:
        if ticket.team_id == to.team.id and ticket.assignee_id is None:
            return False
        ticket.team, ticket.assignee = to.team, None
    language = current_app.config["BABEL_DEFAULT_LOCALE"]
    ticket.entries.append(
        TicketEntry(
            kind=EntryKind.ASSIGNED,
            author_id=staff.id,
            author_name=staff.name,
            body=to.name(language),
        )
    )
    if to.user is not None and ticket.status == TicketStatus.NEW:
        support._change_status(ticket, staff, TicketStatus.IN_PROGRESS)
    ticket.updated_at = utcnow()
    db.session.flush()
    if to.user is None or to.user.id != staff.id:
        support.notify_staff(ticket, "support_assigned", None, by=staff.name)
    return True


# ---------------------------------------------------------------- copies


class CopyRefused(ValueError):
    """A colleague who cannot be copied, with the message to show."""


def add_copy(ticket: Ticket, staff: User, email: str) -> User:
    """Copy a user of the ticket's organisation on its mail; noted in the thread."""
    user = accounts.user_by_email(email)  # stored normalised: the unique index answers
    if user is None or user.organisation_id != ticket.organisation_id or not user.active:
        raise CopyRefused(
            _("%(email)s is not a user of %(organisation)s.", email=email,
              organisation=ticket.organisation.name)
        )  # fmt: skip
    if user in ticket.cc_users or user.email.lower() == ticket.email.lower():
        raise CopyRefused(_("%(email)s already gets the ticket's mail.", email=user.email))
    if len(ticket.cc_users) >= MAX_CC:
        raise CopyRefused(_("At most %(count)s colleagues can be copied.", count=MAX_CC))
    ticket.cc_users.append(user)
    support.add_note(ticket, staff, _("Copied: %(email)s", email=user.email), [])
    return user


def remove_copy(ticket: Ticket, staff: User, user_id: int) -> bool:
    """Stop copying a colleague on the ticket."""
    for user in ticket.cc_users:
        if user.id == user_id:
            ticket.cc_users.remove(user)
            support.add_note(ticket, staff, _("No longer copied: %(email)s", email=user.email), [])
            return True
    return False


def copied_tickets_of(user: User) -> sa.Select:
    """The tickets the user is copied on (their own organisation's, by the copy table)."""
    return sa.select(ticket_cc.c.ticket_id).where(ticket_cc.c.user_id == user.id)


# ---------------------------------------------------------------- merging


class MergeRefused(ValueError):
    """A merge that cannot be done, with the message to show."""


def merge(duplicate: Ticket, into: Ticket, staff: User) -> None:
    """Merge a duplicate into the ticket it repeats: its conversation moves there (in
    time order), its contact and copies are copied on the original, it is closed as
    merged, and its contact is told where the matter goes on. Only tickets of the same
    organisation merge: its customers see both."""
    if duplicate.id == into.id:
        raise MergeRefused(_("A ticket cannot be merged into itself."))
    if duplicate.merged_into_id is not None:
        raise MergeRefused(_("This ticket has been merged already."))
    if into.merged_into_id is not None:
        raise MergeRefused(_("%(number)s was merged into another ticket.", number=into.number))
    if duplicate.organisation_id != into.organisation_id:
        raise MergeRefused(_("Only tickets of the same organisation can be merged."))
    db.session.execute(
        sa.update(TicketEntry)
        .where(TicketEntry.ticket_id == duplicate.id)
        .values(ticket_id=into.id)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(duplicate, ["entries"])
    db.session.expire(into, ["entries"])
    colleagues = list(duplicate.cc_users)
    if duplicate.user is not None and duplicate.user_id != into.user_id:
        colleagues.append(duplicate.user)
    for user in colleagues:
        if user not in into.cc_users and user.email.lower() != into.email.lower():
            if len(into.cc_users) < MAX_CC:
                into.cc_users.append(user)
    duplicate.merged_into = into
    duplicate.entries.append(
        TicketEntry(
            kind=EntryKind.NOTE,
            author_id=staff.id,
            author_name=staff.name,
            body=_("Merged into %(number)s.", number=into.number),
        )
    )
    into.entries.append(
        TicketEntry(
            kind=EntryKind.NOTE,
            author_id=staff.id,
            author_name=staff.name,
            body=_("%(number)s was merged into this ticket.", number=duplicate.number),
        )
    )
    if duplicate.status != TicketStatus.RESOLVED:
        support._change_status(duplicate, staff, TicketStatus.RESOLVED)
    duplicate.updated_at = into.updated_at = utcnow()
    db.session.flush()
    support._mail_contact(
        duplicate,
        "support_merged",
        entry=None,
        into={
            "number": into.number,
            "status_url": support.status_link(into, duplicate.language),
        },
    )


# ---------------------------------------------------------------- the morning summary


def late_summary(now: datetime | None = None) -> str:
    """Mail each team's staff the open tickets that are late (their answer was due),
    the earliest due first, at most SUMMARY_ROWS listed and the rest counted; a
    team with nothing late gets no mail. Tickets waiting for the customer are not late."""
    now = now or utcnow()
    hours = service_hours.from_config(current_app.config)
    if not hours.is_service_day(now.astimezone(hours.zone).date()):
        return "not a service day"
    sent = 0
    working = (TicketStatus.NEW, TicketStatus.IN_PROGRESS)
    active = teams()
    # A ticket of no team, or of a team taken out of use, goes in the support address's.
    teamless = sa.or_(Ticket.team_id.is_(None), Ticket.team_id.not_in([t.id for t in active]))
    for team in [None, *active]:
        late = (
            sa.select(Ticket)
            .where(one_of(Ticket.status, OPEN_STATUSES), Ticket.status.in_(working))
            .where(Ticket.due_at <= now)
        )
        late = late.where(teamless if team is None else Ticket.team_id == team.id)
        rows = list(db.session.scalars(late.order_by(Ticket.due_at, Ticket.id).limit(SUMMARY_ROWS)))
        if not rows:
            continue
        count = len(rows)
        if count == SUMMARY_ROWS:
            count = db.session.scalar(
                sa.select(sa.func.count()).select_from(late.limit(COUNT_CAP).subquery())
            )
        recipients = support.team_recipients(team.id if team else None)
        for address, language in recipients:
            outbox.queue_mail(
                "support_late_summary",
                address,
                language=language,
                context={
                    "team": team.name(language) if team else None,
                    "count": count,
                    "capped": count >= COUNT_CAP,
                    "tickets": [
                        {
                            "number": t.number,
                            "due_at": t.due_at,
                            "handler": t.assignee.name if t.assignee else None,
                            "organisation": t.organisation.name,
                            "url": external_url(
                                "support_staff.ticket", number=t.number, language=language
                            ),
                        }
                        for t in rows
                    ],
                    "queue_url": external_url("support_staff.queue", language=language),
                },
                render_in_worker=True,
            )
            sent += 1
    db.session.commit()
    return f"{sent} summaries sent"
