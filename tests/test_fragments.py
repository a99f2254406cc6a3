"""The kept page content (fragments.py): served without reading its rows again, never
another person's, never another session's CSRF token, new after a commit and within
PAGE_CACHE_SECONDS of another process's change."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models.support import Application, Ticket
from models.training import Course
from tests.fixtures import support as support_fixtures
from tests.fixtures.app import recorded_statements
from tests.fixtures.support import contact_data
from tests.fixtures.users import PASSWORD, AuthActions

applications = support_fixtures.applications

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                   r'name="csrf_token" value="([^"]+)"')  # fmt: skip


def token_of(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1) or found.group(2)


def tokens_of(html: str) -> set[str]:
    return {a or b for a, b in TOKEN.findall(html)}


class Clock:
    """The content cache's clock, moved by hand."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def pass_slot(self) -> None:
        self.now += self.app.config["PAGE_CACHE_SECONDS"]


@pytest.fixture
def clock(app, monkeypatch) -> Clock:
    clock = Clock(app)
    monkeypatch.setattr(app.extensions["fragments"], "clock", clock)
    return clock


def logged_in(app: Flask, email: str) -> FlaskClient:
    """A client logged in a while ago (a login is a write: its own pages are fresh)."""
    client = app.test_client()
    response = AuthActions(client).login(email)
    assert response.status_code in (302, 303)
    clock = app.extensions["fragments"].clock
    if isinstance(clock, Clock):
        clock.pass_slot()
    return client


def content_of(html: str) -> str:
    """The page's content (from its heading to </main>) with its CSRF tokens blanked."""
    main = html[html.index("<h1") : html.index("</main>")]
    return TOKEN.sub("csrf", main)


@pytest.fixture
def two_customers(app, clock, make_user, applications):  # noqa: F811
    make_user("maija@example.com", org="Testivirasto", name="Maija Meikäläinen")
    make_user("kalle@example.com", org="Toinen Oy", name="Kalle Kehittäjä")
    return logged_in(app, "maija@example.com"), logged_in(app, "kalle@example.com")


def test_a_kept_form_is_served_without_reading_its_rows(app, two_customers):
    maija, _ = two_customers
    first = maija.get("/support/new").get_data(as_text=True)
    with recorded_statements(app) as seen:
        again = maija.get("/support/new").get_data(as_text=True)
    # Nothing is read: not the applications, nor the user behind the cookie (kept too).
    assert seen == []
    assert content_of(again) == content_of(first)


def test_a_person_never_gets_another_persons_content(app, two_customers):
    maija, kalle = two_customers
    assert "maija@example.com" in maija.get("/support/new").get_data(as_text=True)
    page = kalle.get("/support/new").get_data(as_text=True)
    assert "kalle@example.com" in page and "Toinen Oy" in page
    assert "maija@example.com" not in page and "Testivirasto" not in page


def test_the_content_follows_the_language_and_the_query(app, two_customers):
    maija, _ = two_customers
    assert "Yhteydenotto" in maija.get("/support/new").get_data(as_text=True)
    maija.post("/language", data={"language": "sv", "next": "/support/new"})
    assert "Kontakt" in maija.get("/support/new").get_data(as_text=True)
    page = maija.get("/support/new?ref=LASKU-77").get_data(as_text=True)
    assert 'value="LASKU-77"' in page


def csrf_login(client: FlaskClient, email: str) -> None:
    page = client.get("/auth/login").get_data(as_text=True)
    data = {"csrf_token": token_of(page), "email": email, "password": PASSWORD}
    assert client.post("/auth/login", data=data).status_code == 303


def test_each_session_gets_its_own_csrf_token_and_it_is_accepted(app_config, request):
    app_config["WTF_CSRF_ENABLED"] = True
    app = request.getfixturevalue("app")
    clock = request.getfixturevalue("clock")
    request.getfixturevalue("make_user")("maija@example.com")
    ids = request.getfixturevalue("applications")
    seen: list[set[str]] = []
    for _ in range(2):  # the second client gets the content the first one's request kept
        client = app.test_client()
        calendar = client.get("/training/").get_data(as_text=True)
        csrf_login(client, "maija@example.com")  # through the kept login page
        clock.pass_slot()
        form = client.get("/support/new").get_data(as_text=True)
        tokens = tokens_of(form)
        assert len(tokens) == 1  # the form's, the language switch's and the logout's
        assert len(tokens_of(calendar)) == 1
        seen.append(tokens | tokens_of(calendar))
        sent = client.post(
            "/support/new", data=contact_data(ids, csrf_token=tokens.pop(), message=f"{_}")
        )
        assert sent.status_code == 302
    assert seen[0].isdisjoint(seen[1])


def test_a_commit_of_this_process_renews_the_content_at_once(app, two_customers):
    maija, _ = two_customers
    assert "Uusi sovellus" not in maija.get("/support/new").get_data(as_text=True)
    with app.app_context():
        db.session.add(Application(names={"fi": "Uusi sovellus"}, position=999, active=True))
        db.session.commit()
    assert "Uusi sovellus" in maija.get("/support/new").get_data(as_text=True)


def test_another_process_s_change_shows_within_the_slot(app, clock, two_customers):
    maija, _ = two_customers
    assert "Toisen prosessin" not in maija.get("/support/new").get_data(as_text=True)
    # Another process: a driver connection past SQLAlchemy, whose events see nothing.
    with app.app_context():
        other = db.engine.raw_connection()
    try:
        cursor = other.cursor()
        cursor.execute(
            "INSERT INTO support_application (names, position, active) "
            'VALUES (\'{"fi": "Toisen prosessin sovellus"}\', 5, true)'
        )
        other.commit()
    finally:
        other.close()
    assert "Toisen prosessin" not in maija.get("/support/new").get_data(as_text=True)
    clock.pass_slot()
    assert "Toisen prosessin" in maija.get("/support/new").get_data(as_text=True)


def test_a_flashed_message_shows_on_a_kept_page(app, two_customers):
    maija, _ = two_customers
    maija.get("/support/new")
    with maija.session_transaction() as session:
        session["_flashes"] = [("info", "Viesti juuri tälle pyynnölle")]
    with recorded_statements(app) as seen:
        page = maija.get("/support/new").get_data(as_text=True)
    assert seen == []  # the kept content
    assert "Viesti juuri tälle pyynnölle" in page
    assert "Viesti juuri tälle pyynnölle" not in maija.get("/support/new").get_data(as_text=True)


def test_whoever_sent_a_form_sees_fresh_content_for_a_while(app, clock, two_customers):
    maija, _ = two_customers
    maija.get("/support/new")
    maija.post("/language", data={"language": "fi", "next": "/"})  # any form sent
    with recorded_statements(app) as seen:
        maija.get("/support/new")
    assert reads_user(seen)  # the content is made anew, from the user read afresh
    clock.pass_slot()
    maija.get("/support/new")
    with recorded_statements(app) as seen:
        maija.get("/support/new")
    assert seen == []


def test_a_refused_form_is_never_kept(app, two_customers, applications):  # noqa: F811
    maija, _ = two_customers
    refused = maija.post("/support/new", data=contact_data(applications, message=""))
    assert "error-summary" in refused.get_data(as_text=True)
    assert "error-summary" not in maija.get("/support/new").get_data(as_text=True)
    sent = maija.post("/support/new", data=contact_data(applications))
    assert sent.status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1


def test_with_page_cache_seconds_zero_nothing_is_kept(app_config, request):
    app_config["PAGE_CACHE_SECONDS"] = 0
    app = request.getfixturevalue("app")
    request.getfixturevalue("make_user")("maija@example.com")
    request.getfixturevalue("applications")
    client = logged_in(app, "maija@example.com")
    client.get("/support/new")
    with recorded_statements(app) as seen:
        client.get("/support/new")
    assert any("support_application" in statement for statement, _ in seen)


def test_staff_of_one_role_share_a_list_but_not_their_own_tickets(app, clock, make_user):
    from models.auth import Role

    make_user("anna@example.com", role=Role.STAFF, org="Palveluportaali Oy", name="Anna")
    make_user("bertil@example.com", role=Role.STAFF, org=None, name="Bertil")
    anna, bertil = logged_in(app, "anna@example.com"), logged_in(app, "bertil@example.com")
    anna.get("/staff/support/?scope=all")
    with recorded_statements(app) as seen:
        page = bertil.get("/staff/support/?scope=all").get_data(as_text=True)
    assert len(seen) == 1  # Anna's kept queue: only Bertil himself is read, the first time
    assert "Bertil" in page and "Anna" not in page  # the header is his own
    anna.get("/staff/support/?scope=mine")
    with recorded_statements(app) as seen:
        bertil.get("/staff/support/?scope=mine")
    assert len(seen) > 1  # "mine" is his, not hers
    anna.get("/staff/support/")
    with recorded_statements(app) as seen:
        bertil.get("/staff/support/")
    assert len(seen) > 1  # the default, what he works on next, is his too


def test_only_a_commit_to_a_table_the_content_shows_renews_it(app, two_customers, make_course):
    maija, _ = two_customers
    maija.get("/support/new")
    make_course(title="Kurssi, jota yhteydenotto ei näytä")  # another table
    with recorded_statements(app) as seen:
        maija.get("/support/new")
    assert seen == []
    with app.app_context():  # a statement past the ORM's unit of work is seen too
        db.session.execute(sa.update(Application).values(names={"fi": "Uusi nimi"}))
        db.session.commit()
    assert "Uusi nimi" in maija.get("/support/new").get_data(as_text=True)


def test_a_kept_enrolment_form_reads_nothing_and_keeps_its_title(app, client, make_course):
    course = make_course(title="Hankintojen kevätkoulu")
    path = f"/training/courses/{course.id}/enrol"
    first = client.get(path).get_data(as_text=True)
    with recorded_statements(app) as seen:
        again = app.test_client().get(path).get_data(as_text=True)  # another visitor
    assert seen == []
    title = re.search(r"<title>(.*?)</title>", again, re.S).group(1)
    assert "Hankintojen kevätkoulu" in title
    assert content_of(again) == content_of(first)
    with app.app_context():  # closed here: the form goes at once
        db.session.execute(sa.update(Course).values(is_open=False))
        db.session.commit()
    assert client.get(path).status_code == 404


def test_the_kept_text_is_bounded(app, client, make_course):
    cache = app.extensions["fragments"]
    cache.characters = 50_000
    for n in range(30):  # thirty calendar pages of some 10 000 characters each
        client.get(f"/training/?q=kurssi{n}")
    assert 0 < cache._kept_characters <= 50_000


# --- The user behind the login cookie, kept for GETs (fragments.kept_row)


def reads_user(seen: list[tuple[str, object]]) -> bool:
    return any(re.search(r'FROM "?user"?\b', statement) for statement, _ in seen)


def test_the_logged_in_user_is_read_once_a_slot_and_afresh_for_every_form(app, two_customers):
    maija, _ = two_customers
    with recorded_statements(app) as seen:
        maija.get("/training/")
    assert reads_user(seen)
    with recorded_statements(app) as seen:
        page = maija.get("/training/").get_data(as_text=True)
    assert not reads_user(seen)
    assert "Maija Meikäläinen" in page and "Testivirasto" in page  # the header, as it was
    with recorded_statements(app) as seen:
        maija.post("/language", data={"language": "sv", "next": "/"})
    assert reads_user(seen)  # a form sent reads the user afresh


def test_a_logout_ends_a_copied_cookie_at_once(app, two_customers):
    maija, _ = two_customers
    assert maija.get("/support/new").status_code == 200
    copy = app.test_client()
    copy.set_cookie("session", maija.get_cookie("session").value)
    assert copy.get("/support/new").status_code == 200  # the same login, kept
    maija.post("/auth/logout")
    assert copy.get("/support/new").status_code == 302  # to the login: the token is new


def test_a_change_made_elsewhere_reaches_the_kept_user_within_the_slot(app, clock, two_customers):
    maija, _ = two_customers
    maija.get("/training/")
    other_process = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with other_process.begin() as connection:
            connection.execute(
                sa.text('UPDATE "user" SET name = :name WHERE email = :email'),
                {"name": "Maija Muutettu", "email": "maija@example.com"},
            )
    finally:
        other_process.dispose()
    assert "Maija Meikäläinen" in maija.get("/training/").get_data(as_text=True)
    clock.pass_slot()
    assert "Maija Muutettu" in maija.get("/training/").get_data(as_text=True)


def test_a_kept_user_is_a_row_of_the_session_like_any_other(app, clock, make_user):
    """What the snapshot leaves out (the password hash, the departments) loads when asked
    for, and a change to the kept user is saved."""
    from models.auth import User

    user = make_user("maija@example.com", org="Testivirasto", name="Maija Meikäläinen")
    cookie = user.get_id()
    load = app.login_manager._user_callback
    with app.test_request_context("/training/"):
        assert load(cookie) is not None  # read, and kept
    with app.test_request_context("/training/"), recorded_statements(app) as seen:
        kept = load(cookie)
        assert seen == [] and sa.inspect(kept).persistent
        assert kept.organisation.name == "Testivirasto"
        assert kept.password_hash and kept.granted_departments == []  # loaded now
        assert reads_user(seen)
        kept.name = "Maija Uusinimi"
        db.session.commit()
    with app.app_context():
        assert db.session.scalar(sa.select(User.name).where(User.id == user.id)) == (
            "Maija Uusinimi"
        )
    with app.test_request_context("/training/"):
        assert load(cookie).name == "Maija Uusinimi"  # the commit renewed the kept row


def test_the_kept_header_says_who_is_logged_in_and_where_the_language_switch_returns(
    app, two_customers
):
    maija, kalle = two_customers
    for path in ("/training/", "/training/?q=excel", "/support/new"):
        page = maija.get(path).get_data(as_text=True)
        assert f'name="next" value="{path}"' in page
        assert "Maija Meikäläinen" in page and "Testivirasto" in page
    page = kalle.get("/support/new").get_data(as_text=True)
    assert "Kalle Kehittäjä" in page and "Maija" not in page
    anonymous = app.test_client().get("/training/").get_data(as_text=True)
    assert "Kalle" not in anonymous and "Maija" not in anonymous
    assert 'href="/auth/login"' in anonymous
    from models.auth import User

    with app.app_context():  # a change of this process shows at once
        user = db.session.scalar(sa.select(User).where(User.email == "maija@example.com"))
        user.name = "Maija Muutettu"
        db.session.commit()
    assert "Maija Muutettu" in maija.get("/support/new").get_data(as_text=True)


def test_a_session_s_csrf_token_is_signed_once_and_stays_its_own(app_config, request, monkeypatch):
    """Flask-WTF would sign the raw token anew on every page; the portal's tokens have no
    time limit, so the first signing serves the session's every page."""
    import flask_wtf.csrf
    from itsdangerous import URLSafeTimedSerializer

    signings: list[object] = []

    class Counted(URLSafeTimedSerializer):
        def dumps(self, obj, salt=None):
            signings.append(obj)
            return super().dumps(obj, salt)

    monkeypatch.setattr(flask_wtf.csrf, "URLSafeTimedSerializer", Counted)
    app_config["WTF_CSRF_ENABLED"] = True
    app = request.getfixturevalue("app")
    request.getfixturevalue("make_user")("maija@example.com")
    ids = request.getfixturevalue("applications")
    client = app.test_client()
    csrf_login(client, "maija@example.com")
    signings.clear()
    tokens = {token_of(client.get(path).get_data(as_text=True)) for path in ("/support/new",) * 3}
    assert len(tokens) == 1 and len(signings) <= 1
    (token,) = tokens
    sent = client.post("/support/new", data=contact_data(ids, csrf_token=token))
    assert sent.status_code == 302  # the kept token is accepted
    other = app.test_client()
    csrf_login(other, "maija@example.com")
    assert token_of(other.get("/support/new").get_data(as_text=True)) != token
