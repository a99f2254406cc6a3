"""The staff's dashboards: the figures people would rather look at than read, each as a
chart drawn on the server and the same figures as a table (templates/_chart.html).

Every figure is an aggregate over a bounded range, answered by an index: the next
courses, the last weeks or days, the open tickets. Nothing reads a whole table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from extensions import db
from models.invoicing import SalesInvoice
from models.payments import OnlinePayment, PaymentState
from models.support import OPEN_STATUSES, Team, Ticket, TicketStatus
from models.training import Course, Enrolment, EnrolmentStatus
from models.types import one_of, utcnow
from services.timezones import HELSINKI

COURSES = 15  # the next courses whose fill rate is shown
WEEKS = 12
DAYS = 14


@dataclass
class Series:
    """One chart: its categories (rows of the table), the series' names (columns) and a
    value for each; `unit` tells the table how to show them ("count" or "percent")."""

    title: str
    categories: list[str]
    names: list[str]
    values: list[list[float]]  # values[category][series]
    unit: str = "count"
    note: str = ""
    links: list[str | None] = field(default_factory=list)

    @property
    def maximum(self) -> float:
        """The largest value, the scale's end (at least 1)."""
        return max([1.0, *(v for row in self.values for v in row)])


def _local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=HELSINKI)


def _buckets(column, edges: list[datetime]) -> sa.ColumnElement:
    """The index of the range [edges[i], edges[i+1]) a timestamp falls in, as SQL: one
    CASE, the same on SQLite and PostgreSQL (no date functions of either)."""
    whens = [
        (sa.and_(column >= start, column < end), index)
        for index, (start, end) in enumerate(zip(edges, edges[1:], strict=False))
    ]
    return sa.case(*whens, else_=-1)


def _last_days(now: datetime) -> tuple[list[date], list[datetime]]:
    """The last DAYS days in Helsinki, today the last, and the DAYS + 1 instants that
    bound them (each day's local midnight, then tomorrow's)."""
    today = now.astimezone(HELSINKI).date()
    days = [today - timedelta(days=DAYS - 1 - n) for n in range(DAYS)]
    return days, [_local_day_start(d) for d in days] + [_local_day_start(today + timedelta(days=1))]


# ---------------------------------------------------------------- training


def course_fill(now: datetime | None = None) -> Series:
    """The next courses' seats taken of their capacity, and their waiting lists."""
    now = now or utcnow()
    courses = list(
        db.session.execute(
            sa.select(
                Course.id, Course.title, Course.starts_at, Course.capacity, Course.seats_taken
            )
            .where(Course.starts_at >= now)
            .order_by(Course.starts_at, Course.id)
            .limit(COURSES)
        )
    )
    waiting = dict(
        db.session.execute(
            sa.select(Enrolment.course_id, sa.func.count())
            .where(
                Enrolment.course_id.in_([c.id for c in courses]),
                Enrolment.status == EnrolmentStatus.WAITING,
            )
            .group_by(Enrolment.course_id)
        ).all()
    ) if courses else {}  # fmt: skip
    return Series(
        title=_("Seats of the next courses"),
        categories=[c.title for c in courses],
        names=[_("Taken"), _("Free"), _("On the waiting list")],  # fmt: skip
        values=[
            [c.seats_taken, max(c.capacity - c.seats_taken, 0), waiting.get(c.id, 0)]
            for c in courses
        ],
        links=[str(c.id) for c in courses],
    )


def enrolments_per_week(now: datetime | None = None) -> Series:
    """Enrolments made in each of the last WEEKS weeks (Monday to Sunday, Helsinki time),
    and how many of them went to a waiting list."""
    now = now or utcnow()
    today = now.astimezone(HELSINKI).date()
    monday = today - timedelta(days=today.weekday())
    starts = [monday - timedelta(weeks=WEEKS - 1 - n) for n in range(WEEKS)]
    edges = [_local_day_start(d) for d in starts] + [_local_day_start(monday + timedelta(weeks=1))]
    made = sa.func.coalesce(Enrolment.created_at, Enrolment.welcome_sent_at)  # its index's
    bucket = _buckets(made, edges).label("bucket")
    rows = db.session.execute(
        sa.select(
            bucket,
            sa.func.count(),
            sa.func.sum(sa.case((Enrolment.status == EnrolmentStatus.WAITING, 1), else_=0)),
        )
        .where(made >= edges[0], made < edges[-1])
        .group_by(bucket)
    )
    counts = {index: (total, waiting or 0) for index, total, waiting in rows}
    return Series(
        title=_("Enrolments per week"),
        categories=[_("Week %(week)s", week=d.isocalendar().week) for d in starts],
        names=[_("Enrolments"), _("On the waiting list")],
        values=[list(counts.get(n, (0, 0))) for n in range(WEEKS)],
    )


# ---------------------------------------------------------------- the invoice desk


def desk_days(now: datetime | None = None) -> Series:
    """For each of the last DAYS days: the invoices that came in, those forwarded the same
    day (the 15:00 promise kept for those sent by 15:00), and those forwarded later."""
    days, edges = _last_days(now or utcnow())
    sent = sa.func.coalesce(SalesInvoice.sent_at, SalesInvoice.forwarded_at)  # its index's
    bucket = _buckets(sent, edges).label("bucket")
    day_of_forward = _buckets(SalesInvoice.forwarded_at, edges)
    rows = db.session.execute(
        sa.select(
            bucket,
            sa.func.count(),
            sa.func.sum(sa.case((day_of_forward == bucket, 1), else_=0)),
            sa.func.sum(
                sa.case(
                    (sa.and_(SalesInvoice.forwarded_at.is_not(None), day_of_forward != bucket), 1),
                    else_=0,
                )
            ),
        )
        .where(sent >= edges[0], sent < edges[-1], SalesInvoice.sent_at.is_not(None))
        .group_by(bucket)
    )
    counts = {index: (total, same or 0, later or 0) for index, total, same, later in rows}
    return Series(
        title=_("Invoices per day against the 15:00 promise"),
        categories=[d.isoformat() for d in days],
        names=[_("Came in"), _("Forwarded the same day"), _("Forwarded later")],  # fmt: skip
        values=[list(counts.get(n, (0, 0, 0))) for n in range(DAYS)],
        note=_(
            "By the day they came in; one sent after 15:00 or on a day off is due the next "
            "working day."
        ),
    )


# ---------------------------------------------------------------- tickets


def open_tickets_by_team(language: str) -> Series:
    """The open tickets of each team: late (their answer was due), due later, and
    waiting for the customer (their clock stopped)."""
    now = utcnow()
    working = (TicketStatus.NEW, TicketStatus.IN_PROGRESS)
    rows = db.session.execute(
        sa.select(
            Ticket.team_id,
            sa.func.sum(
                sa.case((sa.and_(Ticket.status.in_(working), Ticket.due_at <= now), 1), else_=0)
            ),
            sa.func.sum(
                sa.case((sa.and_(Ticket.status.in_(working), Ticket.due_at > now), 1), else_=0)
            ),
            sa.func.sum(sa.case((Ticket.status == TicketStatus.WAITING, 1), else_=0)),
        )
        .where(one_of(Ticket.status, OPEN_STATUSES))
        .group_by(Ticket.team_id)
    )
    counts = {
        team_id: (late or 0, later or 0, waiting or 0) for team_id, late, later, waiting in rows
    }
    teams = {
        t.id: t.name(language)
        for t in db.session.scalars(sa.select(Team).where(Team.id.in_([k for k in counts if k])))
    }
    order = sorted(counts, key=lambda k: (k is None, teams.get(k, "")))
    return Series(
        title=_("Open tickets by team"),
        categories=[teams.get(k, _("No team")) for k in order],
        names=[_("Late"), _("On time"), _("Waiting for customer")],  # fmt: skip
        values=[list(counts[k]) for k in order],
    )


# ---------------------------------------------------------------- payments


def payments_per_day(now: datetime | None = None) -> Series:
    """The online payments paid on each of the last DAYS days, by payment method."""
    days, edges = _last_days(now or utcnow())
    bucket = _buckets(OnlinePayment.created_at, edges).label("bucket")
    method = sa.func.coalesce(OnlinePayment.method, "").label("method")
    rows = list(
        db.session.execute(
            sa.select(bucket, method, sa.func.count())
            .where(
                OnlinePayment.created_at >= edges[0],
                OnlinePayment.created_at < edges[-1],
                OnlinePayment.state == PaymentState.PAID,
            )
            .group_by(bucket, method)
        )
    )
    methods = sorted({m for _, m, _ in rows})
    counts = {(index, m): n for index, m, n in rows}
    return Series(
        title=_("Online payments per day and method"),
        categories=[d.isoformat() for d in days],
        names=[m or _("Unknown method") for m in methods] or [_("Paid")],
        values=[[counts.get((n, m), 0) for m in methods] or [0] for n in range(DAYS)],
    )
