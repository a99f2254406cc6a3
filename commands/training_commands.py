"""`flask training …`: jobs of the training calendar, safe to run from cron."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from extensions import db
from services import training as training_service


@click.group("training")
def training() -> None:
    """Jobs of the training calendar."""


@training.command("send-welcome")
@with_appcontext
def send_welcome() -> None:
    """Send 'tervetuloa kurssille' for courses starting within 14 days, once per enrolment."""
    sent = training_service.send_welcome()
    click.echo(f"{sent} welcome emails queued.")


@training.command("expire-offers")
@with_appcontext
def expire_offers() -> None:
    """Withdraw seat offers nobody took in time and seats whose course fee was not paid
    online in time, and offer the seats to the next in line;
    tell those still in line for a course that has started that no seat came free."""
    expired = training_service.expire_offers()
    closed = training_service.close_waiting_lists()
    db.session.commit()
    click.echo(f"{expired} offers or unpaid seats expired, {closed} waiting-list places closed.")
