"""Load generators: wrk when it is on PATH, else a bounded multiprocess Python one.

Both send the same requests: a GET, or a form POST whose body has the marker UNIQUE
replaced by a value no other request of the run sends (an enrolment needs a new email
each time). Both keep `connections` requests in flight for `seconds` and report the
requests per second and the 99th percentile of the latency.
"""

from __future__ import annotations

import http.client
import math
import multiprocessing
import os
import re
import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).resolve().parent / "wrk_post.lua"
MARKER = "UNIQUE"


@dataclass(frozen=True)
class Target:
    """What to send: to the server at `address`, `path`, with the session's cookie."""

    address: tuple[str, int]
    path: str
    cookie: str = ""
    body: str | None = None  # a form POST; None: GET

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}{self.path}"

    def headers(self) -> dict[str, str]:
        headers = {"Accept-Language": "fi"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if self.body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return headers


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    p99_ms: float
    failures: int  # HTTP 4xx/5xx, timeouts and broken connections

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class Generator(ABC):
    """A load generator: wrk, or the Python one where wrk is missing."""

    name = ""

    @abstractmethod
    def run(self, target: Target, *, seconds: float, connections: int, timeout: float) -> Load:
        """Send requests to the target for `seconds` over `connections` at once."""


class Wrk(Generator):
    """wrk with two threads; a Lua script varies the POST bodies."""

    def __init__(self, path: str) -> None:
        self.path = path
        version = subprocess.run([path, "--version"], capture_output=True, text=True)
        found = re.search(r"\d+\.\d+(\.\d+)?", version.stdout + version.stderr)
        self.name = f"wrk {found.group(0) if found else ''}".strip()

    def run(self, target: Target, *, seconds: float, connections: int, timeout: float) -> Load:
        command = [
            self.path,
            f"--threads={min(2, connections)}",
            f"--connections={connections}",
            f"--duration={max(1, round(seconds))}s",
            f"--timeout={max(1, math.ceil(timeout))}s",
            "--latency",
        ]
        for name, value in target.headers().items():
            command += ["--header", f"{name}: {value}"]
        if target.body is not None:
            command += ["--script", str(LUA), target.url, "--", target.body]
        else:
            command.append(target.url)
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
        return parse_wrk(done.stdout)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(output: str) -> Load:
    """The requests, duration, p99 and failures of wrk's --latency report."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),", output)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m|h)", output, re.MULTILINE)
    if not done:
        raise RuntimeError(f"cannot read wrk's report:\n{output}")
    failures = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    failures += int(non_2xx.group(1)) if non_2xx else 0
    return Load(
        requests=int(done.group(1)),
        seconds=float(done.group(2)) * _UNITS[done.group(3)] / 1000,
        p99_ms=float(p99.group(1)) * _UNITS[p99.group(2)] if p99 else math.nan,
        failures=failures,
    )


def _client(target: Target, deadline: float, limit: int, timeout: float, queue) -> None:
    """One simulated client: requests one after the other until the deadline."""
    latencies: list[float] = []
    failures = 0
    headers = target.headers()
    for n in range(limit):
        if time.monotonic() >= deadline:
            break
        body = None
        if target.body is not None:
            body = target.body.replace(MARKER, f"{os.getpid()}-{n}")
        started = time.perf_counter()
        conn = http.client.HTTPConnection(*target.address, timeout=timeout)
        try:
            conn.request("POST" if body is not None else "GET", target.path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.status >= 400:
                failures += 1
        except OSError:
            failures += 1
        finally:
            conn.close()
        latencies.append(time.perf_counter() - started)
    queue.put((latencies, failures))


class PythonLoad(Generator):
    """One process per connection, each with a bounded count of requests and time."""

    def __init__(self, why: str, limit: int = 100_000) -> None:
        self.name = f"a Python load generator, one process per connection ({why})"
        self.limit = limit

    def run(self, target: Target, *, seconds: float, connections: int, timeout: float) -> Load:
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        started = time.monotonic()
        deadline = started + seconds
        clients = [
            context.Process(target=_client, args=(target, deadline, self.limit, timeout, queue))
            for _ in range(connections)
        ]
        for client in clients:
            client.start()
        results = [queue.get(timeout=seconds + timeout + 30) for _ in clients]
        for client in clients:
            client.join()
        elapsed = time.monotonic() - started
        latencies = sorted(t for times, _ in results for t in times)
        failures = sum(f for _, f in results)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0
        return Load(len(latencies), elapsed, p99 * 1000, failures)


def probe(target: Target) -> int:
    """Send the target's request once (a POST with the marker replaced); its HTTP status."""
    conn = http.client.HTTPConnection(*target.address, timeout=60)
    try:
        body = target.body.replace(MARKER, "probe") if target.body is not None else None
        conn.request("POST" if body is not None else "GET", target.path, body, target.headers())
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def generator(choice: str = "auto") -> Generator:
    """wrk when installed ("auto"), or the one chosen: "wrk" or "python"."""
    path = shutil.which("wrk")
    if choice == "python":
        return PythonLoad("chosen")
    if path:
        return Wrk(path)
    if choice == "wrk":
        raise SystemExit("wrk is not on PATH")
    return PythonLoad("wrk is not on PATH")
