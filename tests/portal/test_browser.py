"""The customer portal in headless Chromium, in bokmål: an order, an employee, a booking."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa
from stdnum.no import fodselsnummer

from extensions import db
from models.auth import Organisation, Role, User
from models.mail import OutboxMessage
from models.portal import Booking, BookingSlot, Employee, Placement, PortalOrder
from services import portal
from services.timezones import local_to_utc
from tests.fixtures.users import PASSWORD

pytestmark = pytest.mark.browser


def _national_id(date_digits: str) -> str:
    for individual in range(500, 1000):
        base = f"{date_digits}{individual:03d}"
        first = fodselsnummer.calc_check_digit1(base)
        number = base + first + fodselsnummer.calc_check_digit2(base + first)
        if fodselsnummer.is_valid(number):
            return number
    raise AssertionError(date_digits)


def _health_check(app, org_id: int) -> tuple[int, int]:
    """A Helsekontroll in three weeks with two times of two places."""
    with app.app_context():
        day = portal.today() + timedelta(days=21)
        booking = Booking(
            organisation_id=org_id,
            title="Helsekontroll",
            place="Helsestasjonen, Storgata 10, Oslo",
            what_to_bring="Legitimasjon og briller",
            deadline=local_to_utc(datetime.combine(day - timedelta(days=2), time(16)), portal.OSLO),
        )
        for hour in (8, 9):
            start = local_to_utc(datetime.combine(day, time(hour)), portal.OSLO)
            booking.slots.append(
                BookingSlot(
                    starts_at=start, ends_at=start + timedelta(minutes=45), capacity=2, taken=0
                )
            )
        db.session.add(booking)
        db.session.commit()
        return booking.id, booking.slots[0].id


def test_a_norwegian_customer_orders_adds_an_employee_and_books_a_health_check(
    browser_page, app, make_user, make_org
):
    org = make_org("Demokunde_Test", departments=["Testbedriften AS", "Bergen TEST"],
                   country="NO", language="nb")  # fmt: skip
    manager = make_user(
        "kari.nordmann@example.com", role=Role.STAFF, org="Palveluportaali Oy", name="Kari"
    )
    make_user("test.bruker@demokunde.example.com", org="Demokunde_Test", name="Test Bruker",
              language="nb")  # fmt: skip
    with app.app_context():
        db.session.get(Organisation, org.id).account_manager_id = manager.id
        user = db.session.scalar(sa.select(User).where(User.name == "Test Bruker"))
        user.username = "Tester"
        db.session.commit()
    booking_id, slot_id = _health_check(app, org.id)
    number = _national_id("120505")
    browser = browser_page
    page = browser.page

    browser.goto("/auth/login")
    page.fill("#email", "test.bruker@demokunde.example.com")
    page.fill("#password", PASSWORD)
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    browser.goto("/portal/")
    assert page.locator("html").get_attribute("lang") == "nb"
    assert "Test Bruker" in page.locator(".portal-user").inner_text()
    assert "(Tester)" in page.locator(".portal-user").inner_text()

    # Ny bestilling, with the department list filtered by typing.
    browser.navigate(lambda: page.locator(".portal-tabs a").nth(1).click())
    browser.navigate(lambda: page.locator("a.button[href='/portal/orders/new']").click())
    page.fill("#department-filter", "bergen")
    assert page.locator("#department option:not([hidden])").all_inner_texts() == ["Bergen TEST"]
    page.select_option("#department", label="Bergen TEST")
    page.fill("#desired_delivery", "Førstehjelpskurs")
    page.fill("#quantity", "12 deltakere")
    page.fill("#contact", "Ola Olsen - tlf 12432540")
    page.fill("#invoice_reference", "Merkes med 123")
    page.fill("#location", "Bergen")
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert re.search(r"/portal/orders/\d+$", page.url)
    with app.app_context():
        order = db.session.scalar(sa.select(PortalOrder))
        assert order.desired_delivery == "Førstehjelpskurs"
        recipients = sorted(
            r for m in db.session.scalars(sa.select(OutboxMessage)) for r in m.recipients
        )
        assert recipients == ["kari.nordmann@example.com", "test.bruker@demokunde.example.com"]

    # Ny ansatt with a fødselsnummer; afterwards it is only shown masked.
    browser.goto("/portal/employees")
    browser.navigate(lambda: page.locator("a.button[href='/portal/employees/new']").click())
    page.fill("#first_name", "Donald")
    page.fill("#last_name", "Duck")
    page.fill("#email", "Donald.Duck@testeren.no")
    page.fill("#mobile", "41244845")
    page.fill("#birth_date", "2005-05-12")
    page.select_option("#department", label="Testbedriften AS")
    page.fill("#national_id", number)
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert re.search(r"/portal/employees/\d+$", page.url)
    content = page.content()
    assert "120505*****" in content and number not in content
    assert "+47 41 24 48 45" in content

    # Book him to the health check; he gets the time, the place and the declaration link.
    browser.goto(f"/portal/bookings/{booking_id}")
    page.select_option("#employee", label="Donald Duck (Donald.Duck@testeren.no)")
    page.select_option("#slot", str(slot_id))
    browser.navigate(lambda: page.locator("form[action$='/place'] button[type=submit]").click())
    assert "Donald Duck" in page.locator("table").nth(1).inner_text()
    with app.app_context():
        placement = db.session.scalar(sa.select(Placement))
        assert placement.employee_id == db.session.scalar(sa.select(Employee.id))
        mail = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.template == "portal_booking_placed")
        )
        assert mail.recipients == ["Donald.Duck@testeren.no"]
        assert "Helsestasjonen" in mail.body_text and "/portal/egenerklaering/" in mail.body_text
        link = re.search(r"https?://\S+(/portal/egenerklaering/[^\s?]+)", mail.body_text).group(1)
        assert db.session.get(BookingSlot, slot_id).taken == 1

    # The employee answers the self-declaration without logging in.
    browser.goto(link)
    for key, _label in portal.DECLARATION_QUESTIONS:
        page.locator(f"input[name='{key}'][value='no']").check()
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    with app.app_context():
        assert db.session.scalar(sa.select(Placement)).declared_at is not None
