"""Staff pages of the training calendar: courses, participants, CSV, cancelling, look-up."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Role
from models.mail import MailStatus, OutboxMessage
from models.training import Course, Enrolment, EnrolmentEvent, EnrolmentStatus
from models.types import utcnow
from services import outbox, training
from services.timezones import utc_to_local
from tests.fixtures.mail import deliver_mail
from tests.fixtures.users import PASSWORD

STAFF_EMAIL = "sari.staff@example.com"
EN = {"Accept-Language": "en"}


# --- Fixtures and helpers -------------------------------------------------------------


@pytest.fixture
def staff(client, auth, make_user):
    """A logged-in staff member who reads the portal in English."""
    user = make_user(STAFF_EMAIL, role=Role.STAFF, org=None, name="Sari Staff", language="en")
    assert auth.login(STAFF_EMAIL).status_code == 303
    return user


@pytest.fixture
def make_course_id(app) -> Callable[..., int]:
    """A factory of courses in the calendar (open, in a month); returns the course id."""

    def make(title: str = "Hankintojen perusteet", capacity: int = 10, **values) -> int:
        starts = (utcnow() + timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
        fields = {
            "title": title,
            "topic": "Hankinnat",
            "description": "",
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=6),
            "place": "Helsinki",
            "remote": False,
            "price": Decimal("100.00"),
            "capacity": capacity,
            "seats_taken": 0,
            "enrolment_deadline": starts - timedelta(days=7),
            "cancellation_deadline": starts - timedelta(days=7),
            "is_open": True,
            **values,
        }
        with app.app_context():
            course = Course(**fields)
            db.session.add(course)
            db.session.commit()
            return course.id

    return make


@pytest.fixture
def enrol(app) -> Callable[..., tuple[int, str]]:
    """Enrol one person through the service; returns (enrolment id, service code)."""

    def make(
        course_id: int,
        first_name: str,
        last_name: str,
        email: str,
        *,
        organisation: str = "Testivirasto",
        language: str = "fi",
        waiting_list: bool = False,
    ) -> tuple[int, str]:
        with app.test_request_context():
            enrolment = training.enrol(
                course_id,
                training.Participant(
                    first_name=first_name,
                    last_name=last_name,
                    email=email,
                    organisation=organisation,
                ),
                actor=training.PARTICIPANT,
                language=language,
                waiting_list=waiting_list,
            )
            db.session.commit()
            return enrolment.id, enrolment.service_code

    return make


def _enrolment(app, enrolment_id: int) -> Enrolment:
    with app.app_context():
        enrolment = db.session.get(Enrolment, enrolment_id)
        db.session.expunge(enrolment)
        return enrolment


def _course(app, course_id: int) -> Course:
    with app.app_context():
        course = db.session.get(Course, course_id)
        db.session.expunge(course)
        return course


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _local(value: datetime) -> str:
    """A stored UTC time as a datetime-local field sends it (Finnish time)."""
    return utc_to_local(value).strftime("%Y-%m-%dT%H:%M")


def _course_data(**overrides) -> dict:
    """The course form filled in as a browser sends it (times are Finnish time)."""
    return {
        "title": "Julkiset hankinnat",
        "topic": "Hankinnat",
        "description": "Perusteet",
        "starts_at": "2027-03-01T09:00",
        "ends_at": "2027-03-01T16:00",
        "place": "Helsinki",
        "price": "250.00",
        "capacity": "20",
        "enrolment_deadline": "2027-02-15T16:00",
        "cancellation_deadline": "2027-02-15T16:00",
        "is_open": "y",
        **overrides,
    }


def _edit_data(course: Course, **overrides) -> dict:
    """The edit form of a course sent back as it was shown, with some changes."""
    shown = {
        "title": course.title,
        "topic": course.topic,
        "description": course.description,
        "starts_at": _local(course.starts_at),
        "ends_at": _local(course.ends_at),
        "place": course.place,
        "price": str(course.price),
        "capacity": str(course.capacity),
        "enrolment_deadline": _local(course.enrolment_deadline),
        "cancellation_deadline": _local(course.cancellation_deadline),
    }
    return _course_data(**{**shown, **overrides})


def _names_listed(html: str) -> set[str]:
    """The participants linked in the participant table."""
    return set(re.findall(r'<a href="/staff/training/enrolments/\d+">([^<]+)</a>', html))


# --- Access ---------------------------------------------------------------------------

PAGES = [
    "/staff/training/",
    "/staff/training/courses/new",
    "/staff/training/courses/{course}",
    "/staff/training/courses/{course}/edit",
    "/staff/training/courses/{course}/participants.csv",
    "/staff/training/enrolments/{enrolment}",
]


@pytest.fixture
def some_enrolment(make_course_id, enrol) -> dict:
    course_id = make_course_id()
    enrolment_id, _code = enrol(course_id, "Aino", "Virtanen", "aino@example.com")
    return {"course": course_id, "enrolment": enrolment_id}


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_users_are_sent_to_log_in(client, some_enrolment, url):
    response = client.get(url.format(**some_enrolment))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


@pytest.mark.parametrize("url", PAGES)
def test_customers_cannot_reach_the_staff_pages(client, auth, make_user, some_enrolment, url):
    make_user("maija@example.com")
    auth.login("maija@example.com")
    assert client.get(url.format(**some_enrolment)).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_staff_reach_the_staff_pages(client, staff, some_enrolment, url):
    assert client.get(url.format(**some_enrolment)).status_code == 200


def test_customers_cannot_change_a_course_or_an_enrolment(
    app, client, auth, make_user, some_enrolment
):
    make_user("maija@example.com")
    auth.login("maija@example.com")
    course, enrolment = some_enrolment["course"], some_enrolment["enrolment"]
    assert client.post(f"/staff/training/courses/{course}/close").status_code == 403
    assert (
        client.post(
            f"/staff/training/enrolments/{enrolment}/cancel", data={"reason": "x"}
        ).status_code
        == 403
    )
    assert client.post("/staff/training/courses/new", data=_course_data()).status_code == 403
    assert _course(app, course).is_open is True
    assert _enrolment(app, enrolment).status == EnrolmentStatus.BINDING
    assert _count(app, Course) == 1


def test_the_staff_area_links_to_the_courses(client, staff, make_course_id):
    make_course_id("Hankintojen perusteet")
    assert 'href="/staff/training/"' in client.get("/staff/").get_data(as_text=True)
    listing = client.get("/staff/training/", headers=EN).get_data(as_text=True)
    assert "Hankintojen perusteet" in listing and "0 / 10" in listing


# --- Creating and editing courses ---------------------------------------------------


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "deadline", "utc_start", "utc_deadline"),
    [
        # Winter time (EET, UTC+2) and summer time (EEST, UTC+3).
        (
            "2027-03-01T09:00",
            "2027-03-01T16:00",
            "2027-02-15T16:00",
            datetime(2027, 3, 1, 7, 0, tzinfo=UTC),
            datetime(2027, 2, 15, 14, 0, tzinfo=UTC),
        ),
        (
            "2027-06-01T09:00",
            "2027-06-01T16:00",
            "2027-05-15T16:00",
            datetime(2027, 6, 1, 6, 0, tzinfo=UTC),
            datetime(2027, 5, 15, 13, 0, tzinfo=UTC),
        ),
    ],
)
def test_staff_create_a_course_in_finnish_time(
    app, client, staff, starts_at, ends_at, deadline, utc_start, utc_deadline
):
    response = client.post(
        "/staff/training/courses/new",
        data=_course_data(
            starts_at=starts_at,
            ends_at=ends_at,
            enrolment_deadline=deadline,
            cancellation_deadline=deadline,
        ),
    )
    assert response.status_code == 303
    with app.app_context():
        course = db.session.scalar(sa.select(Course))
        assert response.headers["Location"] == f"/staff/training/courses/{course.id}"
        assert course.starts_at == utc_start
        assert course.ends_at == utc_start + timedelta(hours=7)
        assert course.enrolment_deadline == utc_deadline
        assert course.cancellation_deadline == utc_deadline
        assert (course.title, course.place, course.remote) == (
            "Julkiset hankinnat",
            "Helsinki",
            False,
        )
        assert (course.price, course.capacity, course.seats_taken, course.is_open) == (
            Decimal("250.00"),
            20,
            0,
            True,
        )
        course_id = course.id
    # The edit form shows the times in Finnish time again.
    form = client.get(f"/staff/training/courses/{course_id}/edit").get_data(as_text=True)
    tag = re.search(r'<input[^>]*id="starts_at"[^>]*>', form).group(0)
    assert re.search(r'value="' + starts_at.replace("T", "[ T]"), tag), tag


def test_a_remote_course_needs_no_place(app, client, staff):
    response = client.post("/staff/training/courses/new", data=_course_data(place="", remote="y"))
    assert response.status_code == 303
    with app.app_context():
        course = db.session.scalar(sa.select(Course))
        assert (course.remote, course.place) == (True, "")


@pytest.mark.parametrize(
    ("overrides", "error_field"),
    [
        ({"ends_at": "2027-03-01T08:00"}, "ends_at"),
        ({"ends_at": "2027-03-01T09:00"}, "ends_at"),  # ending as it starts is no course
        ({"enrolment_deadline": "2027-03-01T10:00"}, "enrolment_deadline"),
        ({"cancellation_deadline": "2027-03-02T09:00"}, "cancellation_deadline"),
        ({"place": ""}, "place"),
        ({"capacity": "0"}, "capacity"),
        ({"capacity": ""}, "capacity"),
        ({"price": "-1"}, "price"),
        ({"starts_at": ""}, "starts_at"),
        ({"starts_at": "1.3.2027 9:00"}, "starts_at"),
        ({"title": " "}, "title"),
    ],
)
def test_the_course_form_refuses_bad_input(app, client, staff, overrides, error_field):
    response = client.post("/staff/training/courses/new", data=_course_data(**overrides))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'class="error-summary"' in text
    assert f'href="#{error_field}"' in text  # the error summary links to the field
    tag = re.search(rf'<(?:input|textarea)[^>]*id="{error_field}"[^>]*>', text).group(0)
    assert 'aria-invalid="true"' in tag
    assert _count(app, Course) == 0


def test_capacity_below_the_seats_taken_is_refused(app, client, staff, make_course_id, enrol):
    course_id = make_course_id("Hankintojen perusteet", capacity=3)
    enrol(course_id, "Aino", "Virtanen", "aino@example.com")
    enrol(course_id, "Pekka", "Korhonen", "pekka@example.com")
    course = _course(app, course_id)

    response = client.post(
        f"/staff/training/courses/{course_id}/edit",
        data=_edit_data(course, title="Uusi nimi", capacity="1"),
    )
    assert response.status_code == 200
    assert 'href="#capacity"' in response.get_data(as_text=True)
    unchanged = _course(app, course_id)
    assert (unchanged.title, unchanged.capacity, unchanged.seats_taken) == (
        "Hankintojen perusteet",
        3,
        2,
    )

    # Exactly the seats taken is fine.
    response = client.post(
        f"/staff/training/courses/{course_id}/edit",
        data=_edit_data(course, title="Uusi nimi", capacity="2", place="Tampere"),
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/training/courses/{course_id}"
    saved = _course(app, course_id)
    assert (saved.title, saved.capacity, saved.place, saved.seats_taken) == (
        "Uusi nimi",
        2,
        "Tampere",
        2,
    )
    # The times went through the form and back without moving.
    assert (saved.starts_at, saved.ends_at, saved.enrolment_deadline) == (
        course.starts_at,
        course.ends_at,
        course.enrolment_deadline,
    )


def _newcomer_enrols(app, course_id: int) -> Enrolment:
    """Ville enrols through the public form (on the waiting list if the course is full)."""
    response = app.test_client().post(
        f"/training/courses/{course_id}/enrol",
        data={
            "first_name": "Ville",
            "last_name": "Nieminen",
            "email": "ville@example.com",
            "organisation": "Testivirasto",
        },
    )
    assert response.status_code == 303
    with app.app_context():
        enrolment = db.session.scalar(
            sa.select(Enrolment).where(Enrolment.email == "ville@example.com")
        )
        db.session.expunge(enrolment)
        return enrolment


def test_more_seats_go_to_the_waiting_list_first(app, client, staff, make_course_id, enrol):
    course_id = make_course_id("Hankintojen perusteet", capacity=1)
    enrol(course_id, "Aino", "Virtanen", "aino@example.com")
    liisa_id, _ = enrol(course_id, "Liisa", "Mäkinen", "liisa@example.com", waiting_list=True)
    course = _course(app, course_id)
    response = client.post(
        f"/staff/training/courses/{course_id}/edit", data=_edit_data(course, capacity="2")
    )
    assert response.status_code == 303
    liisa = _enrolment(app, liisa_id)
    assert liisa.status == EnrolmentStatus.OFFERED and liisa.offer_expires_at is not None
    assert (_course(app, course_id).capacity, _course(app, course_id).seats_taken) == (2, 2)
    with app.app_context():
        offer = db.session.scalar(
            sa.select(OutboxMessage)
            .where(OutboxMessage.record_id == str(liisa_id))
            .order_by(OutboxMessage.id.desc())
        )
        assert "/training/offers/" in outbox.bodies(offer)[0]  # as the worker writes it
    # A newcomer does not jump the queue.
    assert _newcomer_enrols(app, course_id).status == EnrolmentStatus.WAITING


def test_reopening_a_course_offers_its_free_seats_to_the_waiting_list(
    app, client, staff, make_course_id, enrol
):
    course_id = make_course_id("Hankintojen perusteet", capacity=1)
    aino_id, _ = enrol(course_id, "Aino", "Virtanen", "aino@example.com")
    liisa_id, _ = enrol(course_id, "Liisa", "Mäkinen", "liisa@example.com", waiting_list=True)
    assert client.post(f"/staff/training/courses/{course_id}/close").status_code == 303
    response = client.post(
        f"/staff/training/enrolments/{aino_id}/cancel", data={"reason": "Ei pääse"}
    )
    assert response.status_code == 303
    assert _enrolment(app, liisa_id).status == EnrolmentStatus.WAITING  # nothing offered yet
    assert client.post(f"/staff/training/courses/{course_id}/close").status_code == 303
    assert _course(app, course_id).is_open is True

    newcomer = _newcomer_enrols(app, course_id)
    assert _enrolment(app, liisa_id).status == EnrolmentStatus.OFFERED
    assert newcomer.status == EnrolmentStatus.WAITING


def test_an_edit_with_bad_times_saves_nothing(app, client, staff, make_course_id):
    course_id = make_course_id("Hankintojen perusteet")
    course = _course(app, course_id)
    response = client.post(
        f"/staff/training/courses/{course_id}/edit",
        data=_edit_data(course, title="Muutettu", ends_at=_local(course.starts_at)),
    )
    assert response.status_code == 200
    assert 'href="#ends_at"' in response.get_data(as_text=True)
    assert _course(app, course_id).title == "Hankintojen perusteet"


def test_editing_an_unknown_course_is_404(client, staff):
    assert client.get("/staff/training/courses/999/edit").status_code == 404
    assert client.post("/staff/training/courses/999/close").status_code == 404


# --- Closing and opening ------------------------------------------------------------


def test_staff_close_and_reopen_a_course(app, client, staff, make_user, make_course_id):
    course_id = make_course_id("Suljettava kurssi")
    public = f"/training/courses/{course_id}"
    anonymous = app.test_client()
    assert anonymous.get(public).status_code == 200

    response = client.post(f"/staff/training/courses/{course_id}/close")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/training/courses/{course_id}"
    assert _course(app, course_id).is_open is False

    # Gone for the public: the page, the enrolment form and the calendar.
    assert anonymous.get(public).status_code == 404
    assert anonymous.get(f"{public}/enrol").status_code == 404
    assert (
        anonymous.post(
            f"{public}/enrol",
            data={
                "first_name": "Aino",
                "last_name": "Virtanen",
                "email": "aino@example.com",
                "organisation": "Testivirasto",
            },
        ).status_code
        == 404
    )
    assert "Suljettava kurssi" not in anonymous.get("/training/").get_data(as_text=True)
    assert _count(app, Enrolment) == 0
    # A logged-in customer is no better off.
    make_user("maija@example.com")
    customer = app.test_client()
    customer.post("/auth/login", data={"email": "maija@example.com", "password": PASSWORD})
    assert customer.get(public).status_code == 404
    # Staff still see it, and the staff list says it is closed.
    assert client.get(public).status_code == 200
    participants = client.get(f"/staff/training/courses/{course_id}", headers=EN)
    assert "Open for enrolment" in participants.get_data(as_text=True)  # the button to reopen

    assert client.post(f"/staff/training/courses/{course_id}/close").status_code == 303
    assert _course(app, course_id).is_open is True
    assert anonymous.get(public).status_code == 200
    assert "Suljettava kurssi" in anonymous.get("/training/").get_data(as_text=True)


# --- Participants -------------------------------------------------------------------


@pytest.fixture
def full_course(make_course_id, enrol) -> dict:
    """Two seats taken by Aino and Pekka; Liisa waits in line."""
    course_id = make_course_id("Hankintojen perusteet", capacity=2)
    aino = enrol(course_id, "Aino", "Virtanen", "aino@example.com", organisation="Verohallinto")
    pekka = enrol(course_id, "Pekka", "Korhonen", "pekka@example.com")
    liisa = enrol(course_id, "Liisa", "Mäkinen", "liisa@example.com", waiting_list=True)
    return {"course": course_id, "aino": aino, "pekka": pekka, "liisa": liisa}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"Aino Virtanen", "Pekka Korhonen", "Liisa Mäkinen"}),
        ({"status": "sitova"}, {"Aino Virtanen", "Pekka Korhonen"}),
        ({"status": "jonossa"}, {"Liisa Mäkinen"}),
        ({"status": "peruttu"}, set()),
        ({"q": "virta"}, {"Aino Virtanen"}),
        ({"q": "PEKKA korh"}, {"Pekka Korhonen"}),
        ({"q": "mäkinen"}, {"Liisa Mäkinen"}),
        ({"q": "verohallinto"}, {"Aino Virtanen"}),
        ({"q": "liisa@example"}, {"Liisa Mäkinen"}),
        ({"q": "a", "status": "jonossa"}, {"Liisa Mäkinen"}),
        ({"q": "nobody"}, set()),
    ],
)
def test_participant_list_filters(client, staff, full_course, query, expected):
    response = client.get(f"/staff/training/courses/{full_course['course']}", query_string=query)
    assert response.status_code == 200
    assert _names_listed(response.get_data(as_text=True)) == expected


@pytest.mark.parametrize("spell", [str, str.lower])
def test_participant_list_finds_a_service_code(client, staff, full_course, spell):
    _id, code = full_course["pekka"]
    response = client.get(
        f"/staff/training/courses/{full_course['course']}", query_string={"q": spell(code)}
    )
    html = response.get_data(as_text=True)
    assert _names_listed(html) == {"Pekka Korhonen"}
    assert f"<code>{code}</code>" in html


def test_participant_list_shows_status_and_seats(client, staff, full_course):
    html = client.get(f"/staff/training/courses/{full_course['course']}", headers=EN).get_data(
        as_text=True
    )
    assert html.count('class="badge badge--sitova"') == 2
    assert html.count('class="badge badge--jonossa"') == 1
    assert "2 / 2" in html
    # The CSV link keeps the filters of the page.
    filtered = client.get(
        f"/staff/training/courses/{full_course['course']}",
        query_string={"status": "jonossa", "q": "liisa"},
    ).get_data(as_text=True)
    link = re.search(r'href="([^"]*participants\.csv[^"]*)"', filtered).group(1)
    assert "status=jonossa" in link and "q=liisa" in link


def test_participant_search_finds_a_name_with_a_capital_umlaut(
    client, staff, make_course_id, enrol
):
    course_id = make_course_id()
    enrol(course_id, "Jörö", "Öhman", "joro@example.com")
    response = client.get(f"/staff/training/courses/{course_id}", query_string={"q": "Öhman"})
    assert _names_listed(response.get_data(as_text=True)) == {"Jörö Öhman"}


# --- CSV ----------------------------------------------------------------------------


def _csv(response) -> list[list[str]]:
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_participants_as_csv_for_excel(app, client, staff, make_course_id, enrol):
    course_id = make_course_id("Hankintojen perusteet", capacity=2)
    _id, joro_code = enrol(
        course_id, "Jörö", "Äijälä", "joro@example.com", organisation="Ympäristöministeriö"
    )
    enrol(
        course_id,
        '=HYPERLINK("http://evil.example")',
        "Hyökkääjä",
        "evil@example.com",
        organisation="+358 40 123",
    )
    enrol(
        course_id,
        "Liisa",
        "Mäkinen",
        "liisa@example.com",
        organisation="@SUM(A1)",
        waiting_list=True,
    )

    response = client.get(f"/staff/training/courses/{course_id}/participants.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and ".csv" in disposition
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeffPalvelutunnus;Tila;Etunimi;Sukunimi;Sähköposti;")
    assert "\r\n" in text

    header, *rows = _csv(response)
    assert header[:5] == ["Palvelutunnus", "Tila", "Etunimi", "Sukunimi", "Sähköposti"]
    assert all(len(row) == len(header) for row in rows)
    by_email = {row[4]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(by_email) == {"joro@example.com", "evil@example.com", "liisa@example.com"}
    joro = by_email["joro@example.com"]
    assert (joro["Palvelutunnus"], joro["Tila"], joro["Etunimi"], joro["Sukunimi"]) == (
        joro_code,
        "sitova",
        "Jörö",
        "Äijälä",
    )
    assert joro["Organisaatio"] == "Ympäristöministeriö"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", joro["Ilmoittautunut"])
    # Nothing a spreadsheet would run as a formula.
    evil = by_email["evil@example.com"]
    assert evil["Etunimi"] == '\'=HYPERLINK("http://evil.example")'
    assert evil["Organisaatio"] == "'+358 40 123"
    assert by_email["liisa@example.com"]["Organisaatio"] == "'@SUM(A1)"
    assert by_email["liisa@example.com"]["Tila"] == "jonossa"


def test_the_csv_honours_the_filters(client, staff, full_course):
    url = f"/staff/training/courses/{full_course['course']}/participants.csv"
    _header, *rows = _csv(client.get(url, query_string={"status": "sitova"}))
    assert sorted(row[2] for row in rows) == ["Aino", "Pekka"]
    _header, *rows = _csv(client.get(url, query_string={"q": "mäki"}))
    assert [(row[2], row[1]) for row in rows] == [("Liisa", "jonossa")]
    _id, code = full_course["aino"]
    _header, *rows = _csv(client.get(url, query_string={"q": code.lower()}))
    assert [row[0] for row in rows] == [code]
    _header, *rows = _csv(client.get(url, query_string={"status": "peruttu"}))
    assert rows == []


# --- Cancelling -----------------------------------------------------------------------


def test_staff_cancel_with_a_reason_and_the_seat_goes_to_the_first_in_line(
    app, client, staff, make_course_id, enrol, smtp_server
):
    course_id = make_course_id("Hankintojen perusteet", capacity=1)
    aino_id, _ = enrol(course_id, "Aino", "Virtanen", "aino@example.com")
    liisa_id, _ = enrol(course_id, "Liisa", "Mäkinen", "liisa@example.com", waiting_list=True)
    ville_id, _ = enrol(course_id, "Ville", "Nieminen", "ville@example.com", waiting_list=True)
    deliver_mail(app)
    sent_before = len(smtp_server.messages)

    reason = "Kurssi siirtyy syksyyn; ilmoittaudu uudelleen"
    response = client.post(f"/staff/training/enrolments/{aino_id}/cancel", data={"reason": reason})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/training/enrolments/{aino_id}"

    aino = _enrolment(app, aino_id)
    assert (aino.status, aino.cancel_reason) == (EnrolmentStatus.CANCELLED, reason)
    with app.app_context():
        last = db.session.scalars(
            sa.select(EnrolmentEvent)
            .where(EnrolmentEvent.enrolment_id == aino_id)
            .order_by(EnrolmentEvent.id.desc())
        ).first()
        assert (last.actor, last.from_status, last.to_status, last.note) == (
            STAFF_EMAIL,
            EnrolmentStatus.BINDING,
            EnrolmentStatus.CANCELLED,
            reason,
        )
    page = client.get(f"/staff/training/enrolments/{aino_id}", headers=EN).get_data(as_text=True)
    assert STAFF_EMAIL in page and "Kurssi siirtyy syksyyn" in page
    assert 'action="/staff/training/enrolments/' not in page  # no cancel form any more

    # The freed seat is offered to the first in line only, and stays taken.
    liisa = _enrolment(app, liisa_id)
    assert liisa.status == EnrolmentStatus.OFFERED and liisa.offer_expires_at is not None
    assert _enrolment(app, ville_id).status == EnrolmentStatus.WAITING
    assert _course(app, course_id).seats_taken == 1

    assert deliver_mail(app).sent == 2
    new = smtp_server.messages[sent_before:]
    by_recipient = {m["To"]: smtp_server.text_of(m) for m in new}
    assert set(by_recipient) == {"aino@example.com", "liisa@example.com"}
    assert reason in by_recipient["aino@example.com"]
    offer = re.search(
        r"http://portal\.test(/training/offers/[^\s?]+)", by_recipient["liisa@example.com"]
    )
    assert offer, by_recipient["liisa@example.com"]

    # Liisa takes the seat with the link.
    anonymous = app.test_client()
    assert anonymous.get(offer.group(1)).status_code == 200
    assert anonymous.post(offer.group(1) + "/accept").status_code == 303
    assert _enrolment(app, liisa_id).status == EnrolmentStatus.BINDING
    assert _course(app, course_id).seats_taken == 1


def test_staff_cancel_a_place_in_the_queue_offers_nothing(app, client, staff, full_course):
    liisa_id, _ = full_course["liisa"]
    response = client.post(
        f"/staff/training/enrolments/{liisa_id}/cancel", data={"reason": "Tuplailmoittautuminen"}
    )
    assert response.status_code == 303
    assert _enrolment(app, liisa_id).status == EnrolmentStatus.CANCELLED
    assert _course(app, full_course["course"]).seats_taken == 2
    with app.app_context():
        statuses = set(db.session.scalars(sa.select(Enrolment.status)))
    assert EnrolmentStatus.OFFERED not in statuses


def test_cancelling_without_a_reason_is_refused(app, client, staff, some_enrolment):
    enrolment_id = some_enrolment["enrolment"]
    response = client.post(
        f"/staff/training/enrolments/{enrolment_id}/cancel", data={"reason": "  "}
    )
    assert response.status_code == 200
    assert 'href="#reason"' in response.get_data(as_text=True)
    assert _enrolment(app, enrolment_id).status == EnrolmentStatus.BINDING


def test_a_cancelled_enrolment_cannot_be_cancelled_again(app, client, staff, some_enrolment):
    enrolment_id = some_enrolment["enrolment"]
    url = f"/staff/training/enrolments/{enrolment_id}/cancel"
    assert client.post(url, data={"reason": "Ensimmäinen"}).status_code == 303
    assert client.post(url, data={"reason": "Toinen"}).status_code == 200
    assert _enrolment(app, enrolment_id).cancel_reason == "Ensimmäinen"
    with app.app_context():
        events = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(EnrolmentEvent)
            .where(EnrolmentEvent.to_status == EnrolmentStatus.CANCELLED)
        )
        mails = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.subject.contains("Hankintojen perusteet"))
        )
    assert events == 1
    assert mails == 2  # the confirmation and one cancellation, not two


def test_a_second_cancel_says_why_nothing_happened(client, staff, some_enrolment):
    enrolment_id = some_enrolment["enrolment"]
    url = f"/staff/training/enrolments/{enrolment_id}/cancel"
    client.post(url, data={"reason": "Ensimmäinen"})
    response = client.post(url, data={"reason": "Toinen"}, headers=EN)
    assert response.status_code == 200
    assert "already been cancelled" in response.get_data(as_text=True)


# --- Look-up and mail ---------------------------------------------------------------


def test_the_look_up_box_finds_an_enrolment_by_its_service_code(client, staff, some_enrolment):
    enrolment_id = some_enrolment["enrolment"]
    with client.application.app_context():
        code = db.session.get(Enrolment, enrolment_id).service_code
    typed = f"{code[:4]}-{code[4:]}".lower()
    response = client.get("/staff/lookup", query_string={"code": typed})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/training/enrolments/{enrolment_id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"<code>{code}</code>" in page and "Aino Virtanen" in page


def test_the_look_up_box_says_when_a_code_is_unknown(client, staff, some_enrolment):
    response = client.get("/staff/lookup", query_string={"code": "aaaa-aaaa"})
    assert response.status_code == 200
    assert 'href="#code"' in response.get_data(as_text=True)


def test_the_enrolment_page_shows_a_mail_that_failed_for_good(
    app, client, staff, make_course_id, enrol, smtp_server
):
    smtp_server.stop()
    course_id = make_course_id()
    enrolment_id, _code = enrol(course_id, "Aino", "Virtanen", "aino@example.com")
    with app.app_context():
        message_id = db.session.scalar(
            sa.select(OutboxMessage.id).where(OutboxMessage.record_id == str(enrolment_id))
        )
    page = f"/staff/training/enrolments/{enrolment_id}"
    assert f"/staff/mail/{message_id}" not in client.get(page).get_data(as_text=True)

    now = utcnow()
    for _attempt in range(app.config["MAIL_MAX_ATTEMPTS"]):
        deliver_mail(app, now=now)
        now += timedelta(days=1)
    with app.app_context():
        assert db.session.get(OutboxMessage, message_id).status == MailStatus.FAILED

    text = client.get(page).get_data(as_text=True)
    assert 'class="mail-failures"' in text
    assert f'href="/staff/mail/{message_id}"' in text
    assert "aino@example.com" in text and "ConnectionRefusedError" in text
    # The message in the outbox links back to the enrolment.
    detail = client.get(f"/staff/mail/{message_id}").get_data(as_text=True)
    assert f'href="/staff/training/enrolments/{enrolment_id}"' in detail


def test_staff_read_the_captured_finnish_confirmation(app, client, staff, make_course_id):
    course_id = make_course_id("Hankintojen perusteet")
    enrolling = app.test_client()
    response = enrolling.post(
        f"/training/courses/{course_id}/enrol",
        data={
            "first_name": "Aino",
            "last_name": "Virtanen",
            "email": "Aino.Virtanen@Example.com",
            "organisation": "Testivirasto",
        },
        headers={"Accept-Language": "fi"},
    )
    assert response.status_code == 303
    with app.app_context():
        enrolment = db.session.scalar(sa.select(Enrolment))
        assert (enrolment.email, enrolment.language) == ("aino.virtanen@example.com", "fi")
        code, enrolment_id = enrolment.service_code, enrolment.id
    assert deliver_mail(app).captured == 1
    with app.app_context():
        message = db.session.scalar(sa.select(OutboxMessage))
        assert message.status == MailStatus.CAPTURED
        assert "Voit tarkastella ilmoittautumistasi menemällä osoitteeseen" in message.body_text
        message_id = message.id
    detail = client.get(f"/staff/mail/{message_id}").get_data(as_text=True)
    assert code in detail and "http://portal.test/training/" in detail
    assert f'href="/staff/training/enrolments/{enrolment_id}"' in detail
