"""The staff area's home: the sections, the look-up of any code, the mail outbox, and
the dashboards (`dashboards.py`)."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.staff import dashboards, public

bp = public.routes.register(Blueprint("staff", __name__, url_prefix="/staff"))
dashboards.routes.register(bp)  # the charts of every part, with their figures


def register(app: Flask) -> None:
    """Mount the staff area's home and its mail outbox."""
    app.register_blueprint(bp)
    public.setup_app(app)
