"""Two-factor login in headless Chromium: set up from the profile, then log in with a
code and with a recovery code; axe-core checks every page on the way."""

from __future__ import annotations

import pyotp
import pytest

from tests.fixtures.two_factor import Clock
from tests.fixtures.users import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The server's time for codes (the live server runs in this process)."""
    clock = Clock()
    monkeypatch.setattr("blueprints.auth.second_factor.utcnow", clock)
    return clock


def log_in_with_password(browser) -> None:
    page = browser.page
    browser.goto("/auth/login")
    page.fill("#email", "maija@example.com")
    page.fill("#password", PASSWORD)
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())


def log_out(browser) -> None:
    page = browser.page
    browser.navigate(lambda: page.locator("form[action$='/auth/logout'] button").click())


def test_set_up_two_factor_login_then_log_in_with_a_code_and_a_recovery_code(
    browser_page, make_user, clock
):
    make_user(language="en")  # the new texts in their source language
    browser = browser_page
    page = browser.page

    log_in_with_password(browser)
    assert page.url.endswith("/")
    browser.goto("/auth/profile")
    browser.navigate(lambda: page.locator("a[href$='/auth/two-factor/setup']").click())

    # The QR code is an image with a text alternative; the key is there to type as well.
    qr = page.locator("main img")
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.get_attribute("alt")
    assert qr.evaluate("img => img.naturalWidth") > 100  # the browser could draw it
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    totp = pyotp.TOTP(secret)

    # A wrong code first: the error summary, on an accessible page.
    page.fill("#code", "000000")
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert page.locator(".error-summary").is_visible()
    assert page.locator("#code").get_attribute("aria-invalid") == "true"
    assert page.locator("#code").get_attribute("autocomplete") == "one-time-code"

    page.fill("#code", totp.at(clock.now))
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    browser.navigate(lambda: page.locator("main a.button").click())
    assert page.url.endswith("/auth/profile")
    assert "10 unused recovery codes left" in page.locator("main").inner_text()
    log_out(browser)

    # The password, then the code of the app.
    clock.advance()
    log_in_with_password(browser)
    assert page.url.endswith("/auth/two-factor")
    assert page.locator(".logged-in-as").count() == 0  # not logged in yet
    page.fill("#code", totp.at(clock.now))
    browser.navigate(lambda: page.keyboard.press("Enter"))
    assert page.url.endswith("/")
    assert "Maija Meikäläinen" in page.locator(".logged-in-as").inner_text()
    log_out(browser)

    # The password, then a recovery code instead of the app; it works once.
    for attempt in ("first", "again"):
        log_in_with_password(browser)
        browser.navigate(lambda: page.locator("a[href$='/auth/two-factor/recovery']").click())
        page.fill("#code", codes[0].lower())
        browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
        if attempt == "first":
            assert page.url.endswith("/")
            assert "9 are left" in page.locator(".flashes").inner_text()
            log_out(browser)
        else:
            assert page.url.endswith("/auth/two-factor/recovery")
            assert "used already" in page.locator(".error-summary").inner_text()
