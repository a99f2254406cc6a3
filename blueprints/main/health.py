"""`/healthz` and `/readyz`: what a load balancer or an orchestrator asks.

`/healthz` (liveness) is cheap: the process answers and one `SELECT 1` goes through the
pool. `/readyz` (readiness) also says whether the schema is at the migrations' head and
the shared throttle store answers: a host that is up but not ready gets no traffic.
Both are unauthenticated, set no cookie and show no data, only "ok" or what is wrong.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import sqlalchemy as sa
from flask import current_app, jsonify
from flask.typing import ResponseReturnValue

from blueprints.shared import Routes
from extensions import db, limiter

routes = Routes()


def _answer(checks: dict[str, str]):
    healthy = all(value == "ok" for value in checks.values())
    response = jsonify(status="ok" if healthy else "unavailable", checks=checks)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _database() -> str:
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        current_app.logger.warning("health: the database does not answer: %s", type(exc).__name__)
        return "unreachable"
    finally:
        db.session.rollback()
    return "ok"


@cache
def head_revisions(root: str) -> frozenset[str]:
    """The migrations' head(s), read from the scripts once per process."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(root) / "migrations"))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def _migrations() -> str:
    try:
        current = set(db.session.scalars(sa.text("SELECT version_num FROM alembic_version")))
    except sa.exc.SQLAlchemyError:
        return "not migrated"
    finally:
        db.session.rollback()
    return "ok" if current == head_revisions(current_app.root_path) else "not at head"


def _throttle_store() -> str:
    try:
        return "ok" if limiter.storage.check() else "unreachable"
    except Exception as exc:  # a store's client may raise anything when it is down
        current_app.logger.warning("health: the throttle store: %s", type(exc).__name__)
        return "unreachable"


@routes.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Answer whether the process and its database connection are up."""
    return _answer({"database": _database()})


@routes.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Answer whether this process is ready for traffic: database, schema, throttle store."""
    database = _database()
    checks = {"database": database}
    if database == "ok":
        checks["migrations"] = _migrations()
    checks["throttle_store"] = _throttle_store()
    return _answer(checks)
