"""Absolute links for email, built from BASE_URL, with or without a request."""

from __future__ import annotations

from flask import current_app


def external_url(endpoint: str, **values) -> str:
    """The public address of an endpoint, e.g. for a link in an email sent by a job."""
    path = current_app.url_map.bind("portal").build(endpoint, values)
    return current_app.config["BASE_URL"] + path
