"""The look of the forms in headless Chromium: a radio group is a boxed section like the
others, each button sits on its label's line, left of it, with a target of at least
24 × 24 CSS px (WCAG 2.2 target size), on a desktop and on a phone; axe checks each page."""

from __future__ import annotations

import pytest

from tests.fixtures.browser import _log_in
from tests.fixtures.invoicing import TIINA, give_number
from tests.fixtures.payments import CHANNEL_CONFIG

pytestmark = pytest.mark.browser

WIDTHS = [1280, 375]  # a desktop, and a phone in portrait
TARGET = 24  # CSS px: WCAG 2.2 success criterion 2.5.8, target size (minimum)

# Each radio button of a group with its label's box and the group's own box.
GEOMETRY = """fieldset => {
  const box = element => {
    const r = element.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,
            width: r.width, height: r.height};
  };
  return {
    fieldset: box(fieldset),
    legend: fieldset.querySelector(':scope > legend').textContent.trim(),
    radios: [...fieldset.querySelectorAll('input[type=radio]')].map(input => ({
      id: input.id,
      input: box(input),
      label: box(document.querySelector(`label[for="${input.id}"]`)),
    })),
  };
}"""

BORDER = """fieldset => {
  const style = getComputedStyle(fieldset);
  return ['Top', 'Right', 'Bottom', 'Left'].map(side => [
    style[`border${side}Style`], style[`border${side}Width`], style[`border${side}Color`],
  ]);
}"""


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config.update(CHANNEL_CONFIG)  # online payment set up: the payment choice shows
    return app_config


def _assert_radio_layout(browser, group: str, section: str, width: int) -> None:
    """The radio group `group` is laid out as a boxed section like `section`, its buttons
    beside their labels, at the page's current width."""
    page = browser.page
    assert page.viewport_size["width"] == width
    fieldset = page.locator(group)
    layout = fieldset.evaluate(GEOMETRY)
    assert layout["legend"], f"{group} has no legend"
    assert len(layout["radios"]) >= 2, layout
    for radio in layout["radios"]:
        button, label = radio["input"], radio["label"]
        where = f"{radio['id']} at {width} px: button {button}, label {label}"
        assert button["width"] >= TARGET and button["height"] >= TARGET, where
        # On the same line: the button overlaps the label vertically…
        assert button["top"] < label["bottom"] and label["top"] < button["bottom"], where
        # …and is left of it, close by.
        assert button["right"] <= label["left"] <= button["right"] + TARGET, where
        # Both inside the group's box.
        assert layout["fieldset"]["left"] < button["left"], where
        assert label["right"] <= layout["fieldset"]["right"], where
    # Boxed like the other sections of the form: the same border all round.
    border = fieldset.evaluate(BORDER)
    assert all(style != "none" and width_ != "0px" for style, width_, _ in border), border
    assert border == page.locator(section).first.evaluate(BORDER)
    # Nothing sticks out sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _at_each_width(browser, group: str, section: str) -> None:
    for width in WIDTHS:
        browser.page.set_viewport_size({"width": width, "height": 900})
        browser.check()
        _assert_radio_layout(browser, group, section, width)


def test_the_payment_choice_of_the_enrolment_form_is_a_boxed_radio_group(browser_page, make_course):
    course = make_course()
    browser = browser_page
    browser.goto(f"/training/courses/{course.id}/enrol")
    assert browser.page.locator("#payment_method-0").count() == 1  # the choice is offered
    _at_each_width(browser, "fieldset:has(#payment_method-0)", "form.form > fieldset")


def test_the_delivery_method_of_the_invoice_form_is_a_boxed_radio_group(
    browser_page, app, make_user
):
    make_user(TIINA, org="Toiminimi Testinen", name="Tiina Testinen")
    give_number(app, TIINA, "100102")
    browser = browser_page
    page = browser.page
    _log_in(browser, TIINA)
    browser.goto("/invoices/new")
    _at_each_width(browser, "fieldset:has(#delivery_method-0)", "fieldset.fieldset")
    # Each method's hint is under its own label, and read with its button.
    for n in range(3):
        button = page.locator(f"#delivery_method-{n}")
        assert button.get_attribute("aria-describedby") == f"delivery_method-{n}-hint"
        label = page.locator(f"label[for=delivery_method-{n}]").bounding_box()
        hint = page.locator(f"#delivery_method-{n}-hint").bounding_box()
        assert hint["x"] == label["x"] and hint["y"] >= label["y"] + label["height"]
