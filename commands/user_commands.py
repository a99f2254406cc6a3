"""`flask user …`: manage accounts from the command line."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from extensions import db
from models.auth import Role
from services import accounts


@click.group()
def user() -> None:
    """Manage user accounts."""


@user.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.CUSTOMER.value,
    show_default=True,
    help="What the user may do.",
)
@click.option("--organisation", help="The user's organisation; created if it does not exist.")
@click.option("--name", default="", help="The user's name (default: the email address).")
@click.option("--language", type=click.Choice(["fi", "sv", "nb", "en"]), help="Preferred language.")
@with_appcontext
def create(
    email: str, role: str, organisation: str | None, name: str, language: str | None
) -> None:
    """Create a user; the password is read from standard input."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        org = accounts.get_or_create_organisation(organisation) if organisation else None
        user_ = accounts.create_user(
            email, password, name=name, role=Role(role), organisation=org, language=language
        )
        db.session.commit()
    except accounts.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    where = f" in {org.name}" if org else ""
    click.echo(f"Created {user_.role.value} {user_.email}{where}.")
