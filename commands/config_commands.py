"""`flask check-config`: the production configuration check, without starting."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

import config as portal_config


@click.command("check-config")
@with_appcontext
def check_config() -> None:
    """Print every problem the production configuration has; exit 1 if there is one.

    It checks the settings as FLASK_ENV=production would run them, whatever FLASK_ENV
    is now, so that a deployment's environment can be checked before it is switched on.
    """
    config = current_app.config
    if not config["PRODUCTION"]:
        click.echo("FLASK_ENV is not production: checking as if it were.")
    problems = portal_config.problems(config)
    if problems:
        click.echo(portal_config.configuration_report(problems), err=True)
        raise SystemExit(1)
    click.echo("The configuration is fit for production.")
