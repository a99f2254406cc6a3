"""The payment service's METHOD codes read as the names of the banks and cards they are.

The service answers a paid payment with METHOD, a number; nobody should read "Maksutapa 1".
The table is the service's own; an unknown code is still said to be a payment method.
"""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale

from sandboxes.payment_service import views as payment_sandbox
from services.payments import methods as payment_methods
from services.payments.methods import method_name
from tests.fixtures import payment_channel as payment_channel_fixtures
from tests.fixtures import payments as payments_fixtures
from tests.fixtures.payment_channel import SECRET as CHANNEL_SECRET
from tests.fixtures.payment_channel import opened, pay, shop_form
from tests.fixtures.payments import CHANNEL_CONFIG, _answer, _call

# Fixtures of the sandbox's and the portal's payment tests.
shop = payment_channel_fixtures.shop
# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.
tiina = payments_fixtures.tiina
payer = payments_fixtures.payer
staff = payments_fixtures.staff
started = payments_fixtures.started


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config.update(CHANNEL_CONFIG)
    return app_config


@pytest.fixture
def seed_channel(app) -> None:
    """The sandbox as the seed's test channel (p. 12), which shop_form signs for."""
    app.config.update(
        PAYMENT_CHANNEL_SECRET=CHANNEL_SECRET, PAYMENT_COMMISSION_CLASSES={"1": "2.5"}
    )


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("1", "Nordea"),
        ("2", "Osuuspankki"),
        ("3", "Danske Bank"),
        ("5", "Ålandsbanken"),
        ("6", "Handelsbanken"),
        ("10", "S-Pankki"),
        ("50", "Aktia"),
        ("51", "POP Pankki"),
        ("52", "Säästöpankki"),
        ("61", "Oma Säästöpankki"),
        ("53", "Visa (Nets)"),
        ("58", "MobilePay"),
        ("9", "PayPal"),
        ("30", "Visa"),  # withdrawn by the service, but an old payment keeps its code
        (" 1 ", "Nordea"),
    ],
)
@pytest.mark.parametrize("language", ["fi", "sv", "nb", "en"])
def test_a_code_of_the_services_table_is_the_methods_own_name(app, code, name, language):
    with app.test_request_context(), force_locale(language):
        assert method_name(code) == name


def test_a_descriptive_name_is_translated(app):
    with app.test_request_context(), force_locale("en"):
        assert method_name("11") == "Klarna invoice"
        assert method_name("12") == "Klarna instalments"
    assert not isinstance(payment_methods.METHODS["11"], str)  # lazy: read in the language


@pytest.mark.parametrize("language", ["fi", "sv", "nb", "en"])
def test_an_unknown_code_is_named_a_payment_method_never_a_bare_number(app, language):
    with app.test_request_context(), force_locale(language):
        shown = method_name("99")
    assert "99" in shown and shown.strip() != "99"
    with app.test_request_context(), force_locale("en"):
        assert method_name("99") == "Payment method 99"
        assert method_name("<b>") == "Payment method <b>"  # text: the template escapes it


@pytest.mark.parametrize("code", [None, "", "  "])
def test_no_code_is_no_name(app, code):
    with app.test_request_context():
        assert method_name(code) == ""


def test_the_sandbox_offers_the_services_banks_by_their_codes(client, shop, seed_channel):
    html = client.get(opened(client, shop_form(shop))).get_data(as_text=True)
    offered = dict(
        re.findall(r'value="(\d+)" required[^>]*> <label for="method-\d+">([^<]+)<', html)
    )
    assert offered == {code: str(payment_methods.METHODS[code]) for code in payment_methods.BANKS}
    assert offered["50"] == "Aktia" and offered["61"] == "Oma Säästöpankki"


def test_the_sandbox_answers_with_the_chosen_banks_code(app, client, shop, seed_channel):
    bank_page = opened(client, shop_form(shop))
    location = pay(client, bank_page, method="52").headers["Location"]
    assert "METHOD=52" in location
    [transaction] = payment_sandbox.transactions(app)
    assert transaction["method"] == "52"


def test_the_staff_payment_page_names_the_bank(app, payer, staff, started):
    assert _call(payer, "return", _answer(started.order, method="1")).status_code in (200, 302, 303)
    text = staff.get(f"/staff/payments/{started.order}").get_data(as_text=True)
    assert re.search(r"Payment method</dt><dd>Nordea</dd>", text), text
    staff.post("/language", data={"language": "fi", "next": "/"})
    text = staff.get(f"/staff/payments/{started.order}").get_data(as_text=True)
    assert re.search(r"Maksutapa</dt><dd>Nordea</dd>", text)
    assert "Maksutapa</dt><dd>1<" not in text
