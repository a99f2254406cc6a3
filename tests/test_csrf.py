"""Every POST route refuses a request without a CSRF token.

The routes are enumerated from the URL map, so a route added later is covered
without anyone remembering to add it here.
"""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.routing import Rule

from app import create_app
from extensions import db
from tests.conftest import sample_url


def _post_rules(app: Flask) -> list[Rule]:
    return sorted(
        (rule for rule in app.url_map.iter_rules() if "POST" in rule.methods),
        key=lambda rule: rule.rule,
    )


@pytest.fixture
def csrf_app(app_config: dict, app: Flask) -> Flask:
    """The app with CSRF protection on, as in production (`app` keeps the database clean)."""
    csrf_app = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    yield csrf_app
    with csrf_app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_url_map_has_post_routes(csrf_app):
    endpoints = {rule.endpoint for rule in _post_rules(csrf_app)}
    assert {"auth.login", "auth.logout", "main.set_language", "staff.mail_retry"} <= endpoints


def _all_post_urls() -> list[str]:
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return [sample_url(rule) for rule in _post_rules(app)]


@pytest.mark.parametrize("url", _all_post_urls())
def test_post_without_csrf_token_is_refused(csrf_app, url):
    client = csrf_app.test_client()
    response = client.post(url, data={"anything": "1"})
    assert response.status_code == 400, f"{url} accepted a POST without a CSRF token"
    assert "CSRF" not in response.get_data(as_text=True)  # a human message, not a stack


@pytest.mark.parametrize("url", _all_post_urls())
def test_post_with_a_wrong_csrf_token_is_refused(csrf_app, url):
    client = csrf_app.test_client()
    client.get("/")  # a session with a real token exists; the request sends a forged one
    response = client.post(url, data={"csrf_token": "forged"})
    assert response.status_code == 400


def test_post_with_the_token_is_accepted(csrf_app, database_url):
    client = csrf_app.test_client()
    page = client.get("/").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post("/language", data={"csrf_token": token, "language": "sv", "next": "/"})
    assert response.status_code == 303
