"""`flask punchout …`: procurement systems that punch out to the training calendar."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from extensions import db
from services import punchout as punchout_service


@click.group("punchout")
def punchout() -> None:
    """PunchOut buyers (cXML and SAP OCI)."""


@punchout.command("add-buyer")
@click.argument("name")
@click.option("--domain", required=True, help="Sender credential domain ('oci' for SAP OCI).")
@click.option("--identity", required=True, help="Sender credential identity (OCI USERNAME).")
@with_appcontext
def add_buyer(name: str, domain: str, identity: str) -> None:
    """Add a buyer; its shared secret is read from standard input."""
    if sys.stdin.isatty():
        secret = click.prompt("Shared secret", hide_input=True, confirmation_prompt=True)
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    try:
        buyer = punchout_service.add_buyer(name, domain, identity, secret)
        db.session.commit()
    except punchout_service.PunchoutError as exc:
        db.session.rollback()
        raise click.ClickException(exc.text) from exc
    click.echo(f"Added buyer {buyer.name} ({buyer.domain}/{buyer.identity}).")
