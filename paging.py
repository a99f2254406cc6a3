"""Bounded lists: keyset (seek) pages and capped counts.

A page is found by the row it follows, not by how many rows come before it, so the last
page of a million rows costs what the first does: the query walks the list's index from
the cursor and stops after one page. A count stops at `COUNT_CAP`: "more than 10 000" is
an honest answer where an exact count of a million rows is not needed.

The cursor in the address is a row's id (`?after=123`, `?before=123`, `?last=1`); the
values of the other ordering columns are read from that row, so nothing in the address
is parsed as a date or a name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import abort, request
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from extensions import db

COUNT_CAP = 10_000
CURSOR_ARGS = ("after", "before", "last", "page")
_MAX_ID = 2**31 - 1


@dataclass
class Page:
    """One page of a list, with what its navigation needs."""

    items: list[Any]
    per_page: int
    has_prev: bool = False
    has_next: bool = False
    prev_args: dict[str, str] = field(default_factory=dict)
    next_args: dict[str, str] = field(default_factory=dict)
    total: int | None = None  # exact up to COUNT_CAP
    more: bool = False  # more rows than `total` says

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def several(self) -> bool:
        """Whether there is more than this one page (the navigation is shown)."""
        return self.has_prev or self.has_next


@dataclass(frozen=True)
class _Key:
    column: sa.ColumnElement[Any]
    descending: bool


def _keys(order: Sequence[sa.ColumnElement[Any]]) -> list[_Key]:
    keys = []
    for expression in order:
        if isinstance(expression, UnaryExpression) and expression.modifier in (
            operators.desc_op,
            operators.asc_op,
        ):
            keys.append(_Key(expression.element, expression.modifier is operators.desc_op))
        else:
            keys.append(_Key(expression, False))
    return keys


def _ordering(keys: Sequence[_Key], *, reverse: bool) -> list[sa.ColumnElement[Any]]:
    return [key.column.desc() if key.descending != reverse else key.column.asc() for key in keys]


def _beyond(keys: Sequence[_Key], values: Sequence[Any], *, reverse: bool) -> Any:
    """The rows that come after `values` in the list's order (before, when `reverse`).

    The first column's bound is stated on its own too, so that an index that leads with
    it answers the seek as a range even where the database plans row comparisons poorly.
    """

    def bound(key: _Key, value: Any) -> Any:
        return sa.bindparam(None, value, type_=key.column.type)

    def ascending(key: _Key) -> bool:
        return key.descending == reverse

    first, value = keys[0], values[0]
    leading = (
        first.column >= bound(first, value)
        if ascending(first)
        else (first.column <= bound(first, value))
    )
    if len({key.descending for key in keys}) == 1:
        # One row comparison, which a composite index answers as a range.
        columns = sa.tuple_(*(key.column for key in keys))
        bounds = sa.tuple_(*(bound(k, v) for k, v in zip(keys, values, strict=True)))
        return sa.and_(leading, columns > bounds if ascending(first) else columns < bounds)
    alternatives = []
    for index, key in enumerate(keys):
        equal = [k.column == bound(k, v) for k, v in zip(keys[:index], values[:index], strict=True)]
        later = (
            key.column > bound(key, values[index])
            if ascending(key)
            else (key.column < bound(key, values[index]))
        )
        alternatives.append(sa.and_(*equal, later))
    return sa.and_(leading, sa.or_(*alternatives))


def _cursor(args: Mapping[str, str], name: str) -> int | None:
    text = args.get(name)
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= _MAX_ID:
        abort(404)
    return int(text)


def capped_count(stmt: sa.Select) -> int:
    """How many rows `stmt` gives, reading at most COUNT_CAP + 1 of them: a result above
    COUNT_CAP means "more than COUNT_CAP" (the `count` template filter says so)."""
    limited = (
        stmt.with_only_columns(sa.literal_column("1"), maintain_column_froms=True)
        .order_by(None)
        .limit(COUNT_CAP + 1)
        .subquery()
    )
    return db.session.scalar(sa.select(sa.func.count()).select_from(limited)) or 0


def capped_counts(stmts: Mapping[Any, sa.Select]) -> dict[Any, int]:
    """capped_count of each select, in one statement: a key's count, or above the cap."""
    if not stmts:
        return {}
    parts = []
    for key, stmt in stmts.items():
        limited = (
            stmt.with_only_columns(sa.literal_column("1"), maintain_column_froms=True)
            .order_by(None)
            .limit(COUNT_CAP + 1)
            .subquery()
        )
        parts.append(
            sa.select(sa.literal(str(key)).label("key"), sa.func.count().label("n")).select_from(
                limited
            )
        )
    by_text = {str(key): key for key in stmts}
    rows = db.session.execute(sa.union_all(*parts) if len(parts) > 1 else parts[0])
    return {by_text[row.key]: row.n for row in rows}


def count_text(count: int) -> str:
    """A capped count as people read it: "1 234", or "10 000+" past the cap."""
    from flask_babel import format_decimal

    if count > COUNT_CAP:
        return f"{format_decimal(COUNT_CAP)}+"
    return format_decimal(count)


def paginate(
    stmt: sa.Select,
    order: Sequence[sa.ColumnElement[Any]],
    per_page: int = 25,
    *,
    count: bool = False,
    args: Mapping[str, str] | None = None,
) -> Page:
    """One page of `stmt` in `order`, from the cursor in the query arguments.

    The last ordering column must be the listed entity's primary key, and every ordering
    column must belong to its table and hold no NULL. `count` adds a capped count.
    """
    args = request.args if args is None else args
    keys = _keys(order)
    identity = keys[-1].column
    after, before = _cursor(args, "after"), _cursor(args, "before")
    last = args.get("last") == "1" and after is None and before is None
    stmt = stmt.order_by(None)
    cursor_id = after or before
    forward = not (before or last)
    query = stmt.order_by(*_ordering(keys, reverse=not forward))
    if cursor_id is not None:
        columns = [key.column for key in keys]
        lookup = sa.select(*columns)
        if len(lookup.get_final_froms()) > 1:  # ordered by a joined table: use its joins
            lookup = stmt.with_only_columns(*columns).order_by(None)
        values = db.session.execute(lookup.where(identity == cursor_id).limit(1)).one_or_none()
        if values is None:  # the row is gone: start from the beginning
            cursor_id, forward, query = None, True, stmt.order_by(*_ordering(keys, reverse=False))
        else:
            query = query.where(_beyond(keys, values, reverse=not forward))
    rows = list(db.session.scalars(query.limit(per_page + 1)))
    more_beyond = len(rows) > per_page
    rows = rows[:per_page]
    if forward:
        page = Page(rows, per_page, has_prev=cursor_id is not None, has_next=more_beyond)
    else:
        rows.reverse()
        page = Page(rows, per_page, has_prev=more_beyond, has_next=not last)
        if before is not None and not more_beyond and len(rows) < per_page:
            # Rows came and went since the link was made: show the first page whole.
            return paginate(stmt, order, per_page, count=count, args={})
    if rows:
        page.prev_args = {"before": str(_identity_of(rows[0], identity))}
        page.next_args = {"after": str(_identity_of(rows[-1], identity))}
    if count:
        found = capped_count(stmt)
        page.total, page.more = min(found, COUNT_CAP), found > COUNT_CAP
    return page


def _identity_of(row: Any, identity: sa.ColumnElement[Any]) -> Any:
    return getattr(row, identity.key)


def starts_with(column: sa.ColumnElement, prefix: str) -> sa.ColumnElement[bool]:
    """`column` begins with `prefix`, as a range the column's index answers, confirmed by
    an escaped LIKE; no character of the prefix is a wildcard.

    The range holds in code-point order only: on PostgreSQL it is compared in the "C"
    collation, which the searched columns have there (a language collation would sort
    "å" before "ä", and the range of "ä" would miss "ää"). SQLite compares bytes.
    """
    like = column.startswith(prefix, autoescape=True)
    last = ord(prefix[-1])
    if last >= 0xD7FF:  # no plain successor (surrogates, the last code point): LIKE only
        return like
    upper = prefix[:-1] + chr(last + 1)
    ordered = column.collate("C") if db.engine.dialect.name == "postgresql" else column
    return sa.and_(ordered >= prefix, ordered < upper, like)
