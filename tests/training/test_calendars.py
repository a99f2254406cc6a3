"""Calendars to add and to subscribe to: the confirmation's kurssi.ics, the public feeds
(all courses, a topic's), a participant's and a staff member's secret, revocable links."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from app import create_app
from extensions import db
from models.auth import Role, User
from models.mail import OutboxMessage
from models.training import CalendarFeed, Course, Enrolment
from models.types import utcnow
from services import calendars, training
from services.outbox import worker_attachments
from tests.fixtures import training_staff as training_staff_fixtures
from tests.fixtures.mail import deliver_mail
from tests.fixtures.training import EN, PERSON, _enrol, _enrolment

staff = training_staff_fixtures.staff

HELSINKI = ZoneInfo("Europe/Helsinki")
FEED_URL = re.compile(r"http://portal\.test(/training/feeds/[A-Za-z0-9_-]+\.ics)")
MAIJA = PERSON["email"].lower()


def _winter_nine_helsinki() -> datetime:
    """9:00 Finnish time on a January day to come: 07:00 UTC (EET, UTC+2)."""
    return datetime(utcnow().year + 1, 1, 12, 7, 0, tzinfo=UTC)


def _summer_nine_helsinki() -> datetime:
    """9:00 Finnish time on a June day to come: 06:00 UTC (EEST, UTC+3)."""
    return datetime(utcnow().year + 1, 6, 15, 6, 0, tzinfo=UTC)


def _parse(data: bytes) -> Calendar:
    calendar = Calendar.from_ical(data)
    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"] == calendars.PRODID
    assert calendar["CALSCALE"] == "GREGORIAN"
    assert calendar["METHOD"] == "PUBLISH"
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Helsinki"]
    return calendar


def _uids(data: bytes) -> set[str]:
    return {str(event["UID"]) for event in _parse(data).events}


def _uid(course: Course) -> str:
    return f"course-{course.id}@portal.test"


def _ics_of(app, course_id: int, **kwargs) -> bytes:
    with app.test_request_context():
        return calendars.course_event_ics(db.session.get(Course, course_id), **kwargs)


# --- One course -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts", "utc_hour"), [(_winter_nine_helsinki(), 7), (_summer_nine_helsinki(), 6)]
)
def test_a_course_is_an_event_in_finnish_time(app, make_course, starts, utc_hour):
    course = make_course(starts_at=starts, title="Hankinnat, osa 1; perusteet", place="Helsinki")
    data = _ics_of(app, course.id, language="en")
    calendar = _parse(data)
    assert calendar["X-WR-CALNAME"] == "Hankinnat, osa 1; perusteet"
    [event] = calendar.events
    assert event.start == datetime(starts.year, starts.month, starts.day, 9, 0, tzinfo=HELSINKI)
    assert event.start.tzinfo.key == "Europe/Helsinki"
    assert event.start.astimezone(UTC).hour == utc_hour
    assert event.end.astimezone(UTC) == starts + timedelta(hours=6)
    assert f"DTSTART;TZID=Europe/Helsinki:{starts:%Y%m%d}T090000".encode() in data
    assert str(event["UID"]) == _uid(course)
    assert event["SUMMARY"] == "Hankinnat, osa 1; perusteet"
    assert event["LOCATION"] == "Helsinki"
    assert event["STATUS"] == "CONFIRMED"
    page = f"http://portal.test/training/courses/{course.id}?lang=en"
    assert event["URL"] == page
    assert f"Course page: {page}" in event["DESCRIPTION"]
    assert event.DTSTAMP.tzinfo is not None


def test_a_remote_course_says_so_and_a_long_description_is_cut(app, make_course):
    course = make_course(remote=True, place="", description="sana " * 400)
    [event] = _parse(_ics_of(app, course.id, language="en")).events
    assert event["LOCATION"] == "Remote"
    assert len(event["DESCRIPTION"]) < 500


# --- The confirmation mail's attachment ---------------------------------------------------


def _attachments(app, template: str) -> list[tuple[str, str, bytes]]:
    """The files the mail worker attaches to the one message of the template when it
    writes it (the request leaves them to it, as it leaves the bodies)."""
    with app.test_request_context():
        message = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.template == template)
        ).one()
        assert message.attachments == []
        return [(a.filename, a.content_type, a.data) for a in worker_attachments(message)]


def test_the_confirmation_carries_the_course_as_kurssi_ics(app, client, make_course):
    course = make_course(starts_at=_winter_nine_helsinki())
    assert _enrol(client, course.id).status_code == 303
    [(filename, content_type, data)] = _attachments(app, "training_confirmation")
    assert filename == "kurssi.ics"
    assert content_type.startswith("text/calendar;") and "method=PUBLISH" in content_type
    [event] = _parse(data).events
    assert str(event["UID"]) == _uid(course)
    assert event.start.astimezone(UTC) == _winter_nine_helsinki()
    assert event.start.tzinfo.key == "Europe/Helsinki"
    enrolment = _enrolment(app)
    for personal in (enrolment.service_code, MAIJA, "Meikäläinen"):
        assert personal not in data.decode()  # calendars are shared


def test_the_waiting_list_gets_no_calendar(app, client, make_course):
    course = make_course(capacity=1)
    _enrol(client, course.id, email="first@example.com")
    _enrol(client, course.id)
    assert _attachments(app, "training_waiting") == []


def test_an_accepted_offer_confirms_with_the_calendar_too(app, client, make_course):
    course = make_course(capacity=1)
    _enrol(client, course.id, email="seated@example.com")
    _enrol(client, course.id)  # in line
    with app.test_request_context():
        seated = db.session.scalar(
            sa.select(Enrolment).where(Enrolment.email == "seated@example.com")
        )
        training.cancel(seated, training.PARTICIPANT)
        db.session.commit()
        offered = db.session.get(Enrolment, _enrolment(app).id)
        training.accept_offer(offered)
        db.session.commit()
    with app.app_context():
        mail = db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.template == "training_confirmation")
            .order_by(OutboxMessage.id)
        ).all()
        assert [m.recipients for m in mail] == [["seated@example.com"], [MAIJA]]
    with app.test_request_context():
        assert [a.filename for a in worker_attachments(mail[-1])] == ["kurssi.ics"]


def test_the_worker_writes_and_sends_the_confirmation_with_its_calendar(
    app, client, make_course, smtp_server
):
    course = make_course(starts_at=_winter_nine_helsinki())
    _enrol(client, course.id)
    assert deliver_mail(app).sent == 1
    [message] = smtp_server.messages
    assert _enrolment(app).service_code in smtp_server.text_of(message)
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "kurssi.ics"
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "PUBLISH"
    [event] = _parse(part.get_payload(decode=True)).events
    assert event.start == datetime(_winter_nine_helsinki().year, 1, 12, 9, tzinfo=HELSINKI)


# --- Public feeds -----------------------------------------------------------------------


def test_a_topic_feed_has_only_that_topics_open_courses(client, make_course):
    procurement = make_course(topic="Hankinnat")
    later = make_course(topic="Hankinnat", starts_at=utcnow() + timedelta(days=90))
    recent = make_course(topic="Hankinnat", starts_at=utcnow() - timedelta(days=10))
    make_course(topic="Hankinnat", starts_at=utcnow() - timedelta(days=40))  # long past
    make_course(topic="Hankinnat", is_open=False)
    wellbeing = make_course(topic="Hyvinvointi ja työkyky")
    response = client.get("/training/calendar/hankinnat.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert _uids(response.data) == {_uid(procurement), _uid(later), _uid(recent)}
    other = client.get("/training/calendar/hyvinvointi-ja-tyokyky.ics")
    assert _uids(other.data) == {_uid(wellbeing)}
    assert "Hyvinvointi ja työkyky" in Calendar.from_ical(other.data)["X-WR-CALNAME"]
    everything = client.get("/training/calendar.ics")
    assert _uids(everything.data) == {_uid(c) for c in (procurement, later, recent, wellbeing)}


def test_an_unknown_topic_is_not_found(client, make_course):
    make_course(topic="Hankinnat")
    assert client.get("/training/calendar/tuntematon.ics").status_code == 404


def test_an_empty_feed_is_still_a_calendar(client):
    response = client.get("/training/calendar.ics")
    assert response.status_code == 200
    assert _parse(response.data).events == []


def test_a_feed_is_bounded(app, make_course, monkeypatch):
    monkeypatch.setattr(calendars, "FEED_LIMIT", 2)
    first = make_course(starts_at=utcnow() + timedelta(days=1))
    second = make_course(starts_at=utcnow() + timedelta(days=2))
    make_course(starts_at=utcnow() + timedelta(days=3))
    with app.app_context():
        assert [c.id for c in calendars.public_courses()] == [first.id, second.id]


def test_the_calendar_page_links_each_topics_feed(client, make_course):
    make_course(topic="Hankinnat")
    make_course(topic="Hyvinvointi ja työkyky")
    page = client.get("/training/", headers=EN).get_data(as_text=True)
    assert "Subscribe to the calendar" in page
    for path in ("calendar.ics", "calendar/hankinnat.ics", "calendar/hyvinvointi-ja-tyokyky.ics"):
        assert f'href="/training/{path}"' in page


# --- A participant's secret link -------------------------------------------------------


def _make_link(client, code: str):
    return client.post("/training/feeds", data={"code": code}, headers=EN)


def _link_path(response) -> str:
    return FEED_URL.search(response.get_data(as_text=True)).group(1)


def test_a_participant_subscribes_to_their_confirmed_courses(app, client, make_course):
    first, second = make_course(title="Eka"), make_course(title="Toka")
    someone_elses = make_course(title="Kolmas")
    cancelled = make_course(title="Peruttu")
    full = make_course(title="Täysi", capacity=1)
    _enrol(client, first.id)
    _enrol(client, second.id)
    _enrol(client, someone_elses.id, email="toinen@example.com")
    _enrol(client, cancelled.id)
    _enrol(client, full.id, email="first@example.com")
    _enrol(client, full.id)  # on the waiting list
    with app.test_request_context():
        enrolment = training.by_service_code(_enrolment(app, course_id=cancelled.id).service_code)
        training.cancel(enrolment, training.PARTICIPANT)
        db.session.commit()
    code = _enrolment(app, course_id=first.id).service_code

    page = client.post("/training/lookup", data={"code": code}, headers=EN)
    assert "Subscribe to your courses" in page.get_data(as_text=True)
    made = _make_link(client, code)
    assert made.status_code == 200
    assert made.headers["Cache-Control"] == "no-store"
    text = made.get_data(as_text=True)
    path = _link_path(made)
    assert "webcal://portal.test" + path in text
    feed = client.get(path)
    assert feed.status_code == 200
    assert feed.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert feed.headers["Cache-Control"] == "private, max-age=300"
    assert _uids(feed.data) == {_uid(first), _uid(second)}
    for personal in (code, MAIJA, "Meikäläinen"):
        assert personal not in feed.get_data(as_text=True)
    for event in _parse(feed.data).events:
        assert event.start.tzinfo.key == "Europe/Helsinki"


def test_only_the_tokens_hash_is_kept(app, client, make_course):
    course = make_course()
    _enrol(client, course.id)
    path = _link_path(_make_link(client, _enrolment(app).service_code))
    token = path.rsplit("/", 1)[1].removesuffix(".ics")
    with app.app_context():
        [row] = db.session.scalars(sa.select(CalendarFeed)).all()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.email == MAIJA and row.kind == "participant" and row.language == "en"
        assert token not in json.dumps([str(getattr(row, c.key)) for c in CalendarFeed.__table__.c])


def test_a_revoked_link_is_not_found(app, client, make_course):
    course = make_course()
    _enrol(client, course.id)
    code = _enrolment(app).service_code
    path = _link_path(_make_link(client, code))
    assert client.get(path).status_code == 200
    page = client.post("/training/lookup", data={"code": code}, headers=EN)
    assert "Revoke the link" in page.get_data(as_text=True)
    revoked = client.post("/training/feeds/revoke", data={"code": code})
    assert revoked.status_code == 303
    assert client.get(path).status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(CalendarFeed.revoked_at)) is not None


def test_a_new_link_replaces_the_old(app, client, make_course):
    course = make_course()
    _enrol(client, course.id)
    code = _enrolment(app).service_code
    old = _link_path(_make_link(client, code))
    new = _link_path(_make_link(client, code))
    assert old != new
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200


@pytest.mark.parametrize("token", ["x", "A" * 43, "not a token", "A" * 200, "../../etc/passwd"])
def test_a_wrong_token_is_not_found(client, token):
    assert client.get(f"/training/feeds/{token}.ics").status_code == 404


def test_a_wrong_code_makes_no_link(app, client):
    response = _make_link(client, "ACDEFGHJ")
    assert response.status_code == 200
    assert "No enrolment was found with this code" in response.get_data(as_text=True)
    assert client.post("/training/feeds/revoke", data={"code": "ACDEFGHJ"}).status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarFeed)) == 0


def test_the_token_is_in_no_log_line(app_config, make_course, capsys):
    logged = create_app(
        {**app_config, "TESTING": False, "LOG_FORMAT": "json", "LOG_REQUESTS": True}
    )
    try:
        client = logged.test_client()
        course = make_course()
        _enrol(client, course.id)
        code = _enrolment(logged).service_code
        path = _link_path(_make_link(client, code))
        capsys.readouterr()
        assert client.get(path).status_code == 200
        err = capsys.readouterr().err
        token = path.rsplit("/", 1)[1].removesuffix(".ics")
        assert '"route": "/training/feeds/<token>.ics"' in err
        assert token not in err and code not in err
    finally:
        root = logging.getLogger()
        root.handlers[:] = [h for h in root.handlers if not getattr(h, "portal", False)]
        with logged.app_context():
            db.session.remove()
            db.engine.dispose()


# --- CSRF ---------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(app_config, app):
    """A client of the app with CSRF protection on, as in production."""
    protected = create_app({**app_config, "WTF_CSRF_ENABLED": True})
    yield protected.test_client()
    with protected.app_context():
        db.session.remove()
        db.engine.dispose()


def _csrf_token(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_the_participants_posts_need_the_csrf_token(app, csrf_client, make_course):
    course = make_course()
    _enrol(app.test_client(), course.id)
    code = _enrolment(app).service_code
    for url in ("/training/feeds", "/training/feeds/revoke"):
        assert csrf_client.post(url, data={"code": code}).status_code == 400
    page = csrf_client.get("/training/").get_data(as_text=True)
    shown = csrf_client.post(
        "/training/lookup", data={"code": code, "csrf_token": _csrf_token(page)}
    ).get_data(as_text=True)
    made = csrf_client.post(
        "/training/feeds", data={"code": code, "csrf_token": _csrf_token(shown)}
    )
    assert made.status_code == 200
    assert csrf_client.get(_link_path(made)).status_code == 200


def test_the_staff_posts_need_the_csrf_token(csrf_client):
    for url in ("/staff/training/calendar/link", "/staff/training/calendar/revoke"):
        assert csrf_client.post(url).status_code == 400


# --- A staff member's secret link --------------------------------------------------------


def test_the_staff_calendar_page_is_for_staff_only(client, auth, make_user):
    response = client.get("/staff/training/calendar")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
    make_user("maija@example.com")
    auth.login("maija@example.com")
    assert client.get("/staff/training/calendar").status_code == 403
    assert client.post("/staff/training/calendar/link").status_code == 403


def test_staff_subscribe_to_every_course(app, client, staff, make_course):
    open_course = make_course()
    closed = make_course(is_open=False)
    make_course(starts_at=utcnow() - timedelta(days=40))
    page = client.get("/staff/training/calendar").get_data(as_text=True)
    assert "You have no calendar link." in page
    made = client.post("/staff/training/calendar/link")
    assert made.status_code == 200
    assert made.headers["Cache-Control"] == "no-store"
    path = _link_path(made)
    feed = client.get(path)
    assert feed.headers["Cache-Control"] == "private, max-age=300"
    assert _uids(feed.data) == {_uid(open_course), _uid(closed)}
    assert FEED_URL.search(client.get("/staff/training/calendar").get_data(as_text=True)) is None
    assert client.post("/staff/training/calendar/revoke").status_code == 303
    assert client.get(path).status_code == 404


def test_a_staff_link_stops_when_the_user_is_no_longer_staff(app, client, staff, make_course):
    make_course()
    path = _link_path(client.post("/staff/training/calendar/link"))
    assert client.get(path).status_code == 200
    with app.app_context():
        db.session.get(User, staff.id).role = Role.CUSTOMER
        db.session.commit()
    assert client.get(path).status_code == 404
