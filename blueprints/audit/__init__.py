"""The audit log, for administrators, under /staff/audit."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.audit import public

bp = public.routes.register(Blueprint("audit", __name__, url_prefix="/staff/audit"))


def register(app: Flask) -> None:
    """Mount the audit log and its section in the staff area."""
    app.register_blueprint(bp)
    public.setup_app(app)
