"""The measurements: latency of single pages, the same page on a small and a large data
set back to back, requests per second of a page against the hello app back to back,
and the cost of create_app() as a process."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.client import Client, RequestTimeout
from bench.load import Generator, Load, Target

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    rounds: int = 5  # rounds of A/B measurements
    seconds: float = 2.0  # one throughput measurement
    samples: int = 5  # latency requests per side and round
    warmup: int = 4  # requests before any latency is kept (both workers, their caches)
    cap: float = 10.0  # a request slower than this ends the measurement
    budget: float = 45.0  # seconds one latency measurement may take (then fewer rounds)
    connections: int = 8
    workers: int = 2
    load: str = "auto"  # the load generator: wrk if on PATH, or "wrk", or "python"


class Capped(Exception):
    """A request took longer than the cap."""


class Unexpected(Exception):
    """A page answered something else than it should (an error page, a redirect)."""


@dataclass
class Page:
    """A page of one server for a logged-in (or anonymous) client."""

    client: Client
    path: str
    expect: int = 200

    def fetch(self, cap: float) -> float:
        """Request the page once; return its latency in seconds."""
        try:
            response = self.client.get(self.path, timeout=cap)
        except RequestTimeout as exc:
            raise Capped(self.path) from exc
        if response.seconds > cap:
            raise Capped(self.path)
        if response.status != self.expect:
            where = response.header("Location")
            raise Unexpected(
                f"{self.path} answered HTTP {response.status}{' → ' + where if where else ''}"
            )
        return response.seconds


@dataclass
class Latencies:
    """Per-request latencies in ms, or why there are none (capped, unexpected answer)."""

    times: list[float] = field(default_factory=list)
    capped: bool = False
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def _run(page: Page, count: int, settings: Settings, into: Latencies) -> None:
    for _ in range(count):
        if into.capped or into.error:
            return
        try:
            into.times.append(page.fetch(settings.cap) * 1000)
        except Capped:
            into.capped = True
        except Unexpected as exc:
            into.error = str(exc)


def latency(page: Page, settings: Settings) -> Latencies:
    """The page's latency: `warmup` requests, then up to rounds × samples within budget."""
    warm = Latencies()
    _run(page, settings.warmup, settings, warm)
    if warm.capped or warm.error:
        return warm
    result = Latencies()
    deadline = time.monotonic() + settings.budget
    for _ in range(settings.rounds):
        _run(page, settings.samples, settings, result)
        if time.monotonic() > deadline:
            break
    return result


@dataclass
class Comparison:
    large: Latencies
    small: Latencies
    ratios: list[float]  # per round: median(large) / median(small)


def compare(large: Page, small: Page, settings: Settings) -> Comparison:
    """The same page on a large and a small data set, alternating round by round so that
    the machine's drift falls on both; each round gives the ratio of the medians."""
    result = Comparison(Latencies(), Latencies(), [])
    for page in (small, large):
        warm = Latencies()
        _run(page, settings.warmup, settings, warm)
        target = result.small if page is small else result.large
        target.capped, target.error = warm.capped, warm.error
    deadline = time.monotonic() + settings.budget
    for _ in range(settings.rounds):
        round_large, round_small = Latencies(), Latencies()
        _run(small, settings.samples, settings, round_small)
        if not (result.large.capped or result.large.error):
            _run(large, settings.samples, settings, round_large)
        for into, got in ((result.small, round_small), (result.large, round_large)):
            into.times += got.times
            into.capped = into.capped or got.capped
            into.error = into.error or got.error
        if (
            round_large.times
            and round_small.times
            and not (round_large.capped or round_small.capped)
        ):
            result.ratios.append(round_large.median / round_small.median)
        if result.small.capped or result.small.error or time.monotonic() > deadline:
            break
    return result


@dataclass
class Throughput:
    """Requests per second of a page as a share of hello's (%), round by round."""

    shares: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)  # ms
    failures: int = 0
    requests: int = 0
    saved: int | None = None  # rows the submissions created, when they are counted


@dataclass
class Scenario:
    """A throughput measurement: a round's target (a round's token in, so that a
    submission's data is new), and for submissions, how to count what a round saved."""

    target: Callable[[str], Target]  # a round's token → the target
    saved: Callable[[str], int] | None = None


def throughput(
    loads: dict[str, Scenario], hello: Target, generator: Generator, settings: Settings
) -> tuple[dict[str, Throughput], list[float]]:
    """Measure each page and the hello app back to back: hello, page 1, hello, page 2, …
    hello; a page's share is its requests per second over the mean of the hello runs on
    either side of it, so that a drift of the machine during the round cancels. Returns
    the pages' results and hello's requests per second, run by run."""
    results = {name: Throughput() for name in loads}
    hello_rates: list[float] = []

    def run(target: Target) -> Load:
        return generator.run(
            target,
            seconds=settings.seconds,
            connections=settings.connections,
            timeout=settings.cap,
        )

    for number in range(settings.rounds):
        before = run(hello)
        hello_rates.append(before.per_second)
        for name, load in loads.items():
            token = f"r{number}{os.urandom(3).hex()}"
            measured = run(load.target(token))
            after = run(hello)
            hello_rates.append(after.per_second)
            hello_rate = (before.per_second + after.per_second) / 2
            result = results[name]
            result.shares.append(100 * measured.per_second / hello_rate)
            result.p99.append(measured.p99_ms)
            result.failures += measured.failures
            result.requests += measured.requests
            if load.saved is not None:
                result.saved = (result.saved or 0) + load.saved(token)
            before = after
    return results, hello_rates


# Starts the measured process and reports its CPU time and maximum RSS. It runs in a
# small process of its own: a child's maximum RSS counts the memory of the process it was
# forked from, and the benchmark's own can be large after making a data set.
_SPAWN = (
    "import json, os, sys\n"
    "pid = os.posix_spawn(sys.executable, [sys.executable, '-c', sys.argv[1]], os.environ)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print(json.dumps([os.waitstatus_to_exitcode(status), "
    "usage.ru_utime + usage.ru_stime, usage.ru_maxrss]))\n"
)


def process_cost(
    env: dict[str, str], rounds: int, bytecode: Path
) -> tuple[list[float], list[float]]:
    """CPU seconds and maximum RSS (MiB) of `python -c "…create_app()"`, each round.

    As a deployed process starts: with its sources' bytecode compiled (kept under
    `bytecode`, outside the source tree, by a first start that is not counted), even
    where the environment says PYTHONDONTWRITEBYTECODE. Compiling the portal's some 200
    modules costs a first start after an install or an upgrade about 0.3 s more."""
    code = "from app import create_app; create_app()"
    env = {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    cpu, rss = [], []
    for round_ in range(rounds + 1):
        done = subprocess.run(
            [sys.executable, "-c", _SPAWN, code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        status, seconds, kib = json.loads(done.stdout.splitlines()[-1])
        if status != 0:
            raise RuntimeError(f"create_app() failed in a fresh process:\n{done.stderr}")
        if round_ == 0:
            continue  # the start that compiled the bytecode
        cpu.append(seconds)
        rss.append(kib / 1024)  # ru_maxrss is in KiB on Linux
    return cpu, rss
