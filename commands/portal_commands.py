"""`flask portal …`: maintenance of the customer portal."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from services import portal as portal_service


@click.group("portal")
def portal() -> None:
    """Maintenance of the customer portal."""


@portal.command("reencrypt")
@with_appcontext
def reencrypt() -> None:
    """Encrypt every identity number and second-factor secret again with the first key of
    NATIONAL_ID_KEYS (after a new key was put first); then the old key can be removed."""
    from flask import current_app

    from services import two_factor

    count = portal_service.reencrypt_national_ids()
    click.echo(f"{count} identity numbers encrypted with the current key.")
    config = current_app.config
    secrets = two_factor.reencrypt_secrets(config["NATIONAL_ID_KEYS"], config["SECRET_KEY"])
    click.echo(f"{secrets} second-factor secrets encrypted with the current key.")
