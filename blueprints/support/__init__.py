"""The contact form and tickets: the form, the organisation's tickets and the status
page under /support, the staff's ticket queue under /staff/support, and the staff's
review of mail that went into no ticket (`inbound.py`), the teams (`teams.py`), canned
replies (`canned.py`), the customers' ratings with their report (`ratings.py`) and the
ticket lists' downloads (`exports.py`)."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.support import canned, exports, inbound, public, ratings, staff, teams

bp = public.routes.register(Blueprint("support", __name__, url_prefix="/support"))
staff_bp = staff.routes.register(Blueprint("support_staff", __name__, url_prefix="/staff/support"))
inbound.routes.register(staff_bp)  # mail that went into no ticket, for staff to review
teams.routes.register(staff_bp)  # the teams tickets go to, and their members
canned.routes.register(staff_bp)  # the canned replies a reply starts from
ratings.public_routes.register(bp)  # the one-click rating of the resolution mail
ratings.staff_routes.register(staff_bp)  # the report of the ratings and targets
exports.staff_routes.register(staff_bp)  # the queue as CSV and Excel,
exports.public_routes.register(bp)  # and the organisation's own tickets


def register(app: Flask) -> None:
    """Mount the part's blueprints and wire its halves."""
    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    public.setup_app(app)
    staff.setup_app(app)
