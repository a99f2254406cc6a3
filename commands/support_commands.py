"""`flask support …`: jobs of the contact form, safe to run from cron."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from commands.jobs_commands import run_now


@click.group("support")
def support() -> None:
    """Jobs of the contact form and its tickets."""


@support.command("purge-uploads")
@with_appcontext
def purge_uploads() -> None:
    """Remove screenshots uploaded with a form that was never sent (after a day).

    The job `flask jobs run` runs daily, run now (never beside another host's run).
    """
    run_now("purge-uploads")
