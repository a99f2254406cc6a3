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


def reads_health_data(user: Any = None) -> bool:
    """Whether the user may read health self-declarations' answers: health personnel
    only (the self-declaration promises it), not other staff, not even admins."""
    from models.auth import Role

    user = current_user if user is None else user
    return bool(getattr(user, "is_authenticated", False)) and user.role == Role.HEALTH


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


def visible_departments(user: Any = None) -> set[int] | None:
    """The departments a customer user may see: None for the whole organisation (a user
    granted no departments), else the granted departments and all below them."""
    from models.auth import Department

    user = current_user if user is None else user
    granted = [d.id for d in user.granted_departments]
    if not granted:
        return None
    children: dict[int | None, list[int]] = {}
    for dep_id, parent_id in db.session.execute(
        sa.select(Department.id, Department.parent_id).where(
            Department.organisation_id == user.organisation_id
        )
    ):
        children.setdefault(parent_id, []).append(dep_id)
    seen: set[int] = set()
    stack = list(granted)
    while stack:
        dep_id = stack.pop()
        if dep_id not in seen:
            seen.add(dep_id)
            stack.extend(children.get(dep_id, []))
    return seen


def own_scoped(
    model: type[M], user: Any = None, *, department: sa.ColumnElement | None = None
) -> sa.Select:
    """`select(model)` limited to the user's own organisation (staff too: their own) and,
    for a user granted only some departments, to the rows of those departments.

    A row without a department (NULL) is the company's: only a user who has the whole
    company sees it. A row's department is its `department_id`, or the expression given
    as `department` for a model that holds it elsewhere (a booking: its order's); a
    model with neither is the company's alone."""
    user = current_user if user is None else user
    stmt = scoped(model, user).where(organisation_column(model) == user.organisation_id)
    departments = visible_departments(user)
    if departments is None:
        return stmt
    if department is None:
        department = getattr(model, "department_id", None)
    # `IN` is never true of NULL: the company's rows stay out.
    return stmt.where(sa.false() if department is None else department.in_(sorted(departments)))
