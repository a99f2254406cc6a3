"""Column types shared by all models."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import sqlalchemy as sa


class UTCDateTime(sa.types.TypeDecorator):
    """A timezone-aware datetime kept as UTC on every engine (SQLite forgets the zone)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def sql_list(column: str, values: tuple[enum.StrEnum, ...]) -> str:
    """`column IN ('a', 'b')` for our own constants: the condition of a partial index."""
    assert all("'" not in value for value in values)
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def partial_index(name: str, *columns: str, where: str) -> sa.Index:
    """An index of the rows `where` holds (SQL), on PostgreSQL and SQLite alike."""
    condition = sa.text(where)
    return sa.Index(name, *columns, postgresql_where=condition, sqlite_where=condition)


def one_of(column: sa.ColumnElement, values: tuple[enum.StrEnum, ...]) -> sa.ColumnElement:
    """`column IN (...)` with the values written into the SQL, not bound: SQLite uses a
    partial index only where the query states its condition literally (sql_list)."""
    assert all("'" not in value for value in values)
    return column.in_([sa.literal_column(f"'{value}'") for value in values])


def searchable(length: int) -> sa.types.TypeEngine:
    """A string searched by its beginning: in the "C" collation on PostgreSQL, so that its
    index answers prefix ranges in code-point order (see paging.starts_with)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def search_key(text: str, length: int) -> str:
    """What a `searchable` column holds: the text lower-cased, cut to the column's length
    (lower-casing may lengthen it: "İ" becomes two characters)."""
    return (text or "").lower()[:length]


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def value_enum(cls: type[enum.Enum], length: int = 20) -> sa.Enum:
    """An enum column that stores the members' values as plain strings (no native type)."""
    return sa.Enum(
        cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )
