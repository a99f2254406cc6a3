"""Access control in one place: staff-only views and organisation scoping.

Every query of customer-owned data goes through `scoped()` (or `get_owned_or_404()`),
so that no view can forget to limit a customer to their own organisation. A model is
customer-owned when it has an `organisation_id` column (or names the column that
holds its organisation in `__scope_column__`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import abort
from flask_login import current_user, login_required

from extensions import db

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M")


def _role_required(allowed: Callable[[Any], bool]) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not allowed(current_user):
                abort(403)
            return view(*args, **kwargs)

        return login_required(wrapped)  # type: ignore[return-value]

    return decorator


staff_required = _role_required(lambda user: user.is_staff)
staff_required.__doc__ = "Let only logged-in staff and admins in; customers get 403."
admin_required = _role_required(lambda user: user.is_admin)
admin_required.__doc__ = "Let only logged-in admins in."


def organisation_column(model: type) -> sa.ColumnElement:
    column = getattr(model, getattr(model, "__scope_column__", "organisation_id"), None)
    if column is None:
        raise TypeError(f"{model.__name__} has no organisation_id: it is not customer-owned")
    return column


def scope(stmt: sa.Select, model: type, user: Any = None) -> sa.Select:
    """Limit a select of a customer-owned model to what the user may see.

    Staff see everything; a customer sees their own organisation's rows; anyone else
    sees nothing.
    """
    user = current_user if user is None else user
    column = organisation_column(model)
    if getattr(user, "is_authenticated", False) and user.is_staff:
        return stmt
    org_id = getattr(user, "organisation_id", None) if user.is_authenticated else None
    if org_id is None:
        return stmt.where(sa.false())
    return stmt.where(column == org_id)


def scoped(model: type[M], user: Any = None) -> sa.Select:
    """Return `select(model)` already limited to what the user may see."""
    return scope(sa.select(model), model, user)


def get_owned_or_404(model: type[M], ident: Any, user: Any = None) -> M:
    """Return the record if the user may see it; 404 otherwise (never 403: no leak)."""
    pk = sa.inspect(model).primary_key[0]
    row = db.session.scalar(scoped(model, user).where(pk == ident))
    if row is None:
        abort(404)
    return row
