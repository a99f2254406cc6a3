"""Blueprints, one module (or package) per part."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, request
from flask_sqlalchemy.pagination import Pagination
from werkzeug.routing import IntegerConverter

from extensions import db

MAX_PAGE = 100_000


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive database id that fits a 32-bit integer column.

    A larger number is simply not found (404) instead of an overflow in the database.
    """

    def __init__(self, map, *args, **kwargs) -> None:
        super().__init__(map, min=1, max=2**31 - 1)


def paginate(stmt: sa.Select, per_page: int = 25) -> Pagination:
    """Paginate a select by the `page` query argument; a nonsensical page is a 404."""
    page = request.args.get("page", 1, type=int)
    if not 1 <= page <= MAX_PAGE:
        abort(404)
    return db.paginate(stmt, page=page, per_page=per_page, max_per_page=per_page)


def safe_next(target: str | None) -> str | None:
    """Accept only a path on this site as a redirect target (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None
