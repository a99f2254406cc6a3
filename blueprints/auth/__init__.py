"""Logging in, passwords, the second factor, and the staff's organisations and users,
all under /auth: `public.py` (logging in and out, the profile, password links),
`second_factor.py` (the second step and its setup), `staff.py` (organisations and users)."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.auth import public, second_factor, staff

bp = public.routes.register(Blueprint("auth", __name__, url_prefix="/auth"))
second_factor.routes.register(bp)
staff.routes.register(bp)


def register(app: Flask) -> None:
    """Mount the login pages; every request then passes the second-factor check."""
    app.register_blueprint(bp)
    app.before_request(second_factor.require_second_factor)
    staff.setup_app(app)
