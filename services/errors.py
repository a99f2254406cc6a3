"""An error told in one line, for a log line or a stored outcome (a job's, a task's),
without the values it may quote: those may be personal data."""

from __future__ import annotations

import sqlalchemy as sa

OUTCOME_LENGTH = 500  # JobRun.outcome


def error_summary(error: BaseException) -> str:
    """The error's type and message, without the values a database error quotes (SQL
    parameters, a key's value): they may be personal data."""
    if isinstance(error, sa.exc.DBAPIError) and error.orig is not None:
        cause = error.orig
        sqlstate = getattr(cause, "sqlstate", None)
        if sqlstate:  # PostgreSQL: its messages and details quote values
            diag = getattr(cause, "diag", None)
            constraint = getattr(diag, "constraint_name", None)
            where = f", constraint {constraint}" if constraint else ""
            return f"{type(error).__name__}: {type(cause).__name__} (SQLSTATE {sqlstate}{where})"
        message = str(cause)  # SQLite's name tables and columns, never values
    elif isinstance(error, sa.exc.SQLAlchemyError):
        message = ""  # its text may carry the statement and its parameters
    else:
        message = str(error)
    first = message.strip().splitlines()[0] if message.strip() else ""
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return text[:OUTCOME_LENGTH]
