"""Benchmark: how fast the outbox renders, queues and delivers mail to a local SMTP server.

    .venv/bin/python bench/outbox_delivery.py [--messages 500]

Uses a temporary SQLite database (or BENCH_DATABASE_URL) and aiosmtpd on loopback.
Prints messages per second for queueing and for delivery; it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()

    from aiosmtpd.controller import Controller
    from flask_migrate import upgrade

    from app import create_app
    from extensions import db
    from models.auth import User
    from services.outbox import deliver_due, queue_mail
    from tests.conftest import free_port

    class Sink:
        received = 0

        async def handle_DATA(self, server, session, envelope) -> str:
            Sink.received += 1
            return "250 OK"

    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3"
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "SECRET_KEY": "bench",
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": port,
            }
        )
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
        started = time.perf_counter()
        with app.test_request_context():
            for i in range(args.messages):
                queue_mail(
                    "auth_password_reset",
                    f"person{i}@example.com",
                    language="fi",
                    context={"user": User(name=f"Person {i}"), "url": "http://x", "minutes": 60},
                )
            db.session.commit()
        queued = time.perf_counter() - started
        started = time.perf_counter()
        with app.app_context():
            while deliver_due(limit=100).handled:
                pass
        delivered = time.perf_counter() - started
        controller.stop()
    print(f"messages:  {args.messages} on {url.split(':')[0]}")
    print(f"queue:     {args.messages / queued:8.1f} messages/s (render + insert, one commit)")
    print(f"deliver:   {args.messages / delivered:8.1f} messages/s (claim + SMTP + commit each)")
    print(f"received:  {Sink.received}")


if __name__ == "__main__":
    main()
