"""What a request costs in queries: bounded per page, none per row, the user once.

Speed itself is measured in bench/, never asserted here; these tests keep the work a
request does from growing back (a query per row, the user loaded twice, a form's
messages read from disk).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models.auth import Role
from models.mail import OutboxMessage
from models.support import Application, SubApplication
from models.types import utcnow
from services import support
from tests.fixtures.app import recorded_statements
from tests.fixtures.training import PERSON
from tests.fixtures.users import AuthActions


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements run inside the block, in order."""
    seen: list[str] = []
    with recorded_statements(app) as recorded:
        yield seen
        seen.extend(" ".join(statement.split()) for statement, _ in recorded)


def queries(app: Flask, client: FlaskClient, url: str, status: int = 200) -> list[str]:
    """The statements of one GET of the page."""
    client.get(url).close()  # a first visit may set up the session
    with statements(app) as seen, client.get(url) as response:
        assert response.status_code == status
    return seen


def user_loads(seen: list[str]) -> int:
    return sum(1 for s in seen if re.match(r'SELECT "?user"?\.id\b', s))


@pytest.fixture
def app_config(app_config: dict) -> dict:
    """What a first visit costs: nothing kept (tests/test_fragments.py tests the kept)."""
    return {**app_config, "PAGE_CACHE_SECONDS": 0}


@pytest.fixture
def staff_client(app, make_user) -> FlaskClient:
    make_user("staff@example.com", role=Role.STAFF, org="Palveluportaali Oy")
    client = app.test_client()
    AuthActions(client).login("staff@example.com")
    return client


def _courses(make_course, count: int, first_day: int = 10) -> None:
    for n in range(count):
        start = utcnow() + timedelta(days=first_day + n)
        make_course(
            title=f"Kurssi {n}",
            topic=f"Aihe {n % 3}",
            place=f"Paikka {n % 2}",
            remote=n % 4 == 0,
            starts_at=start,
            ends_at=start + timedelta(hours=6),
            enrolment_deadline=start - timedelta(days=1),
            cancellation_deadline=start - timedelta(days=2),
        )


def test_an_anonymous_form_page_runs_no_query(app, client):
    assert queries(app, client, "/auth/login") == []
    assert queries(app, client, "/auth/reset") == []


def test_the_enrolment_form_loads_its_course_only(app, client, make_course):
    course = make_course()
    seen = queries(app, client, f"/training/courses/{course.id}/enrol")
    assert len(seen) == 1 and "FROM course" in seen[0]


def test_the_calendar_takes_the_same_queries_for_any_number_of_courses(app, client, make_course):
    _courses(make_course, 2)
    few = queries(app, client, "/training/")
    _courses(make_course, 10, first_day=20)
    many = queries(app, client, "/training/")
    assert len(many) == len(few) <= 3  # the filters' choices, the page and its count


def test_a_logged_in_page_loads_the_user_once_with_the_organisation(app, client, make_user, auth):
    make_user()
    auth.login()
    seen = queries(app, client, "/training/")
    assert user_loads(seen) == 1
    assert "JOIN organisation" in next(s for s in seen if re.match(r'SELECT "?user', s))
    assert not any(s.startswith("SELECT organisation") for s in seen)
    assert not any("password_hash" in s for s in seen)  # only where a password is checked


def test_a_static_file_loads_no_user_and_is_not_marked_private(app, client, make_user, auth):
    make_user()
    auth.login()
    seen = queries(app, client, "/static/css/portal.css")
    assert seen == []
    with client.get("/static/css/portal.css") as response:
        assert "no-store" not in response.headers.get("Cache-Control", "")


def test_pages_of_a_logged_in_user_are_never_cached(app, client, make_user, auth):
    assert "no-store" not in client.get("/training/").headers.get("Cache-Control", "")
    make_user()
    auth.login()
    response = client.get("/training/")
    assert response.headers["Cache-Control"] == "no-store"
    assert "Cookie" in response.headers.get("Vary", "")
    auth.logout()
    assert "no-store" not in client.get("/training/").headers.get("Cache-Control", "")


def test_the_staff_course_list_takes_no_query_per_row(app, staff_client, make_course):
    _courses(make_course, 2)
    few = queries(app, staff_client, "/staff/training/")
    _courses(make_course, 25, first_day=20)
    many = queries(app, staff_client, "/staff/training/")
    assert len(many) == len(few) and user_loads(many) == 1


def test_the_contact_form_takes_no_query_per_application(app, client, make_user, auth):
    make_user()
    auth.login()
    with app.app_context():
        support.ensure_default_applications()
        db.session.commit()
    few = queries(app, client, "/support/new")
    with app.app_context():
        for n in range(6):
            application = Application(names={"fi": f"Sovellus {n}"}, position=100 + n, active=True)
            application.sub_applications.append(SubApplication(names={"fi": "Raportti"}))
            db.session.add(application)
        db.session.commit()
    many = queries(app, client, "/support/new")
    assert len(many) == len(few) <= 3  # the user, the applications, their sub-applications


def test_the_staff_queue_takes_no_query_per_ticket(app, staff_client, make_user):
    from tests.fixtures.support import contact_data

    make_user("maija@example.com")
    customer = app.test_client()
    AuthActions(customer).login("maija@example.com")
    with app.app_context():
        support.ensure_default_applications()
        db.session.commit()
        applications = {
            a.part: (a.id, a.sub_applications[0].id)
            for a in db.session.scalars(sa.select(Application))
        }

    def contact(n: int) -> None:
        data = contact_data(applications, message=f"Viesti {n}")
        assert customer.post("/support/new", data=data).status_code == 302

    contact(0)
    few = queries(app, staff_client, "/staff/support/")
    for n in range(1, 6):
        contact(n)
    assert len(queries(app, staff_client, "/staff/support/")) == len(few)


def test_an_enrolment_is_a_few_statements_and_its_mail_is_left_to_the_worker(
    app, client, make_course
):
    course = make_course(price=0)
    with statements(app) as seen:
        response = client.post(f"/training/courses/{course.id}/enrol", data=PERSON)
    assert response.status_code == 303
    writes = [m.group(1) for s in seen if (m := re.match(r"(?:INSERT INTO|UPDATE) (\w+)", s))]
    assert writes == ["course", "enrolment", "enrolment_event", "outbox_message"]
    assert len(seen) <= 7  # the course, a duplicate, a code; the writes
    with app.app_context():
        message = db.session.scalar(sa.select(OutboxMessage))
        assert message.subject and message.body_text == "" and message.context is not None


def test_the_navigation_is_built_once_per_kind_of_user_and_language(app, client, make_user):
    make_user("a@example.com", org="Virasto A")
    make_user("b@example.com", org="Virasto B")
    make_user("staff@example.com", role=Role.STAFF, org="Palveluportaali Oy")
    organisations = {}
    for email in ("a@example.com", "b@example.com", "a@example.com"):
        visitor = app.test_client()
        AuthActions(visitor).login(email)
        page = visitor.get("/training/").get_data(as_text=True)
        organisations.setdefault(email, set()).update(
            re.findall(r'href="/auth/organisations/(\d+)"', page)
        )
        assert "/staff/" not in page
    assert len(organisations["a@example.com"]) == 1
    assert organisations["a@example.com"] != organisations["b@example.com"]
    staff = app.test_client()
    AuthActions(staff).login("staff@example.com")
    assert 'href="/staff/"' in staff.get("/training/").get_data(as_text=True)
    anonymous = client.get("/training/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "/auth/profile" not in anonymous and 'href="/support/new?app=training"' in anonymous
    assert 'href="/support/new"' in client.get("/auth/login").get_data(as_text=True)
    swedish = app.test_client().get("/", headers={"Accept-Language": "sv"})
    assert "Kontakt" in swedish.get_data(as_text=True)


@pytest.mark.parametrize("language", ["fi", "en", "nb"])
@pytest.mark.parametrize("zone", ["Europe/Helsinki", "Europe/Oslo"])
@pytest.mark.parametrize("days", [0, 1])
def test_a_time_range_reads_as_flask_babel_writes_it(app, language, zone, days):
    from datetime import UTC, datetime

    from flask_babel import format_date, format_time

    from services.timezones import shown_in_zone

    start = datetime(2027, 1, 7, 7, 0, tzinfo=UTC)
    end = start + timedelta(days=days, hours=7, minutes=30)
    with app.test_request_context(headers={"Accept-Language": language}), shown_in_zone(zone):
        shown = app.jinja_env.filters["time_range"](start, end)
        day, begin = format_date(start, "medium"), format_time(start, "short")
        until = format_time(end, "short")
        expected = (
            f"{day} {begin}–{until}"
            if days == 0
            else f"{day} {begin} – {format_date(end, 'medium')} {until}"
        )
        assert shown == expected


def test_templates_are_compiled_once(app):
    from pathlib import Path

    assert app.jinja_env.auto_reload is False  # on only with the debugger
    templates = list(Path(app.root_path, "templates").rglob("*.*"))
    assert len(templates) < app.jinja_env.cache.capacity  # all stay compiled
