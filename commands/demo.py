"""`flask seed-demo` and `flask serve`: the demo data and the one-command server."""

from __future__ import annotations

import os
import subprocess
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from services import demo


def print_accounts() -> None:
    click.echo("\nDemo accounts (email / password):")
    for account in demo.ACCOUNTS:
        click.echo(f"  {account.email:42} {account.password:18} {account.note}")
    click.echo("")


@click.command("seed-demo")
@click.option("--quiet", is_flag=True, help="Do not list the demo accounts.")
@with_appcontext
def seed_demo(quiet: bool) -> None:
    """Fill the database with demo data (safe to run again)."""
    demo.seed()
    click.echo("Demo data is in place.")
    if not quiet:
        print_accounts()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@with_appcontext
def serve(host: str, port: int) -> None:
    """Serve the portal for development, with the mail worker beside it."""
    from werkzeug.serving import run_simple

    app = current_app._get_current_object()
    if not os.environ.get("BASE_URL"):
        app.config["BASE_URL"] = f"http://{host}:{port}"  # links in mail point here
    print_accounts()
    click.echo(f"The portal: http://{host}:{port}/   (staff area: /staff, mail: /staff/mail)")
    link = demo.open_invoice_payment_link()
    if link:
        click.echo(f"Pay an open demo invoice online (the sandbox bank): {link}")
    env = {**os.environ, "BASE_URL": app.config["BASE_URL"]}
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "mail", "worker"], env=env
    )
    try:
        run_simple(host, port, app, use_reloader=False, use_debugger=False, threaded=True)
    finally:
        worker.terminate()
        worker.wait(timeout=10)
