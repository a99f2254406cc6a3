"""Logging in, passwords, the second factor, and the staff's organisations and users,
under /auth."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.auth import public

bp = public.routes.register(Blueprint("auth", __name__, url_prefix="/auth"))


def register(app: Flask) -> None:
    """Mount the login pages; every request then passes the second-factor check."""
    app.register_blueprint(bp)
    public.setup_app(app)
