"""The contact form and tickets: the form, the organisation's tickets and the status
page under /support, the staff's ticket queue under /staff/support, and the staff's
review of mail that went into no ticket (`inbound.py`)."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.support import inbound, public, staff

bp = public.routes.register(Blueprint("support", __name__, url_prefix="/support"))
staff_bp = staff.routes.register(Blueprint("support_staff", __name__, url_prefix="/staff/support"))
inbound.routes.register(staff_bp)  # mail that went into no ticket, for staff to review


def register(app: Flask) -> None:
    """Mount the part's blueprints and wire its halves."""
    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    public.setup_app(app)
    staff.setup_app(app)
