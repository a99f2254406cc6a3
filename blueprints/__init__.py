"""Blueprints, one module (or package) per part."""

from __future__ import annotations


def safe_next(target: str | None) -> str | None:
    """Accept only a path on this site as a redirect target (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None
