"""The two WSGI applications the benchmark serves through the same gunicorn settings:
the portal, and a bare Flask "hello" app that measures what the machine, gunicorn and
the load generator manage at best (`gunicorn 'bench.apps:portal()'`)."""

from __future__ import annotations

from flask import Flask


def portal() -> Flask:
    """The portal as configured by the environment, without rate limits: the benchmark
    floods the login and the contact form from one address on purpose."""
    from app import create_app

    return create_app({"RATELIMIT_ENABLED": False})


def hello() -> Flask:
    """A bare Flask app with one page."""
    app = Flask("hello")

    @app.get("/")
    def index() -> str:
        return "Hello, World!"

    return app
