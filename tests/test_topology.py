"""The production topology on loopback, started as `deploy/` starts it.

gunicorn with three workers (`deploy/gunicorn.conf.py`, the web unit's command line) on
PostgreSQL with a Redis of its own as the throttle store, mail workers against a real
SMTP server, and `flask jobs run` started twice at once; every process gets the
environment of `deploy/portal.env.example`, its secrets filled in. It runs in the
PostgreSQL pass of the suite (CI starts PostgreSQL and has Redis installed); on SQLite it
skips, since the topology is PostgreSQL's.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

from extensions import db
from models.mail import MailStatus, OutboxMessage
from tests.fixtures.app import IN_CI, ROOT, free_port, run_command
from tests.fixtures.training import PERSON
from tests.fixtures.users import PASSWORD

DEPLOY = ROOT / "deploy"
WORKERS = 3


# --- The processes ---------------------------------------------------------------------


def unit_command(unit: str, key: str = "ExecStart") -> list[str]:
    """A command line of a systemd unit in deploy/, run from this checkout."""
    text = (DEPLOY / "systemd" / unit).read_text()
    [line] = [line for line in text.splitlines() if line.startswith(f"{key}=")]
    command = shlex.split(line.removeprefix(f"{key}="))
    return [
        part.replace("/srv/portal/.venv/bin/", str(Path(sys.executable).parent) + "/")
        for part in command
    ]


def example_environment() -> dict[str, str]:
    """deploy/portal.env.example as systemd's EnvironmentFile reads it."""
    values = {}
    for line in (DEPLOY / "portal.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


@pytest.fixture(scope="module")
def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("the production topology runs on PostgreSQL (the suite's PostgreSQL pass)")
    return database_url


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis of the test's own, on a free port."""
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is missing: .ci/run installs it")
        pytest.skip("redis-server is not installed (CI installs it)")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(timeout=10)


class GatedCollector:
    """An SMTP server's handler that keeps what it accepts, and can hold every DATA
    before its reply: a sender that disconnects meanwhile has sent nothing."""

    def __init__(self) -> None:
        self.messages = []
        self.open = asyncio.Event()
        self.open.set()
        self.waiting = 0
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None

    def hold(self) -> None:
        self.loop.call_soon_threadsafe(self.open.clear)  # the event is the loop's

    def release(self) -> None:
        self.loop.call_soon_threadsafe(self.open.set)

    async def handle_DATA(self, server, session, envelope) -> str:
        with self.lock:
            self.waiting += 1
        await self.open.wait()
        with self.lock:
            self.waiting -= 1
        if server.transport is None or server.transport.is_closing():
            return "451 The sender went away"
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[GatedCollector, Controller]]:
    handler = GatedCollector()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.loop = controller.loop
    yield handler, controller
    controller.stop()


@pytest.fixture(scope="module")
def environment(postgres_url, redis_url, smtp) -> dict[str, str]:
    _, controller = smtp
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLASK_")}
    env.update(example_environment())
    env.update(
        SECRET_KEY=Fernet.generate_key().decode() * 2,
        NATIONAL_ID_KEYS=Fernet.generate_key().decode(),
        NATIONAL_ID_DIGEST_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=postgres_url,
        RATELIMIT_STORAGE_URI=redis_url,
        BASE_URL="https://portal.example.org",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(controller.port),
        MAIL_USE_TLS="false",
        MAIL_USERNAME="",
        # A reply held by the test must come within the timeout (else the sender gives
        # up on a message the server then takes: the one way to send twice), and the
        # lease must outlast the timeout.
        MAIL_LEASE_SECONDS="8",
        MAIL_TIMEOUT="6",
        MAIL_WORKER_INTERVAL="1",
        # Loopback has no TLS proxy: the cookies go over plain HTTP here.
        SESSION_COOKIE_SECURE="false",
        PROXY_COUNT="0",
        SUPPORT_THROTTLE="3 per hour",
        PRINT_SERVICE_URL="",
        EINVOICE_OPERATOR_URL="",
        PAYMENT_SERVICE_URL="",
        GUNICORN_WORKERS=str(WORKERS),
    )
    return {key: value for key, value in env.items() if value != ""}


def wait_until(predicate, seconds: float = 30, message: str = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"waited {seconds} s: {message}")


@pytest.fixture(scope="module")
def portal(environment, tmp_path_factory) -> Iterator[str]:
    """gunicorn as the web unit starts it, with three workers; its address."""
    port = free_port()
    env = {**environment, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    log = tmp_path_factory.mktemp("gunicorn") / "stderr.log"
    with log.open("w") as stderr:
        gunicorn = subprocess.Popen(
            unit_command("portal-web.service"), cwd=ROOT, env=env, stdout=stderr, stderr=stderr
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert gunicorn.poll() is None, log.read_text()
        try:
            return requests.get(f"{base}/readyz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(ready, 60, "gunicorn answers /readyz")
        yield base
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        try:
            gunicorn.wait(timeout=40)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
            raise
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(autouse=True)
def fresh_counts(request) -> None:
    """Each test starts with no throttle counts (the store outlives the tests)."""
    if "redis_url" in request.fixturenames or "portal" in request.fixturenames:
        import redis

        redis.Redis.from_url(request.getfixturevalue("redis_url")).flushdb()


class Browser:
    """A client with cookies that opens a new connection for every request, so that
    requests land on any of gunicorn's workers."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.base + path, headers={"Connection": "close"}, timeout=30)

    def token(self, path: str) -> str:
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', self.get(path).text)
        assert found, f"no form on {path}"
        return found.group(1)

    def post(self, path: str, data: dict, form: str | None = None) -> requests.Response:
        data = {"csrf_token": self.token(form or path), **data}
        return self.http.post(
            self.base + path,
            data=data,
            headers={"Connection": "close"},
            allow_redirects=False,
            timeout=30,
        )


# --- What must hold -------------------------------------------------------------------


def test_the_web_unit_refuses_a_per_process_throttle_store(environment):
    env = {**environment, "RATELIMIT_STORAGE_URI": "memory://", "GUNICORN_BIND": "127.0.0.1:0"}
    check = run_command(unit_command("portal-web.service", "ExecStartPre"), env)
    assert check.returncode == 1
    assert "RATELIMIT_STORAGE_URI is memory://" in check.stderr
    started = run_command(unit_command("portal-web.service"), env)
    assert started.returncode != 0
    assert "RATELIMIT_STORAGE_URI is memory://" in started.stderr


def test_failed_logins_are_throttled_across_workers(portal, make_user):
    make_user("maija@example.com")
    browser = Browser(portal)
    statuses = [
        browser.post("/auth/login", {"email": "maija@example.com", "password": "wrong"}).status_code
        for _ in range(8)
    ]
    assert statuses[:5] == [200] * 5
    assert statuses[5:] == [429] * 3
    right = browser.post("/auth/login", {"email": "maija@example.com", "password": PASSWORD})
    assert right.status_code == 429


def test_service_code_guesses_are_throttled_across_workers(portal):
    browser = Browser(portal)
    statuses = [
        browser.post("/training/lookup", {"code": f"WRONG{n:03d}"}, form="/training/").status_code
        for n in range(12)
    ]
    assert statuses[:10] == [200] * 10  # SERVICE_CODE_THROTTLE: 10 per minute
    assert statuses[10:] == [429, 429]


def test_contact_form_floods_are_throttled_across_workers(portal, make_user):
    make_user("maija@example.com")
    browser = Browser(portal)
    login = browser.post("/auth/login", {"email": "maija@example.com", "password": PASSWORD})
    assert login.status_code == 303
    statuses = [
        browser.post("/support/new", {"subject": f"flood {n}"}).status_code for n in range(5)
    ]
    assert statuses[:3] == [200] * 3  # SUPPORT_THROTTLE: 3 per hour here (the form refused)
    assert statuses[3:] == [429, 429]


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("a") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)


def enrol_many(portal: str, course_id: int, count: int, threads: int = 4) -> list[int]:
    """`count` enrolments through the web, from `threads` browsers at once."""
    statuses: list[int] = []

    def run(first: int) -> None:
        browser = Browser(portal)
        for n in range(first, count, threads):
            data = {**PERSON, "email": f"participant{n}@virasto.example.com"}
            path = f"/training/courses/{course_id}/enrol"
            statuses.append(browser.post(path, data).status_code)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return statuses


def test_500_submissions_are_each_mailed_once_while_a_mail_worker_is_killed(
    app, portal, environment, smtp, make_course, tmp_path
):
    handler, _ = smtp
    handler.messages.clear()
    course = make_course(capacity=600)
    command = unit_command("portal-mail.service")
    logs = [tmp_path / "mail-a.log", tmp_path / "mail-b.log"]
    workers = [start(command, environment, log) for log in logs]
    try:
        statuses = enrol_many(portal, course.id, 500)
        assert Counter(statuses) == {303: 500}
        wait_until(lambda: len(handler.messages) >= 150, 60, "a third of the mail is out")
        # Hold every reply: both workers wait inside a transaction, then one is killed.
        handler.hold()
        wait_until(lambda: handler.waiting >= 2, 20, "both workers are sending")
        workers[0].kill()
        workers[0].wait(timeout=10)
        handler.release()

        with app.app_context():
            queued = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
        assert queued >= 500
        wait_until(lambda: len(handler.messages) >= queued, 120, "every message is out")
        time.sleep(2 * int(environment["MAIL_LEASE_SECONDS"]))  # nothing more comes
        ids = Counter(message["Message-ID"] for message in handler.messages)
        assert len(ids) == queued and set(ids.values()) == {1}, ids.most_common(3)
        with app.app_context():
            statuses = Counter(db.session.scalars(sa.select(OutboxMessage.status)).all())
            retried = db.session.scalar(
                sa.select(sa.func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.attempts > 1)
            )
        with app.app_context():
            unsent = db.session.execute(
                sa.select(OutboxMessage.id, OutboxMessage.attempts, OutboxMessage.last_error).where(
                    OutboxMessage.status != MailStatus.SENT
                )
            ).all()
        assert statuses == {MailStatus.SENT: queued}, (unsent, logs[1].read_text()[-3000:])
        assert retried >= 1  # the killed worker's message went out from the other one
    finally:
        handler.release()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=30)
    assert workers[1].returncode == 0, logs[1].read_text()


def test_the_jobs_started_twice_at_once_do_each_thing_once(app, environment, make_course):
    from models.training import Course, Enrolment, EnrolmentEvent, EnrolmentStatus
    from models.types import utcnow
    from tests.fixtures.training import _binding, _expired_offer_with_one_in_line

    soon = make_course(title="Pian alkava", starts_at=utcnow() + timedelta(days=5), capacity=40)
    _binding(app, soon.id, 40)
    full = make_course(title="Täysi kurssi", capacity=1)
    _expired_offer_with_one_in_line(app, full.id)

    command = unit_command("portal-jobs.service")
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    hosts = [subprocess.Popen(command, cwd=ROOT, env=environment, **pipes) for _ in range(2)]
    for host in hosts:
        out, err = host.communicate(timeout=120)
        assert host.returncode == 0, out + err
        assert out == ""  # --quiet: cron mails what a job prints, and only failures print

    with app.app_context():
        welcomed = Counter(
            db.session.scalars(
                sa.select(OutboxMessage.record_id).where(
                    OutboxMessage.template == "training_welcome"
                )
            ).all()
        )
        enrolments = db.session.scalars(
            sa.select(Enrolment.id).where(Enrolment.course_id == soon.id)
        ).all()
        assert welcomed == {str(e): 1 for e in enrolments}
        line = db.session.scalars(
            sa.select(Enrolment).where(Enrolment.course_id == full.id).order_by(Enrolment.id)
        ).all()
        assert [e.status for e in line] == [EnrolmentStatus.CANCELLED, EnrolmentStatus.OFFERED]
        offers = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(EnrolmentEvent)
            .where(
                EnrolmentEvent.enrolment_id == line[1].id,
                EnrolmentEvent.to_status == EnrolmentStatus.OFFERED,
            )
        )
        assert offers == 1
        assert db.session.get(Course, full.id).seats_taken == 1


def test_staff_enrol_a_second_factor_and_wrong_codes_are_throttled_across_workers(
    portal, make_user
):
    import pyotp

    from models.auth import Role
    from tests.fixtures.two_factor import setup_token, shown_codes, shown_secret

    make_user("kasittelija@example.com", role=Role.STAFF, org=None, language="en")
    browser = Browser(portal)
    credentials = {"email": "kasittelija@example.com", "password": PASSWORD}
    first = browser.post("/auth/login", credentials)
    assert first.headers["Location"].endswith("/auth/two-factor/setup")  # required here
    page = browser.get("/auth/two-factor/setup").text
    secret = shown_secret(page)
    totp = pyotp.TOTP(secret)
    enrolled = browser.post(
        "/auth/two-factor/setup", {"code": totp.now(), "secret_token": setup_token(page)}
    )
    codes = shown_codes(enrolled.text)
    assert len(codes) == 10
    browser.post("/auth/logout", {}, form="/auth/profile")

    # A recovery code, once.
    browser.post("/auth/login", credentials)
    recovered = browser.post("/auth/two-factor/recovery", {"code": codes[0]})
    assert recovered.status_code == 303
    assert browser.get("/staff/").status_code == 200
    browser.post("/auth/logout", {}, form="/auth/profile")

    # A code of the next step (the one of setup is spent; one step of drift is allowed).
    browser.post("/auth/login", credentials)
    code = totp.at(time.time() + 30)
    assert browser.post("/auth/two-factor", {"code": code}).status_code == 303
    browser.post("/auth/logout", {}, form="/auth/profile")

    # Wrong codes, each on a new connection (any worker): TWO_FACTOR_THROTTLE is 5.
    browser.post("/auth/login", credentials)
    statuses = [
        browser.post("/auth/two-factor", {"code": f"{n:06d}"}).status_code for n in range(7)
    ]
    assert statuses == [200] * 5 + [429, 429]
