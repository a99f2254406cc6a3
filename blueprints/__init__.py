"""Blueprints, one module (or package) per part."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import request
from werkzeug.routing import IntegerConverter

from models.auth import Organisation
from paging import paginate  # noqa: F401  (the parts' one way to list)

_DB_ID = re.compile(r"[0-9]{1,9}")


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive database id that fits a 32-bit integer column.

    A larger number is simply not found (404) instead of an overflow in the database.
    """

    def __init__(self, map, *args, **kwargs) -> None:
        super().__init__(map, min=1, max=2**31 - 1)


@dataclass(frozen=True)
class CompanyFilter:
    """The organisation a staff list is narrowed to: `?<id_arg>=<id>` (links and pages),
    or the name or business ID typed in the filter's box (`?<text_arg>=…`), looked up
    through the index (`accounts.pick_organisation`): no list of every organisation."""

    id_arg: str
    text_arg: str
    picked: Organisation | None  # the organisation the list shows, if one
    text: str  # what the filter's box shows
    candidates: list[Organisation]  # those a text that fits several may mean
    unknown: bool  # the text names no organisation

    @property
    def typed(self) -> bool:
        """A text was typed that names no one organisation: the list shows nothing."""
        return self.picked is None and (self.unknown or bool(self.candidates))

    def narrow(self, stmt: sa.Select, column: sa.ColumnElement) -> sa.Select:
        if self.picked is not None:
            return stmt.where(column == self.picked.id)
        return stmt.where(sa.false()) if self.typed else stmt

    def args_for(self, organisation: Organisation, others: dict) -> dict:
        """A link's query arguments: the list's other filters, and this organisation."""
        return {**others, self.id_arg: organisation.id}

    def args(self) -> dict[str, int]:
        """The query argument of the organisation shown, for the list's other pages."""
        return {self.id_arg: self.picked.id} if self.picked is not None else {}


def company_filter(id_arg: str = "company", text_arg: str = "company_name") -> CompanyFilter:
    from extensions import db
    from services import accounts

    text = " ".join(request.args.get(text_arg, "").split())[:200]
    if text:
        picked, candidates = accounts.pick_organisation(text)
        shown = picked.name if picked else text
        return CompanyFilter(id_arg, text_arg, picked, shown, candidates, not candidates)
    given = request.args.get(id_arg, "")
    picked = db.session.get(Organisation, int(given)) if _DB_ID.fullmatch(given) else None
    return CompanyFilter(id_arg, text_arg, picked, picked.name if picked else "", [], False)


def safe_next(target: str | None) -> str | None:
    """Accept only a path on this site as a redirect target (no open redirects).

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
    "/\t/evil.example" would lead off-site: any such character refuses the target.
    """
    if not target or not target.startswith("/") or len(target) > 2000:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target


def csp_with_form_targets(*addresses: str) -> str:
    """The portal's Content-Security-Policy, letting the page's forms also post to the
    origins of these web addresses (a payment service, a shop's return address)."""
    from app import CSP

    origins = set()
    for address in addresses:
        parts = urlsplit(address)
        if parts.scheme in ("http", "https") and re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", parts.netloc):
            origins.add(f"{parts.scheme}://{parts.netloc}")
    return CSP.replace("form-action 'self'", " ".join(["form-action 'self'", *sorted(origins)]))
