"""Fixtures: the app on a clean database, a client, users, an SMTP server, a browser."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

import config as portal_config
from app import create_app
from extensions import db
from models.auth import Organisation, Role, User
from services import accounts

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "correct horse battery"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use no test database: they need not run again on PostgreSQL
    (CI's PostgreSQL pass deselects them, `-m "not database_free"`)."""
    for item in items:
        if "database_url" not in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database_free)


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if url:
        os.environ["DATABASE_URL"] = url
        try:
            return portal_config.database_url("")
        finally:
            del os.environ["DATABASE_URL"]
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test database, with the schema built by the migrations once per session."""
    url = _database_url(tmp_path_factory)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x"})
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        if url.startswith("postgresql"):
            # A clean slate on a reused server database.
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()
    yield url
    with app.app_context():
        downgrade(directory=str(ROOT / "migrations"), revision="base")
        db.engine.dispose()


def _empty_all_tables() -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        # TRUNCATE costs a file per table, whether or not it holds rows (a fifth of a
        # second for all of them, twice a test): only the tables that hold rows are
        # truncated, and every id sequence starts again at 1, as on a new database.
        holding = " UNION ALL ".join(
            f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in tables
        )
        restart = ", ".join(
            f"setval(pg_get_serial_sequence('\"{t.name}\"', '{c.name}'), 1, false)"
            for t in tables
            for c in t.primary_key.columns
            if c.autoincrement is True or (c.autoincrement == "auto" and _serial(c))
        )
        with db.engine.begin() as conn:
            names = ", ".join(f'"{name}"' for name in conn.scalars(sa.text(holding)))
            if names:
                conn.execute(sa.text(f"TRUNCATE {names} CASCADE"))
            conn.execute(sa.text(f"SELECT {restart}"))
    else:
        with db.engine.begin() as conn:
            conn.execute(sa.text("PRAGMA foreign_keys=OFF"))
            for table in tables:
                conn.execute(table.delete())
            conn.execute(sa.text("PRAGMA foreign_keys=ON"))


def _serial(column: sa.Column) -> bool:
    """An integer primary key of its own (not a foreign key): PostgreSQL numbers it."""
    return (
        isinstance(column.type, sa.Integer)
        and not column.foreign_keys
        and len(column.table.primary_key.columns) == 1
    )


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict:
    """Overrides for the app under test; a test may change it before using `app`."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "MAIL_SERVER": None,
        "MAIL_DEFAULT_SENDER": "Palveluportaali <noreply@example.com>",
        "BASE_URL": "http://portal.test",
        "MAIL_RETRY_BASE_SECONDS": 60,
        "MAIL_MAX_ATTEMPTS": 4,
        "MAIL_TIMEOUT": 5,
        "SUPPORT_UPLOAD_DIR": str(tmp_path / "uploads"),
        "INVOICE_SANDBOX_DIR": str(tmp_path / "sandbox"),
        "PAYMENT_SANDBOX_DIR": str(tmp_path / "sandbox" / "payment"),
        "PAYMENT_SANDBOX": True,
    }


@pytest.fixture
def app(app_config: dict, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The portal on an empty database."""
    if "smtp_server" in request.fixturenames:
        request.getfixturevalue("smtp_server")  # its address goes into the config first
    app = create_app(app_config)
    with app.app_context():
        _empty_all_tables()
    yield app
    with app.app_context():
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _close_every_pool() -> Iterator[None]:
    """After each test, close the pooled connections of every app it made: an app a test
    makes beside `app` (a second worker, another setting) would otherwise leave its
    connections to the garbage collector, whose ResourceWarning then fails whichever
    test happens to be running."""
    yield
    for engines in list(db._app_engines.values()):
        for engine in engines.values():
            engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def make_org(app: Flask) -> Callable[..., Organisation]:
    """A factory of organisations: make_org("Name", departments=["A", "B"])."""

    def make(name: str = "Testivirasto", departments: list[str] = (), **values) -> Organisation:
        from models.auth import Department

        with app.app_context():
            org = accounts.get_or_create_organisation(name, **values)
            for dep in departments:
                db.session.add(Department(organisation=org, name=dep))
            db.session.commit()
            db.session.refresh(org)
            db.session.expunge(org)
            return org

    return make


@pytest.fixture
def make_user(app: Flask, make_org) -> Callable[..., User]:
    """A factory of users: make_user("a@example.com", role=Role.STAFF, org="Name")."""

    def make(
        email: str = "maija@example.com",
        *,
        role: Role = Role.CUSTOMER,
        org: str | None = "Testivirasto",
        name: str = "Maija Meikäläinen",
        password: str = PASSWORD,
        language: str = "fi",
    ) -> User:
        organisation = make_org(org) if org else None
        with app.app_context():
            user = accounts.create_user(
                email,
                password,
                name=name,
                role=role,
                organisation=db.session.get(Organisation, organisation.id)
                if organisation
                else None,
                language=language,
            )
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    return make


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, email: str = "maija@example.com", password: str = PASSWORD, **extra):
        return self._client.post(
            "/auth/login", data={"email": email, "password": password, **extra}
        )

    def logout(self):
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def make_course(app):
    """A factory of courses; by default one starting in 30 days with 10 seats."""

    def make(**values):
        from models.types import utcnow

        start = values.pop("starts_at", utcnow() + timedelta(days=30))
        defaults = {
            "title": "Julkiset hankinnat",
            "topic": "Hankinnat",
            "description": "Hankintalain perusteet.",
            "starts_at": start,
            "ends_at": start + timedelta(hours=6),
            "place": "Helsinki",
            "remote": False,
            "price": Decimal("290.00"),
            "capacity": 10,
            "seats_taken": 0,
            "enrolment_deadline": start - timedelta(days=3),
            "cancellation_deadline": start - timedelta(days=7),
            "is_open": True,
        }
        from models.training import Course

        with app.app_context():
            course = Course(**{**defaults, **values})
            db.session.add(course)
            db.session.commit()
            db.session.refresh(course)
            db.session.expunge(course)
            return course

    return make


# --- Routes -------------------------------------------------------------------------


def run_together(attempt: Callable[..., None], apps: list[Flask]) -> None:
    """Run `attempt(app, n)` for each app in its own thread, all released at one instant
    (each app has its own connection pool, as separate server processes would)."""
    barrier = threading.Barrier(len(apps))

    def start(worker_app: Flask, n: int) -> None:
        barrier.wait()
        attempt(worker_app, n)

    threads = [threading.Thread(target=start, args=(a, n)) for n, a in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for worker_app in apps:
        with worker_app.app_context():
            db.session.remove()
            db.engine.dispose()


def sample_url(rule, number: object = 1, text: str = "x") -> str:
    """A URL of a route: `number` for its number arguments, `text` for the others
    (a choice from a fixed list, `<any(a, b):name>`, takes its first choice)."""
    from werkzeug.routing.converters import AnyConverter, NumberConverter

    values = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        if isinstance(converter, NumberConverter):
            values[name] = number
        elif isinstance(converter, AnyConverter):
            values[name] = sorted(converter.items)[0]
        else:
            values[name] = text
    return rule.build(values, append_unknown=False)[1]


# --- SMTP ---------------------------------------------------------------------------


@contextmanager
def recorded_statements(app: Flask) -> Iterator[list[tuple[str, object]]]:
    """Every statement the application runs inside the block, with its parameters."""
    seen: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, executemany) -> None:
        if not executemany:
            seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def page_link(html: str, rel: str = "next") -> str | None:
    """The address of a list's next (or prev) page link in a rendered page, if any."""
    import re
    from html import unescape

    found = re.search(rf'<a href="([^"]*)" rel="{rel}"', html)
    return unescape(found.group(1)) if found else None


def run_command(args: list[str], env: dict[str, str], timeout: float = 120):
    """Run a command of the project (a `flask …`, a unit's line) from its root; its output."""
    import subprocess

    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


class SMTPServer:
    """A real SMTP server on loopback that keeps what it receives; can be stopped and started."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _Collector()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def text_of(self, message: EmailMessage) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def smtp_server(app_config: dict) -> Iterator[SMTPServer]:
    """An aiosmtpd server on loopback; the app under test delivers to it."""
    server = SMTPServer()
    server.start()
    app_config.update({"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": server.port})
    yield server
    server.stop()


def deliver_mail(app: Flask, **kwargs):
    """Run one round of the outbox, as `flask mail deliver` does."""
    from services.outbox import deliver_due

    with app.app_context():
        return deliver_due(**kwargs)


# --- Browser ------------------------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture
def served_pages(app: Flask) -> list[str]:
    """Every HTML page the live server sends to a browser tab (not frames or redirects)."""
    pages: list[str] = []

    @app.after_request
    def record(response):
        from flask import request

        shown = response.status_code < 300 or response.status_code >= 400
        if (
            response.mimetype == "text/html"
            and shown
            and request.headers.get("Sec-Fetch-Dest") == "document"
        ):
            pages.append(request.full_path.rstrip("?"))
        return response

    return pages


@pytest.fixture
def live_server(app: Flask, served_pages: list[str]) -> Iterator[str]:
    """Serve the app on a loopback port in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["BASE_URL"] = f"http://127.0.0.1:{port}"
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium through Playwright; skips outside CI when it is missing."""
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + ": browser tests may not skip in CI")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


class AccessibleBrowser:
    """A page whose every visit is checked by axe-core for WCAG 2.1 A/AA violations.

    Navigate with `goto()`, or act and then call `check()`. The server records every
    page it sends to the tab, and the fixture fails a test that leaves one unchecked.
    """

    TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

    def __init__(self, page, served_pages: list[str]) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.page = page
        self.axe = Axe()
        # axe-core comes with every document the tab loads (a script of the browser's,
        # outside the page's CSP), instead of being sent again for every check.
        page.context.add_init_script(script=self.axe.axe_script)
        self.checked: list[str] = []
        self.served_pages = served_pages

    def goto(self, path: str) -> None:
        self.page.goto(path)
        self.check()

    def navigate(self, action) -> None:
        """Do what loads a new page (a click, Enter in a form), wait for it, check it."""
        with self.page.expect_navigation(wait_until="load"):
            action()
        self.check()

    def check(self) -> None:
        """Run axe on the page as it is now; fail on any violation."""
        self.page.wait_for_load_state("load")
        # The violations alone: no details of the rules that pass (quicker on long pages).
        options = {"runOnly": {"type": "tag", "values": self.TAGS}, "resultTypes": ["violations"]}
        results = self.run_axe(options)
        url = urlsplit(self.page.url)
        self.checked.append(url.path + (f"?{url.query}" if url.query else ""))
        assert results.violations_count == 0, (
            f"axe violations on {self.page.url}:\n" + results.generate_report()
        )

    def run_axe(self, options: dict):
        """axe's results for the page as it is now (injected first if the document was
        made without it, e.g. written by a script)."""
        from axe_playwright_python.base import AxeResults

        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            return self.axe.run(self.page, options=options)
        return AxeResults(self.page.evaluate("options => axe.run(document, options)", options))

    def assert_every_page_checked(self) -> None:
        unchecked = [p for p in self.served_pages if p not in self.checked]
        assert not unchecked, f"pages shown but not checked by axe: {unchecked}"


@pytest.fixture
def browser_page(chromium, live_server, served_pages) -> Iterator[AccessibleBrowser]:
    context = chromium.new_context(base_url=live_server, locale="fi-FI")
    page = context.new_page()
    checked = AccessibleBrowser(page, served_pages)
    yield checked
    context.close()
    checked.assert_every_page_checked()
