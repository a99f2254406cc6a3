"""The contact form and tickets: the form, the organisation's tickets and the status
page under /support, the staff's ticket queue under /staff/support."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.support import public, staff

bp = public.routes.register(Blueprint("support", __name__, url_prefix="/support"))
staff_bp = staff.routes.register(Blueprint("support_staff", __name__, url_prefix="/staff/support"))


def register(app: Flask) -> None:
    """Mount the part's blueprints and wire its halves."""
    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    public.setup_app(app)
    staff.setup_app(app)
