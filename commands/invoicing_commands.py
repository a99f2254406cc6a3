"""`flask invoicing …`: the bank's files of incoming payments, from a file or a spool
folder that a bank connection drops them in."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from flask_babel import force_locale
from sqlalchemy.exc import IntegrityError

from extensions import db
from services.invoicing import bank, camt


@click.group("invoicing")
def invoicing() -> None:
    """The invoice desk's jobs."""


def _import(path: Path) -> str | None:
    """Import one file and commit it; the reason when it could not be imported."""
    try:
        done = bank.import_file(path.read_bytes(), path.name, None)
    except camt.CamtError as exc:
        db.session.rollback()
        with force_locale("en"):  # the command line speaks English, as the others do
            return str(exc.message)
    except IntegrityError:
        db.session.rollback()  # the same payment imported at this moment elsewhere
        return "another import booked the same payments at the same moment: run again"
    db.session.commit()
    click.echo(
        f"{path.name}: {done.booked} booked, {done.unmatched} to handle, "
        f"{done.repeated} imported before, {done.skipped} entries not incoming payments"
    )
    return None


@invoicing.command("import-bank")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--spool",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Import every *.xml in this folder; move each to done/ or failed/ beside it.",
)
@with_appcontext
def import_bank(files: tuple[Path, ...], spool: Path | None) -> None:
    """Import camt.054 or camt.053 files of incoming payments; a payment imported before is
    not booked again. Exits 1 when a file could not be imported."""
    failed = 0
    for path in files:
        reason = _import(path)
        if reason:
            failed += 1
            click.echo(f"{path.name}: not imported: {reason}", err=True)
    if spool is not None:
        for folder in ("done", "failed"):
            (spool / folder).mkdir(exist_ok=True)
        for path in sorted(spool.glob("*.xml")):
            reason = _import(path)
            target = spool / ("failed" if reason else "done") / path.name
            path.replace(target)
            if reason:
                failed += 1
                target.with_suffix(".txt").write_text(reason + "\n")
                click.echo(f"{path.name}: not imported: {reason}", err=True)
    if failed:
        raise SystemExit(1)
