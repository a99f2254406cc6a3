"""Bulk SQL for the benchmark's data sets: the few spellings PostgreSQL and SQLite do not
share, and INSERT … SELECT over a number series into the models' tables.

Rows are computed by the database from a running number `i` (PostgreSQL's
generate_series, SQLite's recursive CTE), never one by one in Python. Ids are given
explicitly (the table's highest id + i), so that rows of other tables point at them by
arithmetic instead of joins; PostgreSQL's sequence of the table is moved past them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.invoicing.reference import WEIGHTS


class Sql:
    """SQL fragments in the dialect of one connection (PostgreSQL or SQLite)."""

    def __init__(self, dialect: str) -> None:
        if dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"no bulk SQL for {dialect}")
        self.pg = dialect == "postgresql"

    def series(self, count: int) -> str:
        """A FROM item `s` with one 64-bit column `i` running 1 … count."""
        if self.pg:
            return f"generate_series(1::bigint, {int(count)}::bigint) AS s(i)"
        return (
            "(WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r "
            f"WHERE i < {int(count)}) SELECT i FROM r) AS s"
        )

    def ts(self, epoch: str) -> str:
        """The UTC timestamp (naive, as UTCDateTime stores it) at `epoch` seconds."""
        if self.pg:
            return f"(to_timestamp({epoch}) AT TIME ZONE 'UTC')"
        # SQLAlchemy's SQLite DATETIME format, microseconds included: the app's own
        # values compare as strings against these.
        return f"(datetime({epoch}, 'unixepoch') || '.000000')"

    def day(self, epoch: str) -> str:
        """The UTC date at `epoch` seconds."""
        if self.pg:
            return f"CAST(to_timestamp({epoch}) AT TIME ZONE 'UTC' AS DATE)"
        return f"date({epoch}, 'unixepoch')"

    def year(self, epoch: str) -> str:
        """The UTC year at `epoch` seconds, as an integer."""
        if self.pg:
            return f"CAST(EXTRACT(YEAR FROM to_timestamp({epoch}) AT TIME ZONE 'UTC') AS INTEGER)"
        return f"CAST(strftime('%Y', {epoch}, 'unixepoch') AS INTEGER)"

    def money(self, cents: str) -> str:
        """An amount of `cents` as a Numeric(…, 2) value."""
        if self.pg:
            return f"(CAST({cents} AS NUMERIC(14, 2)) / 100)"
        return f"(({cents}) / 100.0)"

    def text(self, expr: str) -> str:
        return f"CAST({expr} AS TEXT)"

    def integer(self, expr: str) -> str:
        return f"CAST({expr} AS INTEGER)"

    def zpad(self, expr: str, width: int) -> str:
        """A non-negative integer as text, zero-padded to `width` digits."""
        if self.pg:
            return f"lpad(CAST({expr} AS TEXT), {int(width)}, '0')"
        return f"printf('%0{int(width)}d', {expr})"

    def json(self, text: str) -> str:
        return f"CAST({text} AS JSON)" if self.pg else text

    def pick(self, alphabet: str, index: str) -> str:
        """The character of `alphabet` at the 0-based `index`."""
        return f"substr('{alphabet}', {self.integer(index)} + 1, 1)"

    def choose(self, values: list[str] | tuple[str, ...], index: str) -> str:
        """The SQL expression at `index` (0-based, taken modulo the count) of a list."""
        cases = " ".join(f"WHEN {n} THEN {value}" for n, value in enumerate(values))
        return f"(CASE ({index}) % {len(values)} {cases} END)"


def quote(value: str) -> str:
    """A string literal."""
    return "'" + value.replace("'", "''") + "'"


def when(condition: str, then: str, otherwise: str = "NULL") -> str:
    return f"CASE WHEN {condition} THEN {then} ELSE {otherwise} END"


def among(column: str, values: list[str] | tuple[str, ...]) -> str:
    """`column` is one of the string values."""
    return f"{column} IN ({', '.join(quote(v) for v in values)})"


def finnish_check_digit(number: str, digits: int = 14) -> str:
    """SQL for the Finnish reference's check digit of an integer expression of at most
    `digits` digits: its digits weighted 7, 3, 1 … from the right (services.invoicing.reference)."""
    terms = " + ".join(
        f"(({number} / {10**place}) % 10) * {WEIGHTS[place % 3]}" for place in range(digits)
    )
    return f"((10 - ({terms}) % 10) % 10)"


def table(name: str) -> sa.Table:
    """A table of the models (their columns and Python-side defaults)."""
    import models  # noqa: F401  (registers every model with the metadata)
    from extensions import db

    return db.metadata.tables[name]


def next_id(conn: Connection, name: str) -> int:
    """The highest id in the table (0 when empty): new rows get next_id + i."""
    return conn.scalar(sa.select(sa.func.coalesce(sa.func.max(table(name).c.id), 0)))


def insert_select(
    conn: Connection, name: str, columns: dict[str, str], source: str, where: str = ""
) -> int:
    """INSERT INTO name (columns) SELECT their SQL expressions FROM source [WHERE where].

    The model's Python-side defaults fill in every column not given (SQLAlchemy adds
    them to the statement), so that a column added with a default needs no change here.
    The table's plain indexes are built after the rows; explicit ids move PostgreSQL's
    sequence past them. Returns the number of rows inserted.
    """
    select = sa.select(*(sa.literal_column(expr) for expr in columns.values())).select_from(
        sa.text(source)
    )
    if where:
        select = select.where(sa.text(where))
    with deferred_indexes(conn, name):
        result = conn.execute(sa.insert(table(name)).from_select(list(columns), select))
    if "id" in columns:
        reset_sequences(conn, [name])
    return result.rowcount


@contextmanager
def deferred_indexes(conn: Connection, name: str) -> Iterator[None]:
    """Drop the table's plain indexes (those no constraint needs) for a bulk insert and
    build them again after it from their own definitions, as the migrations made them:
    one sort per index instead of a million index insertions."""
    if conn.dialect.name == "postgresql":
        query = (
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "WHERE t.relname = :name AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
        )
    else:  # SQLite: the indexes of UNIQUE and PRIMARY KEY constraints have no SQL
        query = (
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = :name AND sql IS NOT NULL"
        )
    indexes = conn.execute(sa.text(query), {"name": name}).all()
    for index, _ in indexes:
        conn.exec_driver_sql(f'DROP INDEX "{index}"')
    yield
    for _, definition in indexes:
        conn.exec_driver_sql(definition)


def reset_sequences(conn: Connection, names: list[str]) -> None:
    """Move PostgreSQL's id sequences past the ids given explicitly."""
    if conn.dialect.name != "postgresql":
        return  # SQLite takes the next rowid after the highest one
    for name in names:
        conn.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                f'(SELECT COALESCE(MAX(id), 0) + 1 FROM "{name}"), false)'
            )
        )
