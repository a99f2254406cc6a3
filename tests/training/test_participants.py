"""Staff pages of the training calendar: participants, CSV, cancelling, look-up and mail."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from extensions import db
from models.mail import MailStatus, OutboxMessage
from models.training import Enrolment, EnrolmentEvent, EnrolmentStatus
from models.types import utcnow
from tests.fixtures import training_staff as training_staff_fixtures
from tests.fixtures.mail import deliver_mail
from tests.fixtures.training_staff import EN, STAFF_EMAIL, _course, _enrolment, _names_listed

# Staff and courses of the staff pages (tests/fixtures/training_staff.py).
enrol = training_staff_fixtures.enrol
make_course_id = training_staff_fixtures.make_course_id
some_enrolment = training_staff_fixtures.some_enrolment
staff = training_staff_fixtures.staff


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
    # The export links keep the filters of the page.
    filtered = client.get(
        f"/staff/training/courses/{full_course['course']}",
        query_string={"status": "jonossa", "q": "liisa"},
    ).get_data(as_text=True)
    link = re.search(r'href="([^"]*export\.csv[^"]*)"', filtered).group(1)
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

    earlier = client.get(f"/staff/training/courses/{course_id}/participants.csv?q=")
    assert earlier.status_code == 308
    assert earlier.location.endswith(f"/staff/training/courses/{course_id}/export.csv?q=")
    response = client.get(f"/staff/training/courses/{course_id}/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and ".csv" in disposition
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeffService code;Status;First name;Last name;Email address;")
    assert "\r\n" in text

    header, *rows = _csv(response)
    assert header[:5] == ["Service code", "Status", "First name", "Last name", "Email address"]
    assert all(len(row) == len(header) for row in rows)
    by_email = {row[4]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(by_email) == {"joro@example.com", "evil@example.com", "liisa@example.com"}
    joro = by_email["joro@example.com"]
    assert (joro["Service code"], joro["Status"], joro["First name"], joro["Last name"]) == (
        joro_code,
        "binding",
        "Jörö",
        "Äijälä",
    )
    assert joro["Organisation"] == "Ympäristöministeriö"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", joro["Enrolled"])
    # Nothing a spreadsheet would run as a formula.
    evil = by_email["evil@example.com"]
    assert evil["First name"] == '\'=HYPERLINK("http://evil.example")'
    assert evil["Organisation"] == "'+358 40 123"
    assert by_email["liisa@example.com"]["Organisation"] == "'@SUM(A1)"
    assert by_email["liisa@example.com"]["Status"] == "on the waiting list"


def test_the_csv_honours_the_filters(client, staff, full_course):
    url = f"/staff/training/courses/{full_course['course']}/export.csv"
    _header, *rows = _csv(client.get(url, query_string={"status": "sitova"}))
    assert sorted(row[2] for row in rows) == ["Aino", "Pekka"]
    _header, *rows = _csv(client.get(url, query_string={"q": "mäki"}))
    assert [(row[2], row[1]) for row in rows] == [("Liisa", "on the waiting list")]
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
