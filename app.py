"""The application factory: configuration, extensions, blueprints, commands, error pages."""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote_plus

from babel import Locale
from flask import Flask, has_request_context, redirect, render_template, request, session
from flask_login import current_user
from werkzeug.exceptions import HTTPException

import config as portal_config
import observability
import routing
import security
import templating
from blueprints.punchout import session as punchout_session
from config import ConfigurationError, configuration_report
from extensions import babel, csrf, db, limiter, login_manager, mail, migrate
from services.urls import LANGUAGE_ARG

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from models.auth import User

ERROR_CODES = (400, 403, 404, 405, 409, 413, 429, 500)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure the portal."""
    app = Flask(__name__, instance_relative_config=True)
    app.url_rule_class = routing.Rule  # URL builders compiled once a process, not an app
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(portal_config.from_environment(app.instance_path))
    if config:
        app.config.from_mapping(config)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = portal_config.engine_options(app.config)

    if app.config["PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    if app.config["PRODUCTION"]:
        refuse_unsafe_configuration(app)
    if app.config["PRODUCTION"] and not app.config["MAIL_SERVER"]:
        app.logger.warning("MAIL_SERVER is not set: no email leaves the portal (captured).")

    register_extensions(app)
    security.init_app(app)  # the security headers, built after every part's own hooks
    register_blueprints(app)
    app.session_interface = punchout_session.PunchoutSessionInterface()  # cookies in a frame
    register_commands(app)
    register_errorhandlers(app)
    register_request_hooks(app)
    templating.init_app(app)
    observability.configure_logging(app)
    return app


def refuse_unsafe_configuration(app: Flask) -> None:
    """Stop with every problem at once; `flask check-config` prints the same report."""
    import sys

    problems = portal_config.problems(app.config)
    app.config["CONFIGURATION_PROBLEMS"] = problems
    if problems and sys.argv[1:].count("check-config") == 0:  # that command reports them
        raise ConfigurationError(configuration_report(problems))


def select_locale() -> str:
    """The user's choice first (the switcher's, or a mail link's: `follow_link_language`),
    then the browser's Accept-Language, then the default."""
    languages = list(portal_config.LANGUAGES)
    if not has_request_context():  # the command line and the mail worker
        return babel_default()
    chosen = session.get("language")
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.language in languages:
        return current_user.language
    # Norwegian browsers often say "no" or "nn": bokmål is the closest we speak.
    best = request.accept_languages.best_match(languages + ["no", "nn"])
    if best in ("no", "nn"):
        return "nb"
    return best or babel_default()


def follow_link_language() -> Response | None:
    """Open a page in the language its link names (`?lang=`, as mail links do).

    The language is kept in the session as the switcher keeps it, and the same address
    is given again without it: a reload, the back button and the switcher's return to the
    page then leave the reader's own choice be. A language we do not speak is ignored.
    """
    if (
        request.method not in ("GET", "HEAD")
        or LANGUAGE_ARG not in request.args
        or request.endpoint == "static"
    ):
        return None
    language = request.args.get(LANGUAGE_ARG)
    if language not in portal_config.LANGUAGES:
        return None
    session["language"] = language
    # The rest of the query as it came, byte for byte: signed links stay signed.
    kept = [
        part
        for part in request.query_string.split(b"&")
        if part and unquote_plus(part.split(b"=", 1)[0].decode("latin-1")) != LANGUAGE_ARG
    ]
    location = quote(request.script_root + request.path)
    if kept:
        location += "?" + b"&".join(kept).decode("latin-1")
    return redirect(location, 302)


def babel_default() -> str:
    from flask import current_app

    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str | None:
    if (
        has_request_context()
        and current_user
        and current_user.is_authenticated
        and current_user.organisation
    ):
        if current_user.organisation.country == "NO":
            return "Europe/Oslo"
    return None


def register_extensions(app: Flask) -> None:
    import models  # noqa: F401  (registers every model with the metadata)

    db.init_app(app)
    is_sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    migrate.init_app(app, db, render_as_batch=is_sqlite, compare_type=True)
    mail.init_app(app)
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        timezone_selector=select_timezone,
        default_translation_directories=os.path.join(app.root_path, "translations"),
    )
    _install_template_gettext(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"

    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Please log in to see this page.")

    login_manager.user_loader(_user_loader())

    if is_sqlite:
        _sqlite_pragmas(app)


def _user_loader() -> Callable[[str], Any]:
    """Flask-Login's loader: the user of a login cookie, if its session token still holds.

    One prepared query: the organisation is on every page (the header, the time zone),
    and the password hash is loaded only where a password is checked. A GET asks it
    at most once per PAGE_CACHE_SECONDS (`fragments.kept_row`): a password changed or a
    logout everywhere on another process holds for GETs there within that time, at once
    for every form sent and on the process that made the change.
    """
    import sqlalchemy as sa
    from sqlalchemy.orm import defer, joinedload

    import fragments
    from models.auth import User

    @cache
    def by_id() -> sa.Select:
        # Made at the first login a process sees, not at start-up: its loader options
        # configure every mapper, a fifth of a second that a command may never need.
        return (
            sa.select(User)
            .options(joinedload(User.organisation), defer(User.password_hash))
            .where(User.id == sa.bindparam("user_id"))
        )

    def load_user(cookie_id: str) -> User | None:
        user_id, _, token = cookie_id.partition(":")
        if not re.fullmatch(r"[0-9]{1,9}", user_id) or not token.isascii():
            return None
        user = fragments.kept_row(
            ("user", int(user_id), token),  # a new login's token is a new key
            lambda: db.session.scalars(by_id(), {"user_id": int(user_id)}).first(),
            tables=("user", "organisation"),
        )
        if user is None or not hmac.compare_digest(user.session_token, token):
            return None  # logged out everywhere, or the password changed
        return user

    return load_user


def _install_template_gettext(app: Flask) -> None:
    """Give templates' _() and ngettext() the catalog of the current locale in one look-up.

    Flask-Babel's own callables find the domain, the locale and the catalog through
    five context look-ups per string, and Jinja wraps them twice more; a page translates
    some fifty strings. These do what Jinja's "newstyle" gettext does, directly.
    """
    from babel.support import NullTranslations
    from flask_babel import get_locale, get_translations
    from jinja2 import pass_context
    from jinja2.runtime import Context
    from markupsafe import Markup

    catalogs: dict[Locale | None, NullTranslations] = {}

    def catalog() -> NullTranslations:
        locale = get_locale()  # follows force_locale(), as mail in another language needs
        found = catalogs.get(locale)
        if found is None:
            found = catalogs[locale] = get_translations()
        return found

    @pass_context
    def gettext(context: Context, string: str, **variables: Any) -> str:
        text = catalog().ugettext(string)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables  # always a format string, as in Jinja ("%%" is "%")

    @pass_context
    def ngettext(
        context: Context, singular: str, plural: str, count: int, /, **variables: Any
    ) -> str:
        # Positional-only, as Jinja's: a template may pass num= formatted itself.
        variables.setdefault("num", count)
        text = catalog().ungettext(singular, plural, count)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    app.jinja_env.install_gettext_callables(
        gettext=lambda s: catalog().ugettext(s),
        ngettext=lambda s, p, n: catalog().ungettext(s, p, n),
        pgettext=lambda c, s: catalog().upgettext(c, s),
        npgettext=lambda c, s, p, n: catalog().unpgettext(c, s, p, n),
        newstyle=True,
    )
    app.jinja_env.globals.update(gettext=gettext, ngettext=ngettext, _=gettext)


def _sqlite_pragmas(app: Flask) -> None:
    import sqlalchemy as sa

    with app.app_context():

        @sa.event.listens_for(db.engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()
            # SQLite's own lower() knows only A-Z; searches must find "Öhman" too.
            dbapi_connection.create_function(
                "lower",
                1,
                lambda value: value.lower() if isinstance(value, str) else value,
                deterministic=True,
            )


def register_blueprints(app: Flask) -> None:
    """Every part from its package (`register(app)`), then the sandboxes that are on."""
    import sandboxes
    from blueprints import (
        audit,
        auth,
        invoicing,
        main,
        payments,
        portal,
        punchout,
        staff,
        support,
        tasks,
        training,
    )

    app.url_map.converters["id"] = routing.IdConverter
    for part in (
        main,
        auth,
        staff,
        training,
        punchout,
        support,
        portal,
        invoicing,
        payments,
        tasks,
        audit,
    ):
        part.register(app)
    sandboxes.register(app)  # the local stand-ins for outside services, when switched on


def register_commands(app: Flask) -> None:
    from commands import (
        config_commands,
        demo,
        invoicing_commands,
        jobs_commands,
        mail_commands,
        portal_commands,
        punchout_commands,
        support_commands,
        tasks_commands,
        training_commands,
        user_commands,
    )

    app.cli.add_command(user_commands.user)
    app.cli.add_command(mail_commands.mail)
    app.cli.add_command(training_commands.training)
    app.cli.add_command(punchout_commands.punchout)
    app.cli.add_command(support_commands.support)
    app.cli.add_command(portal_commands.portal)
    app.cli.add_command(invoicing_commands.invoicing)
    app.cli.add_command(demo.seed_demo)
    app.cli.add_command(demo.serve)
    app.cli.add_command(jobs_commands.jobs)
    app.cli.add_command(tasks_commands.tasks_group)
    app.cli.add_command(config_commands.check_config)


def register_errorhandlers(app: Flask) -> None:
    def render_error(error: HTTPException | Exception):
        code = error.code if isinstance(error, HTTPException) else 500
        if code == 500:
            db.session.rollback()
        if request.path.startswith("/static/"):
            return "", code
        response = app.make_response((render_template("errors/error.html", code=code), code))
        if isinstance(error, HTTPException) and code == 429:
            retry = error.get_headers()
            for name, value in retry:
                if name.lower() == "retry-after":
                    response.headers["Retry-After"] = value
        return response

    for code in ERROR_CODES:
        app.register_error_handler(code, render_error)

    from flask_wtf.csrf import CSRFError
    from sqlalchemy.exc import IntegrityError

    @app.errorhandler(IntegrityError)
    def conflict(error: IntegrityError):
        # Two people saved the same thing at once; the loser's transaction is undone whole.
        db.session.rollback()
        app.logger.warning("integrity conflict on %s: %s", request.path, error.orig)
        return render_template("errors/error.html", code=409), 409

    app.register_error_handler(
        CSRFError, lambda e: (render_template("errors/error.html", code=400, csrf=True), 400)
    )


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def register_request_hooks(app: Flask) -> None:
    observability.init_app(app)  # a request id, and one log line per request

    @app.before_request
    def refuse_nul_bytes():
        """No text a person types holds a NUL, and PostgreSQL takes none in text.

        In the address or its query: a 400. In a form sent: each NUL becomes another
        control character (U+0001), which every text field of a form refuses with a
        message of its own while the rest of what was typed is kept, and which a value
        read without a form (a look-up by a key) carries into SQL without harm."""
        query = (value for values in request.args.listvalues() for value in values)
        if "\x00" in request.path or any("\x00" in value for value in query):
            from flask import abort

            abort(400)
        if request.method == "POST" and request.mimetype in _FORM_TYPES:
            sent = request.form.items(multi=True)
            if any("\x00" in value for _, value in sent):
                from werkzeug.datastructures import ImmutableMultiDict

                request.form = ImmutableMultiDict(
                    (key.replace("\x00", "\x01"), value.replace("\x00", "\x01"))
                    for key, value in request.form.items(multi=True)
                )

    app.before_request(follow_link_language)  # after the NUL check: it reads the query
