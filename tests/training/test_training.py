"""The training calendar: courses, enrolment, seats, the waiting list."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from extensions import db
from models.mail import OutboxMessage
from models.training import Enrolment, EnrolmentStatus
from models.types import utcnow
from services import codes, outbox, training
from tests.fixtures.app import page_link, run_together
from tests.fixtures.mail import deliver_mail
from tests.fixtures.training import EN, PERSON, _enrol, _enrolment, _fill_with_queue, _seats_taken

# --- The calendar ------------------------------------------------------------------


def test_calendar_lists_upcoming_open_courses_only(client, make_course):
    make_course(title="Tuleva koulutus")
    make_course(title="Suljettu koulutus", is_open=False)
    make_course(
        title="Mennyt koulutus",
        starts_at=utcnow() - timedelta(days=1),
        enrolment_deadline=utcnow() - timedelta(days=5),
        cancellation_deadline=utcnow() - timedelta(days=5),
    )
    text = client.get("/training/").get_data(as_text=True)
    assert "Tuleva koulutus" in text
    assert "Suljettu koulutus" not in text and "Mennyt koulutus" not in text
    assert 'name="code"' in text  # the Palvelutunnus field


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "TIETOSUOJA"}, {"Tietosuoja virkatyössä"}),
        ({"topic": "Hankinnat"}, {"Hankinnat A", "Hankinnat B"}),
        ({"place": "__remote__"}, {"Tietosuoja virkatyössä"}),
        ({"place": "Tampere"}, {"Hankinnat B"}),
        ({"date_from": "DAY40", "date_to": "DAY70"}, {"Hankinnat B"}),
    ],
)
def test_calendar_filters(client, make_course, query, expected):
    now = utcnow()
    make_course(title="Hankinnat A", starts_at=now + timedelta(days=10))
    make_course(title="Hankinnat B", place="Tampere", starts_at=now + timedelta(days=50))
    make_course(
        title="Tietosuoja virkatyössä",
        topic="Tietosuoja",
        remote=True,
        place="Teams",
        starts_at=now + timedelta(days=90),
    )
    for key, value in list(query.items()):
        if value.startswith("DAY"):
            query[key] = (now + timedelta(days=int(value[3:]))).date().isoformat()
    text = client.get("/training/", query_string=query).get_data(as_text=True)
    shown = {t for t in ("Hankinnat A", "Hankinnat B", "Tietosuoja virkatyössä") if t in text}
    assert shown == expected


def test_calendar_refuses_a_reversed_date_range(client, make_course):
    make_course()
    response = client.get(
        "/training/", query_string={"date_from": "2027-02-01", "date_to": "2027-01-01"}
    )
    assert response.status_code == 200
    assert 'href="#date_to"' in response.get_data(as_text=True)


def test_calendar_is_paginated(client, make_course):
    for n in range(12):
        make_course(title=f"Koulutus {n:02d}", starts_at=utcnow() + timedelta(days=10 + n))
    first = client.get("/training/").get_data(as_text=True)
    second = client.get(page_link(first)).get_data(as_text=True)
    assert "Koulutus 00" in first and "Koulutus 10" not in first
    assert "Koulutus 10" in second and "Koulutus 11" in second and "Koulutus 09" not in second
    assert page_link(second) is None
    back = client.get(page_link(second, "prev")).get_data(as_text=True)
    assert "Koulutus 00" in back and "Koulutus 09" in back and "Koulutus 10" not in back
    last = client.get("/training/?last=1").get_data(as_text=True)
    assert "Koulutus 02" in last and "Koulutus 11" in last and "Koulutus 01" not in last


def test_course_page_shows_seats_and_the_enrol_button(client, make_course):
    course = make_course(capacity=10, seats_taken=7)
    text = client.get(f"/training/courses/{course.id}", headers=EN).get_data(as_text=True)
    assert "3 seats left" in text
    assert f'href="/training/courses/{course.id}/enrol"' in text


def test_a_full_course_offers_the_waiting_list(client, make_course):
    course = make_course(capacity=2, seats_taken=2)
    text = client.get(f"/training/courses/{course.id}", headers=EN).get_data(as_text=True)
    assert "Join the waiting list" in text


def test_past_the_deadline_the_button_is_gone_and_the_reason_shown(client, make_course):
    course = make_course(enrolment_deadline=utcnow() - timedelta(hours=1))
    text = client.get(f"/training/courses/{course.id}", headers=EN).get_data(as_text=True)
    assert "The enrolment deadline has passed." in text
    assert f'href="/training/courses/{course.id}/enrol"' not in text


def test_a_closed_course_is_not_public(client, make_course):
    course = make_course(is_open=False)
    assert client.get(f"/training/courses/{course.id}").status_code == 404
    assert _enrol(client, course.id).status_code == 404


# --- Enrolling ---------------------------------------------------------------------


def test_enrolment_is_binding_and_its_code_comes_by_mail(app, client, make_course):
    course = make_course()
    response = _enrol(client, course.id, phone="040 123 4567", diet="Gluteeniton")
    assert response.status_code == 303
    enrolment = _enrolment(app)
    assert enrolment.status == EnrolmentStatus.BINDING
    assert enrolment.phone == "+358 40 1234567"
    assert enrolment.diet == "Gluteeniton" and enrolment.job_title is None
    assert re.fullmatch(f"[{codes.ALPHABET}]{{8}}", enrolment.service_code)
    [event] = enrolment.events
    assert (event.from_status, event.to_status, event.actor) == (
        None,
        EnrolmentStatus.BINDING,
        training.PARTICIPANT,
    )
    assert _seats_taken(app, course.id) == 1
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Maija Meikäläinen" in page and "maija.meikalainen@virasto.example.com" in page
    # Only the mail has it: the page must be the same for an address already enrolled.
    assert enrolment.service_code not in page


def test_the_confirmation_email_carries_the_code_and_the_seed_sentence(
    app, client, make_course, smtp_server
):
    course = make_course(title="Julkiset hankinnat käytännössä")
    _enrol(client, course.id, billing_reference="Projekti 42")
    deliver_mail(app)
    [message] = smtp_server.messages
    assert message["To"] == "maija.meikalainen@virasto.example.com"
    assert "Julkiset hankinnat käytännössä" in message["Subject"]
    text = smtp_server.text_of(message)
    code = _enrolment(app).service_code
    assert "Projekti 42" in text and "Maija Meikäläinen" in text
    assert "sitova" in text
    assert (
        "Voit tarkastella ilmoittautumistasi menemällä osoitteeseen "
        "http://portal.test/training/?lang=fi "  # the calendar, in the mail's language
        f"ja antamalla siellä palvelutunnuksen {code}"
    ) in " ".join(text.split())


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"first_name": ""}, "first_name"),
        ({"last_name": " "}, "last_name"),
        ({"email": ""}, "email"),
        ({"email": "maija@"}, "email"),
        ({"organisation": ""}, "organisation"),
        ({"phone": "12"}, "phone"),
        ({"einvoice_address": "003712345678"}, "einvoice_operator"),
    ],
)
def test_bad_input_is_refused_and_kept(app, client, make_course, data, field):
    course = make_course()
    response = _enrol(client, course.id, **data)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert f'href="#{field}"' in text
    assert 'value="Testivirasto"' in text or field == "organisation"
    assert _enrolment(app) is None and _seats_taken(app, course.id) == 0


def _answer(app, course_id: int, **person) -> tuple[object, str]:
    """Enrol from a browser of its own (in English): the response, and the page it leads
    to with the name typed taken out (the one thing that differs between two people)."""
    browser = app.test_client()
    response = browser.post(
        f"/training/courses/{course_id}/enrol", data={**PERSON, **person}, headers=EN
    )
    page = browser.get(response.headers["Location"], headers=EN).get_data(as_text=True)
    name = f"{person.get('first_name', PERSON['first_name'])} "
    name += person.get("last_name", PERSON["last_name"])
    page = re.sub(r'name="csrf_token"[^>]*>', "", page)  # each browser's own
    return response, page.replace(name, "NAME")


def _age_mail(app, minutes: int = 60) -> None:
    """As if the mail queued so far was queued a while ago."""
    with app.app_context():
        for message in db.session.scalars(sa.select(OutboxMessage)):
            message.created_at -= timedelta(minutes=minutes)
        db.session.commit()


def test_the_form_does_not_tell_whether_an_address_is_enrolled(app, make_course, smtp_server):
    """An address already enrolled gets the answer a new enrolment gets; its owner is told
    by mail, with the service code, in the language they enrolled in."""
    course = make_course(title="Julkiset hankinnat")
    _enrol(app.test_client(), course.id)  # Maija, in Finnish
    enrolment = _enrolment(app)
    _age_mail(app)
    new, new_page = _answer(app, course.id, first_name="Uusi", email="uusi@example.com")
    _age_mail(app)
    again, again_page = _answer(
        app, course.id, first_name="Matti", email=" MAIJA.Meikalainen@virasto.example.com"
    )
    assert (again.status_code, again.headers["Location"]) == (303, "/training/enrolled")
    assert (new.status_code, new.headers["Location"]) == (303, "/training/enrolled")
    assert again_page == new_page.replace("uusi@example.com", enrolment.email)
    assert "Matti" not in again_page and enrolment.service_code not in again_page
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(Enrolment)
                .where(Enrolment.email == enrolment.email)
            )
            == 1
        )
        [told] = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.template == "training_already_enrolled")
        )
        assert (told.recipients, told.language) == ([enrolment.email], "fi")
        assert (told.record_type, told.record_id) == ("enrolment", str(enrolment.id))
    assert _seats_taken(app, course.id) == 2
    deliver_mail(app)
    [mail] = [m for m in smtp_server.messages if m["To"] == enrolment.email][1:]
    body = smtp_server.text_of(mail)
    assert enrolment.service_code in body and "Julkiset hankinnat" in body
    assert "Maija Meikäläinen" in body and "Matti" not in body


def test_on_a_full_course_an_enrolled_address_gets_the_waiting_lists_answer(app, make_course):
    course = make_course(capacity=1)
    _answer(app, course.id, email="seated@example.com")
    first, _page = _answer(app, course.id, email="first@example.com")  # first in line
    _age_mail(app)
    _again, again_page = _answer(app, course.id, email="first@example.com")
    _new, new_page = _answer(app, course.id, email="second@example.com")  # second in line
    assert "You are on the waiting list" in new_page
    assert again_page == new_page.replace("second@example.com", "first@example.com")
    assert _enrolment(app, "first@example.com").status == EnrolmentStatus.WAITING
    assert _seats_taken(app, course.id) == 1


def test_the_already_enrolled_mail_does_not_flood_the_inbox(app, make_course):
    """Right after the confirmation (a double submit), or after one such mail, no more
    mail for ALREADY_ENROLLED_QUIET; then again."""

    def told() -> int:
        with app.app_context():
            return db.session.scalar(
                sa.select(sa.func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.template == "training_already_enrolled")
            )

    course = make_course()
    _answer(app, course.id)
    _answer(app, course.id)
    assert told() == 0  # the confirmation with the code was just queued
    _age_mail(app, 11)
    _answer(app, course.id)
    _answer(app, course.id)
    assert told() == 1
    _age_mail(app, 11)
    _answer(app, course.id)
    assert told() == 2


def test_after_cancelling_the_same_email_may_enrol_again(app, client, make_course):
    course = make_course()
    _enrol(client, course.id)
    with app.app_context():
        training.cancel(db.session.get(Enrolment, _enrolment(app).id), "test")
        db.session.commit()
    assert _enrol(client, course.id).status_code == 303


def test_past_the_deadline_enrolment_is_refused(app, client, make_course):
    course = make_course(enrolment_deadline=utcnow() - timedelta(minutes=1))
    response = _enrol(client, course.id)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/training/courses/{course.id}"
    assert _enrolment(app) is None


def test_a_full_course_refuses_an_enrolment_without_the_waiting_list(app, make_course):
    course = make_course(capacity=1, seats_taken=1)
    with app.test_request_context():
        with pytest.raises(training.CourseFull):
            training.enrol(course.id, training.Participant(**PERSON), actor="t", language="fi")


def test_two_people_racing_for_the_last_seat_never_both_get_it(app, app_config, make_course):
    """Two requests at once, each with its own connection (as two server processes)."""
    from app import create_app

    course = make_course(capacity=1)
    apps = [create_app(app_config) for _ in range(2)]
    outcomes = []

    def attempt(worker_app, n):
        with worker_app.test_request_context():
            try:
                training.enrol(
                    course.id,
                    training.Participant(**{**PERSON, "email": f"racer{n}@example.com"}),
                    actor="t",
                    language="fi",
                )
                db.session.commit()
                outcomes.append("seat")
            except training.CourseFull:
                db.session.rollback()
                outcomes.append("full")
            finally:
                db.session.remove()

    run_together(attempt, apps)
    assert sorted(outcomes) == ["full", "seat"]
    assert _seats_taken(app, course.id) == 1
    with app.app_context():
        holders = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Enrolment)
            .where(Enrolment.status == EnrolmentStatus.BINDING)
        )
        assert holders == 1


# --- The waiting list --------------------------------------------------------------


def test_a_full_course_takes_people_on_its_waiting_list(app, client, make_course, smtp_server):
    course = make_course(capacity=1, seats_taken=1)
    assert _enrol(client, course.id).status_code == 303
    enrolment = _enrolment(app)
    assert enrolment.status == EnrolmentStatus.WAITING
    assert _seats_taken(app, course.id) == 1
    deliver_mail(app)
    assert enrolment.service_code in smtp_server.text_of(smtp_server.messages[0])


def _offer_link(app) -> str:
    with app.app_context():
        offer = db.session.scalars(
            sa.select(OutboxMessage)
            .where(OutboxMessage.template == "training_offer")
            .order_by(OutboxMessage.id.desc())
        ).first()
        body = outbox.bodies(offer)[0]  # as the mail worker writes it
    return re.search(r"http://portal\.test(/training/offers/[^\s?]+)", body).group(1)


def test_a_freed_seat_is_offered_to_the_first_in_line(app, client, make_course):
    course = make_course(capacity=1)
    seated, first, second = _fill_with_queue(app, client, course)
    assert (first.status, second.status) == (EnrolmentStatus.WAITING, EnrolmentStatus.WAITING)

    with app.app_context():
        training.cancel(db.session.get(Enrolment, seated.id), "staff@example.com", reason="Sairaus")
        db.session.commit()
    assert _enrolment(app, "first@example.com").status == EnrolmentStatus.OFFERED
    assert _enrolment(app, "second@example.com").status == EnrolmentStatus.WAITING
    assert _seats_taken(app, course.id) == 1  # held for the offer

    link = _offer_link(app)
    assert client.get(link).status_code == 200
    assert client.post(link + "/accept").status_code == 303
    assert _enrolment(app, "first@example.com").status == EnrolmentStatus.BINDING
    assert client.get(link).status_code == 410  # answered already
    assert _seats_taken(app, course.id) == 1


def test_a_declined_offer_goes_to_the_next_in_line(app, client, make_course):
    course = make_course(capacity=1)
    seated, first, second = _fill_with_queue(app, client, course)
    with app.app_context():
        training.cancel(db.session.get(Enrolment, seated.id), "staff@example.com")
        db.session.commit()
    client.post(_offer_link(app) + "/decline")
    assert _enrolment(app, "first@example.com").status == EnrolmentStatus.CANCELLED
    assert _enrolment(app, "second@example.com").status == EnrolmentStatus.OFFERED


def test_an_offer_expires_and_passes_on_then_the_seat_is_freed(app, client, make_course, runner):
    course = make_course(capacity=1)
    seated, first, second = _fill_with_queue(app, client, course)
    with app.app_context():
        training.cancel(db.session.get(Enrolment, seated.id), "staff@example.com")
        db.session.commit()
        later = utcnow() + timedelta(hours=app.config["TRAINING_OFFER_HOURS"], minutes=1)
        assert training.expire_offers(now=later) == 1
        db.session.commit()
    assert _enrolment(app, "first@example.com").status == EnrolmentStatus.CANCELLED
    assert _enrolment(app, "second@example.com").status == EnrolmentStatus.OFFERED
    with app.app_context():
        much_later = utcnow() + timedelta(hours=2 * app.config["TRAINING_OFFER_HOURS"] + 1)
        training.expire_offers(now=much_later)
        db.session.commit()
    assert _enrolment(app, "second@example.com").status == EnrolmentStatus.CANCELLED
    assert _seats_taken(app, course.id) == 0  # nobody left in line: the seat is free


def test_an_expired_offer_link_is_gone(app, client, make_course):
    course = make_course(capacity=1)
    seated, _first, _second = _fill_with_queue(app, client, course)
    with app.app_context():
        training.cancel(db.session.get(Enrolment, seated.id), "staff@example.com")
        db.session.commit()
    link = _offer_link(app)
    with app.app_context():
        offered = db.session.get(Enrolment, _enrolment(app, "first@example.com").id)
        offered.offer_expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    assert client.post(link + "/accept").status_code == 410
    assert client.get("/training/offers/forged-token").status_code == 410


def test_expire_offers_command(app, runner):
    result = runner.invoke(args=["training", "expire-offers"])
    assert result.exit_code == 0 and "0 offers or unpaid seats expired" in result.output
