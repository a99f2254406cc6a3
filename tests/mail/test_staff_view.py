"""The staff outbox names the personal link of a message it does not show for what it is.

A password-reset or invitation mail carries a link for choosing a password; the mail of a
booked appointment carries the employee's link to the electronic self-declaration form.
Staff who may not read such a message are told which link it holds, in their language.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from extensions import db
from models.auth import Role
from models.mail import OutboxMessage
from tests.fixtures import portal as portal_fixtures
from tests.fixtures.mail import deliver_mail
from tests.fixtures.portal import place

# The portal's world: a Norwegian company, its English-speaking user, a booking.
company = portal_fixtures.company
customer = portal_fixtures.customer
open_booking = portal_fixtures.open_booking
# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

PASSWORD_NOTICE = (
    "This message carries a personal link for choosing a password and is not shown here."
)
DECLARATION_NOTICE = (
    "This message carries the employee's personal link to the electronic self-declaration "
    "form and is not shown here."
)


def _message_id(app, template: str) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(OutboxMessage.id).where(OutboxMessage.template == template)
        )


def _notice(html: str) -> str:
    found = re.search(r'<p class="notice">([^<]*)</p>', html.replace("&#39;", "'"))
    assert found, html
    return found.group(1)


def _as_staff(client, auth, make_user) -> None:
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff", language="en")
    auth.login("staff@example.com")


def test_the_appointment_mail_is_said_to_hold_the_self_declaration_link(
    app, client, auth, make_user, customer, open_booking
):
    booking_id, [small, _big], [first, *_] = open_booking
    assert place(customer, booking_id, first, small).status_code == 302
    deliver_mail(app)
    message_id = _message_id(app, "portal_booking_placed")

    _as_staff(client, auth, make_user)
    html = client.get(f"/staff/mail/{message_id}").get_data(as_text=True)
    assert _notice(html) == DECLARATION_NOTICE
    assert "password" not in _notice(html)
    assert "/portal/egenerklaering/" not in html  # the link itself stays hidden


def test_the_password_mails_are_said_to_hold_a_password_link(app, client, auth, make_user):
    make_user("admin@example.com", role=Role.ADMIN, org=None, name="Admin")
    client.post("/auth/reset", data={"email": "admin@example.com"})
    deliver_mail(app)
    message_id = _message_id(app, "auth_password_reset")

    _as_staff(client, auth, make_user)
    html = client.get(f"/staff/mail/{message_id}").get_data(as_text=True)
    assert _notice(html) == PASSWORD_NOTICE
    assert "/auth/reset/" not in html


def test_an_invitation_is_said_to_hold_a_password_link(app, client, auth, make_user):
    make_user("admin@example.com", role=Role.ADMIN, org=None, name="Admin", language="en")
    auth.login("admin@example.com")
    with app.app_context():
        from models.auth import User

        user_id = db.session.scalar(sa.select(User.id).where(User.email == "admin@example.com"))
    app.config["MAIL_SERVER"] = "smtp.invalid"  # not captured: admins may not read it either
    client.post(f"/auth/users/{user_id}/invite")
    message_id = _message_id(app, "auth_invitation")
    html = client.get(f"/staff/mail/{message_id}").get_data(as_text=True)
    assert _notice(html) == PASSWORD_NOTICE


def test_another_personal_link_is_not_called_a_password_link(app, client, auth, make_user):
    with app.app_context():
        db.session.add(
            OutboxMessage(
                sender="portal@example.com",
                recipients=["someone@example.com"],
                subject="A personal link",
                body_text="http://portal.test/secret",
                template="training_offer",  # any mail: what matters is that it is personal
                sensitive=True,
            )
        )
        db.session.commit()
    message_id = _message_id(app, "training_offer")
    _as_staff(client, auth, make_user)
    html = client.get(f"/staff/mail/{message_id}").get_data(as_text=True)
    assert _notice(html) == "This message carries a personal link and is not shown here."
    assert "/secret" not in html


def test_the_notice_is_in_the_staff_members_language(app, client, auth, make_user):
    make_user("admin@example.com", role=Role.ADMIN, org=None, name="Admin")
    client.post("/auth/reset", data={"email": "admin@example.com"})
    message_id = _message_id(app, "auth_password_reset")
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff", language="fi")
    auth.login("staff@example.com")
    html = client.get(f"/staff/mail/{message_id}").get_data(as_text=True)
    assert '<html lang="fi">' in html
    assert _notice(html) == (
        "Viestissä on henkilökohtainen linkki salasanan valitsemiseen, eikä sitä näytetä täällä."
    )
