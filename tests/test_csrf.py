"""Every POST route refuses a request without a CSRF token.

The routes are enumerated from the URL map, so a route added later is covered
without anyone remembering to add it here.
"""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.routing import Rule

from app import create_app
from extensions import csrf, db
from tests.fixtures.app import sample_url


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


def _is_exempt(app: Flask, rule: Rule) -> bool:
    view = app.view_functions[rule.endpoint]
    return f"{view.__module__}.{view.__name__}" in csrf._exempt_views


def _all_post_urls(exempt: bool = False) -> list[str]:
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return [sample_url(r) for r in _post_rules(app) if _is_exempt(app, r) == exempt]


# Routes without a CSRF token are machine endpoints, authenticated otherwise: a document's
# shared secret (PunchOut), the buyer's credentials (OCI), or a staff login (the sandbox's
# cart receiver, posted to by the supplier's page as by any procurement system).
EXEMPT = {
    "/punchout/setup",
    "/punchout/order",
    "/punchout/oci",
    "/punchout/sandbox/cart",
    # The print service's and the e-invoice operator's APIs (bearer token, server to server).
    "/sandbox/print/jobs",
    "/sandbox/einvoice/messages",
    # The payment service's form receiver: the payer's browser posts the shop's form from
    # another site; it is authenticated by its AUTHCODE. (The sandbox's bank page, its Pay
    # and Cancel, and the staff's notify button keep their CSRF tokens.)
    "/sandbox/payment/channel-payment",
}


def test_only_the_known_machine_endpoints_are_exempt():
    assert set(_all_post_urls(exempt=True)) == EXEMPT


@pytest.mark.parametrize("url", sorted(EXEMPT))
def test_an_exempt_endpoint_refuses_an_unauthenticated_request(csrf_app, url):
    response = csrf_app.test_client().post(url, data={"anything": "1"})
    if response.mimetype == "text/xml":  # a cXML answer: the refusal is in its Status
        from lxml import etree

        code = int(etree.fromstring(response.data).find("Response/Status").get("code"))
        assert code in (400, 401), code
    else:
        assert response.status_code in (302, 400, 401), response.status_code


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
