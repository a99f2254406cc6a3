"""What the customer portal's pages share: the customer's own records (scoped to the
organisation, and to the user's departments), the department filter, the employee search."""

from __future__ import annotations

import re
from functools import wraps

import sqlalchemy as sa
from flask import (
    abort,
    request,
)
from flask_login import current_user, login_required
from wtforms import SelectChoice

from access import own_scoped, visible_departments
from extensions import db
from models.auth import Department
from models.portal import (
    Employee,
)
from services import portal

DB_ID = re.compile(r"[0-9]{1,9}")


def customer_required(view):
    """The portal is a company's: the user must belong to an organisation."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.organisation_id is None:
            abort(404)
        return view(*args, **kwargs)

    return wrapped


def own(model, *, department=None, **criteria):
    """One record of the user's organisation (and departments), or 404."""
    stmt = own_scoped(model, department=department)
    for name, value in criteria.items():
        stmt = stmt.where(getattr(model, name) == value)
    record = db.session.scalar(stmt)
    if record is None:
        abort(404)
    return record


def department_choices(everything: str | None = None) -> list:
    """The company (when the user sees all of it) and the departments the user may see."""
    choices = [SelectChoice("", everything)] if everything else []
    if visible_departments() is None:
        choices.append(SelectChoice("company", current_user.organisation.name))
    choices += [
        SelectChoice(str(d.id), portal.department_path(d))
        for d in portal.departments_for(current_user)
    ]
    return choices


def chosen_department(value: str) -> Department | None:
    """The department picked in a form, if the user may see it; None for the company."""
    if not DB_ID.fullmatch(value or ""):
        return None
    allowed = {d.id for d in portal.departments_for(current_user)}
    department = db.session.get(Department, int(value))
    return department if department and department.id in allowed else None


def department_filter(stmt, model, value: str):
    if value == "company":
        return stmt.where(model.department_id.is_(None))
    department = chosen_department(value)
    if department is not None:
        below = portal.department_and_below(department)
        return stmt.where(model.department_id.in_(below))
    return stmt


def query_filters(*names: str) -> dict:
    return {name: request.args[name] for name in names if request.args.get(name)}


def matching(stmt: sa.Select, text: str | None) -> sa.Select:
    """Employees whose first name, last name or email holds every word of the text."""
    for word in (text or "").strip().lower().split()[:5]:
        pattern = f"%{word}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(Employee.first_name).like(pattern),
                sa.func.lower(Employee.last_name).like(pattern),
                sa.func.lower(Employee.email).like(pattern),
            )
        )
    return stmt
