"""Rendered parts of pages, kept in the process and reused: the layout, and the content
of the pages most asked for (the forms and the calendar).

Two kinds of fragment:

- **Layout** fragments (the head, the navigation, the header's account, the footer)
  depend on nothing but their key: the language, the kind of user, the part of the
  portal, who is logged in. They are kept until the process ends.
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
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from flask import Flask, Response, current_app, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from extensions import db

T = TypeVar("T")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WROTE = "_wrote"  # when the session last sent a form (seconds since the epoch)
_WRITTEN = "fragments.written"  # a connection's tables written in its transaction
_TOKEN_MARK = "\x00csrf\x00"  # no rendered page holds a NUL
SIZE = 4096  # fragments kept at most; the cache starts afresh when full
CHARACTERS = 8_000_000  # and their text at most (a page's content is some 10–30 000)


class FragmentCache:
    """`{% call cached_fragment("nav", current_language, …) %}…{% endcall %}` in a
    template; `data=True` for a fragment that shows database rows (`tables=` the tables
    they come from, when known: then only a commit writing one of them renews it), and
    `secret=` the CSRF token that the fragment may hold."""

    def __init__(self, seconds: int = 10, size: int = SIZE, characters: int = CHARACTERS) -> None:
        self.seconds = seconds
        self.size = size
        self.characters = characters
        self._kept_characters = 0
        self.clock = time.time
        self.generation = 0  # this process's commits so far
        self.tables: dict[str, int] = {}  # its commits that wrote each table
        self._fragments: dict[tuple, str] = {}

    # --- what this process wrote

    def executed(self, conn: sa.Connection, *args: Any) -> None:
        """After each statement: note the table an INSERT, UPDATE or DELETE wrote."""
        context = args[-2]
        if context is not None and (context.isinsert or context.isupdate or context.isdelete):
            table = getattr(getattr(context.compiled, "statement", None), "table", None)
            name = getattr(table, "name", None)
            if isinstance(name, str):
                conn.info.setdefault(_WRITTEN, set()).add(name)

    def committed(self, conn: sa.Connection) -> None:
        """A commit went through this process: what was rendered before it is old."""
        self.generation += 1
        for name in conn.info.pop(_WRITTEN, ()):
            self.tables[name] = self.tables.get(name, 0) + 1

    def rolled_back(self, conn: sa.Connection) -> None:
        conn.info.pop(_WRITTEN, None)

    def slot(self, tables: tuple[str, ...] | None = None) -> tuple:
        """What a fragment's freshness is measured by: the commits that may have changed
        it (any, unless its tables are known) and the time slot."""
        written = (
            self.generation if tables is None else tuple(self.tables.get(t, 0) for t in tables)
        )
        return written, int(self.clock() // (self.seconds or 1))

    # --- keeping

    def _keep(self, key: tuple, value: Any) -> None:
        length = len(value) if isinstance(value, str) else 1_000  # a value: a few rows
        if len(self._fragments) >= self.size or self._kept_characters + length > self.characters:
            # A crude bound on the process's memory; old slots are never asked for again.
            self._fragments.clear()
            self._kept_characters = 0
        self._fragments[key] = value
        self._kept_characters += length

    def value(self, key: tuple, make: Callable[[], T], tables: tuple[str, ...] | None = None) -> T:
        """What `make()` returns, read from the database at most once per slot."""
        if not self.seconds:
            return make()
        key = ("value", *key, self.slot(tables))
        found = self._fragments.get(key)
        if found is None:
            found = make()
            self._keep(key, found)
        return found

    def _full_key(self, key: tuple, data: bool, tables: tuple[str, ...] | None) -> tuple:
        key = (request.script_root, *key)  # links are relative to where the portal is mounted
        return (*key, self.slot(tables)) if data else key

    def get(
        self,
        *key: Hashable,
        data: bool = False,
        tables: tuple[str, ...] | None = None,
        secret: str = "",
    ) -> Markup | None:
        html = self._fragments.get(self._full_key(key, data, tables))
        if html is None:
            return None
        return Markup(html.replace(_TOKEN_MARK, secret) if secret else html)

    def __call__(
        self,
        *key: Hashable,
        caller: Callable[[], str],
        data: bool = False,
        tables: tuple[str, ...] | None = None,
        secret: str = "",
    ) -> Markup:
        key = self._full_key(key, data, tables)
        html = self._fragments.get(key)
        if html is None:
            html = str(caller())
            self._keep(key, html.replace(secret, _TOKEN_MARK) if secret else html)
        elif secret:
            html = html.replace(_TOKEN_MARK, secret)
        return Markup(html)


@dataclass(frozen=True)
class ContentKey:
    """What a page's content depends on (`content_key()`)."""

    parts: tuple
    tables: tuple[str, ...] | None = None


def content_key(
    *parts: Hashable, audience: Hashable = None, tables: tuple[str, ...] | None = None
) -> ContentKey | None:
    """The key of a page's content, for `render_template(…, content_key=…)`; None (not
    cached) unless the request is a GET, the content cache is on and the session wrote
    nothing in the last PAGE_CACHE_SECONDS (whoever just saved sees what they saved, on
    any process).

    The address with its query and the language are in the key, and the user, unless
    `audience` names the wider group that sees the same content (staff, by their role);
    `parts` are whatever else the content shows that none of these decide. `tables`: the
    tables the content shows rows of, when they are few and known; a commit to another
    table then leaves it be (without them, any commit renews it).
    """
    if request.method != "GET" or not current_app.config.get("PAGE_CACHE_SECONDS"):
        return None
    if _wrote_lately():
        return None
    if audience is None and current_user.is_authenticated:
        audience = ("user", current_user.id)
    address = (request.endpoint, request.path, request.query_string)
    return ContentKey((*address, audience, *parts), tables)


def staff_audience() -> tuple:
    """Staff of one role see the same lists (their header is not in the content)."""
    return ("role", current_user.role.value)


def _remember_write(response: Response) -> Response:
    """A session that sent a form gets no kept content for a while (`content_key`)."""
    if request.method not in SAFE_METHODS and response.status_code < 400 and session:
        session[WROTE] = int(current_app.extensions["fragments"].clock())
    return response


class Kept(NamedTuple):
    """A page's kept title and content."""

    title: Markup
    content: Markup


def cached_content(key: ContentKey | None) -> Kept | None:
    """The page title and content kept under `key` (from `content_key()`), if both are:
    the view then renders its template with `kept_page=` this, reading nothing for them."""
    if key is None:
        return None
    cache = current_app.extensions["fragments"]
    language = str(get_locale())
    title = cache.get("title", language, key, data=True, tables=key.tables)
    content = cache.get(
        "content", language, key, data=True, tables=key.tables, secret=generate_csrf()
    )
    if title is None or content is None:
        return None
    return Kept(title, content)


def cached_value(
    key: tuple,
    make: Callable[[], T],
    tables: tuple[str, ...] | None = None,
    *,
    fresh_for_writers: bool = True,
) -> T:
    """Rows that many pages show alike (the contact form's applications, say), read once
    per slot, or again when this process commits to one of `tables` (and, unless
    `fresh_for_writers` is off, for a session that has just sent a form): `make()` must
    return plain values, never rows bound to a session."""
    if fresh_for_writers and has_request_context() and _wrote_lately():
        return make()
    return current_app.extensions["fragments"].value(key, make, tables)


class Snapshot(NamedTuple):
    """What was loaded of one row, and of the rows it refers to (`snapshot()`)."""

    entity: type
    values: dict[str, Any]
    related: dict[str, Snapshot | None]


def snapshot(instance: Any) -> Snapshot:
    """The loaded columns of an ORM instance, and its loaded to-one relations: plain
    values that outlive the session (what is not loaded, a deferred column, a list, is
    left out and loads from the database when asked for, as it would have)."""
    state = sa.inspect(instance)
    loaded = state.dict
    values = {a.key: loaded[a.key] for a in state.mapper.column_attrs if a.key in loaded}
    related = {}
    for relation in state.mapper.relationships:
        if not relation.uselist and relation.key in loaded:
            target = loaded[relation.key]
            related[relation.key] = None if target is None else snapshot(target)
    return Snapshot(state.mapper.class_, values, related)


def attach(kept: Snapshot) -> Any:
    """The row of `kept` in this request's session, as if just loaded, and without SQL:
    a new persistent instance (or the one the session already holds)."""
    from sqlalchemy.orm.attributes import set_committed_value
    from sqlalchemy.orm.session import make_transient_to_detached

    mapper = sa.inspect(kept.entity)
    identity = mapper.identity_key_from_primary_key(
        [kept.values[column.key] for column in mapper.primary_key]
    )
    found = db.session.identity_map.get(identity)
    if found is not None:
        return found
    instance = mapper.class_manager.new_instance()
    # As the ORM loads a row: the values straight into the instance's dict (nothing of
    # them is a change), the relations through their attribute.
    instance.__dict__.update(kept.values)
    for key, target in kept.related.items():
        set_committed_value(instance, key, None if target is None else attach(target))
    make_transient_to_detached(instance)
    db.session.add(instance)
    return instance


def kept_row(key: tuple, load: Callable[[], Any], tables: tuple[str, ...]) -> Any:
    """The row `load()` reads, read at most once per slot for a GET (the logged-in user
    on every page, say): kept as a `snapshot()` and attached to each request's session.
    A form sent (any method but GET, HEAD, OPTIONS) and a session that has just sent one
    read it afresh; so does any commit of this process to one of `tables`."""
    cache = current_app.extensions["fragments"]
    if not cache.seconds or request.method not in SAFE_METHODS or _wrote_lately():
        return load()
    key = ("row", *key, cache.slot(tables))
    kept = cache._fragments.get(key)
    if kept is not None:
        return attach(kept)
    instance = load()
    if instance is not None:
        cache._keep(key, snapshot(instance))
    return instance


def _wrote_lately() -> bool:
    """Whether this session sent a form within the last PAGE_CACHE_SECONDS."""
    cache = current_app.extensions["fragments"]
    return session.get(WROTE, 0) > cache.clock() - cache.seconds


def nav_audience() -> tuple | None:
    """What the header's navigation shows depends on: the user's role and organisation."""
    if not current_user.is_authenticated:
        return None
    return (current_user.role.value, current_user.organisation_id)


def account_key() -> tuple | None:
    """What the header says of who is logged in: their name and address, and their
    organisation's name (None for a visitor)."""
    user = current_user._get_current_object()
    if not user.is_authenticated:
        return None
    organisation = user.organisation
    return (user.id, user.name, user.email, organisation.name if organisation else None)


def init_app(app: Flask) -> None:
    cache = FragmentCache(seconds=app.config.get("PAGE_CACHE_SECONDS") or 0)
    app.extensions["fragments"] = cache
    app.jinja_env.globals["cached_fragment"] = cache
    app.jinja_env.globals["nav_audience"] = nav_audience
    app.jinja_env.globals["account_key"] = account_key
    app.after_request(_remember_write)
    with app.app_context():
        sa.event.listen(db.engine, "after_cursor_execute", cache.executed)
        sa.event.listen(db.engine, "commit", cache.committed)
        sa.event.listen(db.engine, "rollback", cache.rolled_back)
