"""The landing page, the language switcher and the fragments of the page layout."""

from __future__ import annotations

from collections.abc import Callable, Hashable

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from blueprints import safe_next
from extensions import db
from forms.auth import LanguageForm

bp = Blueprint("main", __name__)

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


@bp.get("/")
def index():
    """Show the landing page with the portal's services."""
    services = [
        {**service, "available": service["endpoint"] in current_app.view_functions}
        for service in SERVICES
    ]
    return render_template("main/index.html", services=services)


@bp.post("/language")
def set_language():
    """Switch the interface language (and remember it in the profile)."""
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    session["language"] = form.language.data
    if current_user.is_authenticated:
        current_user.language = form.language.data
        db.session.commit()
    return redirect(safe_next(form.next.data) or url_for("main.index"), 303)


class FragmentCache:
    """Parts of the page layout that depend on nothing but their key (the language, the
    kind of user, the part of the portal): rendered once, then reused.

    In a template, `{% call cached_fragment("nav", current_language, …) %}…{% endcall %}`.
    A cached fragment holds nothing of one request or one person beyond its key: no CSRF
    token, no name, no flashed message.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._fragments: dict[tuple, str] = {}

    def __call__(self, *key: Hashable, caller: Callable[[], str]) -> Markup:
        key = (request.script_root, *key)  # links are relative to where the portal is mounted
        html = self._fragments.get(key)
        if html is None:
            if len(self._fragments) >= self.size:
                self._fragments.clear()  # a crude bound; the layout has few distinct keys
            html = self._fragments[key] = caller()
        return Markup(html)


def nav_audience() -> tuple | None:
    """What the header's navigation shows depends on: the user's role and organisation."""
    if not current_user.is_authenticated:
        return None
    return (current_user.role.value, current_user.organisation_id)


def setup_app(app: Flask) -> None:
    app.jinja_env.globals["cached_fragment"] = FragmentCache()
    app.jinja_env.globals["nav_audience"] = nav_audience
