"""The contact form opened from where the user is: the header's envelope on every part's
pages opens it with that part's application chosen (issue 17)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from blueprints.support.common import APPLICATION_OF_PART, NO_APPLICATION
from extensions import db
from models.invoicing import SalesInvoice
from models.portal import Booking
from models.support import Application, Ticket
from models.training import Course
from services import support
from tests.fixtures import support as support_fixtures
from tests.fixtures.support import BRUKER, KAISA, MAIJA, TIINA, application_id, chosen

demo = support_fixtures.demo

AINO = "admin@example.com"


# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.


def contact_link(page: str) -> str:
    """The header's envelope link."""
    found = re.search(r'<a class="contact-link" href="([^"]*)"', page)
    assert found, "no contact link on the page"
    return html.unescape(found.group(1))


def _first(model, column: str = "id") -> Callable[[Flask], str]:
    """The first of the demo's records of `model`, as its page's address names it."""

    def find(app: Flask) -> str:
        with app.app_context():
            return str(db.session.scalar(sa.select(getattr(model, column)).order_by(model.id)))

    return find


# (who, the page, the application its envelope chooses). A path may hold "{}", filled in
# with a record of the demo's: its pages are as much the part's as its lists.
PAGES = [
    (MAIJA, "/training/", "training"),
    (MAIJA, ("/training/courses/{}", _first(Course)), "training"),
    (TIINA, "/invoices/", "invoices"),
    (TIINA, ("/invoices/{}", _first(SalesInvoice)), "invoices"),
    (TIINA, "/invoices/new", "invoices"),
    (TIINA, "/payments/", "payments"),
    (BRUKER, "/portal/", "portal"),
    (BRUKER, "/portal/orders", "portal"),
    (BRUKER, "/portal/orders/307390", "portal"),
    (BRUKER, "/portal/invoices", "portal"),
    (BRUKER, ("/portal/bookings/{}", _first(Booking)), "portal"),
    (BRUKER, "/portal/reports", "portal"),
    (MAIJA, "/support/", "support"),
    (MAIJA, ("/support/tickets/{}", _first(Ticket, "number")), "support"),
    (KAISA, "/staff/training/", "training"),
    (KAISA, "/staff/invoices/", "invoices"),
    (KAISA, "/staff/portal/", "portal"),
    (KAISA, "/staff/payments/", "payments"),
    (KAISA, "/staff/punchout/", "punchout"),
    (KAISA, "/staff/support/", "support"),
]


def _path(app: Flask, path) -> str:
    if isinstance(path, tuple):
        template, find = path
        return template.format(find(app))
    return path


@pytest.mark.parametrize(
    ("email", "path", "key"),
    PAGES,
    ids=[f"{key}:{p if isinstance(p, str) else p[0]}" for _, p, key in PAGES],
)
def test_the_envelope_opens_the_form_with_the_parts_application(app, demo, email, path, key):
    client = demo(email)
    response = client.get(_path(app, path))
    assert response.status_code == 200
    link = contact_link(response.get_data(as_text=True))
    form = client.get(link)
    assert form.status_code == 200, link
    assert chosen(form.get_data(as_text=True)) == application_id(app, key), link


@pytest.mark.parametrize(
    ("email", "path"), [(MAIJA, "/"), (MAIJA, "/auth/profile"), (KAISA, "/staff/")]
)
def test_a_page_of_no_part_opens_the_form_with_nothing_chosen(app, demo, email, path):
    client = demo(email)
    link = contact_link(client.get(path).get_data(as_text=True))
    assert link == "/support/new"
    assert chosen(client.get(link).get_data(as_text=True)) is None


def test_every_blueprint_has_its_application_or_none(app):
    """A new part must say which application its contact form takes: a failing test,
    not a form that silently opens with nothing chosen."""
    assert set(app.blueprints) == set(APPLICATION_OF_PART) | NO_APPLICATION
    assert not set(APPLICATION_OF_PART) & NO_APPLICATION
    keys = {key for key, _names in support.DEFAULT_APPLICATIONS}
    assert set(APPLICATION_OF_PART.values()) <= keys


def test_every_parts_page_without_parameters_links_to_its_application(app, demo):
    """The envelope of every page a part serves without a parameter, for the users who
    may see it, names the part's application."""
    clients = [demo(email) for email in (AINO, MAIJA, TIINA, BRUKER)]
    checked = set()
    for rule in app.url_map.iter_rules():
        part = rule.endpoint.partition(".")[0]
        if "GET" not in rule.methods or rule.arguments or part not in APPLICATION_OF_PART:
            continue
        expected = f"/support/new?app={APPLICATION_OF_PART[part]}"
        for client in clients:
            response = client.get(rule.rule)
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            assert contact_link(response.get_data(as_text=True)) == expected, rule.rule
            checked.add(part)
    assert checked == set(APPLICATION_OF_PART) - {"punchout"}  # its pages need a session


def test_a_parts_name_as_older_links_give_it_chooses_its_application(app, demo):
    client = demo(TIINA)
    page = client.get("/support/new?app=invoicing").get_data(as_text=True)
    assert chosen(page) == application_id(app, "invoices")
    page = client.get("/support/new?app=invoicing_staff").get_data(as_text=True)
    assert chosen(page) == application_id(app, "invoices")


@pytest.mark.parametrize(
    "value",
    ["nonsense", "INVOICES", "invoices ", "x" * 5000, "%", "{{7*7}}", "🙂", "\x1b", "invoices\x00"],
)
def test_an_unknown_application_is_ignored(app, demo, value):
    client = demo(TIINA)
    response = client.get("/support/new", query_string={"app": value, "sub": value})
    if "\x00" in value:  # the portal refuses a NUL in any query (app.py), a clear 400
        assert response.status_code == 400
        return
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert chosen(page) is None and chosen(page, "sub_application") is None


def test_a_staff_removed_application_is_not_chosen(app, demo):
    client = demo(TIINA)
    with app.app_context():
        db.session.execute(
            sa.update(Application).where(Application.part == "invoices").values(active=False)
        )
        db.session.commit()
    page = client.get("/support/new?app=invoices").get_data(as_text=True)
    assert chosen(page) is None
