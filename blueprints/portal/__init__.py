"""The company customer portal: orders, employees, invoices and bookings under /portal,
and the staff's side of them under /staff/portal, with the lists' downloads (`exports.py`)."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.portal import bookings, employees, exports, public, staff

bp = public.routes.register(Blueprint("portal", __name__, url_prefix="/portal"))
employees.routes.register(bp)
bookings.routes.register(bp)
staff_bp = staff.routes.register(Blueprint("portal_staff", __name__, url_prefix="/staff/portal"))
exports.staff_routes.register(staff_bp)  # every company's orders and invoices to download


def register(app: Flask) -> None:
    """Mount the part's blueprints and wire its halves."""
    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    public.setup_app(app)
    staff.setup_app(app)
