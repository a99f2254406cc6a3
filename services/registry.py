"""What each part tells the staff area: its navigation entry and its code look-up.

The staff area knows no part's internals: parts register here when their blueprint
is registered, and the staff area asks the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask


@dataclass(frozen=True)
class LookupHit:
    """What a part's code look-up found: its label and the address of its staff page."""

    label: str  # what was found, e.g. "Ticket T-2026-004217"
    url: str


Lookup = Callable[[str], list[LookupHit]]


@dataclass(frozen=True)
class StaffSection:
    """A part's entry in the staff area's navigation."""

    label: object  # a lazy_gettext string
    endpoint: str
    admin_only: bool = False


RecordLink = Callable[[str], LookupHit | None]
# (a reference someone typed, their organisation's id) -> (record type, record id)
ReferenceMatcher = Callable[[str, int], tuple[str, str] | None]


def _registry(app: Flask) -> dict:
    return app.extensions.setdefault(
        "portal_registry", {"lookups": [], "sections": [], "records": {}, "references": []}
    )


def register_reference(app: Flask, matcher: ReferenceMatcher) -> None:
    """Let a reference given in the contact form (an invoice number, a service code…)
    point to this part's record, when the record is the organisation's own."""
    _registry(app)["references"].append(matcher)


def match_reference(app: Flask, reference: str, organisation_id: int) -> tuple[str, str] | None:
    """The organisation's record a reference names, as (record type, record id), or None."""
    reference = reference.strip()
    if not reference:
        return None
    for matcher in _registry(app)["references"]:
        found = matcher(reference, organisation_id)
        if found:
            return found
    return None


def register_record_link(app: Flask, record_type: str, link: RecordLink) -> None:
    """Tell the staff area how to show and link a record of this part (by its id)."""
    _registry(app)["records"][record_type] = link


def record_link(app: Flask, record_type: str, record_id: str) -> LookupHit | None:
    """The label and page of a record, e.g. the one an outbox message belongs to."""
    link = _registry(app)["records"].get(record_type)
    return link(record_id) if link else None


def register_lookup(app: Flask, lookup: Lookup) -> None:
    """Let the staff look-up box find this part's records by a pasted code."""
    _registry(app)["lookups"].append(lookup)


def register_staff_section(
    app: Flask, label: object, endpoint: str, *, admin_only: bool = False
) -> None:
    """Show this part in the staff area's navigation."""
    _registry(app)["sections"].append(StaffSection(label, endpoint, admin_only))


def lookups(app: Flask) -> list[Lookup]:
    """The code look-ups the parts have registered on the app."""
    return list(_registry(app)["lookups"])


def staff_sections(app: Flask) -> list[StaffSection]:
    """The navigation entries the parts have registered on the app."""
    return list(_registry(app)["sections"])


def find(app: Flask, code: str) -> list[LookupHit]:
    """Ask every part for records matching the code."""
    code = code.strip()
    if not code:
        return []
    hits: list[LookupHit] = []
    for lookup in lookups(app):
        hits.extend(lookup(code))
    return hits
