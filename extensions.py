"""Extension objects, unbound; the factory binds them with init_app."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mail import Mail
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

if TYPE_CHECKING:
    from flask import Flask

# Named constraints, so that migrations can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Migrate:
    """Flask-Migrate, imported when migrations are first used: importing Alembic is a
    quarter of a start-up, and only `flask db` and the migration functions need it."""

    def init_app(self, app: Flask, db: SQLAlchemy, **options: Any) -> None:
        """Leave a stand-in that binds Flask-Migrate to the app on first use."""
        # Importing Alembic logs a line per plugin (INFO); imported at start-up, before
        # the logging was set up, that never showed, and it should not now either.
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
        app.extensions["migrate"] = _UnboundMigrate(app, db, options)
        app.cli.add_command(_MigrateCommand(), "db")


class _UnboundMigrate:
    """app.extensions["migrate"] until flask_migrate's functions (upgrade()…) look at it."""

    def __init__(self, app: Flask, db: SQLAlchemy, options: dict[str, Any]) -> None:
        self.app, self.db, self.options = app, db, options

    def __getattr__(self, name: str) -> Any:
        from flask_migrate import Migrate as FlaskMigrate

        # Replaces this stand-in and the `db` command with the real ones.
        FlaskMigrate().init_app(self.app, self.db, **self.options)
        return getattr(self.app.extensions["migrate"], name)


class _MigrateCommand(click.Command):
    """`flask db`: its help line without Alembic; Flask-Migrate's group when it runs."""

    def __init__(self) -> None:
        super().__init__("db", help="Perform database migrations.")

    def make_context(self, info_name: str | None, args: list[str], parent=None, **extra):
        from flask_migrate.cli import db as db_group

        return db_group.make_context(info_name, args, parent=parent, **extra)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
mail = Mail()
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def on_post(limit: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """`limit`, a limiter decorator that counts forms sent (methods=["POST"]), checked
    for a form sent only: a GET of the same page leaves it out, rather than pay for
    finding that it does not count (some 5 % of a kept page's time)."""

    def decorate(view: Callable) -> Callable:
        limited = limit(view)

        @functools.wraps(view)
        def dispatch(*args: Any, **kwargs: Any) -> Any:
            return (limited if request.method == "POST" else view)(*args, **kwargs)

        return dispatch

    return decorate
