"""CSV downloads that Excel opens right: UTF-8 with its mark, semicolons, no formulas."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response


def safe_cell(value) -> str:
    """A cell as text; one that a spreadsheet would run as a formula is quoted with '."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_response(filename: str, header: Iterable, rows: Iterable[Iterable]) -> Response:
    """A CSV download: the BOM makes Excel read UTF-8 (ä, ø); semicolons suit Nordic Excel."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
