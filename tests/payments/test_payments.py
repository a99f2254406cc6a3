"""Online payment in the portal: starting a payment of an invoice (the channel form, its
fields and their checks).

The payment service's side is played here by hand: the tests read the channel form the
payer's browser would post (the hidden fields of the page that goes to the service) and
answer at /payments/return, /payments/cancel and /payments/notify with parameters signed
as the seed (pp. 10-11) says. Payers, Tiina, Olli and Kaisa see the pages in English.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from extensions import db
from models.invoicing import InvoiceStatus
from models.payments import OnlinePayment, PaymentState
from services.payments import channel as pc
from tests.fixtures import invoicing as inv
from tests.fixtures import payments as payments_fixtures
from tests.fixtures.invoicing import (
    PAYER_EMAIL,
    TIINA,
    count,
    field_error,
    forward,
    invoice_row,
    make_sent,
    page,
    sent_invoice,
)
from tests.fixtures.payments import (
    CHANNEL_ID,
    CONTACT,
    HEAD_ORDER,
    ITEM_ORDER,
    SECRET,
    _enrol_online,
    _fields,
    _form_items,
    _form_tag,
    _lines,
    _pay_url,
    _payment,
    _start,
    _start_invoice_payment,
    _token,
    _token_of,
)

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The payment tests' world (tests/fixtures/payments.py).
app_config = payments_fixtures.app_config
payer = payments_fixtures.payer
payments_log_enabled = payments_fixtures.payments_log_enabled
staff = payments_fixtures.staff
started = payments_fixtures.started
tiina = payments_fixtures.tiina


# ================================================================= 1. starting


def test_the_pay_page_of_a_forwarded_invoice_is_prefilled_from_the_payer(app, tiina, staff, payer):
    number = sent_invoice(tiina, app, "sahkoposti")
    forward(staff, number, finalise=False)
    assert invoice_row(app, number).status == InvoiceStatus.FORWARDED
    response = payer.get(_pay_url(app, number))
    assert response.status_code == 200
    text = page(response)
    assert '<form method="post"' in text
    assert number in text
    assert "125.50" in text  # the amount to pay
    for name, value in [
        ("company", "Asiakas Oy"),
        ("email", PAYER_EMAIL),
        ("street", "Esimerkkikatu 5"),
        ("postcode", "00500"),
        ("city", "Helsinki"),
    ]:
        assert re.search(rf'<input[^>]*name="{name}"[^>]*value="{re.escape(value)}"', text), name
    assert re.search(r'<option selected value="FI">|<option value="FI" selected', text)
    assert count(app, OnlinePayment) == 0  # looking starts nothing


def test_the_pay_page_of_an_open_invoice_starts_a_payment(app, tiina, staff, payer):
    number = inv.open_invoice(app, tiina, staff)
    fields = _start_invoice_payment(app, payer, number)
    payment = _payment(app)
    assert (payment.order_number, payment.state) == (fields["ORDER_NUMBER"], PaymentState.CREATED)
    assert payment.amount == Decimal("125.49")
    assert (payment.first_name, payment.last_name, payment.email) == (
        "Matti",
        "Meikäläinen",
        "matti@asiakas.example.com",
    )
    assert (payment.street, payment.postcode, payment.city, payment.country) == (
        "Testikatu 1",
        "43210",
        "Jyväskylä",
        "FI",
    )
    assert (payment.sales_invoice_id, payment.enrolment_id) == (invoice_row(app, number).id, None)


@pytest.mark.parametrize(
    "status",
    [
        InvoiceStatus.SUBMITTED,
        InvoiceStatus.FORWARDING,
        InvoiceStatus.CORRECTION,
        InvoiceStatus.PAID,
    ],
    ids=lambda s: s.name,
)
def test_an_invoice_not_sent_to_the_payer_or_paid_cannot_be_paid(app, tiina, payer, status):
    number = make_sent(app, TIINA, status=status)
    url = _pay_url(app, number)
    response = payer.get(url)
    assert response.status_code == 200
    text = page(response)
    assert "This invoice cannot be paid online now" in text
    assert '<form method="post"' not in text
    posted = payer.post(url, data=CONTACT)
    assert posted.status_code == 200
    assert "accept-charset" not in posted.text
    assert count(app, OnlinePayment) == 0


def test_a_draft_cannot_be_paid(app, tiina, payer):
    """A draft has no number or reference: its pay page once failed (a 500) on
    grouped_reference(None) in payments/_what.html before saying it cannot be paid."""
    draft = tiina.post("/invoices/new", data=inv.invoice_form(action="save"))
    draft_id = int(draft.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    url = f"/payments/invoice/{_token_of(app, draft_id)}"
    response = payer.get(url)
    assert response.status_code == 200
    assert "This invoice cannot be paid online now" in page(response)
    assert payer.post(url, data=CONTACT).status_code == 200
    assert count(app, OnlinePayment) == 0


def test_a_link_opened_after_online_payment_was_switched_off(app, tiina, payer, make_course):
    """A link mailed while online payment was in use: a clear page, nothing started."""
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    course_url = _enrol_online(payer, make_course().id)
    app.config["PAYMENT_CHANNEL_SECRET"] = ""
    invoice_url = _pay_url(app, number)
    for url, message in (
        (invoice_url, "Pay the invoice by bank transfer with its reference number"),
        (course_url, "Contact the training organiser about paying the course fee"),
    ):
        for response in (payer.get(url), payer.post(url, data=CONTACT)):
            assert response.status_code == 503
            text = page(response)
            assert "Online payment is not in use at the moment" in text and message in text
            assert '<form method="post"' not in text and "accept-charset" not in response.text
    assert count(app, OnlinePayment) == 0


def test_a_bad_token_is_not_found(app, tiina, payer, make_course):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    token = _token(app, number)
    assert payer.get(f"/payments/invoice/{token}x").status_code == 404
    assert payer.get("/payments/invoice/garbage").status_code == 404
    assert payer.post("/payments/invoice/garbage", data=CONTACT).status_code == 404
    assert payer.get("/payments/course/garbage").status_code == 404
    # An invoice's token does not open a course fee (another salt), nor a missing invoice.
    assert payer.get(f"/payments/course/{token}").status_code == 404
    from services.payments import links as payment_links

    with app.app_context():
        missing = payment_links._serializer("invoice-payment").dumps(999999)
    assert payer.get(f"/payments/invoice/{missing}").status_code == 404
    assert count(app, OnlinePayment) == 0


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"first_name": ""}, "first_name", "Enter your first name."),
        ({"last_name": "  "}, "last_name", "Enter your last name."),
        ({"email": ""}, "email", "Enter your email address."),
        ({"street": ""}, "street", "Enter your street address."),
        ({"postcode": ""}, "postcode", "Enter your postcode."),
        ({"city": ""}, "city", "Enter your city."),
        ({"first_name": "Matti|Maija"}, "first_name", 'Remove the character "|".'),
        ({"company": "Asiakas | Oy"}, "company", 'Remove the character "|".'),
        ({"street": "Testikatu 1|2"}, "street", 'Remove the character "|".'),
        ({"city": "Jyväs|kylä"}, "city", 'Remove the character "|".'),
        ({"postcode": "4321"}, "postcode", "A Finnish postcode has five digits."),
        ({"postcode": "432100"}, "postcode", "A Finnish postcode has five digits."),
        ({"postcode": "43 210"}, "postcode", "The payment service takes a postcode of digits."),
        ({"postcode": "SE-123"}, "postcode", "The payment service takes a postcode of digits."),
    ],
)
def test_the_payers_details_are_checked(app, tiina, payer, data, field, message):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    response = payer.post(_pay_url(app, number), data={**CONTACT, **data})
    assert response.status_code == 422
    text = page(response)
    assert message in field_error(text, field)
    assert f'href="#{field}"' in text  # in the error summary
    assert "accept-charset" not in text
    assert count(app, OnlinePayment) == 0


def test_a_foreign_postcode_need_not_have_five_digits(app, tiina, payer):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    fields = _start(payer, _pay_url(app, number), postcode="1234", country="SE")
    assert (fields["CONTACT_ADDR_ZIP"], fields["CONTACT_ADDR_COUNTRY"]) == ("1234", "SE")


def test_a_refused_form_takes_no_order_number(app, tiina, payer):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    url = _pay_url(app, number)
    assert payer.post(url, data={**CONTACT, "postcode": "1"}).status_code == 422
    assert _start(payer, url)["ORDER_NUMBER"] == "VM100001"


def _channel_form(app, payer, number: str, **contact) -> list[tuple[str, str]]:
    response = payer.post(_pay_url(app, number), data={**CONTACT, **contact})
    assert response.status_code == 200, page(response)
    return _form_items(response.text)


def test_the_channel_form_has_the_documented_fields_in_order_with_authcode_last(app, tiina, payer):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    items = _channel_form(app, payer, number)
    names = [name for name, _value in items]
    assert names[-1] == "AUTHCODE"
    assert len(names) == len(set(names))
    documented = HEAD_ORDER + [f"{name}[0]" for name in ITEM_ORDER]
    assert names[:-1] == [name for name in documented if name in names]
    fields = dict(items)
    assert {
        "CHANNEL_ID": CHANNEL_ID,
        "CURRENCY": "EUR",
        "RETURN_ADDRESS": "http://portal.test/payments/return",
        "CANCEL_ADDRESS": "http://portal.test/payments/cancel",
        "NOTIFY_ADDRESS": "http://portal.test/payments/notify",
        "VERSION": "1",
        "CONTACT_EMAIL": "matti@asiakas.example.com",
        "CONTACT_FIRSTNAME": "Matti",
        "CONTACT_LASTNAME": "Meikäläinen",
        "CONTACT_COMPANY": "Asiakas Oy",
        "CONTACT_ADDR_STREET": "Testikatu 1",
        "CONTACT_ADDR_ZIP": "43210",
        "CONTACT_ADDR_CITY": "Jyväskylä",
        "CONTACT_ADDR_COUNTRY": "FI",
        "INCLUDE_VAT": "1",
        "ITEMS": "1",
        "ITEM_NO[0]": number,
        "ITEM_AMOUNT[0]": "1",
        "ITEM_PRICE[0]": "125.50",
        "ITEM_TAX[0]": "25.5",
        "ITEM_MERCHANT_ID[0]": "20001",
        "ITEM_CP[0]": "1",
    }.items() <= fields.items(), fields
    assert number in fields["ITEM_TITLE[0]"]


def test_the_authcode_is_the_md5_of_the_secret_and_every_field_in_order(app, tiina, payer):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    fields = dict(_channel_form(app, payer, number))
    assert fields["AUTHCODE"] == pc.form_authcode(fields, secret=SECRET)
    # By hand, as the seed's example does: the secret, then each field or "" if not sent.
    values = [SECRET] + [fields.get(name, "") for name in HEAD_ORDER]
    values += [fields.get(f"{name}[0]", "") for name in ITEM_ORDER]
    expected = hashlib.md5("|".join(values).encode("utf-8")).hexdigest().upper()
    assert fields["AUTHCODE"] == expected
    assert re.fullmatch(r"[0-9A-F]{32}", fields["AUTHCODE"])
    assert fields["AUTHCODE"] != pc.form_authcode(fields, secret="another secret")


def test_markup_characters_reach_the_service_as_typed(app, tiina, payer):
    """The page escapes the values; the browser posts them unescaped, as signed."""
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    response = payer.post(
        _pay_url(app, number), data={**CONTACT, "company": 'Asiakas & "Poika" <Oy>'}
    )
    assert 'Asiakas & "Poika" <Oy>' not in response.text  # escaped in the page
    fields = _fields(response.text)
    assert fields["CONTACT_COMPANY"] == 'Asiakas & "Poika" <Oy>'
    assert fields["AUTHCODE"] == pc.form_authcode(fields, secret=SECRET)


def test_a_part_paid_invoice_pays_its_balance_in_one_line(app, tiina, staff, payer):
    number = inv.open_invoice(app, tiina, staff)
    assert inv.pay(staff, number, "100,00").status_code == 302
    fields = dict(_channel_form(app, payer, number))
    assert fields["ITEMS"] == "1"
    assert (fields["ITEM_AMOUNT[0]"], fields["ITEM_PRICE[0]"]) == ("1", "25.49")
    assert "balance" in fields["ITEM_TITLE[0]"]
    assert _payment(app).amount == Decimal("25.49")


def _two_rate_invoice(app, tiina, staff) -> str:
    """3 × 33,33 € at 25,5 % (125,49 €) and 19,99 € at 13,5 % (22,69 €): 148,18 €."""
    number = sent_invoice(
        tiina,
        app,
        **{
            "lines-0-quantity": "3",
            "lines-0-unit_price": "33,33",
            "lines-1-description": "Kirja",
            "lines-1-quantity": "1",
            "lines-1-unit": "kpl",
            "lines-1-unit_price": "19,99",
            "lines-1-vat_percent": "13.5",
        },
    )
    forward(staff, number)
    return number


def test_an_invoice_with_two_vat_rates_pays_a_line_per_rate_to_the_cent(app, tiina, staff, payer):
    number = _two_rate_invoice(app, tiina, staff)
    gross = invoice_row(app, number).gross
    assert gross == Decimal("148.18")
    fields = dict(_channel_form(app, payer, number))
    assert fields["ITEMS"] == "2"
    lines = {
        fields[f"ITEM_TAX[{x}]"]: Decimal(fields[f"ITEM_PRICE[{x}]"])
        * Decimal(fields[f"ITEM_AMOUNT[{x}]"])
        for x in range(2)
    }
    assert lines == {"25.5": Decimal("125.49"), "13.5": Decimal("22.69")}
    assert sum(lines.values()) == gross
    assert fields["INCLUDE_VAT"] == "1"
    assert {fields["ITEM_MERCHANT_ID[0]"], fields["ITEM_MERCHANT_ID[1]"]} == {"20001"}
    assert fields["AUTHCODE"] == pc.form_authcode(fields, secret=SECRET)
    assert _payment(app).amount == gross
    stored = _lines(app, fields["ORDER_NUMBER"])
    assert [(line.total, line.vat_percent) for line in stored] == [
        (Decimal("125.49"), Decimal("25.50")),
        (Decimal("22.69"), Decimal("13.50")),
    ]


def test_a_part_paid_invoice_with_two_vat_rates_pays_the_balance_pro_rata(app, tiina, staff, payer):
    """48,18 € of 148,18 € left: 25,5 % carries 125,49/148,18 of it, 13,5 % the rest;
    the odd cent goes to the larger remainder (4080,25 and 737,75 cents)."""
    number = _two_rate_invoice(app, tiina, staff)
    assert inv.pay(staff, number, "100,00").status_code == 302
    fields = dict(_channel_form(app, payer, number))
    assert fields["ITEMS"] == "2"
    got = [(fields[f"ITEM_TAX[{x}]"], fields[f"ITEM_PRICE[{x}]"]) for x in range(2)]
    assert got == [("25.5", "40.80"), ("13.5", "7.38")]
    assert all("balance" in fields[f"ITEM_TITLE[{x}]"] for x in range(2))
    assert _payment(app).amount == Decimal("48.18")


@pytest.mark.parametrize(
    ("amount", "shares", "expected"),
    [
        ("0.01", ["1", "1", "1"], ["0.01"]),
        ("0.02", ["1", "1", "1"], ["0.01", "0.01"]),
        ("1.00", ["1", "1", "1"], ["0.34", "0.33", "0.33"]),
        ("10.00", ["3", "1"], ["7.50", "2.50"]),
        ("0.05", ["999", "1"], ["0.05"]),
    ],
)
def test_the_balance_is_split_in_cents_adding_up_exactly(amount, shares, expected):
    from services.payments.attempts import _pro_rata

    rates = [Decimal(n) for n in range(len(shares))]
    split = _pro_rata(Decimal(amount), list(zip(rates, map(Decimal, shares), strict=True)))
    assert [str(part) for _rate, part in split] == expected
    assert sum(part for _rate, part in split) == Decimal(amount)


def test_amounts_posted_by_the_payer_are_ignored(app, tiina, payer):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    forged = {
        "ITEM_PRICE[0]": "0.01",
        "ITEM_AMOUNT[0]": "0.01",
        "ITEMS": "0",
        "amount": "0.01",
        "AMOUNT": "0.01",
        "ORDER_NUMBER": "VM1",
        "ITEM_MERCHANT_ID[0]": "999",
    }
    fields = dict(_channel_form(app, payer, number, **forged))
    assert (fields["ITEMS"], fields["ITEM_PRICE[0]"]) == ("1", "125.50")
    assert fields["ITEM_AMOUNT[0]"] == "1"
    assert fields["ITEM_MERCHANT_ID[0]"] == "20001"  # the service's own, not the forged one
    assert fields["ORDER_NUMBER"] == "VM100001"
    assert _payment(app).amount == Decimal("125.50")


def test_the_commission_class_of_invoices_is_configured(app, tiina, payer):
    app.config["PAYMENT_INVOICE_COMMISSION_CLASS"] = "7"
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    fields = dict(_channel_form(app, payer, number))
    assert Decimal(fields["ITEM_CP[0]"]) == 7
    [line] = _lines(app, fields["ORDER_NUMBER"])
    assert line.commission_class == "7"
    assert line.commission == Decimal("2.38")  # 1,9 % of 125,50 €
    assert line.merchant_id == "20001"


@pytest.mark.parametrize(
    ("language", "culture"),
    [("fi", "fi_FI"), ("sv", "sv_SE"), ("en", "en_US"), ("nb", "en_US")],
)
def test_the_culture_follows_the_payers_language(app, tiina, language, culture):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    fields = _start(browser, _pay_url(app, number))
    assert fields["CULTURE"] == culture
    assert _payment(app).language == language


def test_the_language_chosen_in_the_portal_sets_the_culture(app, tiina, payer):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    assert payer.post("/language", data={"language": "sv", "next": "/"}).status_code == 303
    assert _start(payer, _pay_url(app, number))["CULTURE"] == "sv_SE"


def test_each_attempt_has_its_own_order_number(app, tiina, payer):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    url = _pay_url(app, number)
    first = _start(payer, url)
    second = _start(payer, url)
    assert (first["ORDER_NUMBER"], second["ORDER_NUMBER"]) == ("VM100001", "VM100002")
    assert first["AUTHCODE"] != second["AUTHCODE"]
    with app.app_context():
        states = db.session.execute(
            sa.select(OnlinePayment.order_number, OnlinePayment.state).order_by(OnlinePayment.id)
        ).all()
    assert states == [("VM100001", PaymentState.CREATED), ("VM100002", PaymentState.CREATED)]


def test_the_form_goes_to_the_sandbox_and_its_origin_is_allowed(app, tiina, payer):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    response = payer.post(_pay_url(app, number), data=CONTACT)
    tag = _form_tag(response.text)
    assert 'action="http://portal.test/sandbox/payment/channel-payment"' in tag
    assert 'method="post"' in tag
    csp = response.headers["Content-Security-Policy"]
    assert "form-action 'self' http://portal.test;" in csp
    assert "default-src 'self'" in csp  # the rest of the policy is kept


def test_the_form_goes_to_the_configured_payment_service(app, tiina, payer):
    app.config["PAYMENT_SERVICE_URL"] = "https://maksu.example.fi:8443/channel-payment"
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    response = payer.post(_pay_url(app, number), data=CONTACT)
    assert 'action="https://maksu.example.fi:8443/channel-payment"' in _form_tag(response.text)
    csp = response.headers["Content-Security-Policy"]
    assert "form-action 'self' https://maksu.example.fi:8443;" in csp
    assert "script-src 'self';" in csp
    # Other pages still allow forms to this site only.
    other = payer.get(_pay_url(app, number)).headers["Content-Security-Policy"]
    assert "form-action 'self';" in other and "maksu.example.fi" not in other


def test_an_iso_8859_1_channel_posts_and_signs_in_iso_8859_1(app, tiina, payer):
    app.config["PAYMENT_CHARSET"] = "iso-8859-1"
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    response = payer.post(_pay_url(app, number), data=CONTACT)
    assert response.status_code == 200
    assert 'accept-charset="ISO-8859-1"' in _form_tag(response.text)
    fields = _fields(response.text)
    latin1 = pc.form_authcode(fields, secret=SECRET, charset="ISO-8859-1")
    assert fields["AUTHCODE"] == latin1
    assert latin1 != pc.form_authcode(fields, secret=SECRET, charset="UTF-8")  # ä, ä
    assert _payment(app).charset == "ISO-8859-1"


def test_text_an_iso_8859_1_channel_cannot_take_is_a_field_error(app, tiina, payer):
    app.config["PAYMENT_CHARSET"] = "ISO-8859-1"
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    response = payer.post(_pay_url(app, number), data={**CONTACT, "last_name": "Łukasiewicz"})
    assert response.status_code == 422
    assert "The payment service cannot take this text." in field_error(page(response), "last_name")
    assert count(app, OnlinePayment) == 0
    assert _start(payer, _pay_url(app, number))["ORDER_NUMBER"] == "VM100001"  # no gap


def test_the_utf_8_channel_says_so(app, tiina, payer):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    response = payer.post(_pay_url(app, number), data={**CONTACT, "last_name": "Łukasiewicz"})
    assert 'accept-charset="UTF-8"' in _form_tag(response.text)
    fields = _fields(response.text)
    assert fields["CONTACT_LASTNAME"] == "Łukasiewicz"
    assert fields["AUTHCODE"] == pc.form_authcode(fields, secret=SECRET, charset="UTF-8")
