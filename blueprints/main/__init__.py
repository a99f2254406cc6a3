"""The front page, the language switcher, and the health endpoints for load balancers."""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.main import health, public

health_bp = health.routes.register(Blueprint("health", __name__))
bp = public.routes.register(Blueprint("main", __name__))


def register(app: Flask) -> None:
    """Mount the health endpoints and the front page."""
    app.register_blueprint(health_bp)
    app.register_blueprint(bp)
