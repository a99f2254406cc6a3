"""`flask jobs …`: every scheduled job, run when due, once across all hosts."""

from __future__ import annotations

from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext

from services import jobs as jobs_service


@click.group()
def jobs() -> None:
    """Run the scheduled jobs that are due."""


@jobs.command("run")
@click.option(
    "--job",
    "only",
    type=click.Choice([job.name for job in jobs_service.JOBS]),
    help="Run this job now, due or not (still never beside another host's run).",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="Print only the jobs that failed (cron mails output)."
)
@with_appcontext
def run(only: str | None, quiet: bool) -> None:
    """Run every job that is due, each on one host only; exit 1 if one failed.

    Safe to start from cron every minute on every host at once: a job another host is
    running is skipped, and one that failed is tried again at the next run.
    """
    if only is not None:
        off = jobs_service.BY_NAME[only].off_reason(current_app._get_current_object())
        if off:
            raise click.UsageError(f"The job {only} does not run here: {off}.")
    outcomes = jobs_service.run_due(only=only)
    echo(outcomes, quiet)


def echo(outcomes: list[jobs_service.Outcome], quiet: bool = False) -> None:
    """One line per job; exit 1 when one failed."""
    for outcome in outcomes:
        if outcome.state == jobs_service.OFF:
            continue  # not part of this installation; `flask jobs list` says why
        if not quiet or outcome.state == jobs_service.FAILED:
            click.echo(outcome.line, err=outcome.state == jobs_service.FAILED)
    if any(outcome.state == jobs_service.FAILED for outcome in outcomes):
        raise SystemExit(1)


def run_now(name: str) -> None:
    """Run one job now, due or not, for the part's own command (`flask training
    send-welcome`): its result as it always printed it, or why it did not run."""
    outcome = jobs_service.run_due(only=name)[0]
    if outcome.state == jobs_service.RAN:
        click.echo(outcome.text)
    else:
        echo([outcome])


@jobs.command("list")
@with_appcontext
def list_jobs() -> None:
    """Show each job, its schedule, its last run and how it went, and when it is due."""
    from flask_babel import format_datetime

    from models.types import utcnow

    now = utcnow()

    def when(moment: datetime) -> str:
        return format_datetime(moment, "yyyy-MM-dd HH:mm", rebase=True)

    for status in jobs_service.statuses():
        job, last = status.job, status.last
        click.echo(f"{job.name}: {status.schedule}: {job.description}")
        if status.off:
            click.echo(f"  off: {status.off}")
            continue
        if last is None or last.started_at is None:
            click.echo("  never run; due now")
            continue
        if last.finished_at is None or last.finished_at < last.started_at:
            click.echo(f"  running since {when(last.started_at)} (or stopped there)")
        else:
            state = "failed" if last.failed else "ran"
            click.echo(f"  last run {when(last.started_at)}: {state}: {last.outcome or ''}")
        if status.next_due is None:
            click.echo("  never succeeded; due now")
        else:
            due = "now" if status.next_due <= now else when(status.next_due)
            click.echo(f"  last success {when(last.succeeded_at)}; due {due}")
