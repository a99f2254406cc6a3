"""What the print service and e-invoice operator sandboxes share: their records on disk
(one JSON file a job or message), their bearer-token check and their error answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import (
    Response,
    current_app,
    jsonify,
    request,
)

MAX_LISTED = 200


def folder(kind: str) -> Path:
    return Path(current_app.config["INVOICE_SANDBOX_DIR"]) / kind


def error(status: int, text: str, **extra: Any) -> Response:
    response = jsonify(error=text, **extra)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="sandbox"'
    return response


def refusal(token_key: str) -> Response | None:
    """The answer to a request that may not reach the API (outage, token), else None."""
    if current_app.config.get("INVOICE_SANDBOX_OUTAGE"):
        return error(503, "service unavailable")
    expected = current_app.config.get(token_key) or ""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(given.strip().encode(), expected.encode())
    ):
        return error(401, "missing or wrong bearer token")
    return None


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def listed(kind: str) -> list[dict]:
    where = folder(kind)
    if not where.is_dir():
        return []
    records = []
    for path in where.glob("*.json"):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    records.sort(key=lambda record: record.get("received_at", ""), reverse=True)
    return records[:MAX_LISTED]


def find(kind: str, pattern: re.Pattern, ident: str) -> dict | None:
    if not pattern.fullmatch(ident):
        return None
    path = folder(kind) / f"{ident}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def key_path(kind: str, key: str) -> Path:
    return folder(kind) / "keys" / hashlib.sha256(key.encode()).hexdigest()
