"""`flask mail …`: deliver the outbox."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from services import outbox


@click.group()
def mail() -> None:
    """Deliver queued email."""


@mail.command("deliver")
@with_appcontext
def deliver() -> None:
    """Send what is due once, then stop."""
    report = outbox.deliver_due()
    mode = "captured" if not current_app.config.get("MAIL_SERVER") else "sent"
    click.echo(
        f"{report.sent + report.captured} {mode}, {report.retrying} to retry, "
        f"{report.failed} failed for good."
    )


@mail.command("worker")
@click.option("--interval", type=float, help="Seconds between rounds (MAIL_WORKER_INTERVAL).")
@with_appcontext
def worker(interval: float | None) -> None:
    """Keep delivering due mail until stopped (SIGTERM or Ctrl+C).

    A stop lets the message being sent finish and be recorded, then exits cleanly.
    """
    config = current_app.config
    interval = interval or config["MAIL_WORKER_INTERVAL"]
    server = config.get("MAIL_SERVER") or "none: capturing for /staff/mail"
    click.echo(
        f"Mail worker: every {interval:g} s, SMTP server {server}, "
        f"lease {config['MAIL_LEASE_SECONDS']} s."
    )
    with outbox.stop_on_signals() as stop:
        outbox.run_worker(interval, stop=stop)
        reason = stop.reason
    click.echo(f"Mail worker stopped ({reason})." if reason else "Mail worker stopped.")
