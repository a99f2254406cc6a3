"""The customer's one-click rating of a resolved ticket, and the staff's monthly report.

The resolution mail carries one signed link per rating (`rating_links`); the link names
the ticket, the value and the ticket's link nonce, so a new status link revokes it too.
The report counts, per calendar month (Helsinki time) and team, the tickets resolved,
how they were rated, and how many met their first-response and resolution targets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from itsdangerous import Signer

from extensions import db
from models.support import Rating, Team, Ticket, TicketStatus
from models.types import utcnow
from services.timezones import HELSINKI, day_start_utc
from services.urls import external_url

RATING_LABELS = {
    Rating.GOOD: _l("Good"),
    Rating.OKAY: _l("Okay"),
    Rating.POOR: _l("Poor"),
}

# The values best first: the order the mail and the page offer them in.
RATINGS = (Rating.GOOD, Rating.OKAY, Rating.POOR)

MAX_COMMENT = 2000


# ---------------------------------------------------------------- links


def _signer() -> Signer:
    return Signer(
        current_app.config["SECRET_KEY"], salt="support-ticket-rating", digest_method=hashlib.sha256
    )


def _signed_value(ticket: Ticket, value: int) -> bytes:
    return f"{ticket.number}:{int(value)}:{ticket.link_nonce}".encode()


def rating_signature(ticket: Ticket, value: Rating) -> str:
    """The secret of the link that rates the ticket with `value`."""
    return _signer().get_signature(_signed_value(ticket, value)).decode()


def rating_url(ticket: Ticket, value: Rating, language: str | None = None) -> str:
    """The absolute link that rates the ticket with `value`; in `language` when given."""
    return external_url(
        "support.rate",
        number=ticket.number,
        value=int(value),
        signature=rating_signature(ticket, value),
        language=language,
    )


def rating_links(ticket: Ticket, language: str) -> list[dict]:
    """The rating links of the resolution mail as plain data, best first:
    [{"value": 3, "label": "Good", "url": …}, …], labels and pages in `language`."""
    with force_locale(language):
        return [
            {
                "value": int(value),
                "label": str(RATING_LABELS[value]),
                "url": rating_url(ticket, value, language),
            }
            for value in RATINGS
        ]


def parse_value(value: int) -> Rating | None:
    """The rating a link's number stands for, or None for a number that is none."""
    try:
        return Rating(value)
    except ValueError:
        return None


def ticket_by_rating_link(number: str, value: int, signature: str) -> Ticket | None:
    """The ticket a rating link names, if the value is a rating and the signature is
    right for the ticket's current link nonce (checked in constant time); else None."""
    rating = parse_value(value)
    if rating is None or not signature.isascii():
        return None
    # The link holds the number as stored; services.support.by_number, which reads it as
    # typed, is not imported here: services.support imports this module for its mail.
    if len(number) > 20:
        return None
    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
    if ticket is None:
        return None
    if not _signer().verify_signature(_signed_value(ticket, rating), signature.encode()):
        return None
    return ticket


# ---------------------------------------------------------------- rating


def can_rate(ticket: Ticket) -> bool:
    """Whether the ticket takes a rating: only a resolved one does."""
    return ticket.status == TicketStatus.RESOLVED


def record(ticket: Ticket, value: Rating, comment: str | None = None) -> bool:
    """Rate the resolved ticket (a later click changes the rating: the last one counts),
    with the comment when one is given; False, and nothing saved, for an open ticket.

    `rated_at` is when the rating was given or last changed: the same link opened again
    changes nothing. The caller commits.
    """
    if not can_rate(ticket):
        return False
    value = Rating(value)
    if ticket.rating != int(value) or ticket.rated_at is None:
        ticket.rating = int(value)
        ticket.rated_at = utcnow()
    if comment is not None:
        ticket.rating_comment = comment.strip()[:MAX_COMMENT] or None
    return True


# ---------------------------------------------------------------- the report


@dataclass
class Row:
    """One line of the report: a month and a team, or (month and team None) the total."""

    month: date | None  # the first day of the calendar month, Helsinki time
    team_id: int | None
    team_names: dict | None = None  # None: tickets without a team (or the total row)
    resolved: int = 0
    rated: int = 0
    good: int = 0
    okay: int = 0
    poor: int = 0
    first_response_measured: int = 0  # tickets with both a first response and its target
    first_response_met: int = 0
    resolution_measured: int = 0  # tickets with a resolution target
    resolution_met: int = 0
    is_total: bool = False

    def team_name(self, language: str) -> str | None:
        """The team's name in the language (Finnish when it has none); None without a team."""
        if not self.team_names:
            return None
        return self.team_names.get(language) or self.team_names.get("fi")

    @property
    def share_good(self) -> float | None:
        """The share of the rated tickets rated good; None when none were rated."""
        return self.good / self.rated if self.rated else None

    @property
    def first_response_share(self) -> float | None:
        """The share of first responses given within their target; None without any."""
        if not self.first_response_measured:
            return None
        return self.first_response_met / self.first_response_measured

    @property
    def resolution_share(self) -> float | None:
        """The share of resolutions within their target; None without any targets."""
        if not self.resolution_measured:
            return None
        return self.resolution_met / self.resolution_measured

    def add(self, other: Row) -> None:
        """Add another row's counts to this one (the total's)."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


_COUNTS = (
    "resolved",
    "rated",
    "good",
    "okay",
    "poor",
    "first_response_measured",
    "first_response_met",
    "resolution_measured",
    "resolution_met",
)


def month_starts(months: int, now: datetime | None = None) -> list[date]:
    """The first days of the last `months` calendar months in Helsinki, the current one
    last, and the first day of the month after it: the report's bucket boundaries."""
    local = (now or utcnow()).astimezone(HELSINKI)
    year, month = local.year, local.month
    starts = []
    for back in range(months - 1, -2, -1):  # …, the current month, the next one
        total = year * 12 + (month - 1) - back
        starts.append(date(total // 12, total % 12 + 1, 1))
    return starts


def report(months: int = 12, now: datetime | None = None) -> list[Row]:
    """The ratings and targets per calendar month (Helsinki time) and team, of the
    tickets resolved in the last `months` months, newest month first, with the total
    row last. One aggregate query over the resolved_at range (its index), the months
    bucketed by a CASE over their boundaries: the same SQL on SQLite and PostgreSQL."""
    months = max(1, min(int(months), 120))
    starts = month_starts(months, now)
    bounds = [day_start_utc(start) for start in starts]
    bucket = sa.case(
        *((Ticket.resolved_at < bound, index) for index, bound in enumerate(bounds[1:]))
    ).label("bucket")
    resolved = (
        sa.select(
            bucket,
            Ticket.team_id,
            Ticket.rating,
            Ticket.first_response_at,
            Ticket.first_response_due,
            Ticket.resolved_at,
            Ticket.resolution_due,
        )
        .where(
            Ticket.resolved_at >= bounds[0],
            Ticket.resolved_at < bounds[-1],
            Ticket.status == TicketStatus.RESOLVED,
            Ticket.merged_into_id.is_(None),  # a duplicate: its matter went on elsewhere
        )
        .subquery()
    )
    t = resolved.c

    def counted(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.count(sa.case((condition, 1)))

    stmt = sa.select(
        t.bucket,
        t.team_id,
        sa.func.count(),
        sa.func.count(t.rating),
        counted(t.rating == int(Rating.GOOD)),
        counted(t.rating == int(Rating.OKAY)),
        counted(t.rating == int(Rating.POOR)),
        counted(sa.and_(t.first_response_at.is_not(None), t.first_response_due.is_not(None))),
        counted(t.first_response_at <= t.first_response_due),
        counted(t.resolution_due.is_not(None)),
        counted(t.resolved_at <= t.resolution_due),
    ).group_by(t.bucket, t.team_id)
    found = db.session.execute(stmt).all()
    team_ids = {row[1] for row in found if row[1] is not None}
    names = (
        dict(db.session.execute(sa.select(Team.id, Team.names).where(Team.id.in_(team_ids))).all())
        if team_ids
        else {}
    )
    rows = [
        Row(starts[index], team_id, names.get(team_id), *counts)
        for index, team_id, *counts in found
    ]
    rows.sort(
        key=lambda row: (
            -row.month.toordinal(),
            row.team_id is None,
            row.team_name("fi") or "",
            row.team_id or 0,
        )
    )
    total = Row(None, None, is_total=True)
    for row in rows:
        total.add(row)
    return [*rows, total]
