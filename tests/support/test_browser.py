"""The contact form in headless Chromium: from a part to a ticket, a reply and its reading."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from PIL import Image

from extensions import db
from models.auth import Role
from models.mail import OutboxMessage
from models.support import Application, Ticket
from services import support
from tests.fixtures.users import PASSWORD

pytestmark = pytest.mark.browser


def _screenshot() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (30, 90, 160)).save(out, "PNG")
    return out.getvalue()


def _noise() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((300, 300), 60).save(out, "PNG")
    return out.getvalue()


def _log_in(browser, email: str) -> None:
    page = browser.page
    browser.goto("/auth/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())


def test_a_contact_with_a_screenshot_is_answered_and_the_reply_read(
    browser_page, chromium, live_server, served_pages, app, make_user
):
    from tests.fixtures.browser import AccessibleBrowser

    make_user("maija@example.com", org="Testivirasto")
    make_user("kaisa@example.com", role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa")
    with app.app_context():
        support.ensure_default_applications()
        db.session.commit()
        parts = {a.part: a.id for a in db.session.scalars(sa.select(Application))}
    browser = browser_page
    page = browser.page

    # Open the form from the training calendar: Sovellus is the calendar.
    _log_in(browser, "maija@example.com")
    browser.goto("/training/")
    browser.navigate(lambda: page.locator("a.contact-link").click())
    assert page.locator("#application").input_value() == str(parts["training"])
    assert page.locator("[data-refresh]").is_hidden()  # the script changes the list

    # The sub-application list follows the application, without a round trip.
    page.select_option("#application", str(parts["invoices"]))
    assert page.locator("#sub_application option").all_inner_texts() == ["Ei mitään", "Raportti"]
    page.select_option("#application", str(parts["training"]))
    page.select_option("#sub_application", label="Raportti")

    # The guidance follows the type.
    page.select_option("#type", "toimintahairio")
    assert "missä" in page.locator("[data-type-guidance]").inner_text()
    page.select_option("#urgency", "nopeampi")
    page.fill("#target_reference", "KOULUTUS-7")
    page.fill("#message", "Osallistujaraportti jää latautumaan. Tapahtui tänään klo 9.15.")
    page.set_input_files(
        "#screenshots",
        files=[{"name": "näkymä.png", "mimeType": "image/png", "buffer": _screenshot()}],
    )
    browser.navigate(lambda: page.get_by_role("button", name="Lähetä yhteydenotto").click())
    number = re.search(r"T-\d{4}-\d{6}", page.locator(".confirmation").inner_text()).group(0)

    # The ticket, with its screenshot shown.
    browser.navigate(lambda: page.get_by_role("link", name="Näytä tiketti").click())
    image = page.locator(".thumbnails img")
    image.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth", image.element_handle()) == 320

    # Staff find it first in the queue and reply.
    staff_context = chromium.new_context(base_url=live_server, locale="fi-FI")
    staff = AccessibleBrowser(staff_context.new_page(), served_pages)
    _log_in(staff, "kaisa@example.com")
    staff.goto("/staff/support/")
    first_row = staff.page.locator("table tbody tr").first
    assert number in first_row.inner_text()
    staff.navigate(lambda: staff.page.get_by_role("link", name=number).click())
    staff.navigate(lambda: staff.page.get_by_role("button", name="Ota tiketti").click())
    staff.page.fill("#reply-message", "Vika on korjattu. Toimiiko raportti nyt?")
    staff.navigate(lambda: staff.page.get_by_role("button", name="Lähetä vastaus").click())
    assert staff.page.locator(".flash--success").is_visible()
    browser.checked.extend(staff.checked)
    staff_context.close()

    # The reply went by mail with the ticket number in its subject …
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
        reply_mail = db.session.scalar(
            sa.select(OutboxMessage)
            .where(OutboxMessage.template == "support_reply")
            .order_by(OutboxMessage.id.desc())
        )
        assert number in reply_mail.subject and reply_mail.recipients == ["maija@example.com"]
        link = support.status_link(ticket)

    # … and the user reads it on the ticket's page.
    browser.goto(f"/support/tickets/{number}")
    assert "Vika on korjattu" in page.locator(".thread").inner_text()
    assert "Odottaa asiakasta" in page.locator(".details").inner_text()

    # The mailed link works without logging in, and takes an answer.
    anonymous_context = chromium.new_context(base_url=live_server, locale="fi-FI")
    anonymous = AccessibleBrowser(anonymous_context.new_page(), served_pages)
    anonymous.goto(link.removeprefix(live_server))
    assert "Vika on korjattu" in anonymous.page.locator(".thread").inner_text()
    anonymous.page.fill("#message", "Kyllä, nyt toimii. Kiitos!")
    anonymous.navigate(lambda: anonymous.page.get_by_role("button", name="Lähetä viesti").click())
    assert "Kyllä, nyt toimii" in anonymous.page.locator(".thread").inner_text()
    browser.checked.extend(anonymous.checked)
    anonymous_context.close()


def test_a_too_large_screenshot_is_refused_before_sending(browser_page, app, make_user):
    app.config["SUPPORT_MAX_IMAGE_BYTES"] = 1000
    make_user("maija@example.com", org="Testivirasto")
    with app.app_context():
        support.ensure_default_applications()
        db.session.commit()
    browser = browser_page
    page = browser.page
    _log_in(browser, "maija@example.com")
    browser.goto("/support/new")
    page.fill("#message", "Viesti, joka ei saa kadota.")
    page.set_input_files(
        "#screenshots",
        files=[{"name": "iso.png", "mimeType": "image/png", "buffer": _noise()}],
    )
    errors = page.locator("[data-file-errors]")
    assert "iso.png" in errors.inner_text() and errors.is_visible()
    assert page.evaluate("document.getElementById('screenshots').files.length") == 0
    assert page.locator("#message").input_value() == "Viesti, joka ei saa kadota."
    browser.check()
