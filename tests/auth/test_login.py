"""Logging in and out, throttling, password reset, the profile and `flask user create`."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Organisation, Role, User
from tests.fixtures.mail import deliver_mail
from tests.fixtures.users import PASSWORD


def test_login_and_logout(client, auth, make_user):
    make_user()
    response = auth.login()
    assert response.status_code == 303
    page = client.get("/").get_data(as_text=True)
    assert "Maija Meikäläinen" in page and "maija@example.com" in page
    assert client.get("/auth/profile").status_code == 200

    assert auth.logout().status_code == 303
    response = client.get("/auth/profile")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_login_with_wrong_password_says_so(client, auth, make_user):
    make_user()
    response = auth.login(password="wrong password!")
    assert response.status_code == 200
    assert "Sähköpostiosoite tai salasana on väärä" in response.get_data(as_text=True)
    assert client.get("/auth/profile").status_code == 302


def test_login_email_is_case_insensitive(client, auth, make_user):
    make_user()
    assert auth.login(email="  MAIJA@Example.com ").status_code == 303


def test_inactive_user_cannot_log_in(app, auth, make_user):
    user = make_user()
    with app.app_context():
        db.session.get(User, user.id).active = False
        db.session.commit()
    assert auth.login().status_code == 200


def test_login_redirects_only_within_the_site(auth, make_user):
    make_user()
    assert auth.login(next="/auth/profile").headers["Location"] == "/auth/profile"


def test_login_refuses_an_open_redirect(auth, make_user):
    make_user()
    location = auth.login(next="//evil.example/steal").headers["Location"]
    assert "evil" not in location


def test_staff_land_in_the_staff_area(auth, make_user):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    assert auth.login("staff@example.com").headers["Location"] == "/staff/"


def test_login_failures_are_throttled(client, auth, make_user):
    make_user()
    for _ in range(5):
        assert auth.login(password="wrong password!").status_code == 200
    response = auth.login()  # even the right password waits now
    assert response.status_code == 429
    assert "Liian monta yritystä" in response.get_data(as_text=True)
    assert "Retry-After" in response.headers


def test_successful_logins_do_not_count_towards_the_throttle(client, auth, make_user):
    make_user()
    for _ in range(7):
        assert auth.login().status_code == 303
        auth.logout()


def test_throttle_is_per_account(auth, make_user):
    make_user()
    make_user("other@example.com", name="Other")
    for _ in range(5):
        auth.login(password="wrong password!")
    assert auth.login().status_code == 429
    assert auth.login("other@example.com").status_code == 303


def _reset_link(text: str) -> str:
    match = re.search(r"http://portal\.test(/auth/reset/[^\s?]+)", text)
    assert match, text
    return match.group(1)


def test_password_reset_by_emailed_link(app, client, auth, make_user, smtp_server):
    make_user()
    response = client.post("/auth/reset", data={"email": "maija@example.com"})
    assert response.status_code == 303
    assert deliver_mail(app).sent == 1

    [message] = smtp_server.messages
    assert message["To"] == "maija@example.com"
    assert message["Subject"] == "Aseta uusi salasana"
    link = _reset_link(smtp_server.text_of(message))

    assert client.get(link).status_code == 200
    response = client.post(
        link, data={"password": "a brand new secret", "confirm": "a brand new secret"}
    )
    assert response.status_code == 303
    assert auth.login(password="a brand new secret").status_code == 303
    auth.logout()
    assert auth.login(password=PASSWORD).status_code == 200

    # Single-use: the same link no longer works.
    response = client.get(link)
    assert response.status_code == 303 and "/auth/reset" in response.headers["Location"]


def test_password_reset_link_expires(app, client, make_user, smtp_server):
    make_user()
    app.config["PASSWORD_RESET_MAX_AGE"] = -1  # every link is already too old
    client.post("/auth/reset", data={"email": "maija@example.com"})
    deliver_mail(app)
    link = _reset_link(smtp_server.text_of(smtp_server.messages[0]))
    response = client.post(
        link, data={"password": "a brand new secret", "confirm": "a brand new secret"}
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/auth/reset")


def test_password_reset_does_not_reveal_accounts(app, client, make_user):
    make_user()
    known = client.post("/auth/reset", data={"email": "maija@example.com"}, follow_redirects=True)
    unknown = client.post(
        "/auth/reset", data={"email": "nobody@example.com"}, follow_redirects=True
    )
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True)
    from models.mail import OutboxMessage

    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1


def test_password_reset_form_validates(client, make_user, app):
    user = make_user()
    from services.accounts import make_password_token

    with app.app_context():
        token = make_password_token(db.session.get(User, user.id), "test-secret-key")
    response = client.post(f"/auth/reset/{token}", data={"password": "short", "confirm": "other"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "error-summary" in text and "vähintään 10 merkkiä" in text


def test_tampered_reset_token_is_refused(client):
    response = client.get("/auth/reset/not-a-real-token")
    assert response.status_code == 303


def test_profile_updates_name_email_and_language(app, client, auth, make_user):
    user = make_user()
    auth.login()
    response = client.post(
        "/auth/profile",
        data={"name": "Maija M.", "email": "Maija.M@Example.com", "language": "sv"},
    )
    assert response.status_code == 303
    with app.app_context():
        saved = db.session.get(User, user.id)
        assert (saved.name, saved.email, saved.language) == (
            "Maija M.",
            "maija.m@example.com",
            "sv",
        )
    assert 'lang="sv"' in client.get("/auth/profile").get_data(as_text=True)[:200]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "email": "maija@example.com", "language": "fi"}, "Anna nimesi"),
        (
            {"name": "M", "email": "not-an-email", "language": "fi"},
            "Anna kelvollinen sähköpostiosoite",
        ),
        (
            {"name": "M", "email": "taken@example.com", "language": "fi"},
            "on jo toisen tilin käytössä",
        ),
    ],
)
def test_profile_refuses_bad_input_and_keeps_it(client, auth, make_user, data, message):
    make_user()
    make_user("taken@example.com", name="Taken")
    auth.login()
    response = client.post("/auth/profile", data=data)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert message in text
    assert f'value="{data["email"]}"' in text  # the user's input is kept


@pytest.mark.real_password_hashing
def test_passwords_are_hashed_with_argon2(app, make_user, auth):
    """With the production parameters (RFC 9106's second recommendation, argon2-cffi's
    default): 64 MiB, three passes, four lanes; the other tests hash cheaply."""
    user = make_user()
    with app.app_context():
        stored = db.session.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert auth.login(user.email).status_code == 303


def test_user_create_command(app, runner):
    result = runner.invoke(
        args=[
            "user",
            "create",
            "Admin@Example.com",
            "--role",
            "admin",
            "--organisation",
            "Uusi Oy",
            "--name",
            "Ada Admin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "admin@example.com" in result.output
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "admin@example.com"))
        assert user.role == Role.ADMIN and user.name == "Ada Admin"
        assert user.organisation.name == "Uusi Oy"
        assert user.organisation.department_choices() == [(None, "Uusi Oy")]
    client = app.test_client()
    assert (
        client.post(
            "/auth/login", data={"email": "admin@example.com", "password": "a long enough password"}
        ).status_code
        == 303
    )


def test_user_create_command_uses_an_existing_organisation(app, runner, make_org):
    make_org("Olemassa Oy")
    result = runner.invoke(
        args=["user", "create", "c@example.com", "--organisation", "Olemassa Oy"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 1


@pytest.mark.parametrize(
    ("args", "password", "error"),
    [
        (["c@example.com", "--organisation", "X"], "short\n", "vähintään 10"),
        (["not-an-email", "--organisation", "X"], "a long enough password\n", "kelvollinen"),
        (["c@example.com"], "a long enough password\n", "organisaatioon"),
    ],
)
def test_user_create_command_refuses_bad_input(app, runner, args, password, error):
    result = runner.invoke(args=["user", "create", *args], input=password)
    assert result.exit_code != 0
    assert error in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_user_create_command_refuses_a_duplicate(app, runner, make_user):
    make_user("dup@example.com")
    result = runner.invoke(
        args=["user", "create", "dup@example.com", "--role", "staff"],
        input="a long enough password\n",
    )
    assert result.exit_code != 0 and "dup@example.com" in result.output


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\t/evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/ok\r\nSet-Cookie: x=1",
        "javascript:alert(1)",
        "/%09/evil.example\n",
    ],
)
def test_no_redirect_target_leads_off_site(auth, make_user, target):
    make_user()
    response = auth.login(next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def _session_cookie(client) -> str:
    return client.get_cookie("session").value


def test_a_copied_session_cookie_dies_with_logout(app, client, auth, make_user):
    make_user()
    auth.login()
    stolen = _session_cookie(client)
    auth.logout()
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/auth/profile").status_code == 302


def test_a_password_change_ends_other_sessions(app, client, auth, make_user):
    user = make_user()
    auth.login()
    other_device = app.test_client()
    other_device.post("/auth/login", data={"email": "maija@example.com", "password": PASSWORD})
    assert other_device.get("/auth/profile").status_code == 200
    from services.accounts import make_password_token

    with app.app_context():
        token = make_password_token(db.session.get(User, user.id), "test-secret-key")
    client.post(
        f"/auth/reset/{token}",
        data={"password": "a brand new secret", "confirm": "a brand new secret"},
    )
    assert other_device.get("/auth/profile").status_code == 302


def test_a_reset_link_dies_when_the_email_changes(app, make_user):
    from services.accounts import make_password_token, user_for_password_token

    user = make_user()
    with app.app_context():
        saved = db.session.get(User, user.id)
        token = make_password_token(saved, "k")
        assert user_for_password_token(token, "k", 3600) is not None
        saved.email = "corrected@example.com"
        db.session.commit()
        assert user_for_password_token(token, "k", 3600) is None


def test_password_spraying_from_one_address_is_throttled(client, auth, make_user):
    make_user()
    for i in range(30):
        assert auth.login(f"person{i}@example.com", "Winter2026!").status_code == 200
    assert auth.login().status_code == 429


def test_guessing_one_password_from_many_addresses_is_throttled(app, make_user):
    make_user()
    for i in range(20):
        client = app.test_client()
        response = client.post(
            "/auth/login",
            data={"email": "maija@example.com", "password": f"guess {i}"},
            environ_base={"REMOTE_ADDR": f"10.0.{i}.1"},
        )
        assert response.status_code == 200
    response = app.test_client().post(
        "/auth/login",
        data={"email": "maija@example.com", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert response.status_code == 429


def test_behind_a_proxy_the_forwarded_address_counts(app_config, make_user):
    from app import create_app

    app = create_app({**app_config, "PROXY_COUNT": 1})
    make_user()
    client = app.test_client()

    def attempt(address: str, password: str = "wrong password!"):
        return client.post(
            "/auth/login",
            data={"email": "maija@example.com", "password": password},
            headers={"X-Forwarded-For": address},
        )

    for _ in range(5):
        assert attempt("192.0.2.10").status_code == 200
    assert attempt("192.0.2.10", PASSWORD).status_code == 429
    assert attempt("198.51.100.7", PASSWORD).status_code == 303  # another person
    with app.app_context():
        db.engine.dispose()
