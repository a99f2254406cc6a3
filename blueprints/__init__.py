"""Blueprints, one module (or package) per part."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from werkzeug.routing import IntegerConverter

from paging import paginate  # noqa: F401  (the parts' one way to list)


class IdConverter(IntegerConverter):
    """`<id:name>`: a positive database id that fits a 32-bit integer column.

    A larger number is simply not found (404) instead of an overflow in the database.
    """

    def __init__(self, map, *args, **kwargs) -> None:
        super().__init__(map, min=1, max=2**31 - 1)


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
