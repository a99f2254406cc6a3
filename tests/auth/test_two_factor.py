"""Two-factor login (TOTP, RFC 6238) with recovery codes: enrolment, the login's second
step, replays, throttling, the staff requirement and an admin's reset."""

from __future__ import annotations

import re

import pyotp
import pytest
import sqlalchemy as sa

from extensions import db
from models.audit import AuditAction, AuditEvent
from models.auth import RecoveryCode, Role, User
from tests.fixtures.app import run_together
from tests.fixtures.two_factor import Clock, setup_token, shown_codes, shown_secret
from tests.fixtures.users import PASSWORD


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("blueprints.auth.second_factor.utcnow", clock)
    return clock


def code_at(secret: str, clock: Clock, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now, counter_offset=offset_steps)


def enrol(client, clock: Clock) -> tuple[str, list[str]]:
    """Turn on the second factor of whoever `client` is logged in (or pending) as."""
    page = client.get("/auth/two-factor/setup").get_data(as_text=True)
    secret = shown_secret(page)
    response = client.post(
        "/auth/two-factor/setup",
        data={"code": code_at(secret, clock), "secret_token": setup_token(page)},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    codes = shown_codes(response.get_data(as_text=True))
    clock.advance()  # the code used at enrolment is spent
    return secret, codes


@pytest.fixture
def enrolled(client, auth, make_user, clock):
    """A customer with two-factor login on (English: the new messages' source texts),
    logged out again; returns (user, secret, recovery codes)."""
    user = make_user(language="en")
    auth.login()
    secret, codes = enrol(client, clock)
    auth.logout()
    return user, secret, codes


def events(app, action: AuditAction) -> list[AuditEvent]:
    with app.app_context():
        found = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action.value).order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return found


def test_a_user_turns_two_factor_login_on_from_the_profile(app, client, auth, make_user, clock):
    user = make_user(language="en")
    auth.login()
    profile = client.get("/auth/profile").get_data(as_text=True)
    assert "/auth/two-factor/setup" in profile

    page = client.get("/auth/two-factor/setup").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page  # the QR code, inline: no request elsewhere
    secret = shown_secret(page)
    assert len(secret) == 32
    assert re.search(r'id="totp-secret">([A-Z2-7]{4} ){7}[A-Z2-7]{4}<', page)  # in fours
    token = setup_token(page)
    assert secret not in token  # the form carries it encrypted

    wrong = client.post("/auth/two-factor/setup", data={"code": "000000", "secret_token": token})
    assert wrong.status_code == 200
    assert "The code is wrong" in wrong.get_data(as_text=True)
    assert shown_secret(wrong.get_data(as_text=True)) == secret  # the same key, still

    right = client.post(
        "/auth/two-factor/setup", data={"code": code_at(secret, clock), "secret_token": token}
    )
    assert right.status_code == 200
    codes = shown_codes(right.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10

    with app.app_context():
        stored = db.session.execute(
            sa.select(User.totp_secret, User.totp_enabled_at, User.totp_last_step).where(
                User.id == user.id
            )
        ).one()
        assert stored.totp_enabled_at is not None
        assert stored.totp_last_step == int(clock.now.timestamp()) // 30
        assert secret not in stored.totp_secret  # encrypted at rest
        hashes = db.session.scalars(
            sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)
        ).all()
        assert len(hashes) == 10
        assert not any(code.replace("-", "") in h or code in h for code in codes for h in hashes)
    [event] = events(app, AuditAction.TWO_FACTOR_ENABLED)
    assert event.record_id == str(user.id) and event.actor_id == user.id

    assert "10 unused recovery codes left" in client.get("/auth/profile").get_data(as_text=True)
    again = client.get("/auth/two-factor/setup")
    assert again.status_code == 303 and again.headers["Location"].endswith("/auth/profile")


def test_an_expired_or_forged_setup_page_asks_to_scan_again(client, auth, make_user, clock):
    make_user(language="en")
    other = make_user("other@example.com", name="Other", language="en")
    auth.login()
    page = client.get("/auth/two-factor/setup").get_data(as_text=True)
    secret, token = shown_secret(page), setup_token(page)
    clock.advance(16 * 60)
    late = client.post(
        "/auth/two-factor/setup", data={"code": code_at(secret, clock), "secret_token": token}
    )
    assert late.status_code == 200
    assert "The page had expired" in late.get_data(as_text=True)
    assert shown_secret(late.get_data(as_text=True)) != secret  # a new key to add

    # A token made for another user does not work for this one.
    with client.application.app_context():
        from services import two_factor

        foreign = two_factor.setup_token(other.id, secret, [], "test-secret-key", clock.now)
    forged = client.post(
        "/auth/two-factor/setup", data={"code": code_at(secret, clock), "secret_token": foreign}
    )
    assert "The page had expired" in forged.get_data(as_text=True)


def test_login_asks_for_the_code_and_keeps_remember_and_next(client, auth, enrolled, clock):
    user, secret, _ = enrolled
    response = auth.login(next="/auth/profile", remember="y")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/auth/two-factor")
    assert client.get("/auth/profile").status_code == 302  # not logged in yet
    assert client.get_cookie("remember_token") is None

    page = client.get("/auth/two-factor")
    assert page.status_code == 200
    assert 'autocomplete="one-time-code"' in page.get_data(as_text=True)

    response = client.post("/auth/two-factor", data={"code": code_at(secret, clock)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/profile"
    assert client.get_cookie("remember_token") is not None
    assert client.get("/auth/profile").status_code == 200


def test_a_code_of_the_step_before_or_after_is_accepted(client, auth, enrolled, clock):
    _, secret, _ = enrolled
    clock.advance()  # the step before is not the one the enrolment used
    auth.login()
    assert (
        client.post("/auth/two-factor", data={"code": code_at(secret, clock, -1)}).status_code
        == 303
    )
    auth.logout()
    auth.login()
    clock.advance()
    too_old = code_at(secret, clock, -2)
    assert client.post("/auth/two-factor", data={"code": too_old}).status_code == 200
    assert (
        client.post("/auth/two-factor", data={"code": code_at(secret, clock, 1)}).status_code == 303
    )


def test_a_replayed_code_is_refused(client, auth, enrolled, clock):
    _, secret, _ = enrolled
    code = code_at(secret, clock)
    auth.login()
    assert client.post("/auth/two-factor", data={"code": code}).status_code == 303
    auth.logout()

    auth.login()
    replay = client.post("/auth/two-factor", data={"code": code})
    assert replay.status_code == 200
    assert "This code was used already" in replay.get_data(as_text=True)
    assert client.get("/auth/profile").status_code == 302
    # Nor does the code of an earlier step pass once a later one was used.
    assert (
        client.post("/auth/two-factor", data={"code": code_at(secret, clock, -1)}).status_code
        == 200
    )
    clock.advance()
    assert client.post("/auth/two-factor", data={"code": code_at(secret, clock)}).status_code == 303


def test_one_code_sent_twice_at_once_passes_once(app_config, enrolled, clock):
    from app import create_app

    _, secret, _ = enrolled
    apps = [create_app(app_config) for _ in range(2)]  # two processes
    clients = [a.test_client() for a in apps]
    for c in clients:
        c.post("/auth/login", data={"email": "maija@example.com", "password": PASSWORD})
    code = code_at(secret, clock)
    answers: dict[int, int] = {}

    def attempt(_app, n: int) -> None:
        answers[n] = clients[n].post("/auth/two-factor", data={"code": code}).status_code

    run_together(attempt, apps)
    assert sorted(answers.values()) == [200, 303]


def test_a_recovery_code_logs_in_once(app, client, auth, enrolled, clock):
    user, _, codes = enrolled
    auth.login()
    assert "/auth/two-factor/recovery" in client.get("/auth/two-factor").get_data(as_text=True)
    typed = codes[0].replace("-", " ").lower()  # as people type it
    response = client.post("/auth/two-factor/recovery", data={"code": typed})
    assert response.status_code == 303
    assert "9 are left" in client.get("/auth/profile").get_data(as_text=True)
    auth.logout()

    auth.login()
    again = client.post("/auth/two-factor/recovery", data={"code": codes[0]})
    assert again.status_code == 200
    assert "wrong or has been used already" in again.get_data(as_text=True)
    assert client.post("/auth/two-factor/recovery", data={"code": codes[1]}).status_code == 303
    with app.app_context():
        used = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_not(None))
        )
        assert used == 2


def test_wrong_codes_are_throttled_per_account(app, client, auth, enrolled, clock):
    _, secret, codes = enrolled
    auth.login()
    for wrong in ("000000", "111111", "222222"):
        assert client.post("/auth/two-factor", data={"code": wrong}).status_code == 200
    for wrong in ("AAAAA-AAAAA", "BBBBB-BBBBB"):  # recovery codes count alike
        assert client.post("/auth/two-factor/recovery", data={"code": wrong}).status_code == 200
    throttled = client.post("/auth/two-factor", data={"code": code_at(secret, clock)})
    assert throttled.status_code == 429  # even the right code waits now
    assert "Too many attempts" in throttled.get_data(as_text=True)
    assert "Retry-After" in throttled.headers

    # A new login from another device does not start the count again.
    other = app.test_client()
    other.post("/auth/login", data={"email": "maija@example.com", "password": PASSWORD})
    assert other.post("/auth/two-factor/recovery", data={"code": codes[0]}).status_code == 429


def test_right_codes_do_not_count_towards_the_throttle(client, auth, enrolled, clock):
    _, secret, _ = enrolled
    for _ in range(7):
        auth.login()
        assert (
            client.post("/auth/two-factor", data={"code": code_at(secret, clock)}).status_code
            == 303
        )
        auth.logout()
        clock.advance()


def test_the_throttle_follows_its_setting(app_config, make_user, clock):
    from app import create_app

    app = create_app({**app_config, "TWO_FACTOR_THROTTLE": "2 per hour"})
    make_user(language="en")
    client = app.test_client()
    client.post("/auth/login", data={"email": "maija@example.com", "password": PASSWORD})
    secret, _ = enrol(client, clock)
    client.post("/auth/logout")
    client.post("/auth/login", data={"email": "maija@example.com", "password": PASSWORD})
    for _ in range(2):
        assert client.post("/auth/two-factor", data={"code": "123 456"}).status_code == 200
    assert client.post("/auth/two-factor", data={"code": code_at(secret, clock)}).status_code == 429
    with app.app_context():
        db.engine.dispose()


def test_staff_must_set_up_two_factor_login_when_required(app, client, auth, make_user, clock):
    app.config["TWO_FACTOR_REQUIRED"] = True
    staff = make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff", language="en")
    response = auth.login("staff@example.com", next="/staff/mail")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/auth/two-factor/setup")
    assert client.get("/staff/").status_code == 302  # not logged in before it is set up
    assert client.get("/auth/two-factor").status_code == 303  # not a code login yet

    page = client.get("/auth/two-factor/setup").get_data(as_text=True)
    secret = shown_secret(page)
    done = client.post(
        "/auth/two-factor/setup",
        data={"code": code_at(secret, clock), "secret_token": setup_token(page)},
    )
    assert done.status_code == 200
    assert 'href="/staff/mail"' in done.get_data(as_text=True)  # where the login was going
    assert client.get("/staff/").status_code == 200

    # Staff cannot turn it off while it is required.
    off = client.get("/auth/two-factor/disable")
    assert off.status_code == 303
    assert "must keep two-factor login on" in client.get("/auth/profile").get_data(as_text=True)
    client.post("/auth/two-factor/disable", data={"proof": PASSWORD})
    with app.app_context():
        assert db.session.get(User, staff.id).totp_enabled_at is not None

    # Next time: password, then the code.
    auth.logout()
    clock.advance()
    assert auth.login("staff@example.com").headers["Location"].endswith("/auth/two-factor")
    assert (
        client.post("/auth/two-factor", data={"code": code_at(secret, clock)})
        .headers["Location"]
        .endswith("/staff/")
    )


def test_customers_are_not_required_to_use_a_second_factor(app, auth, make_user):
    app.config["TWO_FACTOR_REQUIRED"] = True
    make_user()
    assert auth.login().headers["Location"] == "/"


def test_a_staff_login_without_a_second_factor_ends_once_it_is_required(
    app, client, auth, make_user
):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff", language="en")
    auth.login("staff@example.com", remember="y")
    assert client.get("/staff/").status_code == 200
    app.config["TWO_FACTOR_REQUIRED"] = True
    response = client.get("/staff/mail")
    assert response.status_code == 303
    assert "/auth/login" in response.headers["Location"]
    assert client.get("/staff/").status_code == 302  # the remember cookie is gone too


def test_demo_staff_log_in_with_a_password_when_not_required(app, auth, make_user):
    assert app.config["TWO_FACTOR_REQUIRED"] is False
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    assert auth.login("staff@example.com").headers["Location"] == "/staff/"


def test_an_admin_resets_a_colleagues_second_factor(app, client, auth, make_user, clock):
    colleague = make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    admin = make_user("admin@example.com", role=Role.ADMIN, org=None, name="Admin")
    staff_client = app.test_client()
    staff_client.post("/auth/login", data={"email": "staff@example.com", "password": PASSWORD})
    secret, _ = enrol(staff_client, clock)
    assert staff_client.get("/staff/").status_code == 200

    auth.login("admin@example.com")
    page = client.get(f"/auth/users/{colleague.id}/edit").get_data(as_text=True)
    assert f"/auth/users/{colleague.id}/two-factor/reset" in page
    response = client.post(f"/auth/users/{colleague.id}/two-factor/reset")
    assert response.status_code == 303

    with app.app_context():
        row = db.session.execute(
            sa.select(User.totp_secret, User.totp_enabled_at, User.totp_last_step).where(
                User.id == colleague.id
            )
        ).one()
        assert tuple(row) == (None, None, None)
        assert not db.session.scalars(
            sa.select(RecoveryCode).where(RecoveryCode.user_id == colleague.id)
        ).all()
    [event] = events(app, AuditAction.TWO_FACTOR_RESET)
    assert (event.record_type, event.record_id) == ("user", str(colleague.id))
    assert (event.actor_id, event.actor_email) == (admin.id, "admin@example.com")
    assert "staff@example.com" not in event.summary

    assert staff_client.get("/staff/").status_code == 302  # their sessions ended
    # They log in with the password alone now (not required here), or set it up again.
    login = staff_client.post(
        "/auth/login", data={"email": "staff@example.com", "password": PASSWORD}
    )
    assert login.headers["Location"] == "/staff/"


def test_an_admin_cannot_reset_their_own_second_factor_there(app, client, auth, make_user, clock):
    admin = make_user("admin@example.com", role=Role.ADMIN, org=None, name="Admin")
    auth.login("admin@example.com")
    enrol(client, clock)
    page = client.get(f"/auth/users/{admin.id}/edit").get_data(as_text=True)
    assert "two-factor/reset" not in page
    client.post(f"/auth/users/{admin.id}/two-factor/reset")
    with app.app_context():
        assert db.session.get(User, admin.id).totp_enabled_at is not None
    assert not events(app, AuditAction.TWO_FACTOR_RESET)


def test_only_admins_reset_a_second_factor(app, client, auth, make_user):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    other = make_user("other@example.com", role=Role.STAFF, org=None, name="Other")
    auth.login("staff@example.com")
    assert client.post(f"/auth/users/{other.id}/two-factor/reset").status_code == 403


def test_role_changes_are_in_the_audit_log(app, client, auth, make_user, make_org):
    admin = make_user("admin@example.com", role=Role.ADMIN, org=None, name="Admin")
    customer = make_user()
    auth.login("admin@example.com")
    response = client.post(
        f"/auth/users/{customer.id}/edit",
        data={
            "email": "maija@example.com",
            "name": "Maija Meikäläinen",
            "role": "staff",
            "organisation": "Testivirasto",
            "language": "fi",
            "active": "y",
        },
    )
    assert response.status_code == 303
    response = client.post(
        "/auth/users/new",
        data={
            "email": "new.admin@example.com",
            "name": "New Admin",
            "role": "admin",
            "language": "fi",
            "active": "y",
        },
    )
    assert response.status_code == 303
    granted = events(app, AuditAction.ROLE_GRANTED)
    assert [(e.record_id, e.summary, e.actor_id) for e in granted] == [
        (str(customer.id), "role: customer -> staff", admin.id),
        (granted[1].record_id, "role: none -> admin", admin.id),
    ]
    # Saving without a change of role records nothing more.
    client.post(
        f"/auth/users/{customer.id}/edit",
        data={
            "email": "maija@example.com",
            "name": "Maija M.",
            "role": "staff",
            "organisation": "Testivirasto",
            "language": "fi",
            "active": "y",
        },
    )
    assert len(events(app, AuditAction.ROLE_GRANTED)) == 2


def test_turning_it_off_needs_the_password_or_a_code(app, client, auth, enrolled, clock):
    user, secret, codes = enrolled
    auth.login()
    client.post("/auth/two-factor", data={"code": code_at(secret, clock)})
    assert client.get("/auth/two-factor/disable").status_code == 200
    wrong = client.post("/auth/two-factor/disable", data={"proof": "not my password"})
    assert wrong.status_code == 200
    assert "The password or code is wrong" in wrong.get_data(as_text=True)
    replay = client.post("/auth/two-factor/disable", data={"proof": code_at(secret, clock)})
    assert "This code was used already" in replay.get_data(as_text=True)

    clock.advance()
    response = client.post("/auth/two-factor/disable", data={"proof": code_at(secret, clock)})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(User, user.id).totp_enabled_at is None
        assert not db.session.scalars(sa.select(RecoveryCode)).all()
    [event] = events(app, AuditAction.TWO_FACTOR_DISABLED)
    assert event.actor_id == user.id
    auth.logout()
    assert auth.login().headers["Location"] == "/"  # the password alone again


def test_turning_it_off_with_the_password(app, client, auth, enrolled, clock):
    user, secret, _ = enrolled
    auth.login()
    client.post("/auth/two-factor", data={"code": code_at(secret, clock)})
    response = client.post("/auth/two-factor/disable", data={"proof": PASSWORD})
    assert response.status_code == 303
    assert "/auth/two-factor/setup" in client.get("/auth/profile").get_data(as_text=True)


def test_new_recovery_codes_replace_the_old_ones(app, client, auth, enrolled, clock):
    _, secret, old_codes = enrolled
    auth.login()
    client.post("/auth/two-factor", data={"code": code_at(secret, clock)})
    assert client.get("/auth/two-factor/recovery-codes").status_code == 200
    refused = client.post("/auth/two-factor/recovery-codes", data={"proof": "wrong password"})
    assert refused.status_code == 200 and 'id="recovery-codes"' not in refused.get_data(
        as_text=True
    )
    made = client.post("/auth/two-factor/recovery-codes", data={"proof": PASSWORD})
    assert made.status_code == 200
    new_codes = shown_codes(made.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)
    auth.logout()

    auth.login()
    assert client.post("/auth/two-factor/recovery", data={"code": old_codes[0]}).status_code == 200
    assert client.post("/auth/two-factor/recovery", data={"code": new_codes[0]}).status_code == 303


def test_an_expired_pending_login_starts_again(client, auth, enrolled, clock):
    _, secret, _ = enrolled
    auth.login()
    with client.session_transaction() as session:
        pending = session["pending_login"]
        session["pending_login"] = {**pending, "until": pending["until"] - 3600}
    response = client.post("/auth/two-factor", data={"code": code_at(secret, clock)})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/auth/login")
    assert "took too long" in client.get("/auth/login").get_data(as_text=True)
    assert client.get("/auth/profile").status_code == 302


def test_a_password_change_voids_a_pending_login(app, client, auth, enrolled, clock):
    user, secret, _ = enrolled
    auth.login()
    with app.app_context():
        db.session.get(User, user.id).end_sessions()
        db.session.commit()
    response = client.post("/auth/two-factor", data={"code": code_at(secret, clock)})
    assert response.status_code == 303 and response.headers["Location"].endswith("/auth/login")


@pytest.mark.parametrize(
    "url", ["/auth/two-factor", "/auth/two-factor/recovery", "/auth/two-factor/setup"]
)
def test_the_second_step_without_a_pending_login_goes_to_log_in(client, url):
    for response in (client.get(url), client.post(url, data={"code": "123456"})):
        assert response.status_code in (302, 303)
        assert "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "session_value",
    [
        "nonsense",
        {"user": "1", "until": 9_999_999_999, "enrol": False},
        {"user": 1, "until": "soon", "enrol": False},
        {"user": 1, "until": 9_999_999_999, "enrol": False},  # no token
        {"user": 99999, "until": 9_999_999_999, "enrol": False, "token": "x"},
        {"user": 1, "until": 9_999_999_999, "enrol": "yes", "token": "x"},
    ],
)
def test_a_tampered_pending_login_is_no_login(client, enrolled, session_value):
    with client.session_transaction() as session:
        session["pending_login"] = session_value
    for url in ("/auth/two-factor", "/auth/two-factor/recovery", "/auth/two-factor/setup"):
        response = client.post(url, data={"code": "123456"})
        assert response.status_code in (302, 303), url
    assert client.get("/auth/profile").status_code == 302


BAD_CODES = [
    "",
    "   ",
    "abcdef",
    "12345",
    "1234567",
    "12 34 5x",
    "１２３４５６",  # full-width digits
    "٣٤٥٦٧٨",  # Arabic-Indic digits
    "1" * 5000,
    "'; DROP TABLE user; --",
    "\u200b123456",
]


@pytest.mark.parametrize("code", BAD_CODES)
def test_bad_codes_get_a_message_never_a_500(app, client, auth, enrolled, clock, code):
    auth.login()
    for url in ("/auth/two-factor", "/auth/two-factor/recovery"):
        response = client.post(url, data={"code": code})
        assert response.status_code == 200, url
        assert "error-summary" in response.get_data(as_text=True)
    assert client.get("/auth/profile").status_code == 302


@pytest.mark.parametrize("code", BAD_CODES)
def test_bad_input_at_setup_and_disable_never_a_500(client, auth, make_user, clock, code):
    make_user(language="en")
    auth.login()
    page = client.get("/auth/two-factor/setup").get_data(as_text=True)
    for token in (setup_token(page), "", "garbage", "x" * 5000, "gAAAAA" + "A" * 100):
        response = client.post("/auth/two-factor/setup", data={"code": code, "secret_token": token})
        assert response.status_code == 200
        assert "error-summary" in response.get_data(as_text=True)
    # Off already: the disable and recovery-code pages say so.
    for url in ("/auth/two-factor/disable", "/auth/two-factor/recovery-codes"):
        assert client.post(url, data={"proof": code}).status_code == 303


@pytest.mark.parametrize("proof", ["", "1" * 5000, "123456", "abc"])
def test_bad_proof_when_turning_it_off(client, auth, enrolled, clock, proof):
    _, secret, _ = enrolled
    auth.login()
    client.post("/auth/two-factor", data={"code": code_at(secret, clock)})
    response = client.post("/auth/two-factor/disable", data={"proof": proof})
    assert response.status_code == 200
    assert "error-summary" in response.get_data(as_text=True)


def test_the_second_step_speaks_the_users_language(client, auth, make_user, clock):
    make_user(language="en")
    auth.login()
    secret, _ = enrol(client, clock)
    auth.logout()
    client.post("/auth/login", data={"email": "maija@example.com", "password": PASSWORD})
    page = client.get("/auth/two-factor").get_data(as_text=True)
    assert 'lang="en"' in page[:200]
    assert "Two-factor login" in page


def test_reencrypt_moves_the_secrets_to_the_new_key(app, runner, client, auth, enrolled, clock):
    from cryptography.fernet import Fernet

    from services import two_factor

    user, secret, _ = enrolled
    new_key = Fernet.generate_key().decode()
    old_keys = [two_factor.vault([], app.config["SECRET_KEY"]).keys[0]]
    old_keys = [key.decode() if isinstance(key, bytes) else key for key in old_keys]
    app.config["NATIONAL_ID_KEYS"] = [new_key, *old_keys]
    result = runner.invoke(args=["portal", "reencrypt"])
    assert result.exit_code == 0, result.output
    assert "1 second-factor secrets encrypted" in result.output
    app.config["NATIONAL_ID_KEYS"] = [new_key]  # the old key is gone: the secret still opens
    with app.app_context():
        assert two_factor.stored_secret(user.id, [new_key], app.config["SECRET_KEY"]) == secret
    response = auth.login(email=user.email)
    assert response.headers["Location"].endswith("/auth/two-factor")
    client.post("/auth/two-factor", data={"code": code_at(secret, clock)})
    assert client.get("/auth/profile").status_code == 200
