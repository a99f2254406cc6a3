"""Running numbers (ticket numbers, invoice numbers) that must have no gaps and no twins."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db


class Counter(db.Model):
    """The last number handed out in one series, e.g. "ticket:2026".

    Incremented with a single UPDATE in the caller's transaction: the row lock (or
    SQLite's write lock) makes a second writer wait, and a rolled-back submission gives
    its number back.
    """

    __tablename__ = "counter"

    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)
