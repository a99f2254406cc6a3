"""The landing page and the language switcher."""

from __future__ import annotations

from urllib.parse import unquote_plus

from flask import (
    abort,
    current_app,
    redirect,
    render_template,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from blueprints.shared import Routes
from extensions import db
from forms.auth import LanguageForm
from security import safe_next
from services.urls import LANGUAGE_ARG

routes = Routes()

# The portal's services as the landing page lists them; a card links to its part
# once that part's blueprint is registered.
SERVICES = [
    {
        "title": _l("Training calendar"),
        "text": _l("Courses of the institute, enrolment and the service code of your enrolment."),
        "endpoint": "training.index",
    },
    {
        "title": _l("Invoicing service"),
        "text": _l("Send your invoices by post, email or e-invoice, and follow your receivables."),
        "endpoint": "invoicing.index",
    },
    {
        "title": _l("Contact and support"),
        "text": _l("Send a support request or feedback and follow it by its ticket number."),
        "endpoint": "support.new",
    },
    {
        "title": _l("Customer portal"),
        "text": _l("Orders, employees, reports and invoices of your company."),
        "endpoint": "portal.index",
    },
    {
        "title": _l("Online payment"),
        "text": _l("Pay invoices and course fees online through your bank."),
        "endpoint": "payments.index",
    },
]


@routes.get("/")
def index() -> ResponseReturnValue:
    """Show the landing page with the portal's services."""
    services = [
        {**service, "available": service["endpoint"] in current_app.view_functions}
        for service in SERVICES
    ]
    return render_template("main/index.html", services=services)


@routes.post("/language")
def set_language() -> ResponseReturnValue:
    """Switch the interface language (and remember it in the profile)."""
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    session["language"] = form.language.data
    if current_user.is_authenticated:
        current_user.language = form.language.data
        db.session.commit()
    return redirect(_without_language(safe_next(form.next.data)) or url_for("main.index"), 303)


def _without_language(target: str | None) -> str | None:
    """The page to go back to, without a link's language (`?lang=`) that would undo
    the choice just made."""
    if not target or "?" not in target:
        return target
    path, _, query = target.partition("?")
    kept = [
        part
        for part in query.split("&")
        if part and unquote_plus(part.split("=", 1)[0]) != LANGUAGE_ARG
    ]
    return f"{path}?{'&'.join(kept)}" if kept else path
