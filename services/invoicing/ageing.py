"""The receivables' ageing: what the payers still owe, by days past the due date.

The invoices with the payer (forwarded or open) that have an amount outstanding fall in
five buckets by how many days their due date is behind the desk's today (Helsinki): not
due, 1–30, 31–60, 61–90 and over 90 days. Each bucket has its count and its sum, and the
totals are the amount outstanding, of which overdue, and the count of open invoices.

The figures are one aggregate in SQL, with the buckets' cut-off dates computed here, so
that the same statement runs on SQLite and PostgreSQL and no invoice is loaded into
Python. Sums are taken in whole cents: SQLite keeps the amounts as floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from extensions import db
from models.invoicing import WITH_THE_PAYER, SalesInvoice, outstanding_sql
from models.types import one_of
from services.invoicing import desk

CENT = Decimal("0.01")
# The buckets, each (key, the oldest days past due it holds); the last has no end.
BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("not_due", 0),
    ("1-30", 30),
    ("31-60", 60),
    ("61-90", 90),
    ("over-90", None),
)


def outstanding() -> sa.ColumnElement:
    """An invoice's amount outstanding, in SQL (`models.invoicing.outstanding_sql`)."""
    return outstanding_sql()


def _cents() -> sa.ColumnElement:
    return sa.func.round(outstanding() * 100)


@dataclass(frozen=True)
class Bucket:
    """One bucket of the ageing: its key, the invoices in it and what they owe."""

    key: str
    count: int
    amount: Decimal

    @property
    def overdue(self) -> bool:
        """Whether the bucket's invoices are past their due date."""
        return self.key != "not_due"


@dataclass(frozen=True)
class Ageing:
    """The ageing of some receivables on a day."""

    day: date
    buckets: tuple[Bucket, ...]

    @property
    def outstanding(self) -> Decimal:
        """What the payers owe in all."""
        return sum((b.amount for b in self.buckets), Decimal("0.00"))

    @property
    def overdue(self) -> Decimal:
        """What they owe past the due dates."""
        return sum((b.amount for b in self.buckets if b.overdue), Decimal("0.00"))

    @property
    def count(self) -> int:
        """The open invoices: those with an amount outstanding."""
        return sum(b.count for b in self.buckets)

    @property
    def overdue_count(self) -> int:
        """The open invoices past their due date."""
        return sum(b.count for b in self.buckets if b.overdue)

    def share(self, bucket: Bucket) -> float:
        """The bucket's part of the largest bucket's amount (0–1), for the chart's bars."""
        largest = max((b.amount for b in self.buckets), default=Decimal(0))
        return float(bucket.amount / largest) if largest else 0.0


def cut_offs(day: date) -> list[date]:
    """The earliest due date of each bucket but the last, on `day`: not due from `day`
    on, 1–30 days from `day` − 30, and so on."""
    return [day - timedelta(days=days) for _key, days in BUCKETS if days is not None]


def ageing(*, user_id: int | None = None, day: date | None = None) -> Ageing:
    """The ageing of every user's receivables, or of one user's, on `day` (the desk's
    today): one SELECT, through the index of the invoices with the payer."""
    day = day or desk.today()
    due = SalesInvoice.due_date
    cents = _cents()
    bucket_conditions = []
    later = None
    for cut_off in cut_offs(day):
        condition = due >= cut_off if later is None else sa.and_(due >= cut_off, due < later)
        bucket_conditions.append(condition)
        later = cut_off
    bucket_conditions.append(due < later)
    columns = []
    for condition in bucket_conditions:
        columns.append(sa.func.count(sa.case((condition, 1))))
        columns.append(sa.func.coalesce(sa.func.sum(sa.case((condition, cents), else_=0)), 0))
    stmt = sa.select(*columns).where(one_of(SalesInvoice.status, WITH_THE_PAYER), cents > 0)
    if user_id is not None:
        stmt = stmt.where(SalesInvoice.user_id == user_id)
    row = db.session.execute(stmt).one()
    return Ageing(
        day=day,
        buckets=tuple(
            Bucket(key, int(row[2 * n]), (Decimal(int(row[2 * n + 1])) / 100).quantize(CENT))
            for n, (key, _days) in enumerate(BUCKETS)
        ),
    )
