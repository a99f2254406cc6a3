"""The training calendar after enrolling: service codes, look-up and cancelling by code,
PunchOut's preliminary enrolments, welcome emails, the demo data, races and odd input."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from extensions import db
from models.mail import OutboxMessage
from models.training import Course, Enrolment, EnrolmentStatus
from models.types import utcnow
from services import codes, training
from tests.fixtures.mail import deliver_mail
from tests.fixtures.training import EN, PERSON, _enrol, _enrolment, _fill_with_queue, _seats_taken

# --- Service codes -----------------------------------------------------------------


def test_service_codes_avoid_look_alikes_and_ban_words():
    assert not set("0O1IL25SZ8B") & set(codes.ALPHABET)
    generated = {codes.generate(lambda c: False) for _ in range(500)}
    assert len(generated) == 500
    assert all(len(c) == 8 and codes.is_clean(c) for c in generated)
    assert not codes.is_clean("XXPASKAX") and not codes.is_clean("AAVITTUA")


def test_service_code_generation_skips_codes_in_use(monkeypatch):
    taken = {"AAAAAAAA"}
    answers = iter(["A"] * 8 + ["C"] * 8)
    monkeypatch.setattr(codes.secrets, "choice", lambda alphabet: next(answers))
    assert codes.generate(lambda c: c in taken) == "CCCCCCCC"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("acde fghj", "ACDEFGHJ"), (" ACDE-FGHJ ", "ACDEFGHJ"), ("acdefgh", None), ("ACDEFGH0", None)],
)
def test_service_codes_are_read_case_insensitively(typed, stored):
    assert codes.normalise(typed) == stored


# --- Look-up and cancelling by service code ------------------------------------------


def test_lookup_by_service_code_shows_the_enrolment(app, client, make_course):
    course = make_course()
    _enrol(client, course.id)
    code = _enrolment(app).service_code
    typed = f"{code[:4].lower()}-{code[4:].lower()}"
    text = client.post("/training/lookup", data={"code": typed}, headers=EN).get_data(as_text=True)
    assert code in text and "Maija Meikäläinen" in text and "binding" in text


def test_a_wrong_code_says_only_that_nothing_was_found(client, make_course):
    for code in ("ACDEFGHJ", "not a code"):
        response = client.post("/training/lookup", data={"code": code}, headers=EN)
        assert response.status_code == 200
        assert "No enrolment was found with this code." in response.get_data(as_text=True)


def test_the_lookup_is_rate_limited(client):
    for _ in range(10):
        assert client.post("/training/lookup", data={"code": "ACDEFGHJ"}).status_code == 200
    assert client.post("/training/lookup", data={"code": "ACDEFGHJ"}).status_code == 429


def test_the_participant_cancels_with_code_and_email(app, client, make_course, smtp_server):
    course = make_course()
    _enrol(client, course.id)
    enrolment = _enrolment(app)
    response = client.post(
        "/training/cancel", data={"code": enrolment.service_code, "email": "someone@example.com"}
    )
    assert response.status_code == 200 and 'href="#email"' in response.get_data(as_text=True)
    assert _enrolment(app).status == EnrolmentStatus.BINDING

    response = client.post(
        "/training/cancel",
        data={
            "code": enrolment.service_code.lower(),
            "email": "MAIJA.meikalainen@virasto.example.com",
        },
    )
    assert response.status_code == 303
    cancelled = _enrolment(app)
    assert cancelled.status == EnrolmentStatus.CANCELLED
    assert cancelled.events[-1].actor == training.PARTICIPANT
    assert _seats_taken(app, course.id) == 0
    deliver_mail(app)
    assert [m["Subject"].split(":")[0] for m in smtp_server.messages][-1] != smtp_server.messages[
        0
    ]["Subject"].split(":")[0]


def test_after_the_cancellation_deadline_the_page_says_whom_to_contact(app, client, make_course):
    course = make_course(cancellation_deadline=utcnow() + timedelta(minutes=1))
    _enrol(client, course.id)
    with app.app_context():
        db.session.get(Course, course.id).cancellation_deadline = utcnow() - timedelta(minutes=1)
        db.session.commit()
    code = _enrolment(app).service_code
    text = client.post("/training/lookup", data={"code": code}, headers=EN).get_data(as_text=True)
    assert "koulutus@example.com" in text and "/training/cancel" not in text
    response = client.post(
        "/training/cancel", data={"code": code, "email": PERSON["email"]}, headers=EN
    )
    assert response.status_code == 200
    assert _enrolment(app).status == EnrolmentStatus.BINDING


def test_a_preliminary_enrolment_can_always_be_withdrawn(app, client, make_course):
    course = make_course(cancellation_deadline=utcnow() + timedelta(minutes=1))
    with app.test_request_context():
        enrolment = _punchout_enrol(course.id)
        db.session.commit()
        db.session.get(Course, course.id).cancellation_deadline = utcnow() - timedelta(days=1)
        db.session.commit()
        code = enrolment.service_code
    response = client.post("/training/cancel", data={"code": code, "email": PERSON["email"]})
    assert response.status_code == 303
    assert _enrolment(app).status == EnrolmentStatus.CANCELLED


# --- PunchOut hooks: preliminary until the order is approved -------------------------


def _punchout_enrol(course_id: int) -> Enrolment:
    """Enrol as the PunchOut flow does (in a request context; the caller commits)."""
    return training.enrol(
        course_id, training.Participant(**PERSON), actor="handi", language="fi", source="punchout"
    )


def test_punchout_enrolment_is_preliminary_until_approved(app, make_course, smtp_server):
    course = make_course()
    with app.test_request_context():
        enrolment = _punchout_enrol(course.id)
        db.session.commit()
        assert enrolment.status == EnrolmentStatus.PRELIMINARY
        training.approve_preliminary(enrolment, "HANDI-4711", "handi")
        db.session.commit()
        assert enrolment.status == EnrolmentStatus.BINDING
        assert enrolment.billing_reference == "HANDI-4711"
        assert [e.to_status for e in enrolment.events] == [
            EnrolmentStatus.PRELIMINARY,
            EnrolmentStatus.BINDING,
        ]
        with pytest.raises(training.EnrolmentError):
            training.approve_preliminary(enrolment, "again", "handi")
    deliver_mail(app)
    assert len(smtp_server.messages) == 1  # the confirmation only: no mail for the approval
    assert "alustava" in smtp_server.text_of(smtp_server.messages[0])


def test_a_rejected_punchout_order_cancels_the_enrolment(app, make_course):
    course = make_course()
    with app.test_request_context():
        enrolment = _punchout_enrol(course.id)
        training.reject_preliminary(enrolment, "handi", "Tilausta ei hyväksytty")
        db.session.commit()
        assert enrolment.status == EnrolmentStatus.CANCELLED
    assert _seats_taken(app, course.id) == 0


# --- Welcome emails ----------------------------------------------------------------


def test_send_welcome_sends_once_per_enrolment(app, client, make_course, runner, smtp_server):
    soon = make_course(title="Pian alkava", starts_at=utcnow() + timedelta(days=10))
    later = make_course(title="Myöhemmin", starts_at=utcnow() + timedelta(days=20))
    _enrol(client, soon.id)
    _enrol(client, later.id)
    _enrol(client, soon.id, email="queued@example.com")  # binding too: 10 seats
    with app.app_context():
        full = db.session.get(Course, soon.id)
        full.capacity = full.seats_taken
        db.session.commit()
    _enrol(client, soon.id, email="waiting@example.com")  # on the waiting list: no welcome
    deliver_mail(app)
    smtp_server.messages.clear()

    first = runner.invoke(args=["training", "send-welcome"])
    assert first.exit_code == 0 and "2 welcome" in first.output
    second = runner.invoke(args=["training", "send-welcome"])
    assert "0 welcome" in second.output
    deliver_mail(app)
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "maija.meikalainen@virasto.example.com",
        "queued@example.com",
    ]
    assert all("Pian alkava" in m["Subject"] for m in smtp_server.messages)


# --- Demo data ---------------------------------------------------------------------


def test_demo_courses(app, runner):
    runner.invoke(args=["seed-demo"])
    runner.invoke(args=["seed-demo"])
    with app.app_context():
        courses = db.session.scalars(sa.select(Course)).all()
        assert len(courses) == 12
        assert sum(1 for c in courses if c.is_full) == 1
        assert any(c.enrolment_deadline < utcnow() < c.starts_at for c in courses)
        assert sum(1 for c in courses if 0 < c.capacity - c.seats_taken <= 3) >= 3
        for course in courses:
            holders = sum(1 for e in course.enrolments if e.status in training.SEAT_HOLDING)
            assert holders == course.seats_taken


def test_more_seats_are_offered_to_the_waiting_list(app, client, make_course):
    course = make_course(capacity=1)
    _fill_with_queue(app, client, course)
    with app.app_context():
        stored = db.session.get(Course, course.id)
        stored.capacity = 2
        assert training.offer_free_seats(stored) == 1
        db.session.commit()
    assert _enrolment(app, "first@example.com").status == EnrolmentStatus.OFFERED
    assert _enrolment(app, "second@example.com").status == EnrolmentStatus.WAITING
    assert _seats_taken(app, course.id) == 2


# --- Races and odd input (found in review) -------------------------------------------


def test_a_double_cancel_releases_the_seat_once(app, app_config, client, make_course):
    """Two requests cancel the same enrolment at once: each loaded it before either saved."""
    from app import create_app

    course = make_course(capacity=1)
    _enrol(client, course.id)
    enrolment_id = _enrolment(app).id
    second_app = create_app(app_config)
    with app.app_context():
        first = db.session.get(Enrolment, enrolment_id)
        _ = first.course
        with second_app.app_context():
            second = db.session.get(Enrolment, enrolment_id)
            _ = second.course
            training.cancel(second, "first click")
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        with pytest.raises(training.StatusChanged):
            training.cancel(first, "second click")
        db.session.rollback()
    assert _seats_taken(app, course.id) == 0
    assert len(_enrolment(app).events) == 2  # binding, then cancelled once


def test_a_cancel_race_in_the_browser_answers_calmly(app, client, make_course):
    course = make_course()
    _enrol(client, course.id)
    code = _enrolment(app).service_code
    data = {"code": code, "email": PERSON["email"]}
    assert client.post("/training/cancel", data=data).status_code == 303
    assert client.post("/training/cancel", data=data).status_code < 500


@pytest.mark.parametrize(
    "query",
    [{"date_to": "9999-12-31"}, {"date_from": "0001-01-01"}, {"q": "ab\x00cd"}],
)
def test_odd_calendar_filters_never_crash(client, make_course, query):
    make_course()
    assert client.get("/training/", query_string=query).status_code in (200, 400)


def test_a_nul_byte_in_a_form_is_refused_with_a_field_message(app, client, make_course):
    """It was a bare 400 page, which lost everything typed."""
    course = make_course()
    response = _enrol(client, course.id, first_name="Ma\x00ija", last_name="Meikäläinen")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in text and 'href="#first_name"' in text
    assert 'value="Meikäläinen"' in text  # the rest of the form is kept
    assert _enrolment(app) is None


def test_a_nul_byte_in_the_address_is_a_400(client, make_course):
    course = make_course()
    assert client.get(f"/training/courses/{course.id}/enrol?x=a%00b").status_code == 400


def test_look_up_and_cancel_share_one_limit(client):
    for _ in range(5):
        client.post("/training/lookup", data={"code": "ACDEFGHJ"})
    for _ in range(5):
        client.post("/training/cancel", data={"code": "ACDEFGHJ", "email": "x@example.com"})
    assert client.post("/training/lookup", data={"code": "ACDEFGHJ"}).status_code == 429


def test_no_welcome_for_a_cancelled_enrolment(app, client, make_course, runner):
    soon = make_course(starts_at=utcnow() + timedelta(days=5))
    _enrol(client, soon.id)
    with app.app_context():
        training.cancel(db.session.get(Enrolment, _enrolment(app).id), "test")
        db.session.commit()
    assert "0 welcome" in runner.invoke(args=["training", "send-welcome"]).output


def test_mail_shows_course_times_in_finnish_time_for_anyone(
    app, client, auth, make_user, make_course, smtp_server
):
    from datetime import UTC, datetime

    start = datetime(2031, 3, 3, 7, 0, tzinfo=UTC)  # 9.00 in Helsinki, 8.00 in Oslo
    course = make_course(
        starts_at=start,
        enrolment_deadline=start - timedelta(days=2),
        cancellation_deadline=start - timedelta(days=2),
    )
    make_user("kunde@example.com", org="Demokunde_Test", name="Test Bruker", language="nb")
    with app.app_context():
        from models.auth import Organisation

        org = db.session.scalar(
            sa.select(Organisation).where(Organisation.name == "Demokunde_Test")
        )
        org.country = "NO"
        db.session.commit()
    auth.login("kunde@example.com")
    _enrol(client, course.id, email="kunde@example.com")
    deliver_mail(app)
    text = smtp_server.text_of(smtp_server.messages[0])
    assert "9.00" in text or "09:00" in text or "9:00" in text
    assert "8.00" not in text and "08:00" not in text


@pytest.mark.parametrize("price", ["sNaN", "Infinity", "1e400", "123456789012"])
def test_staff_course_form_refuses_impossible_prices(client, auth, make_user, price):
    from models.auth import Role

    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    response = client.post(
        "/staff/training/courses/new",
        data={
            "title": "X",
            "topic": "Y",
            "starts_at": "2031-03-01T09:00",
            "ends_at": "2031-03-01T12:00",
            "place": "Helsinki",
            "price": price,
            "capacity": "10",
            "enrolment_deadline": "2031-02-20T12:00",
            "cancellation_deadline": "2031-02-20T12:00",
        },
    )
    assert response.status_code == 200
    assert 'href="#price"' in response.get_data(as_text=True)


def test_staff_course_form_refuses_the_year_one(client, auth, make_user):
    from models.auth import Role

    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    response = client.post(
        "/staff/training/courses/new",
        data={
            "title": "X",
            "topic": "Y",
            "starts_at": "0001-01-01T00:00",
            "ends_at": "0001-01-01T12:00",
            "place": "Helsinki",
            "price": "10",
            "capacity": "10",
            "enrolment_deadline": "0001-01-01T00:00",
            "cancellation_deadline": "0001-01-01T00:00",
        },
    )
    assert response.status_code == 200 and 'href="#starts_at"' in response.get_data(as_text=True)


def test_the_waiting_list_of_a_started_course_is_closed_with_a_message(
    app, client, make_course, runner
):
    course = make_course(capacity=1)
    _fill_with_queue(app, client, course)
    with app.app_context():
        started = db.session.get(Course, course.id)
        started.starts_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
    result = runner.invoke(args=["training", "expire-offers"])
    assert "2 waiting-list places closed" in result.output
    assert _enrolment(app, "first@example.com").status == EnrolmentStatus.CANCELLED
    assert _enrolment(app, "seated@example.com").status == EnrolmentStatus.BINDING
    with app.app_context():
        cancelled = db.session.scalars(
            sa.select(OutboxMessage.body_text).where(OutboxMessage.template == "training_cancelled")
        ).all()
        assert len(cancelled) == 2


def test_a_double_submit_of_one_email_gets_the_same_answer(app, client, make_course):
    """Nothing is looked up before the row is written: the database's unique index stops
    the second, and the seat it took goes back with the rolled-back transaction."""
    from tests.fixtures.app import recorded_statements

    course = make_course()
    _enrol(client, course.id)
    with recorded_statements(app) as seen:
        response = _enrol(client, course.id)
    assert (response.status_code, response.headers["Location"]) == (303, "/training/enrolled")
    inserts = [s for s, _ in seen if s.lstrip().upper().startswith("INSERT INTO ENROLMENT ")]
    assert len(inserts) == 1  # tried once: a duplicate is not a clash of codes
    with app.app_context():
        assert db.session.get(Course, course.id).seats_taken == 1
        count = sa.select(sa.func.count()).select_from(Enrolment)
        assert db.session.scalar(count.where(Enrolment.course_id == course.id)) == 1


def test_a_service_code_drawn_twice_is_drawn_again(app, client, make_course, monkeypatch):
    course = make_course()
    _enrol(client, course.id)
    taken = _enrolment(app).service_code
    drawn = iter([taken, "CCCCCCCC"])
    monkeypatch.setattr(codes, "generate", lambda exists: next(drawn))
    response = _enrol(client, course.id, email="toinen@example.com")
    assert response.status_code == 303
    again = _enrolment(app, "toinen@example.com")
    assert again.service_code == "CCCCCCCC" and again.status == EnrolmentStatus.BINDING
    with app.app_context():
        assert db.session.get(Course, course.id).seats_taken == 2
