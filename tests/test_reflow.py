"""Every page reflows (WCAG 2.1 SC 1.4.10): at 375 CSS px wide, and at 640 (a 1280 px
window zoomed to 200 %), nothing scrolls sideways but a table in a named, focusable
scroll region; the header and menus stay short, targets are touch-sized, and axe passes
on the narrow layout.

The pages are those of test_axe_every_page.py's PAGES, with its demo data and journeys,
each shown once (no empty state, no error state but the journeys'), in Finnish, whose
long compound words are the first to stick out.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError

from models.auth import Role
from tests.fixtures.invoicing import give_number
from tests.fixtures.payments import CHANNEL_CONFIG
from tests.fixtures.users import PASSWORD
from tests.test_axe_every_page import (
    ADMIN,
    JOURNEY_PAGES,
    MATTI,
    PAGES,
    TIINA,
    Visit,
    _accounts,
    _demo_ids,
    _endpoints,
    _seed,
    _two_factor_on,
    journeys,
)

PHONE = {"width": 375, "height": 812}
ZOOMED = {"width": 640, "height": 400}  # 1280 × 800 at 200 %: the same CSS px
HEADER_MAX = 100  # CSS px the page header may take on a phone, its menu closed (was 312)
TARGET = 44  # CSS px: buttons, and links in navigation (WCAG 2.5.5)

# What stops a page reflowing, as a list of findings (empty: none). With `sizes` (on a
# phone), the header's height, the targets' size and the fields' type size too.
REFLOW = """sizes => {
  const found = [];
  const html = element => element.outerHTML.slice(0, 160);
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) {
    // What sticks out: the innermost elements past the edge, a table region's inside apart.
    const past = new Set([...document.body.querySelectorAll('*')].filter(element =>
      element.getBoundingClientRect().right > window.innerWidth + 1
      && !(element.parentElement && element.parentElement.closest('.table-scroll'))));
    const wide = [...past].filter(element => ![...element.children].some(c => past.has(c)));
    found.push(`the page scrolls sideways, ${root.scrollWidth} > ${window.innerWidth} px: `
      + wide.slice(0, 5).map(html));
  }
  for (const region of document.querySelectorAll('.table-scroll')) {
    if (region.scrollWidth <= region.clientWidth) continue;
    const ids = (region.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean);
    const name = ids.map(id => (document.getElementById(id) || {}).textContent || '')
      .join(' ').trim() || (region.getAttribute('aria-label') || '').trim();
    if (region.getAttribute('role') !== 'region' || !name
        || region.getAttribute('tabindex') !== '0') {
      found.push(`a table scrolls in no named, focusable region: ${html(region)}`);
    }
  }
  if (!sizes) return found;
  const shown = element => {
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(element).visibility !== 'hidden';
  };
  const header = document.querySelector('.site-header');
  const height = header ? header.getBoundingClientRect().height : 0;
  if (height > sizes.header) found.push(`the header is ${height} px tall`);
  const targets = 'button, .button, input[type=submit], summary, nav a, .site-header a';
  for (const element of document.querySelectorAll(targets)) {
    if (!shown(element) || element.closest('.visually-hidden, .skip-link')) continue;
    const box = element.getBoundingClientRect();
    if (box.height < sizes.target - 0.5 || box.width < sizes.target - 0.5) {
      found.push(`a target of ${box.width.toFixed(0)} × ${box.height.toFixed(0)} px: `
        + html(element));
    }
  }
  for (const field of document.querySelectorAll('input, select, textarea')) {
    const size = parseFloat(getComputedStyle(field).fontSize);
    if (shown(field) && size < 16) found.push(`a field in ${size} px type: ${html(field)}`);
  }
  return found;
}"""


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config.update(CHANNEL_CONFIG)  # online payment on: its pages are shown
    app_config["PAYMENT_SANDBOX_NOTIFY_DELAY"] = 3600  # no notify thread racing the test
    return app_config


class _Phone:
    """The browser, making its contexts phone-sized (the Visitors' own options kept)."""

    def __init__(self, chromium) -> None:
        self.chromium = chromium

    def new_context(self, **options):
        return self.chromium.new_context(viewport=PHONE, device_scale_factor=2, **options)


class ReflowVisit(Visit):
    """Visit's people on a phone: each page axe checks is measured at both widths too."""

    def __init__(self, chromium, base_url: str, served: list[str], language: str) -> None:
        super().__init__(_Phone(chromium), base_url, served, language)
        self.failures: list[str] = []

    def __call__(self, who: str):
        if who not in self.visitors:
            visitor = super().__call__(who)
            browser = visitor.browser
            axe_check = browser.check

            def check() -> None:
                axe_check()
                self.measure(browser.page)

            browser.check = check
        return self.visitors[who]

    def measure(self, page) -> None:
        found = page.evaluate(REFLOW, {"header": HEADER_MAX, "target": TARGET})
        page.set_viewport_size(ZOOMED)
        found += [f"at 200 %: {finding}" for finding in page.evaluate(REFLOW, None)]
        page.set_viewport_size(PHONE)
        if found:
            self.failures.append(f"{page.url}:\n  " + "\n  ".join(found))


@pytest.mark.browser
def test_every_page_reflows_on_a_phone_and_at_200_percent(
    app, runner, chromium, live_server, served_pages, make_org, make_user
):
    _accounts(make_org, make_user)
    give_number(app, TIINA, "100102")
    _seed(runner)
    secret = _two_factor_on(app, MATTI)
    ids = _demo_ids(app)
    visit = ReflowVisit(chromium, live_server, served_pages, "fi")
    errors: list[str] = []
    try:
        journeys(app, visit, ids, secret)
        for endpoint in [e for e in PAGES if e not in JOURNEY_PAGES]:
            spec = PAGES[endpoint]
            try:
                visit(spec.role).goto(spec.path.format(**ids))
            except (AssertionError, PlaywrightError) as failure:
                errors.append(f"{endpoint}: {failure}")
    finally:
        checked = visit.close()
    assert not errors, "\n\n".join(errors)
    assert not visit.failures, f"{len(visit.failures)} pages do not reflow:\n" + "\n".join(
        visit.failures
    )
    assert not PAGES.keys() - _endpoints(app, checked), "pages not reached"


@pytest.mark.browser
@pytest.mark.parametrize("script", [True, False], ids=["script", "no-script"])
def test_the_menus_fold_on_a_phone_and_work_without_script(
    script, chromium, live_server, make_user
):
    make_user(ADMIN, role=Role.ADMIN, org=None, name="Aino Admin", language="en")
    context = chromium.new_context(base_url=live_server, viewport=PHONE, java_script_enabled=script)
    try:
        assert context.request.post("/auth/login", form={"email": ADMIN, "password": PASSWORD}).ok
        page = context.new_page()
        page.goto("/staff/")
        for menu, link in ((".site-menu", "My details"), (".staff-nav details", "Audit log")):
            details = page.locator(menu)
            toggle = details.locator("summary")
            target = details.get_by_role("link", name=link)
            if script:  # folded by portal.js on a phone; its toggle opens it
                assert toggle.is_visible() and not target.is_visible()
                assert (
                    toggle.evaluate("summary => summary.getBoundingClientRect().height") >= TARGET
                )
                toggle.click()
            assert details.evaluate("details => details.open")  # without script: open as sent
            assert target.is_visible()
        page.set_viewport_size({"width": 1280, "height": 800})  # wide: open, no toggle
        for menu in (".site-menu", ".staff-nav details"):
            assert page.locator(menu).evaluate("details => details.open")
            assert not page.locator(menu).locator("summary").is_visible()
    finally:
        context.close()
