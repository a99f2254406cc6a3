"""The mail worker and `flask serve` as processes: real signals, a real SMTP server.

The helpers here are shared with the tests that run the deployment's processes (the CI
test of the production topology): `worker_environment`, `Processes` (the `processes`
fixture) with `start_mail_worker` and `start_serve`, `Mailbox` (the `mailbox` fixture,
an SMTP server that can hold a transaction before its reply), `queue_messages`,
`outbox_rows`, `wait_until` and `alive`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask

from extensions import db
from models.auth import User
from models.mail import MailStatus, OutboxMessage
from services.outbox import queue_mail
from tests.fixtures.app import ROOT, free_port

FLASK = str(Path(sys.executable).with_name("flask"))  # the virtualenv's, beside its python
LEASE_SECONDS = 3
TIMEOUT_SECONDS = 2

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="signals and /proc as on Linux"
)


# --- Processes ------------------------------------------------------------------------


def worker_environment(database_url: str, **settings: object) -> dict[str, str]:
    """The environment of a portal process on the test database: this one's, less its own
    FLASK_/MAIL_ settings, with a short lease and timeout; `settings` override."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "MAIL_", "TEST_"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key",
            "BASE_URL": "http://portal.test",
            "LOG_FORMAT": "text",
            "PYTHONUNBUFFERED": "1",  # lines reach the test as they are written
            "MAIL_DEFAULT_SENDER": "Palveluportaali <noreply@example.com>",
            "MAIL_LEASE_SECONDS": str(LEASE_SECONDS),
            "MAIL_TIMEOUT": str(TIMEOUT_SECONDS),
        }
    )
    env.update({key: str(value) for key, value in settings.items()})
    return env


class FlaskProcess:
    """A `flask …` process whose output (stdout and stderr) is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [FLASK, "--app", "app", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 20) -> re.Match:
        """The first output line matching the regular expression, waiting for it."""
        found: list[re.Match] = []

        def seen() -> bool:
            found[:] = [m for m in map(re.compile(pattern).search, list(self.lines)) if m][:1]
            return bool(found)

        wait_until(seen, timeout, lambda: f"no line {pattern!r} from {self}:\n{self.output()}")
        return found[0]

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 20) -> int:
        """Its exit status, once it has exited and its output is read to the end (that is
        when every process writing to its pipe, a child too, has ended or let go)."""
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self} still runs:\n{self.output()}") from None
        self._reader.join(timeout=timeout)
        return status

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)  # until the pipe's last writer (a child too) is gone
        if not self._reader.is_alive():
            self.process.stdout.close()

    def __str__(self) -> str:
        return f"flask {' '.join(self.args)} (pid {self.pid})"


class Processes:
    """The processes a test started; whatever still runs at its end is killed."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.started: list[FlaskProcess] = []
        self.adopted: list[int] = []

    def start(self, args: list[str], **settings: object) -> FlaskProcess:
        process = FlaskProcess(args, worker_environment(self.database_url, **settings))
        self.started.append(process)
        return process

    def start_mail_worker(
        self, smtp_port: int | None, interval: float = 0.2, **settings: object
    ) -> FlaskProcess:
        """`flask mail worker` delivering to the SMTP server on loopback at `smtp_port`
        (capturing when None)."""
        if smtp_port is not None:
            settings = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_port, **settings}
        return self.start(["mail", "worker", "--interval", f"{interval:g}"], **settings)

    def start_serve(self, port: int, **settings: object) -> FlaskProcess:
        return self.start(["serve", "--port", str(port)], **settings)

    def adopt(self, pid: int) -> None:
        """A process started by one of ours, to be killed at the end too."""
        self.adopted.append(pid)

    def close(self) -> None:
        for pid in self.adopted:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        for process in self.started:
            process.stop()


@pytest.fixture
def processes(app: Flask, database_url: str) -> Iterator[Processes]:
    """Start portal processes on the test database (stopped before it is emptied)."""
    started = Processes(database_url)
    yield started
    started.close()


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(
    condition: Callable[[], bool], timeout: float = 20, explain: Callable[[], str] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(explain() if explain else f"not within {timeout} s")
        time.sleep(0.05)


# --- An SMTP server that can hold a transaction -------------------------------------------


@dataclass
class Received:
    port: int  # the listener it came through: which worker sent it
    message: EmailMessage
    at: datetime

    @property
    def message_id(self) -> str:
        return self.message["Message-ID"]


@dataclass
class Hold:
    """The `nth` message through `port` waits before the server's reply until released.

    With `taken`, the server keeps the message before waiting (it took responsibility;
    the reply is what gets lost); without, it keeps it only when it replies."""

    port: int
    nth: int = 1
    taken: bool = False
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    client_gone: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


class _Listener:
    def __init__(self, mailbox: Mailbox, port: int) -> None:
        self.mailbox, self.port = mailbox, port

    async def handle_DATA(self, server, session, envelope) -> str:
        return await self.mailbox.data(self.port, envelope)


class Mailbox:
    """One mailbox on aiosmtpd, reached through a listener (port) per worker, so that a
    test knows which worker a transaction belongs to and can hold one of them."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._controllers: list[Controller] = []
        self._holds: list[Hold] = []
        self._count: Counter[int] = Counter()
        self._lock = threading.Lock()

    def listen(self) -> int:
        port = free_port()
        controller = Controller(_Listener(self, port), hostname="127.0.0.1", port=port)
        controller.start()
        self._controllers.append(controller)
        return port

    def hold(self, port: int, nth: int = 1, taken: bool = False) -> Hold:
        hold = Hold(port, nth, taken)
        self._holds.append(hold)
        return hold

    def message_ids(self) -> Counter[str]:
        with self._lock:
            return Counter(r.message_id for r in self.received)

    def _keep(self, port: int, message: EmailMessage) -> None:
        with self._lock:
            self.received.append(Received(port, message, datetime.now(UTC)))

    async def data(self, port: int, envelope) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self._count[port] += 1
            number = self._count[port]
        hold = next((h for h in self._holds if (h.port, h.nth) == (port, number)), None)
        if hold is not None:
            if hold.taken:
                self._keep(port, message)
            hold.reached.set()
            try:
                while not hold.released.is_set():
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:  # aiosmtpd: the client hung up
                hold.client_gone.set()
                raise
            if hold.taken:
                return "250 Message accepted for delivery"
        self._keep(port, message)
        return "250 Message accepted for delivery"

    def close(self) -> None:
        for hold in self._holds:
            hold.release()
        for controller in self._controllers:
            controller.stop()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    yield box
    box.close()


# --- The outbox ---------------------------------------------------------------------------


def queue_messages(app: Flask, n: int) -> dict[int, str]:
    """Queue n messages in one transaction; their ids and Message-ID headers."""
    with app.test_request_context():
        messages = [
            queue_mail(
                "auth_password_reset",
                f"person{i}@example.com",
                language="fi",
                context={"user": User(name=f"Person {i}"), "url": "http://x/y", "minutes": 60},
            )
            for i in range(n)
        ]
        db.session.flush()
        queued = {m.id: m.message_id_header for m in messages}
        db.session.commit()
        return queued


def outbox_rows(app: Flask) -> dict[int, OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        db.session.remove()
        return {row.id: row for row in rows}


def _statuses(app: Flask) -> Counter[MailStatus]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
        ).all()
        db.session.remove()
        return Counter(dict(rows))


# --- The mail worker --------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_while_the_worker_waits_is_immediate(app, processes, signum):
    # An hour between rounds: a worker sleeping through it would not stop in the test.
    worker = processes.start_mail_worker(None, interval=3600)
    worker.wait_for_line(r"^Mail worker: every 3600 s")
    worker.send_signal(signum)
    assert worker.wait() == 0, worker.output()
    assert f"Mail worker stopped ({signum.name})." in worker.lines
    # The test's lease is short for its timeout: the worker says so when it starts.
    assert "MAIL_LEASE_SECONDS (3) should be at least 10 times MAIL_TIMEOUT (2)" in (
        worker.output()
    )


def test_sigterm_during_a_delivery_finishes_it_and_takes_no_other(app, processes, mailbox):
    queued = queue_messages(app, 3)
    port = mailbox.listen()
    hold = mailbox.hold(port)
    worker = processes.start_mail_worker(port)
    assert hold.reached.wait(20), worker.output()

    worker.send_signal(signal.SIGTERM)
    worker.wait_for_line("SIGTERM received")  # while the server has not answered yet
    hold.release()
    assert worker.wait() == 0, worker.output()
    assert worker.lines[-1] == "Mail worker stopped (SIGTERM)."

    [received] = mailbox.received
    rows = outbox_rows(app)
    [sent] = [row for row in rows.values() if row.status == MailStatus.SENT]
    assert received.message_id == queued[sent.id] and sent.attempts == 1
    others = [row for row in rows.values() if row.id != sent.id]
    assert [(row.status, row.attempts) for row in others] == [(MailStatus.QUEUED, 0)] * 2
    assert not hold.client_gone.is_set()  # the connection was closed after the reply


def test_a_worker_killed_inside_a_transaction_leaves_its_message_to_another(
    app, processes, mailbox
):
    [(message_id, header)] = queue_messages(app, 1).items()
    port_a, port_b = mailbox.listen(), mailbox.listen()
    hold = mailbox.hold(port_a)
    # Worker A waits on the server's reply for as long as the test needs: on a loaded
    # machine, worker B's start may take longer than the usual timeout, and A would then
    # give the message back (queued for a retry) instead of dying inside the delivery.
    worker_a = processes.start_mail_worker(port_a, MAIL_TIMEOUT=60)
    assert hold.reached.wait(20), worker_a.output()
    claimed = outbox_rows(app)[message_id]
    assert claimed.status == MailStatus.SENDING
    worker_b = processes.start_mail_worker(port_b)
    worker_b.wait_for_line(r"^Mail worker: every")

    worker_a.send_signal(signal.SIGKILL)
    assert worker_a.wait() == -signal.SIGKILL
    assert hold.client_gone.wait(10)  # before the server's reply: it did not take it
    wait_until(lambda: _statuses(app) == Counter({MailStatus.SENT: 1}), 20, worker_b.output)

    [received] = mailbox.received
    assert (received.port, received.message_id) == (port_b, header)
    assert received.at >= claimed.locked_until  # the other worker waited out the lease
    assert outbox_rows(app)[message_id].attempts == 2
    worker_b.send_signal(signal.SIGTERM)
    assert worker_b.wait() == 0


def test_hundreds_of_messages_with_a_worker_killed_are_each_sent_once(app, processes, mailbox):
    queued = queue_messages(app, 400)
    port_a, port_b = mailbox.listen(), mailbox.listen()
    hold = mailbox.hold(port_a, nth=5)
    worker_a = processes.start_mail_worker(port_a)
    worker_b = processes.start_mail_worker(port_b)
    assert hold.reached.wait(20), worker_a.output()
    worker_a.send_signal(signal.SIGKILL)
    assert worker_a.wait() == -signal.SIGKILL

    def all_sent() -> bool:
        return _statuses(app) == Counter({MailStatus.SENT: len(queued)})

    wait_until(all_sent, 25, lambda: f"{_statuses(app)}\n{worker_b.output()}")
    assert mailbox.message_ids() == Counter(queued.values())  # each once, by Message-ID
    assert {r.port for r in mailbox.received} == {port_a, port_b}  # both did work
    worker_b.send_signal(signal.SIGTERM)
    assert worker_b.wait() == 0


def test_a_message_the_server_took_before_its_worker_died_comes_twice_with_one_id(
    app, processes, mailbox
):
    """The one window of a second copy (services/outbox.py): the server took the message,
    the worker died before recording it. The copy carries the same Message-ID."""
    [(message_id, header)] = queue_messages(app, 1).items()
    port_a, port_b = mailbox.listen(), mailbox.listen()
    hold = mailbox.hold(port_a, taken=True)
    worker_a = processes.start_mail_worker(port_a)
    assert hold.reached.wait(20), worker_a.output()
    worker_b = processes.start_mail_worker(port_b)
    worker_a.send_signal(signal.SIGKILL)
    assert worker_a.wait() == -signal.SIGKILL
    wait_until(lambda: _statuses(app) == Counter({MailStatus.SENT: 1}), 20, worker_b.output)
    assert [(r.port, r.message_id) for r in mailbox.received] == [
        (port_a, header),
        (port_b, header),
    ]


# --- flask serve --------------------------------------------------------------------------


def _serving(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start_serve(processes: Processes) -> tuple[FlaskProcess, int]:
    """`flask serve` on a free port, up and with its mail worker running; and its pid."""
    port = free_port()
    serve = processes.start_serve(port)
    worker_pid = int(serve.wait_for_line(r"^Mail worker: pid (\d+)\.").group(1))
    processes.adopt(worker_pid)
    serve.wait_for_line(r"^Mail worker: every")  # the worker's own first line
    wait_until(lambda: _serving(port), 20, serve.output)
    return serve, worker_pid


def test_sigterm_stops_flask_serve_and_its_mail_worker(app, processes):
    serve, worker_pid = _start_serve(processes)
    serve.send_signal(signal.SIGTERM)
    assert serve.wait() == 0, serve.output()
    assert not alive(worker_pid)  # it waited for its worker
    assert "Mail worker stopped (SIGTERM)." in serve.lines
    assert serve.lines[-1] == "The portal stopped."


def test_the_mail_worker_stops_when_flask_serve_is_killed(app, processes):
    serve, worker_pid = _start_serve(processes)
    serve.send_signal(signal.SIGKILL)
    assert serve.wait() == -signal.SIGKILL
    wait_until(lambda: not alive(worker_pid), 10, serve.output)
    # It stopped as on any SIGTERM (the kernel's, on its parent's death).
    serve.wait_for_line(r"^Mail worker stopped \(SIGTERM\)\.$", 5)
