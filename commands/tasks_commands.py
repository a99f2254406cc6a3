"""`flask tasks …`: run the background tasks that clicks queue."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from services import outbox, tasks


@click.group("tasks")
def tasks_group() -> None:
    """Run background tasks (forwarding, bulk actions, exports, bank files)."""


@tasks_group.command("run")
@with_appcontext
def run() -> None:
    """Run the queued tasks once, then stop."""
    click.echo(f"{tasks.run_pending()} background tasks run.")


@tasks_group.command("worker")
@click.option("--interval", type=float, help="Seconds between looks (TASK_WORKER_INTERVAL).")
@with_appcontext
def worker(interval: float | None) -> None:
    """Keep running tasks as they are queued, until stopped (SIGTERM or Ctrl+C).

    A stop lets the step being done finish; a task left running is taken up again by
    a worker once its lease (TASK_LEASE_SECONDS) has run out."""
    interval = interval or current_app.config["TASK_WORKER_INTERVAL"]
    click.echo(
        f"Task worker: every {interval:g} s, lease {current_app.config['TASK_LEASE_SECONDS']} s."
    )
    with outbox.stop_on_signals("Task worker") as stop:
        tasks.run_worker(interval, stop)
        reason = stop.reason
    click.echo(f"Task worker stopped ({reason})." if reason else "Task worker stopped.")
