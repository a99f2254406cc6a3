"""The whole PunchOut flow in headless Chromium against the Handi sandbox, over real HTTP."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Role
from models.training import Enrolment, EnrolmentStatus
from services import punchout
from tests.fixtures.users import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def sandbox_buyer_and_course(app, make_course):
    make_course(title="Valtion talousarvio", price=Decimal("340.00"), capacity=20)
    with app.app_context():
        punchout.add_buyer(
            "Handi (hiekkalaatikko)",
            "networkid",
            "handi-sandbox",
            app.config["PUNCHOUT_SANDBOX_SECRET"],
        )
        db.session.commit()


def test_handi_sandbox_flow_end_to_end(browser_page, make_user, app, sandbox_buyer_and_course):
    make_user("kasittelija@example.com", role=Role.STAFF, org=None, name="Kaisa Käsittelijä")
    browser = browser_page
    page = browser.page

    browser.goto("/auth/login")
    page.fill("#email", "kasittelija@example.com")
    page.fill("#password", PASSWORD)
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())

    browser.goto("/punchout/sandbox/")
    # A real PunchOutSetupRequest over HTTP, then the StartPage opens the calendar.
    browser.navigate(lambda: page.locator("main form button[type=submit]").first.click())
    assert "/training/" in page.url
    assert "Handi (hiekkalaatikko)" in page.locator(".flashes").inner_text()

    browser.navigate(lambda: page.get_by_role("link", name="Valtion talousarvio").click())
    browser.navigate(lambda: page.locator("main a.button").click())
    assert "Handi (hiekkalaatikko)" in page.locator("main .notice").first.inner_text()
    page.fill("#first_name", "Matti")
    page.fill("#last_name", "Virtanen")
    page.fill("#email", "matti.virtanen@virasto.example.com")
    page.fill("#organisation", "Testivirasto")

    # Without JavaScript the cart page waits for its button: check it, then send the cart.
    page.route(re.compile(r".*/static/js/portal\.js$"), lambda route: route.abort())
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
    assert page.locator("form[data-autopost]").count() == 1
    page.unroute(re.compile(r".*/static/js/portal\.js$"))
    browser.navigate(lambda: page.locator("form[data-autopost] button").click())
    assert page.url.endswith("/punchout/sandbox/")
    assert "Matti Virtanen" in page.locator("table").inner_text()

    with app.app_context():
        enrolment = db.session.scalar(sa.select(Enrolment))
        assert enrolment.status == EnrolmentStatus.PRELIMINARY

    # Hyväksy: the sandbox sends the OrderRequest over HTTP.
    browser.navigate(lambda: page.locator("main form button[type=submit]").last.click())
    assert "HANDI-" in page.locator(".flashes").inner_text()
    with app.app_context():
        enrolment = db.session.scalar(sa.select(Enrolment))
        assert enrolment.status == EnrolmentStatus.BINDING
        assert enrolment.billing_reference.startswith("HANDI-")
