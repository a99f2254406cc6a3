"""Starting the portal imports only what every process needs.

Every CLI command and every worker runs create_app(); the libraries of a few pages (PDF,
images, holidays, Alembic, encryption, HTTP clients) are imported by the functions that
use them. Each test starts a fresh interpreter: the test process has imported them all.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.fixtures.app import ROOT, run_command

# Imported on first use, never by a start-up.
HEAVY = (
    "alembic",  # Flask-Migrate: `flask db` and the migration functions
    "fpdf",  # the invoices' PDFs
    "fontTools",
    "PIL",  # screenshots in the contact form
    "barcode",  # the bank barcode of an invoice PDF
    "holidays",  # the invoice desk's working days
    "icalendar",  # the courses' calendars and the confirmation's kurssi.ics
    "cryptography",  # national identity numbers
    "requests",  # forwarding invoices, the payment sandbox's notifies
    "urllib3",
    "phonenumbers",  # form validation
    "email_validator",
)

STARTS = {
    "create_app": "from app import create_app; create_app()",
    "flask --help": (
        "import contextlib, io\n"
        "from flask.cli import main\n"
        "sys.argv = ['flask', '--app', 'app', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main()\n"
    ),
}

REPORT = """
from models.auth import User
from services import accounts, punchout
print(json.dumps({
    "imported": [name for name in HEAVY if name in sys.modules],
    "hashed": accounts._dummy_hash.cache_info().currsize
    + punchout._dummy_hash.cache_info().currsize,
    "mappers_configured": User.__mapper__.configured,
}))
"""


def _start(code: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLASK_")}
    env.update(SECRET_KEY="x", DATABASE_URL="sqlite://")
    script = f"import json, sys\nHEAVY = {HEAVY!r}\n{code}\n{REPORT}"
    result = run_command([sys.executable, "-c", script], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("start", STARTS)
def test_a_start_imports_no_heavy_library(start):
    assert _start(STARTS[start])["imported"] == []


def test_a_start_hashes_no_password():
    """The hashes unknown accounts are checked against (64 MiB each) wait for a login."""
    assert _start(STARTS["create_app"])["hashed"] == 0


def test_a_start_leaves_the_mappers_to_the_first_query():
    """Configuring every model's mapper costs a fifth of a second that a command may never
    need (deploy/gunicorn.conf.py does it once in the master, before the workers fork)."""
    assert _start(STARTS["create_app"])["mappers_configured"] is False


def test_the_migration_commands_load_when_used(app):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["--help"])
    assert "Perform database migrations." in listed.output
    options = runner.invoke(args=["db", "--help"])
    assert options.exit_code == 0 and "--directory" in options.output
    heads = runner.invoke(args=["db", "--directory", str(ROOT / "migrations"), "heads"])
    assert heads.exit_code == 0, heads.output
    assert app.extensions["migrate"].configure_args["compare_type"] is True
