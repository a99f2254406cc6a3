"""What more than one part's views use: the `Routes` a part's views are declared with,
and the staff lists' organisation filter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, request

from models.auth import Organisation
from security import database_id

View = Callable[..., Any]


class Routes:
    """A module's views, declared with the decorators a blueprint has (`get`, `post`,
    `route`, `before_request`, `url_value_preprocessor`) and put on the blueprint its
    part's package creates (`register`). The view modules never import their package."""

    def __init__(self) -> None:
        self._deferred: list[Callable[[Blueprint], None]] = []

    def route(self, rule: str, **options: Any) -> Callable[[View], View]:
        def decorator(view: View) -> View:
            endpoint = options.pop("endpoint", None)
            self._deferred.append(lambda bp: bp.add_url_rule(rule, endpoint, view, **options))
            return view

        return decorator

    def get(self, rule: str, **options: Any) -> Callable[[View], View]:
        return self.route(rule, methods=["GET"], **options)

    def post(self, rule: str, **options: Any) -> Callable[[View], View]:
        return self.route(rule, methods=["POST"], **options)

    def before_request(self, hook: View) -> View:
        self._deferred.append(lambda bp: bp.before_request(hook))
        return hook

    def url_value_preprocessor(self, hook: View) -> View:
        self._deferred.append(lambda bp: bp.url_value_preprocessor(hook))
        return hook

    def register(self, bp: Blueprint) -> Blueprint:
        """Put every view declared here on `bp`, in the order they were declared."""
        for deferred in self._deferred:
            deferred(bp)
        return bp


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
        """The list's statement, narrowed to the organisation picked (or to nothing)."""
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
    """The organisation filter of the staff list being shown, read from its query."""
    from extensions import db
    from services import accounts

    text = " ".join(request.args.get(text_arg, "").split())[:200]
    if text:
        picked, candidates = accounts.pick_organisation(text)
        shown = picked.name if picked else text
        return CompanyFilter(id_arg, text_arg, picked, shown, candidates, not candidates)
    ident = database_id(request.args.get(id_arg, ""))
    picked = db.session.get(Organisation, ident) if ident is not None else None
    return CompanyFilter(id_arg, text_arg, picked, picked.name if picked else "", [], False)
