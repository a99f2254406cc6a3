"""The training calendar in headless Chromium; axe-core checks every page the journeys visit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Role
from models.mail import MailStatus, OutboxMessage
from models.training import Course, Enrolment, EnrolmentStatus
from models.types import utcnow
from services import codes, training
from services.timezones import utc_to_local
from tests.fixtures.mail import deliver_mail
from tests.fixtures.users import PASSWORD

pytestmark = pytest.mark.browser

CODE = re.compile(rf"\b[{codes.ALPHABET}]{{{codes.LENGTH}}}\b")


def _make_course(app, title: str, topic: str, capacity: int = 10) -> int:
    starts = (utcnow() + timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    with app.app_context():
        course = Course(
            title=title,
            topic=topic,
            description=f"{title}: kurssin kuvaus.",
            starts_at=starts,
            ends_at=starts + timedelta(hours=6),
            place="Helsinki",
            remote=False,
            price=Decimal("100.00"),
            capacity=capacity,
            seats_taken=0,
            enrolment_deadline=starts - timedelta(days=7),
            cancellation_deadline=starts - timedelta(days=7),
            is_open=True,
        )
        db.session.add(course)
        db.session.commit()
        return course.id


def _enrol(app, course_id: int, first_name: str, last_name: str, email: str) -> int:
    with app.test_request_context():
        enrolment = training.enrol(
            course_id,
            training.Participant(
                first_name=first_name, last_name=last_name, email=email, organisation="Virasto"
            ),
            actor=training.PARTICIPANT,
            language="fi",
        )
        db.session.commit()
        return enrolment.id


def urlpath(url: str) -> str:
    """The path of a URL, without its query and fragment."""
    return re.sub(r"^https?://[^/]+", "", url).split("?")[0].split("#")[0]


def test_a_newcomer_enrols_finds_the_enrolment_by_its_code_and_cancels(browser_page, app):
    course_id = _make_course(app, "Saavutettava verkkopalvelu", "Saavutettavuus")
    _make_course(app, "Hankintojen perusteet", "Hankinnat")
    browser = browser_page
    page = browser.page

    # Find the course in the calendar with a text search.
    browser.goto("/training/")
    assert page.locator(".course-list h3").count() == 2
    page.fill("#q", "saavutettava")
    browser.navigate(lambda: page.locator("#q").press("Enter"))
    assert "q=saavutettava" in page.url
    assert page.locator(".course-list h3").all_inner_texts() == ["Saavutettava verkkopalvelu"]

    browser.navigate(lambda: page.get_by_role("link", name="Saavutettava verkkopalvelu").click())
    assert page.url.endswith(f"/training/courses/{course_id}")
    assert page.get_by_role("heading", level=1).inner_text() == "Saavutettava verkkopalvelu"
    browser.navigate(lambda: page.locator(f"a.button[href$='/courses/{course_id}/enrol']").click())
    assert page.url.endswith(f"/training/courses/{course_id}/enrol")

    # An empty form: the error summary appears and links to the required fields.
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    links = summary.get_by_role("link")
    hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
    assert hrefs == {"#first_name", "#last_name", "#email", "#organisation"}
    assert page.locator("#first_name").get_attribute("aria-invalid") == "true"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Enrolment)) == 0

    page.fill("#first_name", "Jörö")
    page.fill("#last_name", "Äijälä")
    page.fill("#email", "Joro.Aijala@Example.com")
    page.fill("#organisation", "Ympäristöministeriö")
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert page.url.endswith("/training/enrolled")
    # The code is in the mail only: the page is the same whether or not the address
    # was enrolled already.
    assert page.locator("strong.code").count() == 0
    assert "Jörö Äijälä" in page.locator("main").inner_text()

    # The confirmation (captured: there is no mail server) carries the same code.
    assert deliver_mail(app).captured == 1
    with app.app_context():
        message = db.session.scalar(sa.select(OutboxMessage))
        assert message.status == MailStatus.CAPTURED
        assert message.recipients == ["joro.aijala@example.com"]
        mailed_codes = set(CODE.findall(message.body_text))
    assert len(mailed_codes) == 1
    code = mailed_codes.pop()

    # Back in the calendar, the code typed in lower case shows the enrolment.
    browser.goto("/training/")
    page.fill("#code", code.lower())
    browser.navigate(lambda: page.locator("#code").press("Enter"))
    assert page.locator("strong.code").inner_text().strip() == code
    assert "Jörö Äijälä" in page.locator("main").inner_text()
    assert page.locator(".badge--sitova").is_visible()

    # Cancel it, confirmed by the email address.
    page.fill("#email", "joro.aijala@example.com")
    browser.navigate(lambda: page.locator("form.form button.button--danger").click())
    assert urlpath(page.url) == "/training/"
    assert page.locator(".flash--success").is_visible()

    with app.app_context():
        enrolment = db.session.scalar(sa.select(Enrolment))
        assert enrolment.status == EnrolmentStatus.CANCELLED
        assert enrolment.events[-1].actor == training.PARTICIPANT
        assert db.session.get(Course, course_id).seats_taken == 0


def test_staff_manage_a_course_and_its_participants(browser_page, app, make_user):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Sari Staff", language="en")
    course_id = _make_course(app, "Hankintojen perusteet", "Hankinnat", capacity=10)
    aino_id = _enrol(app, course_id, "Aino", "Virtanen", "aino@example.com")
    _enrol(app, course_id, "Pekka", "Korhonen", "pekka@example.com")
    with app.app_context():
        starts_at = db.session.get(Course, course_id).starts_at
    browser = browser_page
    page = browser.page

    browser.goto("/auth/login")
    page.fill("#email", "staff@example.com")
    page.fill("#password", PASSWORD)
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())

    browser.goto("/staff/training/")
    browser.navigate(lambda: page.get_by_role("link", name="Hankintojen perusteet").click())
    assert urlpath(page.url) == f"/staff/training/courses/{course_id}"
    assert page.locator("table tbody tr").count() == 2

    page.fill("#q", "virtanen")
    browser.navigate(lambda: page.get_by_role("button", name="Filter").click())
    assert page.locator("table tbody a").all_inner_texts() == ["Aino Virtanen"]

    browser.navigate(lambda: page.get_by_role("link", name="Aino Virtanen").click())
    assert urlpath(page.url) == f"/staff/training/enrolments/{aino_id}"
    page.fill("#reason", "Sairastuminen")
    browser.navigate(lambda: page.locator("form.form button.button--danger").click())
    assert page.locator(".flash--success").is_visible()
    assert page.locator(".badge--peruttu").is_visible()
    assert "staff@example.com" in page.locator("table").inner_text()

    # The edit form shows the course's Finnish time, and saving it keeps the time.
    browser.navigate(lambda: page.get_by_role("link", name="Back to the participants").click())
    browser.navigate(lambda: page.get_by_role("link", name="Edit course").click())
    local_start = utc_to_local(starts_at).strftime("%Y-%m-%dT%H:%M")
    assert page.locator("#starts_at").input_value() == local_start
    page.fill("#capacity", "12")
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert urlpath(page.url) == f"/staff/training/courses/{course_id}"
    assert page.locator(".flash--success").is_visible()
    with app.app_context():
        course = db.session.get(Course, course_id)
        assert (course.capacity, course.starts_at, course.seats_taken) == (12, starts_at, 1)

    # A new course, its times typed in Finnish winter time.
    browser.goto("/staff/training/")
    browser.navigate(lambda: page.get_by_role("link", name="New course").click())
    page.fill("#title", "Julkiset hankinnat")
    page.fill("#topic", "Hankinnat")
    page.fill("#starts_at", "2027-03-01T09:00")
    page.fill("#ends_at", "2027-03-01T08:00")  # before the start
    page.fill("#place", "Tampere")
    page.fill("#price", "250")
    page.fill("#capacity", "20")
    page.fill("#enrolment_deadline", "2027-02-15T16:00")
    page.fill("#cancellation_deadline", "2027-02-15T16:00")
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert page.locator(".error-summary a[href='#ends_at']").is_visible()
    assert page.locator("#title").input_value() == "Julkiset hankinnat"  # input kept
    page.fill("#ends_at", "2027-03-01T16:00")
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert page.get_by_role("heading", level=1).inner_text() == "Julkiset hankinnat"
    with app.app_context():
        new = db.session.scalar(sa.select(Course).where(Course.title == "Julkiset hankinnat"))
        assert new.starts_at == datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
        assert (new.place, new.capacity, new.is_open) == ("Tampere", 20, True)
