"""Absolute links for email, built from BASE_URL, with or without a request.

A link in a mail names the mail's language (`language=`): the page it opens is then in
that language, whatever the browser prefers (app.py `follow_link_language`). The
language is opt-in, never added by itself: addresses given to outside services (the
payment channel's return and notify addresses) are signed as they are built.
"""

from __future__ import annotations

from flask import current_app

LANGUAGE_ARG = "lang"  # the query argument a link names its language in


def external_url(endpoint: str, *, language: str | None = None, **values) -> str:
    """The public address of an endpoint, e.g. for a link in an email sent by a job;
    with `language` (one of LANGUAGES), the page opens in it."""
    if language is not None and language in current_app.config["LANGUAGES"]:
        values[LANGUAGE_ARG] = language
    path = current_app.url_map.bind("portal").build(endpoint, values)
    return current_app.config["BASE_URL"] + path
