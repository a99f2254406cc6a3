"""The audit log, for admins: who read or changed what among the sensitive data.

The log is only read here: there is no route that edits or deletes an event.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from access import admin_required
from blueprints.shared import Routes
from forms.audit import ACTION_LABELS, RECORD_TYPE_LABELS, AuditSearchForm
from paging import paginate
from services import accounts, audit, registry

routes = Routes()

PER_PAGE = 50


@routes.get("/")
@admin_required
def index() -> ResponseReturnValue:
    """List the audit log, the newest first, filtered by event, record or user."""
    form = AuditSearchForm(formdata=request.args)
    form.validate()
    actor_id = None
    if form.actor.data and not form.actor.errors:
        user = accounts.user_by_email(form.actor.data)
        if user is None:
            form.actor.errors.append(_("No user has this email address."))
        else:
            actor_id = user.id
    has_record = bool(form.record_type.data and form.record_id.data)
    stmt, order = audit.listing(
        action=form.action.data or None,
        record_ref=(form.record_type.data, form.record_id.data) if has_record else None,
        actor_id=actor_id,
    )
    if form.errors:
        stmt = stmt.where(sa.false())  # a filter that was not understood shows nothing
    page = paginate(stmt, order, PER_PAGE)
    filters = {
        name: value
        for name, value in (
            ("action", form.action.data),
            ("record_type", form.record_type.data),
            ("record_id", form.record_id.data),
            ("actor", form.actor.data),
        )
        if value
    }
    return render_template(
        "audit/index.html",
        form=form,
        page=page,
        filters=filters,
        action_labels={action.value: label for action, label in ACTION_LABELS.items()},
        record_type_labels=RECORD_TYPE_LABELS,
    )


def setup_app(app: Flask) -> None:
    registry.register_staff_section(app, _l("Audit log"), "audit.index", admin_only=True)
