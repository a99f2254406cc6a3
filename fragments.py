"""Rendered parts of pages, kept in the process and reused: the layout, and the content
of the pages most asked for (the forms and the calendar).

Two kinds of fragment:

- **Layout** fragments (the head, the navigation, the footer) depend on nothing but
  their key: the language, the kind of user, the part of the portal. They are kept until
  the process ends.
- **Page content** (`content_key()`, then `base.html` renders the content block through
  the cache) depends on the database as well. Its key holds the page's address, its
  query, the user and the language, plus the process's write generation and a time slot:
  a commit made by this process makes every content fragment new at once, one made by
  another process or host shows within `PAGE_CACHE_SECONDS` (10 by default; 0 turns the
  content cache off). A session that has just sent a form is shown nothing kept for as
  long, on any process: one sees one's own changes at once. A form's CSRF token is never
  kept: it is swapped for a marker when stored and for the request's own token when served.

A fragment holds nothing of one request beyond its key: no flashed message (those are
outside the content block), no other person's data (the user is in the key).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, Response, current_app, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from extensions import db

T = TypeVar("T")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WROTE = "_wrote"  # when the session last sent a form (seconds since the epoch)
_TOKEN_MARK = "\x00csrf\x00"  # no rendered page holds a NUL
SIZE = 4096  # fragments kept at most; the cache starts afresh when full


class FragmentCache:
    """`{% call cached_fragment("nav", current_language, …) %}…{% endcall %}` in a
    template; `data=True` for a fragment that shows database rows, `secret=` the CSRF
    token that the fragment may hold."""

    def __init__(self, seconds: int = 10, size: int = SIZE) -> None:
        self.seconds = seconds
        self.size = size
        self.clock = time.time
        self.generation = 0  # this process's commits so far
        self._fragments: dict[tuple, str] = {}

    def written(self, *_args: object) -> None:
        """A commit went through this process: content rendered before it is old."""
        self.generation += 1

    def slot(self) -> tuple[int, int]:
        """What a content fragment's freshness is measured by."""
        return self.generation, int(self.clock() // (self.seconds or 1))

    def _keep(self, key: tuple, value: Any) -> None:
        if len(self._fragments) >= self.size:
            self._fragments.clear()  # a crude bound; old slots are never asked again
        self._fragments[key] = value

    def value(self, key: tuple, make: Callable[[], T]) -> T:
        """What `make()` returns, read from the database at most once per slot."""
        if not self.seconds:
            return make()
        key = ("value", *key, self.slot())
        found = self._fragments.get(key)
        if found is None:
            found = make()
            self._keep(key, found)
        return found

    def _full_key(self, key: tuple, data: bool) -> tuple:
        key = (request.script_root, *key)  # links are relative to where the portal is mounted
        return (*key, self.slot()) if data else key

    def get(self, *key: Hashable, data: bool = False, secret: str = "") -> Markup | None:
        html = self._fragments.get(self._full_key(key, data))
        if html is None:
            return None
        return Markup(html.replace(_TOKEN_MARK, secret) if secret else html)

    def __call__(
        self, *key: Hashable, caller: Callable[[], str], data: bool = False, secret: str = ""
    ) -> Markup:
        key = self._full_key(key, data)
        html = self._fragments.get(key)
        if html is None:
            html = str(caller())
            self._keep(key, html.replace(secret, _TOKEN_MARK) if secret else html)
        elif secret:
            html = html.replace(_TOKEN_MARK, secret)
        return Markup(html)


def content_key(*parts: Hashable, audience: Hashable = None) -> tuple | None:
    """The key of a page's content, for `render_template(…, content_key=…)`; None (not
    cached) unless the request is a GET, the content cache is on and the session wrote
    nothing in the last PAGE_CACHE_SECONDS (whoever just saved sees what they saved, on
    any process).

    The address with its query and the language are in the key, and the user, unless
    `audience` names the wider group that sees the same content (staff, by their role);
    `parts` are whatever else the content shows that none of these decide.
    """
    seconds = current_app.config.get("PAGE_CACHE_SECONDS")
    if request.method != "GET" or not seconds:
        return None
    if session.get(WROTE, 0) > current_app.extensions["fragments"].clock() - seconds:
        return None
    if audience is None and current_user.is_authenticated:
        audience = ("user", current_user.id)
    return (request.endpoint, request.path, request.query_string, audience, *parts)


def staff_audience() -> tuple:
    """Staff of one role see the same lists (their header is not in the content)."""
    return ("role", current_user.role.value)


def _remember_write(response: Response) -> Response:
    """A session that sent a form gets no kept content for a while (`content_key`)."""
    if request.method not in SAFE_METHODS and response.status_code < 400 and session:
        session[WROTE] = int(current_app.extensions["fragments"].clock())
    return response


def cached_content(key: tuple | None) -> Markup | None:
    """The page content kept under `key` (from `content_key()`), if any: the view then
    renders its template with `kept_content=` this, reading nothing for the content."""
    if key is None:
        return None
    cache = current_app.extensions["fragments"]
    return cache.get("content", str(get_locale()), key, data=True, secret=generate_csrf())


def cached_value(key: tuple, make: Callable[[], T]) -> T:
    """Rows that many pages show alike (the contact form's applications, say), read once
    per slot: `make()` must return plain values, never rows bound to a session."""
    return current_app.extensions["fragments"].value(key, make)


def nav_audience() -> tuple | None:
    """What the header's navigation shows depends on: the user's role and organisation."""
    if not current_user.is_authenticated:
        return None
    return (current_user.role.value, current_user.organisation_id)


def init_app(app: Flask) -> None:
    cache = FragmentCache(seconds=app.config.get("PAGE_CACHE_SECONDS") or 0)
    app.extensions["fragments"] = cache
    app.jinja_env.globals["cached_fragment"] = cache
    app.jinja_env.globals["nav_audience"] = nav_audience
    app.after_request(_remember_write)
    with app.app_context():
        sa.event.listen(db.engine, "commit", cache.written)
