"""The portal's benchmark (issue 15): `make bench`, or

    .venv/bin/python bench/run.py [--quick] [--only NAME[,NAME…]] [--list]

Measures on SQLite, and on PostgreSQL when BENCH_POSTGRES_URL is set (a database the
role may create databases beside), and prints one table: latencies of the invoice desk,
the invoice search, the staff look-ups and the customer portal's lists on large data
sets and their ratio to small ones; requests per second of form pages, lists and
submissions through gunicorn as a share of a bare Flask app's under the same settings,
measured back to back; and what create_app() costs a process. It asserts nothing:
`met?` compares each median with the issue's goal. The data sets are made on the first
run and cached (bench/datasets.py). The table is also written to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench import datasets, generate, load  # noqa: E402
from bench.client import Client, last_page  # noqa: E402
from bench.measure import (  # noqa: E402
    Comparison,
    Latencies,
    Page,
    Scenario,
    Settings,
    compare,
    latency,
    process_cost,
    throughput,
)
from bench.report import Goal, Result, table  # noqa: E402
from bench.servers import Gunicorn, portal_environment  # noqa: E402
from models.support import TicketType, Urgency  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"


def size(count: int) -> str:
    """1000000 → "1 M", 10000 → "10 k"."""
    for unit, name in ((1_000_000, "M"), (1_000, "k")):
        if count >= unit and count % unit == 0:
            return f"{count // unit} {name}"
    return str(count)


@dataclass(frozen=True)
class Row:
    """A measurement of the table, selected with --only by its name (or a prefix)."""

    name: str
    kind: str  # "latency" (needs the data sets), "throughput" or "process"
    measure: Callable[[DatabaseRun, int], None] | None = None
    needs_small: bool = False


class DatabaseRun:
    """The measurements on one database: its data sets, servers and logged-in clients."""

    def __init__(
        self,
        store: datasets.Store,
        settings: Settings,
        small: datasets.Shape,
        large: datasets.Shape,
    ) -> None:
        self.store = store
        self.settings = settings
        self.small_shape, self.large_shape = small, large
        self.database = store.label
        self.results: list[Result] = []
        self.servers: dict[str, Gunicorn] = {}
        self.clients: dict[tuple[str, str], Client] = {}
        self.sets: list[datasets.DataSet] = []
        self.work_url = ""
        self.hello_rates: list[float] = []  # hello's requests per second, run by run

    # ---------------------------------------------------------------- set-up

    def database_url(self, url: str) -> str:
        """The server's DATABASE_URL: on PostgreSQL, a statement never outlives the cap."""
        if self.store.kind != "postgresql":
            return url
        milliseconds = int((self.settings.cap + 2) * 1000)
        return f"{url}?options=-c%20statement_timeout%3D{milliseconds}"

    def serve(self, stack: contextlib.ExitStack, key: str, url: str) -> None:
        env = portal_environment(self.database_url(url))
        server = Gunicorn(
            f"{self.store.kind}-{key}",
            "bench.apps:portal()",
            env,
            workers=self.settings.workers,
            timeout=int(self.settings.cap) + 5,
        )
        self.servers[key] = stack.enter_context(server)

    def client(self, key: str, email: str | None = None) -> Client:
        """A client of a server, logged in as `email` through the login form (or not)."""
        if (key, email or "") not in self.clients:
            client = Client(self.servers[key].address)
            if email:
                client.login(email, generate.PASSWORD)
            self.clients[(key, email or "")] = client
        return self.clients[(key, email or "")]

    def scalar(self, url: str, sql: str, **params: object) -> object:
        engine = sa.create_engine(datasets.engine_url(url), poolclass=sa.NullPool)
        try:
            with engine.connect() as conn:
                return conn.scalar(sa.text(sql), params)
        finally:
            engine.dispose()

    # ---------------------------------------------------------------- results

    def add(self, order: tuple[int, int], what: str, goal: Goal, **values: object) -> None:
        self.results.append(Result(order, what, self.database, goal, **values))

    def add_latency(self, order: tuple[int, int], what: str, goal: Goal, got: Latencies) -> None:
        if got.capped:
            self.add(order, what, goal, above=self.settings.cap * 1000)
        elif got.error:
            self.add(order, what, goal, note=got.error)
        else:
            self.add(order, what, goal, values=got.times)

    def add_comparison(
        self,
        order: tuple[int, int],
        what: str,
        limit_ms: float,
        got: Comparison,
        ratio_what: str,
    ) -> None:
        """Two rows: the latency on the large data set, and its ratio to the small one's."""
        row, part = order
        self.add_latency((row, part), what, Goal("<", limit_ms, "ms"), got.large)
        ratio, goal = (row, part + 1), Goal("<", 1.5, "×")
        if got.large.capped and got.small.times:
            self.add(ratio, ratio_what, goal, above=self.settings.cap * 1000 / got.small.median)
        elif got.ratios:
            self.add(ratio, ratio_what, goal, values=got.ratios)
        else:
            why = got.large.error or got.small.error or "the small data set's page was capped too"
            self.add(ratio, ratio_what, goal, note=why)


# ---------------------------------------------------------------- latency rows


def _staff_pages(run: DatabaseRun, path: str) -> tuple[Page, Page]:
    return (
        Page(run.client("large", generate.STAFF_EMAIL), path),
        Page(run.client("small", generate.STAFF_EMAIL), path),
    )


def measure_desk(run: DatabaseRun, order: int) -> None:
    large, small = run.large_shape, run.small_shape
    got = compare(*_staff_pages(run, "/staff/invoices/"), run.settings)
    run.add_comparison(
        (order, 0),
        f"invoice desk /staff/invoices/, {size(large.invoices)} invoices, "
        f"{size(large.desk)} on the desk",
        100,
        got,
        f"invoice desk: t({size(large.invoices)}) / t({size(small.invoices)}) "
        f"({size(large.desk)} / {size(small.desk)} on the desk)",
    )


def measure_search(run: DatabaseRun, order: int) -> None:
    large, small = run.large_shape, run.small_shape
    path = f"/staff/invoices/search?reference={generate.SEARCH_PREFIX}%25"
    got = compare(*_staff_pages(run, path), run.settings)
    run.add_comparison(
        (order, 0),
        f"staff search reference={generate.SEARCH_PREFIX}%, {size(large.invoices)} invoices",
        20,
        got,
        f"staff search: t({size(large.invoices)}) / t({size(small.invoices)})",
    )


def _lookup(what: str, code_sql: str, count: Callable[[datasets.Shape], int]) -> Callable:
    def measure(run: DatabaseRun, order: int) -> None:
        url = next(s.url for s in run.sets if s.shape == run.large_shape)
        code = str(run.scalar(url, code_sql, middle=count(run.large_shape) // 2))
        page = Page(
            run.client("large", generate.STAFF_EMAIL),
            f"/staff/lookup?{urlencode({'code': code})}",
            302,
        )
        got = latency(page, run.settings)
        rows = size(count(run.large_shape))
        run.add_latency(
            (order, 0), f"staff look-up by {what} ({rows} rows)", Goal("<", 10, "ms"), got
        )

    return measure


def _portal_list(name: str, path: str) -> Callable:
    def measure(run: DatabaseRun, order: int) -> None:
        big, small = run.large_shape.companies[0], run.large_shape.companies[-1]
        pages = {}
        for rows in (big, small):
            client = run.client("large", generate.portal_email(rows))
            first = client.get(path, timeout=run.settings.cap * 3)
            pages[rows] = (Page(client, path), Page(client, last_page(path, first.text)))
        for part, label in ((0, "first"), (1, "last")):
            got = compare(pages[big][part], pages[small][part], run.settings)
            run.add_comparison(
                (order, 2 * part),
                f"portal {name}, {label} page ({pages[big][part].path}), {size(big)} rows",
                30,
                got,
                f"portal {name}, {label} page: t({size(big)}) / t({size(small)})",
            )

    return measure


# ---------------------------------------------------------------- throughput rows


@dataclass(frozen=True)
class Form:
    """A page measured for requests per second, or a form posted to it."""

    path: Callable[[DatabaseRun], str]
    session: str | None  # the email of the user logged in, or None
    goal: float  # % of hello
    post: Callable[[DatabaseRun, Client, str], dict[str, str]] | None = None
    saved: Callable[[DatabaseRun, str], int] | None = None
    server: str = "small"  # the portal on the small data set, or "floor" (bench.apps)


def _bench_course(run: DatabaseRun) -> int:
    return int(
        run.scalar(run.work_url, "SELECT id FROM course WHERE title = :t", t=generate.BENCH_COURSE)
    )


def _enrol_path(run: DatabaseRun) -> str:
    return f"/training/courses/{_bench_course(run)}/enrol"


def _enrolment(run: DatabaseRun, client: Client, token: str) -> dict[str, str]:
    return {
        "csrf_token": client.form_token(_enrol_path(run)),
        "first_name": "Bench",
        "last_name": "Osallistuja",
        "email": f"bench-{token}-{load.MARKER}@example.com",
        "organisation": "Bench Virasto",
    }


def _contact(run: DatabaseRun, client: Client, token: str) -> dict[str, str]:
    application = run.scalar(
        run.work_url, "SELECT id FROM support_application WHERE part = 'training'"
    )
    return {
        "csrf_token": client.form_token("/support/new"),
        "type": TicketType.SUPPORT_REQUEST.value,
        "urgency": Urgency.NORMAL.value,
        "email": generate.CUSTOMER_EMAIL,
        "application": str(application),
        "sub_application": "",
        "target_reference": f"BENCH-{token}-{load.MARKER}",
        "message": f"Suorituskykytesti {token} {load.MARKER}: viesti asiakaspalvelulle.",
    }


def _floor_submission(run: DatabaseRun, client: Client, token: str) -> dict[str, str]:
    return {
        "first_name": "Bench",
        "last_name": "Osallistuja",
        "email": f"bench-{token}-{load.MARKER}@example.com",
        "organisation": "Bench Virasto",
    }


def _count(sql: str) -> Callable[[DatabaseRun, str], int]:
    return lambda run, token: int(run.scalar(run.work_url, sql, pattern=f"%{token}-%"))


def _fixed(path: str) -> Callable[[DatabaseRun], str]:
    return lambda run: path


FORMS: dict[str, tuple[str, Form]] = {
    "form-login": ("form page: login /auth/login", Form(_fixed("/auth/login"), None, 25)),
    "form-contact": (
        "form page: contact form /support/new",
        Form(_fixed("/support/new"), generate.CUSTOMER_EMAIL, 25),
    ),
    "form-enrol": (
        "form page: enrolment form /training/courses/<id>/enrol",
        Form(_enrol_path, None, 25),
    ),
    "form-order": (
        "form page: new portal order /portal/orders/new",
        Form(_fixed("/portal/orders/new"), generate.portal_email(1_000), 25),
    ),
    "list-calendar": ("list: course calendar /training/", Form(_fixed("/training/"), None, 15)),
    "list-staff-courses": (
        "list: staff courses /staff/training/",
        Form(_fixed("/staff/training/"), generate.STAFF_EMAIL, 15),
    ),
    "list-staff-tickets": (
        "list: staff ticket queue /staff/support/",
        Form(_fixed("/staff/support/"), generate.STAFF_EMAIL, 15),
    ),
    "list-staff-orders": (
        "list: staff portal orders /staff/portal/",
        Form(_fixed("/staff/portal/"), generate.STAFF_EMAIL, 15),
    ),
    "submit-enrol": (
        "submission: enrolment (validate, insert, outbox)",
        Form(
            _enrol_path,
            None,
            10,
            post=_enrolment,
            saved=_count("SELECT COUNT(*) FROM enrolment WHERE email LIKE :pattern"),
        ),
    ),
    "submit-contact": (
        "submission: contact form (validate, insert, outbox)",
        Form(
            _fixed("/support/new"),
            generate.CUSTOMER_EMAIL,
            10,
            post=_contact,
            saved=_count("SELECT COUNT(*) FROM ticket WHERE target_reference LIKE :pattern"),
        ),
    ),
    "submit-floor": (
        "reference: the least a submission costs (bare Flask and WTForms, 4 Core statements)",
        Form(
            _fixed("/"),
            None,
            10,
            post=_floor_submission,
            saved=_count("SELECT COUNT(*) FROM bench_floor_row WHERE email LIKE :pattern"),
            server="floor",
        ),
    ),
}


def measure_throughput(run: DatabaseRun, names: list[str], order: dict[str, int]) -> None:
    """Every selected throughput row in one sequence of hello/page/hello runs."""
    generator = load.generator(run.settings.load)
    scenarios: dict[str, Scenario] = {}
    for name in names:
        _, form = FORMS[name]
        client = (
            run.client(form.server, form.session)
            if form.session
            else Client(run.servers[form.server].address)
        )
        path = form.path(run)
        if form.post is None:
            client.get(path)  # the session has the page's CSRF token, as a browser's would
            target = load.Target(client.address, path, client.cookie_header)
            scenarios[name] = Scenario(lambda token, target=target: target)
            continue

        def target(token: str, client=client, path=path, form=form) -> load.Target:
            # The form is opened first: the CSRF token and the cookie it belongs to.
            body = urlencode(form.post(run, client, token))
            return load.Target(client.address, path, client.cookie_header, body)

        scenarios[name] = Scenario(target, lambda token, form=form: form.saved(run, token))
    for name, scenario in scenarios.items():  # each page answers as it should, once
        expected = (302, 303) if FORMS[name][1].post else (200,)
        status = load.probe(scenario.target("probe"))
        if status not in expected:
            raise RuntimeError(f"{name}: HTTP {status}, expected {expected}")
    hello = run.servers["hello"]
    results, run.hello_rates = throughput(
        scenarios, load.Target(hello.address, "/"), generator, run.settings
    )
    for name, got in results.items():
        what, form = FORMS[name]
        note = []
        if got.failures:
            note.append(f"{got.failures} of {got.requests} requests failed")
        if got.saved is not None and got.saved < got.requests:
            note.append(f"only {got.saved} of {got.requests} saved")
        run.add(
            (order[name], 0),
            what,
            Goal("≥", form.goal, "%"),
            values=got.shares,
            note="; ".join(note),
        )
        if form.post:
            run.add(
                (order[name], 1),
                f"{what.partition(' (')[0]}: p99 at {run.settings.connections} clients",
                Goal("<", 100, "ms", only="PostgreSQL"),
                values=got.p99,
            )


# ---------------------------------------------------------------- the catalogue

ROWS: list[Row] = [
    Row("desk", "latency", measure_desk, needs_small=True),
    Row("search", "latency", measure_search, needs_small=True),
    Row(
        "lookup-code",
        "latency",
        _lookup(
            "service code",
            "SELECT service_code FROM enrolment WHERE id = :middle",
            lambda s: s.enrolments,
        ),
    ),
    Row(
        "lookup-ticket",
        "latency",
        _lookup(
            "ticket number", "SELECT number FROM ticket WHERE id = :middle", lambda s: s.tickets
        ),
    ),
    Row(
        "lookup-reference",
        "latency",
        _lookup(
            "invoice reference",
            # A running number of three digits: the reference is no invoice's number.
            "SELECT reference FROM sales_invoice WHERE id >= :middle AND length(number) = 9 "
            "ORDER BY id LIMIT 1",
            lambda s: s.invoices,
        ),
    ),
    Row("portal-orders", "latency", _portal_list("orders", "/portal/orders")),
    Row("portal-employees", "latency", _portal_list("employees", "/portal/employees")),
    Row("portal-invoices", "latency", _portal_list("invoices", "/portal/invoices?status=")),
    *(Row(name, "throughput") for name in FORMS),
    Row("create-app", "process"),
]


def selected(only: list[str]) -> list[Row]:
    if not only:
        return ROWS
    rows = [r for r in ROWS if any(r.name == o or r.name.startswith(o) for o in only)]
    unknown = [o for o in only if not any(r.name.startswith(o) for r in ROWS)]
    if unknown:
        raise SystemExit(f"unknown rows: {', '.join(unknown)} (see --list)")
    return rows


def run_database(
    store: datasets.Store, settings: Settings, rows: list[Row], shapes: tuple, log
) -> DatabaseRun:
    small, large = shapes
    run = DatabaseRun(store, settings, small, large)
    latency_rows = [r for r in rows if r.kind == "latency"]
    forms = [r.name for r in rows if r.kind == "throughput"]
    need_small = bool(forms) or any(r.needs_small for r in latency_rows)
    log(f"{store.label}:")
    if need_small:
        run.sets.append(datasets.ensure(store, small, log=log))
    if latency_rows:
        run.sets.append(datasets.ensure(store, large, log=log))
    order = {r.name: n for n, r in enumerate(ROWS)}
    with contextlib.ExitStack() as stack:
        if need_small:
            run.work_url = datasets.working_copy(store, run.sets[0])
            run.serve(stack, "small", run.work_url)
        if latency_rows:
            run.serve(stack, "large", run.sets[-1].url)
        for row in latency_rows:
            log(f"  {row.name} …")
            row.measure(run, order[row.name])
        if forms:
            hello = Gunicorn(
                "hello",
                "bench.apps:hello()",
                portal_environment(""),
                workers=settings.workers,
                timeout=int(settings.cap) + 5,
            )
            run.servers["hello"] = stack.enter_context(hello)
            if any(FORMS[name][1].server == "floor" for name in forms):
                floor = Gunicorn(
                    f"{store.kind}-floor",
                    "bench.apps:floor()",
                    portal_environment(run.database_url(run.work_url)),
                    workers=settings.workers,
                    timeout=int(settings.cap) + 5,
                )
                run.servers["floor"] = stack.enter_context(floor)
            log(f"  {', '.join(forms)} …")
            measure_throughput(run, forms, order)
    return run


def measure_process(settings: Settings) -> list[Result]:
    env = portal_environment(f"sqlite:///{datasets.DATA_DIR / 'create-app.sqlite3'}")
    cpu, rss = process_cost(env, settings.rounds, datasets.DATA_DIR / "bytecode")
    order = (len(ROWS), 0)
    what = 'create_app() as a process (python -c "…create_app()")'
    return [
        Result(order, f"{what}: CPU", "—", Goal("<", 1.0, "s"), values=cpu),
        Result((order[0], 1), f"{what}: max RSS", "—", Goal("<", 100, "MiB"), values=rss),
    ]


# ---------------------------------------------------------------- output


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def _machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    cpu = f" ({model})" if model else ""
    return f"{os.cpu_count()} cores{cpu}, {platform.system()} {platform.machine()}"


def describe(
    settings: Settings, rows: list[Row], runs: list[DatabaseRun], skipped: str, seconds: float
) -> list[str]:
    """The lines above the table: when, where and how it was measured."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " with local changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
    s = settings
    kinds = {r.kind for r in rows}
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on commit {commit}{dirty}; "
        f"{_machine()}; Python {platform.python_version()}; {seconds / 60:.1f} min.",
    ]
    if "throughput" in kinds:
        hello = ", ".join(
            f"{statistics.median(run.hello_rates):,.0f} req/s on the {run.database} run".replace(
                ",", " "
            )
            for run in runs
            if run.hello_rates
        )
        lines.append(
            f"Throughput: gunicorn with {s.workers} sync workers for the portal and for a bare "
            f"Flask hello app alike, load by {load.generator(s.load).name} with {s.connections} "
            f"connections; {s.rounds} rounds of hello, page, hello, page … hello, "
            f"{s.seconds:g} s each; a page's share = its requests/s ÷ the mean of the hello "
            f"runs just before and after it. Hello answered (median) {hello}."
        )
    if "latency" in kinds:
        lines.append(
            f"Latency: over HTTP through the same gunicorn, one client, one request at a time; "
            f"{s.warmup} warm-up requests, then up to {s.rounds} rounds of {s.samples}; a "
            f"request over {s.cap:g} s ends the row as capped (gunicorn kills its worker). "
            "t(large) / t(small): per round, the median on the large data set ÷ the median "
            "on the small one, measured alternately."
        )
    lines.append("met?: the median against the goal; (yes) / (no): the goal is set for PostgreSQL.")
    for run in runs:
        sets = ", ".join(
            f"{d.shape.name} ({'made now in' if d.generated_now else 'cached, made in'} "
            f"{d.seconds:.0f} s{'' if d.generated_now else ' on ' + d.generated_at})"
            for d in run.sets
        )
        lines.append(f"Data sets on {run.database}: {sets or 'none needed'}.")
    if skipped:
        lines.append(f"PostgreSQL rows skipped: {skipped}.")
    return lines


def write_results(path: Path, lines: list[str], text: str) -> None:
    body = "\n".join(f"- {line}" for line in lines)
    path.write_text(
        "# Benchmark results\n\n"
        "Written by `make bench` (bench/run.py); how to read it: README, *Benchmarks*.\n\n"
        f"{body}\n\n{text}\n"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller data sets")
    parser.add_argument("--only", action="append", default=[], help="rows by name or prefix")
    parser.add_argument("--list", action="store_true", help="list the rows' names")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rounds", type=int, help="A/B rounds (5, quick 2)")
    parser.add_argument("--seconds", type=float, help="one throughput measurement (2, quick 1)")
    parser.add_argument("--cap", type=float, default=10.0, help="seconds a request may take")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        help="write bench/RESULTS.md (default: on a full run only)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.list:
        for row in ROWS:
            print(row.name)
        return
    started = time.perf_counter()
    settings = Settings(
        cap=args.cap, workers=args.workers, connections=args.connections, load=args.load
    )
    if args.quick:
        settings = replace(settings, rounds=2, seconds=1.0, samples=3, budget=20.0)
    settings = replace(
        settings,
        rounds=args.rounds or settings.rounds,
        seconds=args.seconds or settings.seconds,
    )
    shapes = (datasets.SMALL, datasets.QUICK_LARGE if args.quick else datasets.LARGE)
    rows = selected([name for value in args.only for name in value.split(",") if name])
    stores: list[datasets.Store] = []
    skipped = ""
    postgres = os.environ.get("BENCH_POSTGRES_URL", "").strip()
    if args.database in ("sqlite", "both"):
        stores.append(datasets.SqliteStore())
    if args.database in ("postgresql", "both"):
        if postgres:
            stores.append(datasets.PostgresStore(postgres))
        else:
            skipped = "BENCH_POSTGRES_URL is not set"
    runs: list[DatabaseRun] = []
    database_rows = [r for r in rows if r.kind != "process"]
    if database_rows:
        for store in stores:
            runs.append(run_database(store, settings, database_rows, shapes, log=print))
    results = [r for run in runs for r in run.results]
    if any(r.kind == "process" for r in rows):
        print("create-app …")
        results += measure_process(settings)
    text = table(results, [store.label for store in stores])
    lines = describe(settings, rows, runs, skipped, time.perf_counter() - started)
    print()
    print("\n".join(lines))
    print()
    print(text)
    write = args.write if args.write is not None else not (args.quick or args.only)
    if write:
        write_results(RESULTS, lines, text)
        print(f"\nWritten to {RESULTS.relative_to(ROOT)}.")


if __name__ == "__main__":
    main()
