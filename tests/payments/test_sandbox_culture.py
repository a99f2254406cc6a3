"""The payment sandbox shows its pages in the payment's CULTURE, as the real service does.

A payment is started in the portal by a payer whose language sets the CULTURE (fi, sv;
others en_US); the channel form goes to the sandbox, whose bank page is then in that
language as a whole: its html lang, its own texts and the frame's strings (the portal's
catalog, already translated), whatever language the browser that opens it asks for.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models.invoicing import InvoiceStatus
from services.payments import channel as pc
from tests.fixtures import invoicing as inv
from tests.fixtures.invoicing import TIINA, make_sent
from tests.fixtures.payment_channel import BANK_PAGE, example_payment, opened
from tests.fixtures.payments import CHANNEL_CONFIG, SECRET, _pay_url, _start

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config.update(CHANNEL_CONFIG)
    return app_config


@pytest.fixture
def tiina(app, make_user):
    """The invoicing user 100102, whose open invoice the payers pay."""
    return inv.invoicer(app, make_user, TIINA, "100102", "Toiminimi Testinen")


def browser(app: Flask, language: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def bank_page_of(app: Flask, language: str) -> tuple[FlaskClient, str, dict[str, str]]:
    """A payer asking for `language` starts paying an open invoice and posts the channel
    form to the sandbox: the payer, the bank page's path and the form's fields."""
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    payer = browser(app, language)
    fields = _start(payer, _pay_url(app, number))
    return payer, opened(payer, fields), fields


def lang_of(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)">', html)
    assert found, html[:500]
    return found.group(1)


@pytest.mark.parametrize(
    ("language", "culture", "page_lang", "words"),
    [
        # "Hoppa till innehållet" / "Siirry sisältöön": the frame, from the portal's catalog.
        ("sv", "sv_SE", "sv", ["Välj bank", "Avbryt betalningen", "Hoppa till innehållet"]),
        ("fi", "fi_FI", "fi", ["Valitse pankki", "Peruuta maksu", "Siirry sisältöön"]),
        ("en", "en_US", "en", ["Choose your bank", "Cancel the payment", "Skip to content"]),
        ("nb", "en_US", "en", ["Choose your bank", "Cancel the payment", "Skip to content"]),
    ],
)
def test_the_bank_page_is_in_the_payers_culture(app, tiina, language, culture, page_lang, words):
    payer, bank_page, fields = bank_page_of(app, language)
    assert fields["CULTURE"] == culture
    html = payer.get(bank_page).get_data(as_text=True)
    assert lang_of(html) == page_lang
    for word in words:
        assert word in html
    # The service's own page: no portal language switcher that it would not honour.
    assert "language-switcher" not in html


def test_a_swedish_payment_stays_swedish_in_a_finnish_browser(app, tiina):
    payer, bank_page, _ = bank_page_of(app, "sv")
    finnish = browser(app, "fi")
    html = finnish.get(bank_page).get_data(as_text=True)
    assert lang_of(html) == "sv"
    assert "Välj bank" in html and "Hoppa till innehållet" in html
    assert "Valitse pankki" not in html and "Siirry sisältöön" not in html

    # Cancelled, the page that says so is Swedish too.
    assert payer.post(bank_page.replace("/pay/", "/cancel/")).status_code == 303
    closed = finnish.get(bank_page).get_data(as_text=True)
    assert lang_of(closed) == "sv"
    assert "Denna betalning har avbrutits." in closed


def test_an_english_payment_stays_english_in_a_swedish_browser(app, tiina):
    _, bank_page, _ = bank_page_of(app, "en")
    html = browser(app, "sv").get(bank_page).get_data(as_text=True)
    assert lang_of(html) == "en"
    assert "Choose your bank" in html and "Skip to content" in html
    assert "Välj bank" not in html and "Hoppa till innehållet" not in html


@pytest.mark.parametrize(
    ("culture", "page_lang"),
    [("SV_SE", "sv"), ("sv_se", "sv"), ("EN_us", "en"), ("Fi_Fi", "fi"), ("", "fi")],
)
def test_the_culture_is_read_in_any_letter_case(app, culture, page_lang):
    """A culture as real clients write it (the form signed as sent); none: the default fi."""
    payment = example_payment(order_number=f"CASE-{culture or 'none'}")
    fields = dict(pc.build_form(payment, channel_id="123", secret=SECRET))
    fields["CULTURE"] = culture
    fields["AUTHCODE"] = pc.form_authcode(fields, secret=SECRET, charset="UTF-8")
    client = browser(app, "en" if page_lang != "en" else "fi")
    bank_page = opened(client, fields)
    assert BANK_PAGE.search(bank_page)
    assert lang_of(client.get(bank_page).get_data(as_text=True)) == page_lang
