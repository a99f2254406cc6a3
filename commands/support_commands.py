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


@support.command("receive")
@with_appcontext
def receive() -> None:
    """Take one mail from standard input into its ticket, as a mail server delivering to a
    program does (`| flask support receive`): a reply is added to its ticket, anything
    else is recorded with the reason. Exits 0 whatever the message holds, so that the
    mail server never bounces it back; 75 (EX_TEMPFAIL: try later) if the database fails.
    """
    import sys

    from sqlalchemy.exc import SQLAlchemyError

    from extensions import db
    from services import support_mail

    raw = sys.stdin.buffer.read(support_mail.MAX_PIPE_BYTES + 1)
    try:
        received = support_mail.receive(raw[: support_mail.MAX_PIPE_BYTES], "pipe")
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        click.echo(f"not taken, try again later: {exc.__class__.__name__}", err=True)
        sys.exit(75)
    mail = received.mail
    ticket = mail.ticket.number if mail.ticket else "-"
    seen = "" if received.new else " (received before)"
    click.echo(f"{mail.state.value} {ticket}: {mail.reason or 'added'}{seen}")


@support.command("fetch-mail")
@with_appcontext
def fetch_mail() -> None:
    """Read the support mailbox by IMAP now: each unseen reply into its ticket, then
    flagged seen (SUPPORT_IMAP_HOST; unset, mail comes by `flask support receive` only).

    The job `flask jobs run` runs every minute, run now (never beside another host's run).
    """
    from flask import current_app

    from services.jobs import BY_NAME

    off = BY_NAME["support-mail"].off_reason(current_app._get_current_object())
    if off:
        raise click.UsageError(f"The job support-mail does not run here: {off}.")
    run_now("support-mail")
