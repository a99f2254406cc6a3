"""gunicorn servers on loopback, started and stopped by the benchmark."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "bench" / ".data" / "logs"
SECRET_KEY = "bench-secret-key-not-for-production"

# What the portal must not inherit from the shell the benchmark runs in.
_UNSET = ("FLASK_ENV", "MAIL_SERVER", "DATABASE_URL", "FLASK_DEBUG", "PROXY_COUNT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def portal_environment(database_url: str) -> dict[str, str]:
    """The portal's environment: development defaults (sandboxes as configured, mail
    captured into the outbox), debug off, a fixed SECRET_KEY, the given database."""
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env.update({"SECRET_KEY": SECRET_KEY, "DATABASE_URL": database_url})
    return env


class Gunicorn:
    """One gunicorn master with sync workers serving `target` on 127.0.0.1."""

    def __init__(
        self, name: str, target: str, env: dict[str, str], *, workers: int, timeout: int
    ) -> None:
        self.name = name
        self.target = target
        self.env = env
        self.workers = workers
        self.timeout = timeout
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = LOG_DIR / f"{name}.log"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            # A request running longer is killed with its worker: a capped measurement
            # leaves no page computing in the background.
            "--timeout",
            str(self.timeout),
            "--graceful-timeout",
            "2",
            "--log-level",
            "warning",
            self.target,
        ]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready()

    def _wait_ready(self, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.name} exited:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection(*self.address, timeout=30)
                conn.request("GET", "/")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn {self.name} did not answer:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
