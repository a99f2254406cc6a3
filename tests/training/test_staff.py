"""Staff pages of the training calendar: access, creating and editing courses, closing and
opening them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from extensions import db
from models.mail import OutboxMessage
from models.training import Course, Enrolment, EnrolmentStatus
from services import outbox
from tests.fixtures import training_staff as training_staff_fixtures
from tests.fixtures.training_staff import (
    EN,
    _count,
    _course,
    _course_data,
    _edit_data,
    _enrolment,
    _local,
)
from tests.fixtures.users import PASSWORD

# Staff and courses of the staff pages (tests/fixtures/training_staff.py).
enrol = training_staff_fixtures.enrol
make_course_id = training_staff_fixtures.make_course_id
some_enrolment = training_staff_fixtures.some_enrolment
staff = training_staff_fixtures.staff


# --- Access ---------------------------------------------------------------------------

PAGES = [
    "/staff/training/",
    "/staff/training/courses/new",
    "/staff/training/courses/{course}",
    "/staff/training/courses/{course}/edit",
    "/staff/training/courses/{course}/export.csv",
    "/staff/training/enrolments/{enrolment}",
]


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
