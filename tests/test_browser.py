"""Key journeys in headless Chromium; axe-core checks every page they visit."""

from __future__ import annotations

import pytest

from models.auth import Role
from tests.fixtures.users import PASSWORD

pytestmark = pytest.mark.browser


def test_log_in_switch_language_and_log_out(browser_page, make_user):
    make_user()
    browser = browser_page
    page = browser.page

    browser.goto("/")
    assert page.locator("html").get_attribute("lang") == "fi"
    browser.navigate(lambda: page.get_by_role("link", name="Kirjaudu sisään").first.click())

    # An empty form: the error summary appears, takes focus and links to the fields.
    browser.navigate(lambda: page.get_by_role("button", name="Kirjaudu sisään").click())
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    summary.get_by_role("link").first.click()
    assert page.evaluate("document.activeElement.id") == "email"

    # Keyboard only: type, then submit with Enter.
    page.keyboard.type("maija@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    browser.navigate(lambda: page.keyboard.press("Enter"))
    assert page.url.split("#")[0].endswith("/")
    assert "Maija Meikäläinen" in page.locator(".logged-in-as").inner_text()

    browser.navigate(lambda: page.get_by_role("button", name="English").click())
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("button", name="Log out").is_visible()

    browser.navigate(lambda: page.get_by_role("link", name="My details").click())
    assert page.get_by_role("combobox", name="Language").input_value() == "en"

    browser.navigate(lambda: page.get_by_role("button", name="Log out").click())
    assert page.get_by_text("You have logged out.").is_visible()
    assert page.get_by_role("link", name="Log in").first.is_visible()


def test_staff_look_up_and_read_captured_mail(browser_page, make_user):
    make_user("staff@example.com", role=Role.ADMIN, org=None, name="Aino Admin")
    make_user("kunde@example.com", org="Demokunde_Test", name="Test Bruker", language="nb")
    browser = browser_page
    page = browser.page

    # A password-reset request puts a mail in the outbox.
    browser.goto("/auth/reset")
    page.get_by_label("Sähköpostiosoite").fill("kunde@example.com")
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert "/auth/login" in page.url

    page.get_by_label("Sähköpostiosoite").fill("staff@example.com")
    page.get_by_label("Salasana").fill(PASSWORD)
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert page.url.endswith("/staff/")

    page.get_by_role("searchbox").fill("kunde@example.com")
    browser.navigate(lambda: page.get_by_role("searchbox").press("Enter"))
    assert "/auth/organisations/" in page.url
    assert page.get_by_role("heading", name="Demokunde_Test").is_visible()

    browser.goto("/staff/mail")
    browser.navigate(lambda: page.locator("table a").first.click())
    assert "kunde@example.com" in page.locator("dl.details").inner_text()
    assert "/auth/reset/" in page.locator("pre.mail-text").inner_text()


def test_admin_sets_up_an_organisation_and_a_user(browser_page, make_user, app):
    make_user("admin@example.com", role=Role.ADMIN, org=None, name="Aino Admin")
    browser = browser_page
    page = browser.page

    browser.goto("/auth/login")
    page.fill("#email", "admin@example.com")
    page.fill("#password", PASSWORD)
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())

    browser.goto("/auth/organisations/new")
    page.fill("#name", "Demokunde_Test")
    page.select_option("#country", "NO")
    page.fill("#business_id", "123")  # not an organisasjonsnummer
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert page.locator("#business_id").get_attribute("aria-invalid") == "true"
    assert page.locator("#name").input_value() == "Demokunde_Test"  # input kept
    page.fill("#business_id", "987654325")
    page.select_option("#language", "nb")
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert page.get_by_role("heading", name="Demokunde_Test").is_visible()

    page.fill("#name", "Testbedriften AS")
    browser.navigate(lambda: page.locator("form[action$='/departments'] button").click())
    page.fill("#name", "Bergen TEST")
    page.select_option("#parent_id", label="Testbedriften AS")
    browser.navigate(lambda: page.locator("form[action$='/departments'] button").click())
    assert "Bergen TEST" in page.locator("main").inner_text()

    browser.goto("/auth/users/new")
    page.fill("#email", "test.bruker@example.com")
    page.fill("#name", "Test Bruker")
    page.fill("#organisation", "Demokunde_Test")
    page.select_option("#language", "nb")
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert page.url.endswith("/auth/users")
    assert "Test Bruker" in page.locator("table").inner_text()
