"""Online payment through the payment service's channel interface: the payer's pages and
the service's answers under /payments, the staff's payments and refunds under
/staff/payments."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.payments import public, staff

bp = public.routes.register(Blueprint("payments", __name__, url_prefix="/payments"))
staff_bp = staff.routes.register(
    Blueprint("payments_staff", __name__, url_prefix="/staff/payments")
)


def register(app: Flask) -> None:
    """Mount the part's blueprints and wire its halves."""
    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    staff.setup_app(app)
    public.setup_app(app)
