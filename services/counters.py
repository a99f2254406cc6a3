"""Running numbers: the next value of a series, inside the caller's transaction."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from extensions import db
from models.counters import Counter


def next_value(key: str, start: int = 1) -> int:
    """Take the next number of the series `key` (start, start + 1, …) in the current
    transaction.

    The UPDATE locks the counter until the transaction ends, so a concurrent caller
    waits and gets the following number; a rollback returns the number to the series,
    which therefore has no gaps.
    """
    increment = (
        sa.update(Counter)
        .where(Counter.key == key)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    )
    value = db.session.execute(increment).scalar_one_or_none()
    if value is not None:
        return value
    try:
        with db.session.begin_nested():  # the series' first number
            db.session.add(Counter(key=key, value=start))
        return start
    except IntegrityError:  # another transaction started the series at the same instant
        return db.session.execute(increment).scalar_one()
