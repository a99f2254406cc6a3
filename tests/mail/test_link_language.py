"""A link in a mail carries the mail's language: the page opens in it, whatever the
browser prefers, and the language switcher still decides afterwards."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, gettext

from extensions import db
from models.auth import Role
from models.mail import OutboxMessage
from models.portal import BookingSlot, Employee
from models.training import Course
from services import accounts, outbox, portal, training
from services.urls import external_url
from tests.fixtures.invoicing import invoice_form
from tests.fixtures.portal import ORDER_FORM, add_booking, add_employee
from tests.fixtures.support import contact_data
from tests.fixtures.users import PASSWORD

FINNISH = {"Accept-Language": "fi-FI,fi;q=0.9"}
BASE = "http://portal.test"


# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def translated(app: Flask, message: str, language: str) -> str:
    """The message in the language, checked to be translated (else the test proves nothing)."""
    with app.test_request_context(), force_locale(language):
        found = gettext(message)
    assert found != message or language == "en", f"{message!r} has no {language} translation"
    return found


def mail_link(app: Flask, template: str, path: str) -> str:
    """The link to `path…` in the newest mail of the template, as the worker writes it;
    the same address in its text and its HTML."""
    with app.app_context():
        message = db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.template == template)
            .order_by(OutboxMessage.id.desc())
        ).first()
        assert message is not None, f"no {template} mail"
        body_text, body_html = outbox.bodies(message)
    found = re.search(rf"{re.escape(BASE)}({re.escape(path)}\S*)", body_text)
    assert found, body_text
    link = found.group(1)
    assert html.escape(BASE + link) in body_html
    return link


def login(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    response = client.post("/auth/login", data={"email": email, "password": PASSWORD})
    assert response.status_code in (302, 303)
    return client


def open_link(client: FlaskClient, link: str, language: str) -> tuple[str, str]:
    """Open a mail's link in a Finnish browser: the address given again without the
    language, and the page, which is in the mail's language. Returns both."""
    path, _, query = link.partition("?")
    assert f"lang={language}" in query.split("&"), link
    response = client.get(link, headers=FINNISH)
    assert response.status_code == 302
    address = response.headers["Location"]
    assert address.split("?")[0] == path and "lang=" not in address
    page = client.get(address, headers=FINNISH)
    assert page.status_code == 200, text(page)
    assert f'<html lang="{language}">' in text(page)
    return address, text(page)


def switch(client: FlaskClient, language: str, address: str) -> str:
    """Press the switcher's button on the page at the address; the page it comes back to."""
    response = client.post("/language", data={"language": language, "next": address})
    assert response.status_code == 303 and response.headers["Location"] == address
    page = client.get(address, headers=FINNISH)
    assert page.status_code == 200
    assert f'<html lang="{language}">' in text(page)
    return text(page)


def opens_in_the_mails_language(
    app: Flask, client: FlaskClient, link: str, language: str, message: str
) -> None:
    """The whole walk: the link opens its page in the mail's language, the switcher then
    turns it into English, and the page stays in English when opened again."""
    address, page = open_link(client, link, language)
    assert translated(app, message, language) in page
    english = switch(client, "en", address)
    assert message in english
    again = client.get(address, headers=FINNISH)
    assert '<html lang="en">' in text(again) and message in text(again)


# ---------------------------------------------------------------- the links


def test_a_link_names_its_language_only_when_asked(app):
    with app.app_context():
        assert external_url("main.index") == f"{BASE}/"
        assert external_url("main.index", language="sv") == f"{BASE}/?lang=sv"
        assert (
            external_url("training.course", course_id=3, language="nb")
            == f"{BASE}/training/courses/3?lang=nb"
        )
        # A language we do not speak is left out: the link still opens its page.
        assert external_url("main.index", language="de") == f"{BASE}/"
        # The payment channel's addresses, which it signs, stay as they were.
        assert "lang" not in external_url("payments.returned")


def test_the_mails_own_address_opens_the_front_page_in_its_language(app, make_user, client):
    make_user(language="sv")
    client.post("/auth/reset", data={"email": "maija@example.com"})
    with app.app_context():
        [message] = db.session.scalars(sa.select(OutboxMessage))
        _, body_html = outbox.bodies(message)
    assert f'href="{BASE}/?lang=sv"' in body_html
    opens_in_the_mails_language(app, app.test_client(), "/?lang=sv", "sv", "Welcome")


# ---------------------------------------------------------------- per kind of mail


@pytest.mark.parametrize("language", ["sv", "nb"])
def test_a_password_reset_link_opens_in_the_mails_language(app, make_user, client, language):
    make_user(language=language)
    assert client.post("/auth/reset", data={"email": "maija@example.com"}).status_code == 303
    link = mail_link(app, "auth_password_reset", "/auth/reset/")
    opens_in_the_mails_language(app, app.test_client(), link, language, "Set a new password")


def test_an_invitation_link_opens_in_the_mails_language(app, make_user, auth, client):
    make_user("admin@example.com", role=Role.ADMIN, org=None, name="Aino Admin")
    invited = make_user("uusi@example.com", name="Uusi", language="sv")
    auth.login("admin@example.com")
    assert client.post(f"/auth/users/{invited.id}/invite").status_code == 303
    link = mail_link(app, "auth_invitation", "/auth/welcome/")
    reader = app.test_client()
    opens_in_the_mails_language(app, reader, link, "sv", "Welcome! Choose your password")
    # The token still works after the language was taken off the address.
    address = link.split("?")[0]
    saved = reader.post(
        address, data={"password": "a brand new secret", "confirm": "a brand new secret"}
    )
    assert saved.status_code == 303


def test_a_self_declaration_link_opens_in_norwegian(app, make_org):
    org = make_org("Demokunde_Test", country="NO", language="nb")
    employee_id = add_employee(app, org.id, "Per", "Olsen", "per.olsen@firma.no")
    _, [slot_id] = add_booking(app, org.id)
    with app.app_context():
        portal.place(
            db.session.get(BookingSlot, slot_id), db.session.get(Employee, employee_id), "t"
        )
        db.session.commit()
    link = mail_link(app, "portal_booking_placed", "/portal/egenerklaering/")
    reader = app.test_client()
    opens_in_the_mails_language(app, reader, link, "nb", "Self-declaration")
    # The form still takes the answers at the address without the language.
    incomplete = reader.post(link.split("?")[0], data={"illness": "yes"})
    assert incomplete.status_code == 400


def test_a_portal_order_link_opens_in_the_mails_language(app, make_org, make_user):
    make_org("Demokunde_Test", country="NO", language="nb")
    make_user("kunde@demokunde.example.com", org="Demokunde_Test", language="nb")
    customer = login(app, "kunde@demokunde.example.com")
    assert customer.post("/portal/orders/new", data=ORDER_FORM).status_code == 302
    link = mail_link(app, "portal_order_confirmation", "/portal/orders/")
    # The customer has meanwhile turned the portal Finnish; the mail's link is Norwegian.
    customer.post("/language", data={"language": "fi", "next": "/"})
    opens_in_the_mails_language(app, customer, link, "nb", "Back to the orders")


def test_a_ticket_status_link_opens_in_the_mails_language(app, make_user):
    from services import support

    with app.app_context():
        support.ensure_default_applications()
        db.session.commit()
        applications = {
            a.part: (a.id, a.sub_applications[0].id)
            for a in db.session.scalars(sa.select(support.Application))
        }
    make_user(language="sv")
    customer = login(app, "maija@example.com")  # the portal is in Swedish for her
    response = customer.post(
        "/support/new", data=contact_data(applications), content_type="multipart/form-data"
    )
    assert response.status_code == 302
    track = mail_link(app, "support_confirmation", "/support/track/")
    opens_in_the_mails_language(app, app.test_client(), track, "sv", "Conversation")
    # Logged in, the ticket's own link opens in the mail's language too.
    ticket = mail_link(app, "support_confirmation", "/support/tickets/")
    customer.post("/language", data={"language": "fi", "next": "/"})
    opens_in_the_mails_language(app, customer, ticket, "sv", "Conversation")


def test_an_invoicing_link_opens_in_the_mails_language(app, make_user):
    make_user("tiina@example.com", org="Toiminimi Testinen", language="sv")
    with app.app_context():
        accounts.user_by_email("tiina@example.com").invoicing_number = "100102"
        db.session.commit()
    tiina = login(app, "tiina@example.com")
    assert tiina.post("/invoices/new", data=invoice_form()).status_code == 302
    link = mail_link(app, "invoicing_submitted", "/invoices/")
    tiina.post("/language", data={"language": "fi", "next": "/"})
    opens_in_the_mails_language(app, tiina, link, "sv", "Payer")


# The training mails' links are built in services/training.py (offer_url, calendar_url,
# and the course fee's payment link through services/payments.py).

SWEDE = {
    "first_name": "Maja",
    "last_name": "Svensson",
    "email": "maja@example.com",
    "organisation": "Verket",
}


def _waiting_in_swedish(app: Flask, client: FlaskClient, make_course) -> int:
    """A full course with a participant on its waiting list who enrolled in Swedish."""
    course = make_course(capacity=1, seats_taken=1)
    client.post("/language", data={"language": "sv", "next": "/"})
    assert client.post(f"/training/courses/{course.id}/enrol", data=SWEDE).status_code == 303
    return course.id


def test_a_waiting_list_offer_link_opens_in_the_mails_language(app, client, make_course):
    course_id = _waiting_in_swedish(app, client, make_course)
    with app.app_context():
        course = db.session.get(Course, course_id)
        course.capacity = 2
        assert training.offer_free_seats(course) == 1
        db.session.commit()
    link = mail_link(app, "training_offer", "/training/offers/")
    reader = app.test_client()
    opens_in_the_mails_language(app, reader, link, "sv", "A seat for you")
    answered = reader.post(link.split("?")[0] + "/accept")
    assert answered.status_code == 303


def test_a_welcome_mails_calendar_link_opens_in_the_mails_language(app, client, make_course):
    from datetime import timedelta

    from models.types import utcnow

    course = make_course(starts_at=utcnow() + timedelta(days=10))
    client.post("/language", data={"language": "sv", "next": "/"})
    assert client.post(f"/training/courses/{course.id}/enrol", data=SWEDE).status_code == 303
    with app.app_context():
        assert training.send_welcome() == 1
    link = mail_link(app, "training_welcome", "/training/")
    opens_in_the_mails_language(app, app.test_client(), link, "sv", "Training calendar")


@pytest.fixture
def payments_on(app_config: dict) -> None:
    """The payment channel set up (before `app` is made)."""
    from tests.fixtures.payments import CHANNEL_CONFIG

    app_config.update(CHANNEL_CONFIG)


def test_a_course_fee_payment_link_opens_in_the_mails_language(
    payments_on, app, client, make_course
):
    course = make_course()
    client.post("/language", data={"language": "sv", "next": "/"})
    person = {**SWEDE, "payment_method": "online"}
    assert client.post(f"/training/courses/{course.id}/enrol", data=person).status_code == 303
    link = mail_link(app, "training_confirmation", "/payments/course/")
    opens_in_the_mails_language(app, app.test_client(), link, "sv", "Pay online")


# ---------------------------------------------------------------- the address


def test_the_rest_of_the_address_is_kept_as_it_came(client):
    response = client.get("/training/?q=caf%C3%A9+au&lang=sv&page=2&lang=fi", headers=FINNISH)
    assert response.status_code == 302
    assert response.headers["Location"] == "/training/?q=caf%C3%A9+au&page=2"


def test_a_kept_page_is_not_served_in_another_language(app):
    finnish = app.test_client()
    first = finnish.get("/training/", headers=FINNISH)
    assert '<html lang="fi">' in text(first)
    swedish = app.test_client()
    _, page = open_link(swedish, "/training/?lang=sv", "sv")
    assert translated(app, "Training calendar", "sv") in page
    assert '<html lang="fi">' in text(finnish.get("/training/", headers=FINNISH))


@pytest.mark.parametrize(
    "value",
    ["", "xx", "SV", "sv-SE", "fi,sv", "ä", "no", "../sv", "%FF", "a" * 5000, "sv%00"],
)
def test_a_language_we_do_not_speak_is_ignored(client, value):
    response = client.get(f"/?lang={value}", headers=FINNISH)
    if value == "sv%00":
        assert response.status_code == 400  # no text holds a NUL
        return
    assert response.status_code == 200
    assert '<html lang="fi">' in text(response)


def test_a_form_sent_to_an_address_with_a_language_does_not_change_it(client):
    response = client.post("/language?lang=sv", data={"language": "en", "next": "/"})
    assert response.status_code == 303
    assert '<html lang="en">' in text(client.get("/", headers=FINNISH))


def test_the_switcher_drops_a_links_language_from_the_page_it_returns_to(client):
    response = client.post(
        "/language", data={"language": "en", "next": "/training/?lang=sv&page=2"}
    )
    assert response.headers["Location"] == "/training/?page=2"
    response = client.post("/language", data={"language": "en", "next": "/training/?lang=sv"})
    assert response.headers["Location"] == "/training/"
