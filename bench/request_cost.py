"""Benchmark: what a page or a submission costs next to a bare Flask "hello" (CPU per request).

    .venv/bin/python bench/request_cost.py [--requests 200] [--submissions] [--no-cache]
        [--only PREFIX] [--profile NAME]

Uses a temporary SQLite database with the demo data (or BENCH_DATABASE_URL, migrated and
seeded with `flask seed-demo`) and the Flask test client, so no server or network is in
the way; prints the CPU time per request of each page, of a bare Flask app answering
"hello", and their ratio, and the SQL statements each request runs. With
--submissions it also sends enrolments and contacts (which stay in the database). The
pages are asked for again and again, so their content is kept (fragments.py) after the
first request; --no-cache shows what a first visit costs. It asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CUSTOMER = ("maija.meikalainen@virasto.example.com", "demo-virasto-2026")
COMPANY = ("test.bruker@demokunde.example.com", "demo-kunde-2026")
STAFF = ("kasittelija@example.com", "demo-staff-2026")
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def cpu_per_request(send, requests: int) -> float:
    """The least CPU time of one request, in milliseconds, over five rounds."""
    for _ in range(10):
        send()
    rounds = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(max(requests // 5, 1)):
            send()
        rounds.append((time.process_time() - started) / max(requests // 5, 1))
    return min(rounds) * 1000


def profile(send, requests: int) -> None:
    """Print where the time of `requests` requests goes, by own and by cumulative time."""
    import cProfile
    import pstats

    for _ in range(10):
        send()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        send()
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(35)
    stats.sort_stats("cumulative").print_stats(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--submissions", action="store_true")
    parser.add_argument("--profile", metavar="NAME", help="print a cProfile of the row NAME")
    parser.add_argument("--only", metavar="PREFIX", default="", help="the rows named so")
    parser.add_argument(
        "--no-cache", action="store_true", help="PAGE_CACHE_SECONDS=0: nothing kept (first visits)"
    )
    args = parser.parse_args()

    import sqlalchemy as sa
    from flask import Flask
    from flask_migrate import upgrade

    import fragments
    from app import create_app
    from extensions import db
    from models.support import Application
    from models.training import Course
    from models.types import utcnow

    hello = Flask("hello")
    hello.add_url_rule("/", "hello", lambda: "Hello, World!")
    hello_client = hello.test_client()
    baseline = cpu_per_request(lambda: hello_client.get("/"), args.requests)
    print(f"{'bare Flask hello':32s} {baseline:6.2f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3"
        config = {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "MAIL_SERVER": None}
        config["SUPPORT_THROTTLE"] = "1000000 per hour"
        if args.no_cache:
            config["PAGE_CACHE_SECONDS"] = 0
        app = create_app(config)
        if not os.environ.get("BENCH_DATABASE_URL"):
            with app.app_context():
                upgrade(directory=str(ROOT / "migrations"))
            app.test_cli_runner().invoke(args=["seed-demo", "--quiet"])
        with app.app_context():
            course_id = db.session.scalar(
                sa.select(Course.id)
                .where(
                    Course.is_open,
                    Course.starts_at > utcnow(),
                    Course.seats_taken < Course.capacity,
                )
                .order_by(Course.capacity.desc())
                .limit(1)
            )
            application_id = db.session.scalar(sa.select(sa.func.min(Application.id)))

        statements: list[str] = []
        with app.app_context():
            sa.event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

        def client_of(account: tuple[str, str] | None):
            client = app.test_client()
            if account:
                token = TOKEN.search(client.get("/auth/login").text).group(1)
                data = {"csrf_token": token, "email": account[0], "password": account[1]}
                assert client.post("/auth/login", data=data).status_code == 303
                with client.session_transaction() as session:
                    session.pop(fragments.WROTE, None)  # logged in a while ago
            return client

        def measure(name: str, send) -> None:
            if not name.startswith(args.only):
                return
            if args.profile and args.profile == name:
                profile(send, args.requests)
            ms = cpu_per_request(send, args.requests)
            statements.clear()
            send()
            print(f"{name:32s} {ms:6.2f} ms  {100 * baseline / ms:5.1f} % of hello  "
                  f"{len(statements)} statements")  # fmt: skip

        pages = [
            ("login form", None, "/auth/login"),
            ("enrolment form", None, f"/training/courses/{course_id}/enrol"),
            ("contact form", CUSTOMER, "/support/new"),
            ("new order form", COMPANY, "/portal/orders/new"),
            ("course calendar", None, "/training/"),
            ("course calendar, logged in", CUSTOMER, "/training/"),
            ("staff course list", STAFF, "/staff/training/"),
            ("staff ticket queue", STAFF, "/staff/support/"),
        ]
        for name, account, path in pages:
            if not name.startswith(args.only):
                continue
            client = client_of(account)
            assert client.get(path).status_code == 200, path
            measure(name, lambda client=client, path=path: client.get(path))

        if args.submissions:
            with app.app_context():  # room for every enrolment, as the benchmark's course has
                db.session.execute(
                    sa.update(Course).where(Course.id == course_id).values(capacity=10_000_000)
                )
                db.session.commit()
            counter = itertools.count()
            anonymous = client_of(None)
            path = f"/training/courses/{course_id}/enrol"
            token = TOKEN.search(anonymous.get(path).text).group(1)

            def enrol():
                data = {
                    "csrf_token": token,
                    "first_name": "Bench",
                    "last_name": "Mark",
                    "email": f"bench.{time.time_ns()}.{next(counter)}@example.com",
                    "organisation": "Bench Oy",
                    "billing_address": "Katu 1",
                }
                assert anonymous.post(path, data=data).status_code == 303

            measure("enrolment sent", enrol)
            customer = client_of(CUSTOMER)
            token = TOKEN.search(customer.get("/support/new").text).group(1)

            def contact():
                data = {
                    "csrf_token": token,
                    "type": "tukipyynto",
                    "urgency": "normaali",
                    "email": CUSTOMER[0],
                    "application": str(application_id),
                    "message": f"Bench {time.time_ns()} {next(counter)}",
                }
                assert customer.post("/support/new", data=data).status_code == 302

            measure("contact sent", contact)


if __name__ == "__main__":
    main()
