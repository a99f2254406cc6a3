"""Every list as a download: CSV (streamed) or a real Excel workbook (.xlsx), one code path.

A list's export is the list's own filtered, scoped statement read in keyset batches in
the list's own order (`iterate`), never the whole table at once; the columns say what
each cell holds (`Column`), so that dates stay dates and money stays numbers in Excel.
An export stops at `EXPORT_MAX_ROWS` and says so in its last row. An export of personal
data is recorded in the audit log: who, which list, which filters, how many rows.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from flask import Response, has_request_context, request, stream_with_context
from flask_babel import get_timezone
from flask_babel import gettext as _

from extensions import db
from paging import CURSOR_ARGS, _beyond, _keys, _ordering
from services.spreadsheet import safe_cell

EXPORT_MAX_ROWS = 100_000
BATCH = 1000
FORMATS = ("csv", "xlsx")
Kind = Literal["text", "date", "datetime", "money", "int"]
Format = Literal["csv", "xlsx"]

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NUMBER_FORMATS = {
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
    "money": "#,##0.00",
    "int": "0",
}
# Query arguments whose values are typed text (a name, an email, a number): the audit
# event names them without their value, as its summary holds no personal data.
TEXT_ARGS = frozenset(
    {
        "q",
        "payer",
        "number",
        "reference",
        "user_number",
        "company_name",
        "organisation_name",
    }
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # what a worksheet cannot hold
_SPOOL_BYTES = 8 * 1024 * 1024  # a larger workbook goes to a temporary file on disk


@dataclass(frozen=True)
class Column:
    """One column of an export: its heading, how a row gives its value, and its kind."""

    header: Any  # a lazy string, read in the downloader's language
    value: Callable[[Any], Any]
    kind: Kind = "text"


def iterate(
    stmt: sa.Select,
    order_columns: Sequence[sa.ColumnElement[Any]],
    batch: int | None = None,
    *,
    limit: int | None = None,
) -> Iterator[Any]:
    """The rows of `stmt` in `order_columns`, read a batch at a time (BATCH rows) from
    where the last batch ended (as paging.paginate seeks a page), at most `limit` of
    them: by default one past EXPORT_MAX_ROWS, so that the export can say it stopped.

    The last order column must be the listed entity's primary key and no order column
    may hold NULL. Each batch is one statement with a LIMIT: the list's index is walked,
    never the whole table sorted or read at once."""
    batch = batch or BATCH
    limit = EXPORT_MAX_ROWS + 1 if limit is None else limit
    keys = _keys(order_columns)
    labels = [key.column.label(f"_export_key_{n}") for n, key in enumerate(keys)]
    base = stmt.order_by(None).add_columns(*labels).order_by(*_ordering(keys, reverse=False))
    values: Sequence[Any] | None = None
    given = 0
    while given < limit:
        size = min(batch, limit - given)
        query = base if values is None else base.where(_beyond(keys, values, reverse=False))
        rows = db.session.execute(query.limit(size)).all()
        for row in rows:
            yield row[0]
        given += len(rows)
        if len(rows) < size:
            return
        values = tuple(rows[-1][1:])


def local_datetime(value: datetime) -> datetime:
    """A stored time as the downloader's naive wall-clock time (Excel holds no zone)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(get_timezone()).replace(tzinfo=None)


def csv_text(column: Column, value: Any) -> str:
    """A cell as CSV text: ISO dates, local times, money with a decimal comma (1234,50,
    which Finnish and Norwegian Excel read as a number), text made formula-safe."""
    if value is None or value == "":
        return ""
    if column.kind == "datetime" and isinstance(value, datetime):
        return local_datetime(value).strftime("%Y-%m-%d %H:%M")
    if column.kind == "date" and isinstance(value, date):
        return value.isoformat()
    if column.kind == "money":
        return f"{Decimal(value):.2f}".replace(".", ",")
    if column.kind == "int":
        return str(int(value))
    return safe_cell(value)


def xlsx_value(column: Column, value: Any) -> Any:
    """A cell's value as the workbook holds it: a date, a naive local datetime, a
    Decimal, an int, or text without the control characters a worksheet refuses."""
    if value is None or value == "":
        return None
    if column.kind == "datetime" and isinstance(value, datetime):
        return local_datetime(value)
    if column.kind == "date" and isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    if column.kind == "money":
        return Decimal(value).quantize(Decimal("0.01"))
    if column.kind == "int":
        return int(value)
    return _CONTROL.sub("", str(value))[:32767]


def _cap_note() -> str:
    return _(
        "The export stops at %(num)s rows: narrow the search to export the rest.",
        num=f"{EXPORT_MAX_ROWS:,}".replace(",", "\u00a0"),
    )


def _capped(rows: Iterable[Any]) -> Iterator[Any]:
    """The rows up to the cap; a row past it raises _PastCap."""
    for n, row in enumerate(rows):
        if n >= EXPORT_MAX_ROWS:
            raise _PastCap
        yield row


class _PastCap(Exception):
    pass


def _filters() -> dict[str, str]:
    if not has_request_context():
        return {}
    return {k: v for k, v in request.args.items() if v and k not in CURSOR_ARGS}


def audit_summary(fmt: str, filters: Mapping[str, str], rows: int, capped: bool) -> str:
    """What an export's audit event says: the format, the filters (typed text only by
    name), the rows given and whether the cap stopped it; no personal data."""
    shown = []
    for name in sorted(filters):
        value = filters[name]
        shown.append(f"{name}=…" if name in TEXT_ARGS else f"{name}={value[:40]}")
    parts = [
        f"format: {fmt}",
        f"filters: {', '.join(shown) if shown else '-'}",
        f"rows: {rows}{' (capped)' if capped else ''}",
    ]
    return "; ".join(parts)


def _record(what: str, fmt: str, rows: int, capped: bool, *, interrupted: bool = False) -> None:
    from models.audit import AuditAction
    from services import audit

    summary = audit_summary(fmt, _filters(), rows, capped)
    if interrupted:
        summary += "; download interrupted"
    audit.record(AuditAction.EXPORT_DOWNLOADED, "export", what, summary)
    db.session.commit()


def _filename(stem: str, fmt: str) -> str:
    from services import timezones

    today = datetime.now(UTC).astimezone(timezones.HELSINKI).date()
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "export"
    return f"{safe}-{today.isoformat()}.{fmt}"


def _csv_response(
    filename: str,
    columns: Sequence[Column],
    rows: Iterable[Any],
    *,
    personal: bool,
    what: str,
) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")

    def taken() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    def generate() -> Iterator[str]:
        count, capped, done = 0, False, False
        try:
            buffer.write("\ufeff")
            writer.writerow([safe_cell(str(column.header)) for column in columns])
            try:
                for row in _capped(rows):
                    writer.writerow([csv_text(c, c.value(row)) for c in columns])
                    count += 1
                    if count % BATCH == 0:
                        yield taken()
            except _PastCap:
                capped = True
                writer.writerow([safe_cell(_cap_note())])
            # The last chunk waits for the audit event: no complete file of personal
            # data leaves without its event stored.
            if personal:
                _record(what, "csv", count, capped)
            done = True
            yield taken()
        finally:
            if personal and not done:
                db.session.rollback()
                _record(what, "csv", count, capped, interrupted=True)

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _xlsx_response(
    filename: str,
    sheet_title: str,
    columns: Sequence[Column],
    rows: Iterable[Any],
    *,
    personal: bool,
    what: str,
) -> Response:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=sheet_title)
    sheet.freeze_panes = "A2"  # set before the first row is written
    bold = Font(bold=True)

    def text_cell(value: Any, font: Font | None = None) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=xlsx_value(Column("", str), value))
        if cell.data_type in ("f", "e"):  # "=…" or "#N/A" typed in a field: stays text
            cell.data_type = "s"
        if font is not None:
            cell.font = font
        return cell

    def cell_of(column: Column, value: Any) -> WriteOnlyCell:
        if column.kind == "text":
            return text_cell(value)
        cell = WriteOnlyCell(sheet, value=xlsx_value(column, value))
        cell.number_format = NUMBER_FORMATS[column.kind]
        return cell

    sheet.append([text_cell(str(column.header), bold) for column in columns])
    count, capped = 0, False
    try:
        for row in _capped(rows):
            sheet.append([cell_of(column, column.value(row)) for column in columns])
            count += 1
    except _PastCap:
        capped = True
        sheet.append([text_cell(_cap_note(), bold)])
    spooled = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)
    workbook.save(spooled)
    spooled.seek(0)
    if personal:
        _record(what, "xlsx", count, capped)

    def chunks() -> Iterator[bytes]:
        with spooled:  # closed once sent, or when the download is given up
            while block := spooled.read(64 * 1024):
                yield block

    return Response(
        chunks(),
        mimetype=XLSX_MIMETYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def export_response(
    fmt: Format,
    filename_stem: str,
    columns: Sequence[Column],
    rows_iter: Iterable[Any],
    *,
    personal: bool,
    what: str,
) -> Response:
    """The download of a list's rows: `fmt` "csv" (streamed, UTF-8 with its BOM, `;`) or
    "xlsx" (typed cells, a bold frozen heading); `what` names the list in the audit
    event that an export of `personal` data records."""
    filename = _filename(filename_stem, fmt)
    if fmt == "xlsx":
        title = re.sub(r"[\[\]:*?/\\]", "", filename_stem)[:31] or "export"
        return _xlsx_response(filename, title, columns, rows_iter, personal=personal, what=what)
    return _csv_response(filename, columns, rows_iter, personal=personal, what=what)


def export_task(task, progress) -> dict:
    """The background task of an export (services/tasks.py): the list's own download,
    made as its creator would get it (the same view, access checks, filters and bounded
    batches), kept as the task's file for TASK_FILE_DAYS days."""
    from flask import current_app, g
    from flask_babel import force_locale
    from flask_login import login_user
    from werkzeug.exceptions import HTTPException

    from services.tasks import TaskError

    app = current_app._get_current_object()
    path, query = task.params["path"], task.params.get("query", "")
    with app.test_request_context(path, query_string=query, method="GET"):
        # The worker's app context outlives this export: its user and its time zone
        # are this task's only (Flask-Login and Flask-Babel keep them in `g`).
        g.pop("_login_user", None)
        g.pop("_flask_babel", None)
        if not login_user(task.created_by):
            raise TaskError(_("The account that asked for the export is no longer active."))
        with force_locale(task.language):
            try:
                endpoint = request.url_rule.endpoint if request.url_rule else ""
                if not endpoint.endswith("_export"):
                    raise TaskError(_("This list cannot be exported."))
                response = app.view_functions[endpoint](**(request.view_args or {}))
            except HTTPException:
                raise TaskError(_("You may not export this list.")) from None
            if not isinstance(response, Response) or response.status_code != 200:
                raise TaskError(_("You may not export this list."))
            body = io.BytesIO()
            try:
                for chunk in response.response:  # a batch of rows, or a workbook's block
                    body.write(chunk.encode() if isinstance(chunk, str) else chunk)
                    progress.step()  # the lease renewed while a long export goes on
            finally:
                response.close()  # within the request: its audit and contexts end in order
    g.pop("_login_user", None)
    g.pop("_flask_babel", None)
    disposition = response.headers.get("Content-Disposition", "")
    match = re.search(r'filename="([^"]+)"', disposition)
    data = body.getvalue()
    progress.step(
        file_name=match.group(1) if match else "export",
        file_type=response.mimetype,
        file_data=data,
    )
    return {"bytes": len(data)}
