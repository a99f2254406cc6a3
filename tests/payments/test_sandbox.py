"""The payment service sandbox: the channel form checked by the seed's rules, the bank page,
paying and cancelling, and the notify calls to a shop on loopback.

The shop is a tiny HTTP server that records every GET (the notify calls); the payer is
Flask's test client (and, in the last tests, `requests` over a live server and Chromium).
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from models.auth import Role
from sandboxes.payment_service import views as payment_sandbox
from services.payments import channel as pc
from tests.fixtures import payment_channel as channel_fixtures
from tests.fixtures.payment_channel import (
    BANK_PAGE,
    EXAMPLE_FORM,
    FORM,
    SECRET,
    SEED_AUTHCODE_ISO,
    SEED_AUTHCODE_UTF8,
    URL,
    body,
    example_payment,
    opened,
    pay,
    post,
    shop_form,
)

shop = channel_fixtures.shop


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config.update(
        {
            "PAYMENT_CHANNEL_ID": "123",
            "PAYMENT_CHANNEL_SECRET": SECRET,  # the seed's test channel (p. 12)
            "PAYMENT_CHARSET": "UTF-8",
            "PAYMENT_COMMISSION_CLASSES": {"1": "2.5"},
            "PAYMENT_SANDBOX_NOTIFY_DELAY": 3600,
        }
    )
    return app_config


def signed(fields: dict[str, str], charset: str = "UTF-8") -> dict[str, str]:
    """The fields with their AUTHCODE computed anew (a form the channel built, wrong or not).

    With a nonsensical ITEMS there is no AUTHCODE to compute: the service refuses ITEMS and
    does not get as far as the AUTHCODE.
    """
    fields = {k: v for k, v in fields.items() if k != "AUTHCODE"}
    if not (fields["ITEMS"].isdigit() and int(fields["ITEMS"]) < 100):
        return fields | {"AUTHCODE": SEED_AUTHCODE_UTF8}
    return fields | {"AUTHCODE": pc.form_authcode(fields, secret=SECRET, charset=charset)}


def cancel(client, bank_page: str):
    return client.post(bank_page.replace("/pay/", "/cancel/"))


def query(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


def stored(app) -> list[dict]:
    return payment_sandbox.transactions(app)


# --- The seed's example ----------------------------------------------------------------


def test_the_seeds_example_form_in_utf8_is_accepted(client, app):
    fields = EXAMPLE_FORM + [("AUTHCODE", SEED_AUTHCODE_UTF8)]
    bank_page = opened(client, fields)
    [payment] = stored(app)
    assert payment["state"] == "open" and payment["charset"] == "UTF-8"
    assert payment["order_number"] == "12345678"
    assert payment["total"] == "18.00"  # 1 × 10.00 + 2 × 5.00 less 20 %
    assert payment["fields"]["CONTACT_LASTNAME"] == "Meikäläinen"
    assert BANK_PAGE.search(bank_page)[1] == payment["token"]


@pytest.mark.parametrize("channel_charset", ["ISO-8859-1", "UTF-8"])
def test_the_seeds_example_form_in_iso_8859_1_as_published(app_config, channel_charset):
    """The p. 13 form: lower-case names, the ISO-8859-1 AUTHCODE in lower case, ISO bytes.

    A channel of either charset: the service detects the charset of what it receives.
    """
    from app import create_app

    app_config["PAYMENT_CHARSET"] = channel_charset
    app = create_app(app_config)
    fields = EXAMPLE_FORM + [("AUTHCODE", SEED_AUTHCODE_ISO.lower())]
    data = body(fields, "iso-8859-1")
    assert b"Meik%E4l%E4inen" in data
    response = app.test_client().post(URL, data=data, content_type=FORM)
    assert response.status_code == 303, response.get_data(as_text=True)
    [payment] = stored(app)
    assert payment["charset"] == "ISO-8859-1"
    assert payment["fields"]["CONTACT_ADDR_CITY"] == "Jyväskylä"


def test_a_charset_in_the_content_type_is_the_one_read(client, app):
    fields = EXAMPLE_FORM + [("AUTHCODE", SEED_AUTHCODE_ISO)]
    opened(client, fields, "iso-8859-1", content_type=f"{FORM}; charset=ISO-8859-1")
    # UTF-8 bytes said to be ISO-8859-1 are read as other letters. The AUTHCODE is of the
    # same bytes, so it fits: the shop sees what it said it sent.
    fields = EXAMPLE_FORM + [("AUTHCODE", SEED_AUTHCODE_UTF8)]
    opened(client, fields, "utf-8", content_type=f"{FORM}; charset=ISO-8859-1")
    first, second = sorted(stored(app), key=lambda payment: payment["received"])
    assert first["fields"]["CONTACT_LASTNAME"] == "Meikäläinen"
    assert second["charset"] == "ISO-8859-1"
    assert second["fields"]["CONTACT_LASTNAME"] == "MeikÃ¤lÃ¤inen"


@pytest.mark.parametrize(
    ("charset", "data", "words"),
    [
        ("utf-8", "last=Meik%E4l%E4inen", "not valid UTF-8"),
        ("utf-16", "a=b", "not supported"),
        ("cp1252", "a=b", "not supported"),
    ],
)
def test_a_declared_charset_is_held_to(client, app, charset, data, words):
    response = client.post(URL, data=data, content_type=f"{FORM}; charset={charset}")
    assert response.status_code == 400
    assert words in response.get_data(as_text=True)
    assert stored(app) == []


# --- Refusals ---------------------------------------------------------------------------


def example_fields() -> dict[str, str]:
    return dict(EXAMPLE_FORM)


REFUSED = [
    ("CURRENCY", "usd", "must be EUR"),
    ("VERSION", "2", "must be 1"),
    ("CULTURE", "de_de", "must be fi_FI, sv_SE or en_US"),
    ("INCLUDE_VAT", "2", "must be 1 (prices include VAT) or 0"),
    ("ITEMS", "3", "must be the number of item lines sent"),
    ("ITEMS", "99999999", "must be the number of item lines sent"),
    ("ITEMS", "0", "must have at least one item line"),
    ("ITEMS", "two", "must contain digits only"),
    ("ITEM_TYPE[0]", "4", "must be one of 1, 2, 3"),
    ("ITEM_PRICE[0]", "-1.00", "must not be negative"),
    ("ITEM_PRICE[0]", "10,00", "must be a number with a dot as decimal separator"),
    ("ITEM_PRICE[0]", "10.001", "must have at most two decimals"),
    ("ITEM_PRICE[0]", "12345678.90", "must be at most 10 characters long"),
    ("ITEM_AMOUNT[1]", "0", "must be greater than zero"),
    ("ITEM_TAX[0]", "100.01", "must be a percentage from 0 to 100"),
    ("ITEM_DISCOUNT[1]", "101", "must be a percentage from 0 to 100"),
    ("ITEM_MERCHANT_ID[0]", "13-466", "must contain digits only"),
    ("ITEM_MERCHANT_ID[0]", None, "is required"),
    ("ITEM_TITLE[1]", "x" * 256, "must be at most 255 characters long"),
    ("CONTACT_ADDR_COUNTRY", "F1", "must be a two-letter ISO 3166 country code"),
    ("CONTACT_ADDR_COUNTRY", "FIN", "must be at most 2 characters long"),
    ("CONTACT_FIRSTNAME", "Ma|tti", 'must not contain the character "|"'),
    ("CONTACT_ADDR_STREET", "Testikatu 1\r\nB 5", "must not contain line breaks"),
    ("ORDER_NUMBER", "x" * 65, "must be at most 64 characters long"),
    ("CONTACT_ADDR_ZIP", "4321A", "must contain digits only"),
    ("CONTACT_EMAIL", None, "is required"),
    ("CONTACT_LASTNAME", "   ", "is required"),
    ("NOTIFY_ADDRESS", None, "is required"),
    ("CHANNEL_ID", "124", "is not a channel of this service"),
    ("CHANNEL_ID", "12a", "must contain digits only"),
    ("RETURN_ADDRESS", "ftp://www.esimerkki.fi/ok", "must be an absolute http or https address"),
    ("CANCEL_ADDRESS", "/cancel", "must be an absolute http or https address"),
    ("ITEM_CP[0]", "2", "is not a commission class of this channel (classes: 1)"),
]


@pytest.mark.parametrize(("field", "value", "message"), REFUSED)
def test_each_wrong_field_is_refused_by_name_and_nothing_kept(client, app, field, value, message):
    fields = example_fields()
    if value is None:
        del fields[field]
    else:
        fields[field] = value
    response = post(client, signed(fields))  # the AUTHCODE fits: only the field is wrong
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f"<code>{field}</code>" in html
    assert message.replace('"', "&#34;") in html
    assert "does not match" not in html  # the AUTHCODE was right
    assert stored(app) == []
    assert not (Path(app.config["PAYMENT_SANDBOX_DIR"]) / "transactions").exists()


def test_every_problem_is_listed(client, app):
    fields = example_fields() | {
        "CURRENCY": "SEK",
        "ITEM_PRICE[0]": "-5",
        "ITEM_TYPE[1]": "9",
        "AUTHCODE": "0" * 32,
    }
    html = post(client, fields).get_data(as_text=True)
    for field in ("CURRENCY", "ITEM_PRICE[0]", "ITEM_TYPE[1]", "AUTHCODE"):
        assert f"<code>{field}</code>" in html
    assert "4 problems" in html
    assert ">Problems in the payment form</caption>" in html
    assert '<html lang="en">' in html


@pytest.mark.parametrize(
    "authcode",
    [SEED_AUTHCODE_ISO, "0" * 32, SEED_AUTHCODE_UTF8[:-1], SEED_AUTHCODE_UTF8 + "0", "ä" * 32],
)
def test_a_wrong_authcode_is_refused(client, app, authcode):
    response = post(client, example_fields() | {"AUTHCODE": authcode})
    assert response.status_code == 400
    assert "<code>AUTHCODE</code>" in response.get_data(as_text=True)
    assert stored(app) == []


def test_a_form_of_another_secret_is_refused(client, app):
    form = pc.build_form(example_payment(), channel_id="123", secret="not-the-channels")
    response = post(client, form)
    assert response.status_code == 400
    assert "does not match" in response.get_data(as_text=True)


def test_a_missing_authcode_is_refused(client):
    response = post(client, example_fields())
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "<code>AUTHCODE</code>" in html and "is required" in html


def test_a_field_sent_twice_is_refused(client, app):
    fields = [*signed(example_fields()).items(), ("ORDER_NUMBER", "12345679")]
    response = post(client, fields)
    assert response.status_code == 400
    assert "was sent more than once" in response.get_data(as_text=True)
    assert stored(app) == []


def test_unknown_fields_are_ignored(client, app):
    """A submit button's name travels with the form: it is outside the AUTHCODE, and the
    payment is the one the same form makes without it."""
    fields = signed(example_fields())
    with_button = opened(client, [*fields.items(), ("SUBMIT", "Maksa")])
    without = opened(client, list(fields.items()))
    assert client.get(with_button).status_code == 200
    first, second = stored(app)
    same = ("order_number", "lines", "total", "include_vat", "return_address")
    assert [first[key] for key in same] == [second[key] for key in same]
    assert with_button != without


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"", FORM),
        (b"garbage", FORM),
        (b"%ff%fe=%80%81&&&==", FORM),
        (b"\xff\xfe\xfd=\xc3", FORM),
        (b"a=1&" * 999, FORM),
        (b'{"ORDER_NUMBER": "1"}', "application/json"),
        (b"ITEMS=99999999999999999999", FORM),
        (b"items=99999999&item_title[99999998]=x", FORM),
        (b"item_title[0]=%00", FORM),
    ],
)
def test_garbage_is_a_400_page(client, app, data, content_type):
    response = client.post(URL, data=data, content_type=content_type)
    assert response.status_code == 400
    assert stored(app) == []


def test_too_many_fields_are_refused(app):
    assert payment_sandbox.MAX_FIELDS < 10**6
    data = b"&".join([b"a=1"] * (payment_sandbox.MAX_FIELDS + 1))
    with pytest.raises(payment_sandbox.FormRefused, match="more than"):
        payment_sandbox._read_form(data, None, "UTF-8")


def test_a_paid_order_number_is_refused_again(client, app, shop):
    fields = shop_form(shop)
    first = opened(client, fields)
    second = opened(client, fields)  # not paid yet: may be tried again
    assert pay(client, first).status_code == 303
    response = post(client, fields)
    assert response.status_code == 400
    assert "this order has already been paid" in response.get_data(as_text=True)
    # The other payment of the order cannot be paid now either.
    response = pay(client, second)
    assert response.status_code == 409
    assert "Tilaus on jo maksettu toisella maksulla." in response.get_data(as_text=True)
    assert len(shop.notifies()) == 1
    assert [t["state"] for t in stored(app)].count("paid") == 1


# --- Paying ------------------------------------------------------------------------------


def test_pay_calls_the_notify_then_returns_the_payer_with_the_same_parameters(client, app, shop):
    bank_page = opened(client, shop_form(shop))
    response = pay(client, bank_page, method="2")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{shop.url}/ok?")
    returned = query(location)
    [notified] = shop.notifies()  # called before the payer was sent back
    assert notified == returned
    assert list(returned) == ["ORDER_NUMBER", "TIMESTAMP", "PAID", "METHOD", "RETURN_AUTHCODE"]
    result = pc.verify_return(returned, SECRET)
    assert result.authentic and result.paid, result.error
    assert result.order_number == "12345678" and result.method == "2"
    assert re.fullmatch(r"[0-9A-F]{16}", result.paid_code)
    assert abs(int(result.timestamp) - time.time()) < 60
    [payment] = stored(app)
    assert payment["state"] == "paid" and payment["paid"] == result.paid_code
    [attempt] = payment["notifies"]
    assert attempt["status"] == 200 and attempt["error"] is None and attempt["kind"] == "now"


def test_paid_codes_are_unique(client, shop):
    codes = set()
    for number in range(5):
        bank_page = opened(client, shop_form(shop, order_number=f"T-{number}"))
        codes.add(query(pay(client, bank_page).headers["Location"])["PAID"])
    assert len(codes) == 5


def test_paying_twice_answers_the_same_and_pays_once(client, app, shop):
    bank_page = opened(client, shop_form(shop))
    first = pay(client, bank_page, method="1")
    second = pay(client, bank_page, method="3", notify="twice")
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(shop.notifies()) == 1
    assert client.post(bank_page, data={}).headers["Location"] == first.headers["Location"]


def test_twice_calls_the_notify_two_times(client, shop):
    bank_page = opened(client, shop_form(shop))
    returned = query(pay(client, bank_page, notify="twice").headers["Location"])
    assert shop.notifies() == [returned, returned]


def test_delayed_calls_no_notify_now_and_one_when_due(client, app, shop):
    bank_page = opened(client, shop_form(shop))
    paid_at = time.time()
    returned = query(pay(client, bank_page, notify="delayed").headers["Location"])
    assert pc.verify_return(returned, SECRET).authentic
    assert shop.notifies() == []
    [payment] = stored(app)
    assert payment["notify_due"] == pytest.approx(paid_at + 3600, abs=60)
    assert payment_sandbox.deliver_due_notifies(app, now=paid_at + 60) == 0
    assert shop.notifies() == []
    assert payment_sandbox.deliver_due_notifies(app, now=paid_at + 3700) == 1
    assert shop.notifies() == [returned]
    assert payment_sandbox.deliver_due_notifies(app, now=paid_at + 9999) == 0
    [payment] = stored(app)
    assert payment["notify_due"] is None
    assert [a["kind"] for a in payment["notifies"]] == ["delayed"]


def test_a_delayed_notify_comes_by_itself(app_config, shop):
    from app import create_app

    app_config["PAYMENT_SANDBOX_NOTIFY_DELAY"] = 0.05
    client = create_app(app_config).test_client()
    bank_page = opened(client, shop_form(shop))
    returned = query(pay(client, bank_page, notify="delayed").headers["Location"])
    assert shop.arrived.acquire(timeout=10)
    assert shop.notifies() == [returned]


def test_a_delayed_notify_due_over_a_restart_goes_with_the_next_page(client, app, shop):
    bank_page = opened(client, shop_form(shop))
    pay(client, bank_page, notify="delayed")
    token = BANK_PAGE.search(bank_page)[1]
    # As if the process had stopped and its timer with it: the due time is past.
    due = Path(app.config["PAYMENT_SANDBOX_DIR"]) / "due" / token
    due.write_text(str(time.time() - 1))
    assert client.get(f"/sandbox/payment/pay/{'0' * 32}").status_code == 404
    assert len(shop.notifies()) == 1


def test_no_bank_chosen_shows_the_page_again(client, app, shop):
    bank_page = opened(client, shop_form(shop))
    for data in ({}, {"method": "4"}, {"method": "1", "notify": "never"}):
        response = client.post(bank_page, data=data)
        assert response.status_code == 400
        assert "Valitse pankki, jolla maksat." in response.get_data(as_text=True)
    assert stored(app)[0]["state"] == "open"
    assert shop.calls == []


def test_a_notify_address_with_a_query_and_a_pipe(client, shop):
    fields = shop_form(shop, notify_address=f"{shop.url}/notify?shop=a|b")
    assert fields["NOTIFY_ADDRESS"].endswith("/notify?shop=a%7Cb")
    bank_page = opened(client, fields)
    returned = query(pay(client, bank_page).headers["Location"])
    [notified] = shop.notifies()
    assert notified == {"shop": "a|b"} | returned


def test_a_failed_notify_is_recorded(client, app, shop):
    shop.status = 500
    bank_page = opened(client, shop_form(shop))
    assert pay(client, bank_page).status_code == 303  # the payer still goes back
    [attempt] = stored(app)[0]["notifies"]
    assert attempt["status"] == 500 and "HTTP 500" in attempt["error"]


def test_an_unreachable_notify_address_is_recorded(client, app, shop):
    fields = shop_form(shop, notify_address="http://127.0.0.1:9/notify")
    assert pay(client, opened(client, fields)).status_code == 303
    [attempt] = stored(app)[0]["notifies"]
    assert attempt["status"] is None and "ConnectionError" in attempt["error"]


# --- Cancelling ----------------------------------------------------------------------------


def test_cancel_returns_the_payer_with_a_failure_authcode(client, app, shop):
    bank_page = opened(client, shop_form(shop))
    response = cancel(client, bank_page)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{shop.url}/cancel?")
    returned = query(location)
    assert list(returned) == ["ORDER_NUMBER", "TIMESTAMP", "RETURN_AUTHCODE"]
    result = pc.verify_return(returned, SECRET)
    assert result.authentic and not result.paid
    assert cancel(client, bank_page).headers["Location"] == location  # the same again
    assert shop.calls == []  # no notify for a cancel
    # A cancelled payment cannot be paid.
    response = pay(client, bank_page)
    assert response.status_code == 409
    assert "Tämä maksu on peruutettu." in response.get_data(as_text=True)
    assert stored(app)[0]["state"] == "cancelled"
    assert shop.calls == []
    # Its order is not paid: the shop may try again.
    opened(client, shop_form(shop))


def test_a_paid_payment_cannot_be_cancelled(client, shop):
    bank_page = opened(client, shop_form(shop))
    location = pay(client, bank_page).headers["Location"]
    response = cancel(client, bank_page)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Tämä maksu on jo maksettu." in html
    assert f'href="{location.replace("&", "&amp;")}"' in html  # back to the shop, as paid
    assert client.get(bank_page).status_code == 200  # the page says so too


def test_unknown_tokens_are_404(client, app, make_user, auth):
    for path in (f"/pay/{'a' * 32}", "/pay/x", "/pay/..%2F..%2Fetc"):
        assert client.get(f"/sandbox/payment{path}").status_code == 404
        assert client.post(f"/sandbox/payment{path}", data={"method": "1"}).status_code == 404
    assert client.post(f"/sandbox/payment/cancel/{'a' * 32}").status_code == 404
    make_user("staff@example.com", role=Role.STAFF, org=None)
    auth.login("staff@example.com")
    assert client.post(f"/sandbox/payment/notify/{'a' * 32}").status_code == 404


# --- The bank page -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("culture", "lang", "words"),
    [
        (None, "fi", ["Valitse pankki", "Maksa 18,00", "Peruuta maksu", "Tilauksen tuotteet"]),
        ("fi_FI", "fi", ["Valitse pankki", "Hinnat sisältävät arvonlisäveron."]),
        ("sv_SE", "sv", ["Välj bank", "Betala 18,00", "Avbryt betalningen", "Ordernummer"]),
        ("en_US", "en", ["Choose your bank", "Pay €18.00", "Cancel the payment"]),
    ],
)
def test_the_bank_page_speaks_the_cultures_language(client, shop, culture, lang, words):
    page = client.get(opened(client, shop_form(shop, culture=culture)))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    for word in words:
        assert word in html.replace("\xa0", " ")
    assert "Esimerkkituote 2" in html and "13466" in html and "Ålandsbanken" in html
    for mode in payment_sandbox.NOTIFY_MODES:
        assert f'name="notify" value="{mode}"' in html
    assert 'name="method" value="61"' in html  # Oma Säästöpankki (the service's table)


def test_prices_without_vat_are_shown_with_the_vat_added(client, app, shop):
    item = pc.Item(title="Kurssi", amount=2, price="100", tax="25.5", merchant_id=13466, cp=1)
    payment = replace(
        example_payment(
            return_address=f"{shop.url}/ok",
            cancel_address=f"{shop.url}/cancel",
            notify_address=f"{shop.url}/notify",
        ),
        include_vat=0,
        items=[item],
    )
    form = pc.build_form(payment, channel_id="123", secret=SECRET)
    html = client.get(opened(client, form)).get_data(as_text=True)
    assert "Hintoihin lisätään arvonlisävero." in html
    assert "251,00" in html
    assert stored(app)[0]["total"] == "251.00"


def test_the_bank_page_lets_its_forms_lead_to_the_shop(client, shop):
    page = client.get(opened(client, shop_form(shop)))
    policy = page.headers["Content-Security-Policy"]
    assert f"form-action 'self' {shop.url};" in policy
    assert "script-src 'self';" in policy


# --- Staff --------------------------------------------------------------------------------


def test_the_overview_is_for_staff_and_resends_the_notify(client, app, auth, make_user, shop):
    bank_page = opened(client, shop_form(shop))
    returned = query(pay(client, bank_page, method="5").headers["Location"])
    opened(client, shop_form(shop, order_number="OPEN-1"))

    response = client.get("/sandbox/payment/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    make_user("asiakas@example.com", role=Role.CUSTOMER)
    auth.login("asiakas@example.com")
    assert client.get("/sandbox/payment/").status_code == 403
    token = stored(app)[-1]["token"]
    assert client.post(f"/sandbox/payment/notify/{token}").status_code == 403
    auth.logout()

    make_user("staff@example.com", role=Role.STAFF, org=None)
    auth.login("staff@example.com")
    html = client.get("/sandbox/payment/").get_data(as_text=True)
    assert '<div lang="en">' in html and ">Payments received, the newest first</caption>" in html
    assert html.index("OPEN-1") < html.index("12345678")  # the newest first
    assert f"<code>{returned['PAID']}</code>, 5 (Ålandsbanken)" in html
    assert "EUR 18.00" in html and "(now): HTTP 200" in html
    assert html.count("Send the notify now") == 1
    assert "Open the bank page" in html

    shop.status = 503
    response = client.post(f"/sandbox/payment/notify/{token}", follow_redirects=True)
    assert "failed: the shop answered HTTP 503" in response.get_data(as_text=True)
    shop.status = 200
    response = client.post(f"/sandbox/payment/notify/{token}", follow_redirects=True)
    assert "was delivered (HTTP 200)" in response.get_data(as_text=True)
    assert shop.notifies() == [returned] * 3
    kinds = [(a["kind"], a["status"]) for a in stored(app)[-1]["notifies"]]
    assert kinds == [("now", 200), ("resend", 503), ("resend", 200)]
    open_token = stored(app)[0]["token"]
    response = client.post(f"/sandbox/payment/notify/{open_token}", follow_redirects=True)
    assert "is not paid" in response.get_data(as_text=True)


def test_sending_a_delayed_notify_early_sends_it_once(client, app, shop):
    bank_page = opened(client, shop_form(shop))
    pay(client, bank_page, notify="delayed")
    token = BANK_PAGE.search(bank_page)[1]
    attempt = payment_sandbox.send_notify(app, token)
    assert attempt["status"] == 200
    assert payment_sandbox.deliver_due_notifies(app, now=time.time() + 10**6) == 0
    assert len(shop.notifies()) == 1
    assert stored(app)[0]["notify_due"] is None


# --- Mounting and CSRF ---------------------------------------------------------------------


def test_the_sandbox_is_not_mounted_when_off(app_config):
    from app import create_app

    app_config["PAYMENT_SANDBOX"] = False
    client = create_app(app_config).test_client()
    assert client.post(URL, data=body(example_fields())).status_code == 404
    assert client.get("/sandbox/payment/").status_code == 404
    assert client.get(f"/sandbox/payment/pay/{'a' * 32}").status_code == 404


def test_the_sandbox_is_not_mounted_beside_a_real_service(app_config, caplog):
    """It signs with the channel's secret: beside the real service it would hand out
    payments nobody made."""
    from app import create_app

    app_config["PAYMENT_SANDBOX"] = True
    app_config["PAYMENT_SERVICE_URL"] = "https://payment.example.fi/channel-payment"
    with caplog.at_level("WARNING", logger="sandboxes.mount"):
        client = create_app(app_config).test_client()
    assert client.post(URL, data=body(example_fields())).status_code == 404
    assert client.get("/sandbox/payment/").status_code == 404
    assert "PAYMENT_SANDBOX is ignored" in caplog.text


def test_with_csrf_on_the_form_comes_in_and_the_bank_page_needs_its_token(app, app_config, shop):
    from app import create_app

    client = create_app({**app_config, "WTF_CSRF_ENABLED": True}).test_client()
    bank_page = opened(client, shop_form(shop))  # from another site: no token
    assert pay(client, bank_page).status_code == 400
    assert cancel(client, bank_page).status_code == 400
    html = client.get(bank_page).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)[1]
    response = client.post(bank_page, data={"csrf_token": token, "method": "1"})
    assert response.status_code == 303 and response.headers["Location"].startswith(shop.url)
    assert len(shop.notifies()) == 1


# --- Over real HTTP ------------------------------------------------------------------------


def test_the_whole_payment_over_http(live_server, app, shop):
    """As the portal's end-to-end tests drive it: post, follow, pay, follow to the shop."""
    with requests.Session() as session:
        form = shop_form(shop, charset="ISO-8859-1")
        data = urlencode(list(form.items()), encoding="iso-8859-1")
        response = session.post(
            f"{live_server}{URL}", data=data, headers={"Content-Type": FORM}, timeout=10
        )
        assert response.status_code == 200 and BANK_PAGE.search(response.url)
        assert "Valitse pankki" in response.text
        response = session.post(response.url, data={"method": "10", "notify": "now"}, timeout=10)
        assert response.status_code == 200  # the shop's return page
        assert response.url.startswith(f"{shop.url}/ok?")
    returned = query(response.url)
    assert shop.notifies() == [returned]
    assert pc.verify_return(returned, SECRET).method == "10"
    assert stored(app)[0]["charset"] == "ISO-8859-1"


@pytest.mark.browser
def test_the_pages_are_accessible(browser_page, live_server, app, make_user):
    """axe on the refusal, the bank page (sv and fi), the return, the page of a paid payment
    and the overview."""
    browser = browser_page
    page = browser.page
    home = f"{live_server}/"

    def post_from_the_shop(fields: dict[str, str]) -> None:
        inputs = "".join(
            f'<input type="hidden" name="{name.lower()}" value="{value}">'
            for name, value in fields.items()
        )
        page.set_content(
            f'<!doctype html><html lang="fi"><title>Kauppa</title><main>'
            f'<form method="post" action="{live_server}{URL}">{inputs}'
            f"<button>Maksamaan</button></form></main></html>"
        )
        browser.navigate(lambda: page.get_by_role("button", name="Maksamaan").click())

    post_from_the_shop(example_fields())  # no AUTHCODE: refused
    assert "AUTHCODE" in page.locator("table").inner_text()

    shop = dict(return_address=home, cancel_address=home, notify_address=home)
    for number, culture in enumerate(["sv_SE", "fi_FI"]):
        form = pc.build_form(
            example_payment(order_number=f"A-{number}", culture=culture, **shop),
            channel_id="123",
            secret=SECRET,
        )
        post_from_the_shop(dict(form))
        assert BANK_PAGE.search(page.url)
    bank_page = urlsplit(page.url).path
    page.get_by_label("Osuuspankki").check()
    browser.navigate(lambda: page.get_by_role("button", name=re.compile("^Maksa")).click())
    assert "PAID=" in page.url and page.url.startswith(home)
    browser.goto(bank_page)  # paid now: the page says so
    assert "Tämä maksu on jo maksettu." in page.locator("main").inner_text()

    make_user("staff@example.com", role=Role.STAFF, org=None)
    page.context.request.post(
        f"{live_server}/auth/login",
        form={"email": "staff@example.com", "password": "correct horse battery"},
    )
    browser.goto("/sandbox/payment/")
    assert "A-1" in page.locator("table").inner_text()
    assert len(browser.checked) == 6
