"""The training calendar (Koulutuskalenteri): public pages under /training, and the
staff's course and participant pages under /staff/training; the calendars to subscribe
to of both (`calendars.py`)."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.training import calendars, public, staff

bp = public.routes.register(Blueprint("training", __name__, url_prefix="/training"))
staff_bp = staff.routes.register(
    Blueprint("training_staff", __name__, url_prefix="/staff/training")
)
calendars.routes.register(bp)  # the public feeds and a participant's link,
calendars.staff_routes.register(staff_bp)  # and a staff member's link


def register(app: Flask) -> None:
    """Mount the part's blueprints and wire its halves."""
    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    staff.setup_app(app)
    public.setup_app(app)
    calendars.setup_app(app)
