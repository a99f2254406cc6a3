"""The ticket lists as CSV and Excel downloads: the staff's queue (`staff_routes`) and
the organisation's own tickets (`public_routes`), each as its list filters and scopes it."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from access import staff_required
from blueprints.shared import Routes
from blueprints.support.common import reader_language
from blueprints.support.public import OWN_ORDER, own_search
from blueprints.support.staff import QUEUE_ORDER, queue_search
from models.support import Ticket
from services import exports, support, support_desk
from services.exports import Column

staff_routes = Routes()
public_routes = Routes()
EXPORT = "/export.<any(csv, xlsx):fmt>"


def _application_name(ticket: Ticket, language: str) -> str:
    name = ticket.application.name(language)
    if ticket.sub_application:
        name += f" / {ticket.sub_application.name(language)}"
    return name


@staff_routes.get(EXPORT)
@staff_required
def queue_export(fmt: str) -> ResponseReturnValue:
    """Download the queue as filtered, by when each next answer is due, as CSV or Excel."""
    scope = request.args.get("scope", "next")
    scope = scope if scope in support_desk.SCOPES else "next"
    _form, stmt, _organisation, language = queue_search(scope)
    columns = (
        Column(_l("Ticket number"), lambda t: t.number),
        Column(_l("Due"), lambda t: t.due_at, "datetime"),
        Column(_l("Processing speed"), lambda t: support.URGENCY_LABELS[t.urgency]),
        Column(_l("Type"), lambda t: support.TYPE_LABELS[t.type]),
        Column(_l("Organisation"), lambda t: t.organisation.name if t.organisation else ""),
        Column(_l("Application"), lambda t: _application_name(t, language)),
        Column(_l("Message"), lambda t: t.message),
        Column(_l("Status"), lambda t: support.STATUS_LABELS[t.status]),
        Column(_l("Handler"), lambda t: t.assignee.name if t.assignee else ""),
        Column(_l("Team"), lambda t: t.team.name(language) if t.team else ""),
        Column(_l("Sent"), lambda t: t.created_at, "datetime"),
    )
    return exports.export_response(
        fmt,
        "tickets",
        columns,
        exports.iterate(stmt, QUEUE_ORDER),
        personal=True,
        what="support.queue",
    )


@public_routes.get(EXPORT)
@login_required
def index_export(fmt: str) -> ResponseReturnValue:
    """Download the organisation's tickets as filtered, newest first, as CSV or Excel."""
    _form, stmt, _query = own_search()
    language = reader_language()
    columns = (
        Column(_l("Ticket number"), lambda t: t.number),
        Column(_l("Type"), lambda t: support.TYPE_LABELS[t.type]),
        Column(_l("Application"), lambda t: t.application.name(language)),
        Column(_l("Sent"), lambda t: t.created_at, "datetime"),
        Column(_l("Sender"), lambda t: t.email),
        Column(_l("Status"), lambda t: support.STATUS_LABELS[t.status]),
    )
    return exports.export_response(
        fmt,
        "our-tickets",
        columns,
        exports.iterate(stmt, OWN_ORDER),
        personal=False,
        what="support.own",
    )
