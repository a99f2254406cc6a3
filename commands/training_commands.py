"""`flask training …`: jobs of the training calendar, safe to run from cron."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from commands.jobs_commands import run_now


@click.group("training")
def training() -> None:
    """Jobs of the training calendar."""


@training.command("send-welcome")
@with_appcontext
def send_welcome() -> None:
    """Send 'tervetuloa kurssille' for courses starting within 14 days, once per enrolment.

    The job `flask jobs run` runs daily, run now (never beside another host's run).
    """
    run_now("send-welcome")


@training.command("expire-offers")
@with_appcontext
def expire_offers() -> None:
    """Withdraw seat offers nobody took in time and seats whose course fee was not paid
    online in time, and offer the seats to the next in line;
    tell those still in line for a course that has started that no seat came free.

    The job `flask jobs run` runs every 15 minutes, run now (never beside another host's run).
    """
    run_now("expire-offers")
