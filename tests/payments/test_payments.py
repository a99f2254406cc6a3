"""Online payment in the portal: paying invoices and course fees, the service's answers.

The payment service's side is played here by hand: the tests read the channel form the
payer's browser would post (the hidden fields of the page that goes to the service) and
answer at /payments/return, /payments/cancel and /payments/notify with parameters signed
as the seed (pp. 10-11) says. Payers, Tiina, Olli and Kaisa see the pages in English.
"""

from __future__ import annotations

import hashlib
import logging
import re
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models.invoicing import (
    InvoiceStatus,
    SalesInvoicePayment,
)
from models.mail import OutboxMessage
from models.payments import (
    OnlinePayment,
    PaymentState,
    Refund,
    RefundState,
    RejectedPaymentCall,
)
from models.training import Course, Enrolment, EnrolmentStatus
from services import payment_channel as pc
from services import reasons, training
from tests.fixtures import invoicing as inv
from tests.fixtures import payments as payments_fixtures
from tests.fixtures.app import run_together
from tests.fixtures.invoicing import (
    OLLI,
    PAYER_EMAIL,
    TIINA,
    count,
    events,
    field_error,
    forward,
    invoice_row,
    mails,
    make_sent,
    page,
    pdf_text,
    sent_invoice,
)
from tests.fixtures.payments import (
    CHANNEL_ID,
    CONTACT,
    EN,
    HEAD_ORDER,
    ITEM_ORDER,
    PAID_ID,
    SECRET,
    _answer,
    _call,
    _fields,
    _form_items,
    _form_tag,
    _lines,
    _online_payments,
    _pay_url,
    _payment,
    _refund,
    _rejected,
    _result_text,
    _start,
    _start_invoice_payment,
    _token,
    _token_of,
    _world,
)
from tests.fixtures.training import PERSON, _enrolment

app_config = payments_fixtures.app_config
olli = payments_fixtures.olli
payer = payments_fixtures.payer
payments_log_enabled = payments_fixtures.payments_log_enabled
staff = payments_fixtures.staff
started = payments_fixtures.started
tiina = payments_fixtures.tiina

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.
pytestmark = pytest.mark.usefixtures("quick_password_hashing")


# ---------------------------------------------------------------- helpers


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
    from services import payments

    with app.app_context():
        missing = payments._serializer("invoice-payment").dumps(999999)
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
        "ITEM_MERCHANT_ID[0]": "100102",
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
    assert {fields["ITEM_MERCHANT_ID[0]"], fields["ITEM_MERCHANT_ID[1]"]} == {"100102"}
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
    from services.payments import _pro_rata

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
    assert fields["ITEM_MERCHANT_ID[0]"] == "100102"
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
    assert line.merchant_id == "100102"


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


# ================================================================= 2. the answers


def _assert_paid_once(app: Flask, started: SimpleNamespace, *, flagged: bool = False) -> None:
    row = invoice_row(app, started.number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.PAID, Decimal("125.50"))
    assert _online_payments(app, started.number) == [(Decimal("125.50"), "online")]
    kinds = [kind for kind, _round, _text in events(app, started.number)]
    assert kinds.count("payment") == 1 and kinds.count("paid") == 1
    payment = _payment(app, started.order)
    assert (payment.state, payment.paid_code, payment.method) == (PaymentState.PAID, PAID_ID, "1")
    assert payment.service_timestamp == 1700000000
    assert payment.paid_at is not None and (payment.problem is not None) == flagged
    [receipt] = mails(app, "payments_receipt")
    assert receipt.recipients == ["matti@asiakas.example.com"]
    assert started.order in receipt.subject
    assert started.order in receipt.body and PAID_ID in receipt.body
    assert started.number in receipt.body and "125.50" in receipt.body
    assert receipt.record == ("online_payment", str(payment.id))


def test_notify_then_return_pays_the_invoice_once(app, payer, started):
    answer = _answer(started.order)
    notify = _call(payer, "notify", answer)
    assert (notify.status_code, notify.text, notify.mimetype) == (200, "OK", "text/plain")
    back = _call(payer, "return", answer)
    assert back.status_code == 200
    text = _result_text(back)
    assert "Thank you for your payment" in text
    assert f"Invoice {started.number} is paid." in text
    assert started.order in text and PAID_ID in text
    _assert_paid_once(app, started)
    payment = _payment(app)
    assert payment.notified_at is not None and payment.returned_at is not None


def test_return_then_notify_pays_the_invoice_once(app, payer, started):
    answer = _answer(started.order)
    assert _call(payer, "return", answer).status_code == 200
    after_return = _world(app)
    notify = _call(payer, "notify", answer)
    assert (notify.status_code, notify.text) == (200, "OK")
    _assert_paid_once(app, started)
    world = _world(app)
    assert world["payments"][0][-1] is not None  # notified_at set now
    world["payments"], after_return["payments"] = [], []
    assert world == after_return


def test_a_doubled_notify_pays_once(app, payer, started):
    answer = _answer(started.order)
    assert _call(payer, "notify", answer).text == "OK"
    before = _world(app)
    assert _call(payer, "notify", answer).text == "OK"
    assert _world(app) == before
    _assert_paid_once(app, started)
    assert _payment(app).returned_at is None


def test_a_notify_a_day_later_without_the_payer_returning_pays(app, payer, started):
    assert _payment(app).state == PaymentState.CREATED
    answer = _answer(started.order, ts="1700086400")
    notify = _call(app.test_client(), "notify", answer)  # server to server, no session
    assert (notify.status_code, notify.text) == (200, "OK")
    row = invoice_row(app, started.number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.PAID, Decimal("125.50"))
    payment = _payment(app)
    assert payment.state == PaymentState.PAID and payment.service_timestamp == 1700086400
    assert payment.returned_at is None and payment.notified_at is not None
    assert len(mails(app, "payments_receipt")) == 1


def test_a_replayed_return_changes_nothing(app, payer, started):
    answer = _answer(started.order)
    assert _call(payer, "return", answer).status_code == 200
    before = _world(app)
    fresh = app.test_client()
    fresh.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    again = _call(fresh, "return", answer)
    assert again.status_code == 200
    assert "Thank you for your payment" in _result_text(again)
    assert _world(app) == before
    _assert_paid_once(app, started)
    assert _rejected(app) == []


def test_a_cancel_pays_nothing_and_offers_to_try_again(app, payer, started):
    response = _call(payer, "cancel", _answer(started.order, paid=None))
    assert response.status_code == 200
    text = page(response)
    assert "You cancelled the payment. Nothing was charged." in text
    assert f'href="http://portal.test{_pay_url(app, started.number)}"' in text
    assert "Try again" in text
    payment = _payment(app)
    assert (payment.state, payment.paid_code) == (PaymentState.CANCELLED, None)
    assert payment.closed_at is not None and payment.paid_at is None
    row = invoice_row(app, started.number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.OPEN, Decimal("0.00"))
    assert count(app, SalesInvoicePayment) == 0 and mails(app, "payments_receipt") == []
    # Trying again is a new attempt, with a new order number.
    assert _start(payer, _pay_url(app, started.number))["ORDER_NUMBER"] == "VM100002"


def test_a_return_without_paid_is_a_failure(app, payer, started):
    response = _call(payer, "return", _answer(started.order, paid=None))
    assert response.status_code == 200
    assert "The payment failed. Nothing was charged." in page(response)
    payment = _payment(app)
    assert payment.state == PaymentState.FAILED and payment.closed_at is not None
    assert invoice_row(app, started.number).status == InvoiceStatus.OPEN
    assert count(app, SalesInvoicePayment) == 0 and mails(app, "payments_receipt") == []


def test_a_paid_after_a_cancel_is_paid(app, payer, started):
    """The service took the money after all (the payer cancelled in another tab)."""
    assert _call(payer, "cancel", _answer(started.order, paid=None)).status_code == 200
    assert _call(payer, "notify", _answer(started.order)).text == "OK"
    _assert_paid_once(app, started)


def test_a_late_cancel_after_payment_changes_nothing(app, payer, started):
    assert _call(payer, "return", _answer(started.order)).status_code == 200
    before = _world(app)
    response = _call(payer, "cancel", _answer(started.order, paid=None))
    assert response.status_code == 200
    assert "Thank you for your payment" in _result_text(response)
    assert _world(app) == before


def _tampered(order: str) -> dict[str, dict[str, str]]:
    good = _answer(order)
    without_method = _answer(order, method=None)
    return {
        "paid": {**good, "PAID": "FFFFFFFFFFFFFFFF"},
        "order number": {**good, "ORDER_NUMBER": "VM100002"},
        "timestamp": {**good, "TIMESTAMP": "1700000001"},
        "method added": {**without_method, "METHOD": "1"},
        "method removed": {k: v for k, v in good.items() if k != "METHOD"},
        "method changed": {**good, "METHOD": "2"},
        "lower-case authcode": {**good, "RETURN_AUTHCODE": good["RETURN_AUTHCODE"].lower()},
        "missing authcode": {k: v for k, v in good.items() if k != "RETURN_AUTHCODE"},
        "empty authcode": {**good, "RETURN_AUTHCODE": ""},
        "another secret": _answer(order, secret="not-the-secret"),
        "paid removed": {k: v for k, v in good.items() if k not in ("PAID", "METHOD")},
        "not a timestamp": _answer(order, ts="17e8"),
        "unknown order": _answer("VM999999"),
        # Signs exactly as the genuine PAID + METHOD: the checksum joins values with '|'.
        "method shifted into paid": {
            **without_method,
            "PAID": f"{PAID_ID}|1",
            "RETURN_AUTHCODE": good["RETURN_AUTHCODE"],
        },
    }


REASONS = {
    "missing authcode": "RETURN_AUTHCODE is missing",
    "empty authcode": "RETURN_AUTHCODE is missing",
    "not a timestamp": "TIMESTAMP is not a UNIX timestamp",
    "unknown order": "unknown order number",
    "method shifted into paid": "PAID contains '|'",
}


@pytest.mark.parametrize("kind", ["return", "cancel"])
@pytest.mark.parametrize("how", list(_tampered("VM100001")))
def test_a_tampered_answer_is_refused_recorded_and_shown_to_staff(
    app, payer, started, staff, caplog, kind, how
):
    params = _tampered(started.order)[how]
    before = _world(app)
    with caplog.at_level(logging.INFO, logger="services.payments"):
        response = _call(payer, kind, params)
    assert response.status_code == 400
    assert "The payment could not be verified" in page(response)
    assert "nothing was recorded" in page(response)
    assert _world(app) == before  # nothing paid, cancelled or mailed
    assert _payment(app).state == PaymentState.CREATED
    reason = REASONS.get(how, "RETURN_AUTHCODE does not match")
    [(call_kind, order, recorded)] = _rejected(app)
    assert (call_kind, order, recorded) == (kind, params["ORDER_NUMBER"], reason)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and reason in warnings[0].getMessage()
    assert params["ORDER_NUMBER"] in warnings[0].getMessage()
    refused = page(staff.get("/staff/payments/refused"))
    assert reason in refused and params["ORDER_NUMBER"] in refused
    assert "Refused answers of the payment service" in page(staff.get("/staff/payments/"))
    on_payment = page(staff.get(f"/staff/payments/{started.order}"))
    assert (reason in on_payment) == (params["ORDER_NUMBER"] == started.order)


def test_a_shifted_copy_of_the_genuine_answer_after_it_flags_nothing(app, payer, started):
    """A payer resending their genuine answer with METHOD moved into PAID ('P|1' signs as
    P and 1) must not make staff refund a payment that was made once."""
    good = _answer(started.order)
    assert _call(payer, "return", good).status_code == 200
    shifted = {k: v for k, v in good.items() if k != "METHOD"} | {"PAID": f"{PAID_ID}|1"}
    assert _call(payer, "notify", shifted).text == "REJECTED"
    _assert_paid_once(app, started, flagged=False)


def test_refused_answers_are_throttled_per_address_genuine_ones_never(app, payer, started):
    app.config["PAYMENT_REFUSED_THROTTLE"] = "3 per hour"
    forged = {**_answer(started.order), "PAID": "FFFFFFFFFFFFFFFF"}
    genuine = _answer(started.order)
    for _ in range(5):  # accepted answers do not count
        assert _call(payer, "return", genuine).status_code == 200
    statuses = [_call(payer, kind, forged).status_code for kind in ("return", "cancel", "notify")]
    assert statuses == [400, 400, 400]
    assert _call(payer, "notify", forged).status_code == 429
    assert _call(payer, "return", genuine).status_code == 429  # this address is slowed down
    assert len(_rejected(app)) == 3
    elsewhere = _call_from(payer, "notify", genuine, "203.0.113.9")
    assert (elsewhere.status_code, elsewhere.text) == (200, "OK")


def _call_from(client: FlaskClient, kind: str, params: dict[str, str], address: str):
    return client.get(
        f"/payments/{kind}?" + urlencode(params), environ_base={"REMOTE_ADDR": address}
    )


def test_a_refused_call_keeps_its_parameters_and_address_for_staff(app, payer, started, staff):
    params = {**_answer(started.order), "PAID": "FFFFFFFFFFFFFFFF"}
    payer.get("/payments/return?" + urlencode(params), environ_base={"REMOTE_ADDR": "198.51.100.7"})
    with app.app_context():
        call = db.session.scalars(sa.select(RejectedPaymentCall)).one()
        assert call.remote_addr == "198.51.100.7"
        assert "PAID=FFFFFFFFFFFFFFFF" in call.query and call.at is not None
    text = page(staff.get(f"/staff/payments/{started.order}"))
    assert "198.51.100.7" in text and "PAID=FFFFFFFFFFFFFFFF" in text


def test_a_refused_notify_answers_rejected(app, payer, started, caplog):
    params = {**_answer(started.order), "TIMESTAMP": "1"}
    before = _world(app)
    with caplog.at_level(logging.WARNING, logger="services.payments"):
        response = _call(app.test_client(), "notify", params)
    assert (response.status_code, response.text, response.mimetype) == (
        400,
        "REJECTED",
        "text/plain",
    )
    assert _world(app) == before
    assert _rejected(app) == [("notify", started.order, "RETURN_AUTHCODE does not match")]
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_a_notify_without_paid_is_refused(app, payer, started):
    response = _call(app.test_client(), "notify", _answer(started.order, paid=None))
    assert (response.status_code, response.text) == (400, "REJECTED")
    assert _payment(app).state == PaymentState.CREATED
    assert _rejected(app) == [("notify", started.order, "a notify without PAID")]


def test_a_refused_answer_does_not_stop_the_real_one(app, payer, started):
    _call(payer, "return", {**_answer(started.order), "PAID": "FFFFFFFFFFFFFFFF"})
    assert _call(payer, "return", _answer(started.order)).status_code == 200
    _assert_paid_once(app, started)
    assert len(_rejected(app)) == 1


def test_a_second_payment_id_for_a_paid_order_is_flagged_not_applied(app, payer, started, staff):
    assert _call(payer, "notify", _answer(started.order)).text == "OK"
    second = _call(app.test_client(), "notify", _answer(started.order, paid="ABCDEF0123456789"))
    assert (second.status_code, second.text) == (200, "OK")
    # One payment, one receipt, the first PAID id kept.
    _assert_paid_once(app, started, flagged=True)
    problem = _payment(app).problem
    assert "ABCDEF0123456789" in problem and PAID_ID in problem and "refund" in problem
    text = page(staff.get(f"/staff/payments/{started.order}"))
    assert "Needs action" in text and "ABCDEF0123456789" in text
    listed = page(staff.get("/staff/payments/"))
    assert "1 paid payment needs action" in listed


def test_a_forwarded_invoice_paid_online_is_paid_when_finalised(app, tiina, staff, payer):
    number = sent_invoice(tiina, app, "sahkoposti")
    forward(staff, number, finalise=False)
    fields = _start_invoice_payment(app, payer, number)
    assert _call(payer, "return", _answer(fields["ORDER_NUMBER"])).status_code == 200
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.FORWARDED, Decimal("125.50"))
    assert row.gross - row.paid_amount == 0
    assert _online_payments(app, number) == [(Decimal("125.50"), "online")]
    assert _payment(app).problem is None
    # Paid: the pay page says so and starts nothing more.
    again = page(payer.get(_pay_url(app, number)))
    assert "This has been paid online. Thank you." in again and fields["ORDER_NUMBER"] in again
    assert staff.post(f"/staff/invoices/{number}/finalise").status_code == 302
    assert invoice_row(app, number).status == InvoiceStatus.PAID
    kinds = [kind for kind, _round, _text in events(app, number)]
    assert kinds[-3:] == ["payment", "finalised", "paid"]


def test_an_invoice_paid_by_hand_meanwhile_flags_the_online_payment(app, tiina, staff, payer):
    number = inv.open_invoice(app, tiina, staff)
    fields = _start_invoice_payment(app, payer, number)
    assert inv.pay(staff, number, "125,49").status_code == 302
    assert invoice_row(app, number).status == InvoiceStatus.PAID
    response = _call(payer, "return", _answer(fields["ORDER_NUMBER"]))
    assert response.status_code == 200
    payment = _payment(app)
    assert payment.state == PaymentState.PAID  # the money was taken: kept, for staff to act
    assert number in payment.problem and "refund" in payment.problem
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.PAID, Decimal("125.49"))
    assert [source for _amount, source in _online_payments(app, number)] == ["manual"]
    assert "Needs action" in page(staff.get(f"/staff/payments/{fields['ORDER_NUMBER']}"))
    before = _world(app)
    assert _call(payer, "notify", _answer(fields["ORDER_NUMBER"])).text == "OK"
    assert _world(app)["invoice_payments"] == before["invoice_payments"]
    assert _payment(app).problem == payment.problem  # flagged once


def test_an_attempt_keeps_its_amount_when_the_invoice_is_part_paid_meanwhile(
    app, tiina, staff, payer
):
    number = inv.open_invoice(app, tiina, staff)
    order = _start_invoice_payment(app, payer, number)["ORDER_NUMBER"]
    assert inv.pay(staff, number, "100,00").status_code == 302
    assert _payment(app).amount == Decimal("125.49")  # frozen when it started
    assert _call(payer, "notify", _answer(order)).text == "OK"
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.OPEN, Decimal("100.00"))
    assert _online_payments(app, number) == [(Decimal("100.00"), "manual")]
    payment = _payment(app)
    assert payment.state == PaymentState.PAID and "outstanding 25.49" in payment.problem


def test_two_attempts_both_paid_apply_once_and_flag_the_second(app, payer, started, staff):
    second = _start(payer, _pay_url(app, started.number))["ORDER_NUMBER"]
    assert _call(payer, "return", _answer(started.order)).status_code == 200
    assert _call(payer, "return", _answer(second, paid="0000000000000002")).status_code == 200
    assert _online_payments(app, started.number) == [(Decimal("125.50"), "online")]
    assert _payment(app, started.order).problem is None
    flagged = _payment(app, second)
    assert flagged.state == PaymentState.PAID and "refund" in flagged.problem


def test_notify_and_return_at_one_instant_apply_once(app, app_config, payer, started):
    from app import create_app

    answer = _answer(started.order)
    apps = [create_app(app_config) for _ in range(2)]
    outcomes: dict[int, object] = {}

    def attempt(worker_app, n):
        kind = ("notify", "return")[n]
        try:
            response = _call(worker_app.test_client(), kind, answer)
            outcomes[n] = response.status_code
        except Exception as error:  # noqa: BLE001  (an error page, as the caller would see)
            outcomes[n] = repr(error)

    run_together(attempt, apps)
    assert outcomes == {0: 200, 1: 200}
    _assert_paid_once(app, started)
    payment = _payment(app)
    assert payment.notified_at is not None and payment.returned_at is not None


def test_two_notifies_at_one_instant_apply_once(app, app_config, payer, started):
    from app import create_app

    answer = _answer(started.order)
    apps = [create_app(app_config) for _ in range(3)]
    outcomes: list[object] = []

    def attempt(worker_app, n):
        try:
            outcomes.append(_call(worker_app.test_client(), "notify", answer).text)
        except Exception as error:  # noqa: BLE001
            outcomes.append(repr(error))

    run_together(attempt, apps)
    assert outcomes == ["OK", "OK", "OK"]
    _assert_paid_once(app, started)


# ================================================================= 3. course fees


def _enrol(client: FlaskClient, course_id: int, **extra):
    return client.post(f"/training/courses/{course_id}/enrol", data={**PERSON, **extra})


def _enrol_online(client: FlaskClient, course_id: int) -> str:
    """Enrol choosing to pay online: the pay page's URL, from the confirmation mail (the
    form's answer is the same as for an address already enrolled)."""
    response = _enrol(client, course_id, payment_method="online")
    assert response.status_code == 303, page(response)
    assert response.headers["Location"] == "/training/enrolled"
    app = client.application
    body = mails(app, "training_confirmation")[-1].body
    return re.search(r"http://portal\.test(/payments/course/[^\s?]+)", body).group(1)


COURSE_CONTACT = {"street": "Virastokatu 1", "postcode": "00100", "city": "Helsinki"}


def _pay_course(client: FlaskClient, url: str) -> dict[str, str]:
    """Confirm the participant's details (as prefilled) with an address."""
    return _start(
        client,
        url,
        first_name="Maija",
        last_name="Meikäläinen",
        email="maija.meikalainen@virasto.example.com",
        company="Testivirasto",
        **COURSE_CONTACT,
    )


def test_the_enrol_form_offers_online_payment_for_a_course_with_a_fee(payer, make_course):
    text = page(payer.get(f"/training/courses/{make_course().id}/enrol"))
    assert re.search(r'<input[^>]*name="payment_method"[^>]*value="online"', text)
    assert re.search(r'<input[^>]*name="payment_method"[^>]*value="invoice"', text)


@pytest.mark.parametrize(
    "values", [{"price": Decimal("0.00")}, {"capacity": 1, "seats_taken": 1}], ids=["free", "full"]
)
def test_no_online_payment_for_a_free_or_full_course(app, payer, make_course, values):
    course = make_course(**values)
    text = page(payer.get(f"/training/courses/{course.id}/enrol"))
    assert 'name="payment_method"' not in text
    # Posted anyway, the choice is ignored: binding (or waiting), never paying online.
    response = _enrol(payer, course.id, payment_method="online")
    assert response.status_code == 303
    assert "/payments/" not in response.headers["Location"]
    enrolment = _enrolment(app)
    assert not enrolment.pays_online
    expected = EnrolmentStatus.BINDING if "price" in values else EnrolmentStatus.WAITING
    assert enrolment.status == expected


def test_an_online_enrolment_answers_as_one_for_an_address_already_enrolled(
    app, payer, make_course
):
    """The form once led a new enrolment straight to its pay page and an address already
    enrolled to the thank-you page: anyone could tell who was enrolled where."""
    course = make_course()
    answers = []
    for browser in (app.test_client(), app.test_client()):
        browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        response = _enrol(browser, course.id, payment_method="online")
        shown = page(browser.get(response.headers["Location"]))
        main = re.search(r"<main.*?</main>", shown, re.S).group(0)
        answers.append((response.status_code, response.headers["Location"], main))
    new, again = answers
    assert new == again
    assert new[:2] == (303, "/training/enrolled")
    assert "open the payment link in that mail" in new[2]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Enrolment)) == 1
    # The pay page is reached from the mail only.
    [confirmation] = mails(app, "training_confirmation")
    assert "/payments/course/" in confirmation.body


def test_online_enrolment_is_preliminary_and_goes_to_the_pay_page(app, payer, make_course):
    course = make_course()
    url = _enrol_online(payer, course.id)
    enrolment = _enrolment(app)
    assert (enrolment.status, enrolment.pays_online) == (EnrolmentStatus.PRELIMINARY, True)
    with app.app_context():
        assert db.session.get(Course, course.id).seats_taken == 1  # the seat is held
    text = page(payer.get(url))
    assert "290.00" in text and course.title in text and enrolment.service_code in text
    for name, value in [
        ("first_name", "Maija"),
        ("last_name", "Meikäläinen"),
        ("email", "maija.meikalainen@virasto.example.com"),
        ("company", "Testivirasto"),
    ]:
        assert re.search(rf'<input[^>]*name="{name}"[^>]*value="{re.escape(value)}"', text), name


def test_the_course_fee_line_names_the_institute_as_merchant(app, payer, make_course):
    url = _enrol_online(payer, make_course().id)
    fields = _pay_course(payer, url)
    code = _enrolment(app).service_code
    assert {
        "ITEMS": "1",
        "ITEM_NO[0]": code,
        "ITEM_AMOUNT[0]": "1",
        "ITEM_PRICE[0]": "290.00",
        "ITEM_TAX[0]": "25.5",
        "ITEM_MERCHANT_ID[0]": "13466",
        "ITEM_CP[0]": "1",
    }.items() <= fields.items()
    assert "Julkiset hankinnat" in fields["ITEM_TITLE[0]"]
    assert fields["AUTHCODE"] == pc.form_authcode(fields, secret=SECRET)
    [line] = _lines(app, fields["ORDER_NUMBER"])
    assert line.merchant_user_id is None  # no invoicing user's line


def test_a_paid_course_fee_makes_the_enrolment_binding(app, payer, make_course, staff):
    course = make_course(title="Julkiset hankinnat käytännössä")
    fields = _pay_course(payer, _enrol_online(payer, course.id))
    order = fields["ORDER_NUMBER"]
    response = _call(payer, "return", _answer(order))
    assert response.status_code == 200
    text = _result_text(response)
    assert "The course fee is paid and your enrolment is binding." in text
    assert "Julkiset hankinnat käytännössä" in text
    enrolment = _enrolment(app)
    assert enrolment.status == EnrolmentStatus.BINDING
    assert enrolment.billing_reference == order
    assert enrolment.events[-1].actor == training.PAYMENT_SERVICE
    [receipt] = mails(app, "payments_receipt")
    assert receipt.recipients == ["maija.meikalainen@virasto.example.com"]
    assert order in receipt.body and PAID_ID in receipt.body
    assert "Julkiset hankinnat käytännössä" in receipt.body
    assert enrolment.service_code in receipt.body and "290.00" in receipt.body
    # The notify after it changes nothing; the staff see the payment on the enrolment.
    before = _world(app)
    assert _call(app.test_client(), "notify", _answer(order)).text == "OK"
    before["payments"] = _world(app)["payments"]
    assert _world(app) == before
    staff_page = page(staff.get(f"/staff/training/enrolments/{enrolment.id}"))
    assert f'href="/staff/payments/{order}"' in staff_page
    # Paid: the pay page says so and offers no form.
    paid_page = page(payer.get(_enrol_online_url(app)))
    assert "This has been paid online. Thank you." in paid_page
    assert '<form method="post"' not in paid_page


# --- the seat waits for its fee until a deadline ------------------------------------------


def _age(app: Flask, hours: float, *, payments_too: bool = True) -> None:
    """Move the enrolment (and its payment attempts) `hours` into the past."""
    from datetime import timedelta

    with app.app_context():
        enrolment = db.session.get(Enrolment, _enrolment(app).id)
        enrolment.created_at -= timedelta(hours=hours)
        if payments_too:
            for payment in db.session.scalars(
                sa.select(OnlinePayment).where(OnlinePayment.enrolment_id == enrolment.id)
            ):
                payment.created_at -= timedelta(hours=hours)
        db.session.commit()


def _seats(app: Flask, course_id: int) -> int:
    with app.app_context():
        return db.session.get(Course, course_id).seats_taken


def test_the_email_and_the_pay_page_state_the_deadline(app, payer, make_course):
    app.config["PAYMENT_COURSE_HOLD_HOURS"] = 72
    url = _enrol_online(payer, make_course().id)
    enrolment = _enrolment(app)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        from flask_babel import format_datetime

        deadline = format_datetime(training.payment_deadline(enrolment), "short")
    assert "Pay by " in page(payer.get(url)) and deadline in page(payer.get(url))
    [confirmation] = mails(app, "training_confirmation")
    assert "is cancelled and its seat offered to others" in confirmation.body
    assert deadline in confirmation.body


def test_an_unpaid_seat_goes_to_the_next_in_line_after_the_deadline(app, payer, make_course, staff):
    app.config["PAYMENT_COURSE_HOLD_HOURS"] = 72
    course = make_course(capacity=1)
    url = _enrol_online(payer, course.id)
    assert _enrol(payer, course.id, email="jono@example.com").status_code == 303
    assert _enrolment(app, "jono@example.com").status == EnrolmentStatus.WAITING
    _age(app, 71)
    payer.get(f"/training/courses/{course.id}")  # looked at before the deadline: kept
    assert _enrolment(app).status == EnrolmentStatus.PRELIMINARY
    _age(app, 2)
    assert payer.get(f"/training/courses/{course.id}").status_code == 200
    enrolment = _enrolment(app)
    assert enrolment.status == EnrolmentStatus.CANCELLED
    # Kept as a code, put into words in the reader's language.
    assert reasons.decode(enrolment.cancel_reason) == ("fee_not_paid", {})
    assert enrolment.events[-1].actor == training.SYSTEM
    [cancelled] = mails(app, "training_cancelled")
    assert cancelled.recipients == ["maija.meikalainen@virasto.example.com"]
    assert "not paid online by the deadline" in cancelled.body
    assert _enrolment(app, "jono@example.com").status == EnrolmentStatus.OFFERED
    assert _seats(app, course.id) == 1  # held for the offer
    text = page(payer.get(url))
    assert "cannot be paid online now" in text and '<form method="post"' not in text


def test_after_the_deadline_no_new_attempt_starts(app, payer, make_course):
    app.config["PAYMENT_COURSE_HOLD_HOURS"] = 72
    course = make_course()
    url = _enrol_online(payer, course.id)
    _pay_course(payer, url)  # an attempt three days ago
    _age(app, 73)
    response = payer.post(url, data={**CONTACT, **COURSE_CONTACT})
    assert "cannot be paid online now" in page(response)
    assert count(app, OnlinePayment) == 1


def test_a_recent_attempt_keeps_the_seat_while_the_service_may_confirm_it(
    app, payer, make_course, runner
):
    """The payer went to the bank just before the deadline: the service may confirm the
    payment a banking day later, so the seat waits four days from the attempt."""
    app.config["PAYMENT_COURSE_HOLD_HOURS"] = 72
    course = make_course()
    fields = _pay_course(payer, _enrol_online(payer, course.id))
    _age(app, 73, payments_too=False)
    result = runner.invoke(args=["training", "expire-offers"])
    assert "0 offers or unpaid seats expired" in result.output
    assert _enrolment(app).status == EnrolmentStatus.PRELIMINARY
    # Confirmed late: paid and binding.
    assert _call(app.test_client(), "notify", _answer(fields["ORDER_NUMBER"])).text == "OK"
    assert _enrolment(app).status == EnrolmentStatus.BINDING
    _age(app, 24 * 10)
    result = runner.invoke(args=["training", "expire-offers"])
    assert "0 offers or unpaid seats expired" in result.output  # a paid seat stays
    assert _enrolment(app).status == EnrolmentStatus.BINDING


def test_an_attempt_unconfirmed_for_four_days_lets_the_seat_go(app, payer, make_course, runner):
    app.config["PAYMENT_COURSE_HOLD_HOURS"] = 72
    course = make_course()
    fields = _pay_course(payer, _enrol_online(payer, course.id))
    _age(app, 4 * 24 + 1)
    result = runner.invoke(args=["training", "expire-offers"])
    assert "1 offers or unpaid seats expired" in result.output
    assert _enrolment(app).status == EnrolmentStatus.CANCELLED
    assert _seats(app, course.id) == 0
    # Should the payment come after all, it is owed back to the payer.
    assert _call(app.test_client(), "notify", _answer(fields["ORDER_NUMBER"])).text == "OK"
    assert _refund(app) == (RefundState.DUE, Decimal("290.00"), "paid_after_cancel")


def test_the_deadline_never_passes_the_start_of_the_course(app, payer, make_course):
    from datetime import timedelta

    from models.types import utcnow

    app.config["PAYMENT_COURSE_HOLD_HOURS"] = 24 * 30
    starts = utcnow() + timedelta(days=5)
    course = make_course(starts_at=starts, enrolment_deadline=starts, cancellation_deadline=starts)
    _enrol_online(payer, course.id)
    enrolment = _enrolment(app)
    with app.app_context():
        assert training.payment_deadline(enrolment) == db.session.get(Course, course.id).starts_at


def _enrol_online_url(app: Flask) -> str:
    from services import payments

    with app.test_request_context():
        enrolment = db.session.get(Enrolment, _enrolment(app).id)
        return f"/payments/course/{payments.enrolment_token(enrolment)}"


def test_a_fee_paid_after_the_enrolment_was_cancelled_is_owed_back(app, payer, make_course, staff):
    fields = _pay_course(payer, _enrol_online(payer, make_course().id))
    with app.app_context():
        training.cancel(db.session.get(Enrolment, _enrolment(app).id), "staff@example.com")
        db.session.commit()
    assert _call(app.test_client(), "notify", _answer(fields["ORDER_NUMBER"])).text == "OK"
    enrolment = _enrolment(app)
    assert enrolment.status == EnrolmentStatus.CANCELLED
    assert enrolment.billing_reference is None
    payment = _payment(app)
    assert payment.state == PaymentState.PAID
    assert _refund(app) == (RefundState.DUE, Decimal("290.00"), "paid_after_cancel")
    shown = page(staff.get(f"/staff/payments/{fields['ORDER_NUMBER']}"))
    assert "To be refunded" in shown
    assert "The fee was paid after the enrolment had been cancelled." in shown
    assert "Refunds due</a> (1)" in page(staff.get("/staff/payments/"))


def test_the_payer_of_a_cancelled_enrolment_is_not_told_it_is_binding(app, payer, make_course):
    """The payment is flagged for staff; the receipt and the result page once still told
    the payer that the (cancelled) enrolment was binding."""
    fields = _pay_course(payer, _enrol_online(payer, make_course().id))
    with app.app_context():
        training.cancel(db.session.get(Enrolment, _enrolment(app).id), "staff@example.com")
        db.session.commit()
    response = _call(payer, "return", _answer(fields["ORDER_NUMBER"]))
    assert _enrolment(app).status == EnrolmentStatus.CANCELLED
    assert "enrolment is binding" not in _result_text(response)
    assert "the fee will be refunded to you" in _result_text(response)
    [receipt] = mails(app, "payments_receipt")
    assert "enrolment is binding" not in receipt.body
    assert "the fee will be refunded to you" in receipt.body


def test_a_cancelled_course_fee_payment_can_be_tried_again(app, payer, make_course):
    url = _enrol_online(payer, make_course().id)
    order = _pay_course(payer, url)["ORDER_NUMBER"]
    response = _call(payer, "cancel", _answer(order, paid=None))
    assert response.status_code == 200
    text = page(response)
    assert "You cancelled the payment. Nothing was charged." in text
    assert f'href="http://portal.test{url}"' in text
    assert _enrolment(app).status == EnrolmentStatus.PRELIMINARY  # the seat is still held
    assert _pay_course(payer, url)["ORDER_NUMBER"] == "VM100002"


def test_the_confirmation_email_carries_the_payment_link(app, payer, make_course):
    url = _enrol_online(payer, make_course().id)
    [confirmation] = mails(app, "training_confirmation")
    assert f"http://portal.test{url}" in confirmation.body
    assert "preliminary until the course fee is paid" in " ".join(confirmation.body.split())
    assert payer.get(url).status_code == 200


def test_the_enrolment_page_offers_to_pay_while_unpaid(app, payer, make_course):
    url = _enrol_online(payer, make_course().id)
    code = _enrolment(app).service_code
    shown = page(payer.post("/training/lookup", data={"code": code}))
    assert "Pay the course fee" in shown and f'href="{url}"' in shown
    fields = _pay_course(payer, url)
    assert "Pay the course fee" in page(payer.post("/training/lookup", data={"code": code}))
    _call(payer, "return", _answer(fields["ORDER_NUMBER"]))
    shown = page(payer.post("/training/lookup", data={"code": code}))
    assert "Pay the course fee" not in shown and url not in shown
    assert fields["ORDER_NUMBER"] in shown  # the billing reference


def test_the_invoice_choice_is_binding_as_before(app, payer, make_course, smtp_server):
    course = make_course()
    response = _enrol(payer, course.id, payment_method="invoice")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/training/enrolled")
    enrolment = _enrolment(app)
    assert (enrolment.status, enrolment.pays_online) == (EnrolmentStatus.BINDING, False)
    assert "Pay the course fee" not in page(payer.get("/training/enrolled"))
    [confirmation] = mails(app, "training_confirmation")
    assert "/payments/course/" not in confirmation.body
    assert payer.get(_enrol_online_url(app)).status_code == 200
    assert "This course fee cannot be paid online now" in page(payer.get(_enrol_online_url(app)))


# ================================================================= 4. views


def _paid_invoice(app, payer, email: str, paid: str) -> SimpleNamespace:
    number = make_sent(app, email, status=InvoiceStatus.OPEN)
    order = _start_invoice_payment(app, payer, number)["ORDER_NUMBER"]
    assert _call(payer, "return", _answer(order, paid=paid)).status_code == 200
    return SimpleNamespace(number=number, order=order, paid=paid)


def test_the_merchants_view_shows_only_the_users_own_lines(app, tiina, olli, payer):
    mine = _paid_invoice(app, payer, TIINA, "AAAA000000000001")
    theirs = _paid_invoice(app, payer, OLLI, "BBBB000000000002")
    unpaid = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    unpaid_order = _start_invoice_payment(app, payer, unpaid)["ORDER_NUMBER"]
    text = page(tiina.get("/payments/"))
    assert mine.order in text and mine.paid in text and mine.number in text
    assert "125.50" in text and "3.14" in text  # the line and the channel's commission
    assert theirs.order not in text and theirs.paid not in text and theirs.number not in text
    assert unpaid_order not in text
    text = page(olli.get("/payments/"))
    assert theirs.order in text and mine.order not in text


def _queries(app: Flask, client: FlaskClient, url: str) -> int:
    """How many SQL statements a page takes."""
    statements = []

    def count(*_args):
        statements.append(1)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def test_the_payment_lists_take_no_query_per_row(app, tiina, payer, staff):
    _paid_invoice(app, payer, TIINA, "AAAA000000000001")
    few = _queries(app, tiina, "/payments/"), _queries(app, staff, "/staff/payments/")
    for n in range(2, 5):
        _paid_invoice(app, payer, TIINA, f"AAAA00000000000{n}")
    many = _queries(app, tiina, "/payments/"), _queries(app, staff, "/staff/payments/")
    assert many == few


def test_anonymous_visitors_and_staff_see_the_explanation(app, tiina, payer, staff):
    mine = _paid_invoice(app, payer, TIINA, "AAAA000000000001")
    text = page(payer.get("/payments/"))
    assert "can be paid online with your own bank" in text
    assert mine.order not in text and "<table" not in text
    text = page(staff.get("/payments/"))
    assert 'href="/staff/payments/"' in text and mine.order not in text


def _listed(response) -> list[str]:
    """The order numbers the staff's list links to, in its order."""
    return re.findall(r'<a href="/staff/payments/(VM[0-9]+)">', page(response))


def test_staff_list_search_and_filter_payments(app, tiina, payer, staff):
    paid = _paid_invoice(app, payer, TIINA, "ABCDEF0000000001")
    waiting = _start_invoice_payment(app, payer, make_sent(app, TIINA, status=InvoiceStatus.OPEN))
    waiting = waiting["ORDER_NUMBER"]
    listed = staff.get("/staff/payments/")
    assert sorted(_listed(listed)) == [paid.order, waiting]
    for code in (paid.order, paid.order.lower(), f" {paid.order} ", paid.paid, paid.paid.lower()):
        response = staff.get("/staff/payments/", query_string={"q": code})
        assert response.status_code == 302, code
        assert response.headers["Location"] == f"/staff/payments/{paid.order}", code
    shown = page(staff.get(f"/staff/payments/{paid.order}"))
    assert paid.paid in shown and paid.number in shown and "Matti Meikäläinen" in shown
    assert "125.50" in shown and "100102" in shown  # the line's merchant
    unknown = staff.get("/staff/payments/", query_string={"q": "VM999999"})
    assert unknown.status_code == 200
    assert "No payment has this order number or payment ID." in page(unknown)
    assert _listed(unknown) == []
    paid_only = staff.get("/staff/payments/", query_string={"state": "maksettu"})
    assert _listed(paid_only) == [paid.order]
    waiting_only = staff.get("/staff/payments/", query_string={"state": "luotu"})
    assert _listed(waiting_only) == [waiting]
    cancelled = staff.get("/staff/payments/", query_string={"state": "peruttu"})
    assert _listed(cancelled) == [] and "No payments." in page(cancelled)
    assert staff.get("/staff/payments/", query_string={"state": "nonsense"}).status_code == 200
    assert staff.get("/staff/payments/VM999999").status_code == 404


def test_a_lower_case_paid_id_is_found_in_any_case(app, tiina, payer, staff):
    """by_code once compared the PAID id with the typed text and its upper case only: a
    PAID id the service sent in lower case was not found when typed in upper case."""
    paid = _paid_invoice(app, payer, TIINA, "abcdef0000000001")
    for code in (paid.paid, paid.paid.upper(), "AbCdEf0000000001"):
        response = staff.get("/staff/payments/", query_string={"q": code})
        assert response.status_code == 302, code
        assert response.headers["Location"] == f"/staff/payments/{paid.order}", code


def test_the_staff_look_up_box_finds_a_payment(app, tiina, payer, staff):
    paid = _paid_invoice(app, payer, TIINA, "AAAA000000000001")
    for code in (paid.order, paid.paid):
        response = staff.get("/staff/lookup", query_string={"code": code})
        assert response.status_code == 302, code
        assert response.headers["Location"].endswith(f"/staff/payments/{paid.order}"), code
    missing = staff.get("/staff/lookup", query_string={"code": "VM999999"})
    assert "Nothing was found with this code." in page(missing)


def test_the_payment_pages_are_for_staff_only(app, tiina, payer, staff):
    paid = _paid_invoice(app, payer, TIINA, "AAAA000000000001")
    urls = [
        "/staff/payments/",
        f"/staff/payments/?q={paid.order}",
        f"/staff/payments/{paid.order}",
        "/staff/payments/refused",
    ]
    for url in urls:
        assert tiina.get(url).status_code == 403, url
        response = app.test_client().get(url)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"], url
        assert staff.get(url).status_code in (200, 302), url


# ================================================================= 5. mail and PDF


def test_the_emailed_invoice_and_its_pdf_carry_the_payment_link(app, tiina, staff, payer):
    number = sent_invoice(tiina, app, "sahkoposti")
    assert forward(staff, number).status_code == 302
    link = f"http://portal.test{_pay_url(app, number)}"
    with app.app_context():
        message = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.template == "invoicing_to_payer")
        ).one()
        assert message.recipients == [PAYER_EMAIL]
        assert link in message.body_text
        assert f'href="{link}?lang=' in message.body_html  # opens in the mail's language
        [attachment] = message.attachments
        pdf = attachment.data
    assert link in pdf_text(pdf)
    assert link in pdf_text(tiina.get(f"/invoices/{invoice_row(app, number).id}/lasku.pdf").data)
    opened = payer.get(urlsplit(link).path)
    assert opened.status_code == 200
    assert '<form method="post"' in page(opened) and "Asiakas Oy" in page(opened)


def test_an_invoice_without_payments_configured_has_no_link(app, tiina, staff):
    app.config["PAYMENT_CHANNEL_SECRET"] = ""
    number = sent_invoice(tiina, app, "sahkoposti")
    forward(staff, number)
    [message] = mails(app, "invoicing_to_payer")
    assert "/payments/invoice/" not in message.body


# ================================================================= 6. languages


def _catalogue_text(app: Flask, language: str, text: str) -> str:
    """The compiled translation of a source text (the text itself when not translated)."""
    from flask_babel import force_locale, gettext

    with app.test_request_context(), force_locale(language):
        return gettext(text)


def test_the_result_page_is_in_the_payers_language(app, tiina):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    browser = app.test_client()
    browser.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    assert browser.post("/language", data={"language": "sv", "next": "/"}).status_code == 303
    order = _start(browser, _pay_url(app, number))["ORDER_NUMBER"]
    response = _call(browser, "return", _answer(order))
    text = page(response)
    assert '<html lang="sv"' in text
    # The sv catalogue has no payment texts yet: the page falls back to the English source.
    assert _catalogue_text(app, "sv", "Thank you for your payment") in text
    assert _catalogue_text(app, "sv", "Back to the front page") in text
    assert _payment(app).language == "sv"
    [receipt] = mails(app, "payments_receipt")
    assert (
        _catalogue_text(app, "sv", "Quote the order number if you contact us about this payment.")
        in receipt.body
    )


def test_the_result_page_in_english(app, tiina, payer):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    order = _start(payer, _pay_url(app, number))["ORDER_NUMBER"]
    text = page(_call(payer, "cancel", _answer(order, paid=None)))
    assert '<html lang="en"' in text
    assert "<h1>The payment was not made</h1>" in text


# --- refunds owed -----------------------------------------------------------------------


def _pay_for(
    app: Flask, payer: FlaskClient, course_id: int, paid: str = PAID_ID
) -> tuple[str, str]:
    order = _pay_course(payer, _enrol_online(payer, course_id))["ORDER_NUMBER"]
    assert _call(app.test_client(), "notify", _answer(order, paid=paid)).text == "OK"
    enrolment = _enrolment(app)
    assert enrolment.status == EnrolmentStatus.BINDING
    return order, enrolment.service_code


def _self_cancel(client: FlaskClient, code: str):
    return client.post(
        "/training/cancel", data={"code": code, "email": "maija.meikalainen@virasto.example.com"}
    )


def test_a_participant_cancelling_a_paid_enrolment_is_owed_the_fee(app, payer, make_course, staff):
    order, code = _pay_for(app, payer, make_course().id)
    assert _self_cancel(app.test_client(), code).status_code == 303
    assert _enrolment(app).status == EnrolmentStatus.CANCELLED
    assert _refund(app) == (RefundState.DUE, Decimal("290.00"), "enrolment_cancelled")
    [mail] = mails(app, "training_cancelled")
    assert "The course fee of €290.00 that you paid online will be refunded to you" in mail.body
    # The participant's page and the staff's pages say so.
    looked_up = page(app.test_client().post("/training/lookup", data={"code": code}, headers=EN))
    assert "will be refunded to you" in looked_up
    queue = page(staff.get("/staff/payments/refunds"))
    assert order in queue and "The enrolment was cancelled." in queue
    enrolment_page = page(staff.get(f"/staff/training/enrolments/{_enrolment(app).id}"))
    assert "To be refunded" in enrolment_page and f"/staff/payments/{order}" in enrolment_page


def test_a_participant_cancelling_after_the_refund_deadline_keeps_no_refund(
    app, payer, make_course
):
    from datetime import timedelta

    from models.types import utcnow

    course = make_course(refund_deadline=utcnow() - timedelta(hours=1))
    order, code = _pay_for(app, payer, course.id)
    assert _self_cancel(app.test_client(), code).status_code == 303
    assert _enrolment(app).status == EnrolmentStatus.CANCELLED
    assert _refund(app) is None
    [mail] = mails(app, "training_cancelled")
    assert "is not refunded" in mail.body and "refund deadline" in mail.body


def test_the_organiser_cancelling_refunds_even_after_the_refund_deadline(app, payer, make_course):
    from datetime import timedelta

    from models.types import utcnow

    course = make_course(refund_deadline=utcnow() - timedelta(hours=1))
    _pay_for(app, payer, course.id)
    with app.app_context():
        training.cancel(db.session.get(Enrolment, _enrolment(app).id), "staff@example.com")
        db.session.commit()
    assert _refund(app) == (RefundState.DUE, Decimal("290.00"), "enrolment_cancelled")


def test_a_refund_is_marked_refunded_once_with_its_reference(app, payer, make_course, staff):
    from models.audit import AuditEvent

    order, code = _pay_for(app, payer, make_course().id)
    assert _self_cancel(app.test_client(), code).status_code == 303
    url = f"/staff/payments/{order}/refunded"
    # A reference is required: the form says so and nothing changes.
    refused = staff.post(url, data={"reference": "  "})
    assert refused.status_code == 200
    assert "Enter the reference of the refund." in page(refused)
    assert _refund(app)[0] == RefundState.DUE
    done = staff.post(url, data={"reference": "RF-2026-001"})
    assert done.status_code == 303
    assert "The refund was recorded." in page(staff.get(done.headers["Location"]))
    assert _refund(app)[0] == RefundState.REFUNDED
    again = staff.post(url, data={"reference": "RF-2026-002"})
    assert "The refund had already been marked refunded." in page(
        staff.get(again.headers["Location"])
    )
    with app.app_context():
        refund = db.session.scalars(sa.select(Refund)).one()
        assert refund.reference == "RF-2026-001" and refund.refunded_by_email == "kaisa@example.com"
        [event] = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "payment.refunded")
        ).all()
        assert event.record_id == str(refund.payment_id)
    # The queue of those to refund is empty; the refunded ones are listed apart.
    assert order not in page(staff.get("/staff/payments/refunds"))
    assert order in page(staff.get("/staff/payments/refunds?state=palautettu"))
    # The participant sees the refund made.
    assert "refunded on" in page(
        app.test_client().post("/training/lookup", data={"code": code}, headers=EN)
    )


def test_the_refund_pages_are_for_staff_only(app, payer, make_course, tiina):
    order, code = _pay_for(app, payer, make_course().id)
    assert _self_cancel(app.test_client(), code).status_code == 303
    assert tiina.get("/staff/payments/refunds").status_code == 403
    assert (
        tiina.post(f"/staff/payments/{order}/refunded", data={"reference": "x"}).status_code == 403
    )
    assert _refund(app)[0] == RefundState.DUE


def test_the_refund_queue_takes_no_query_per_row(app, payer, make_course, staff):
    paid_ids = iter(["AAAA000000000011", "AAAA000000000012", "AAAA000000000013"])

    def owe_one() -> None:
        order, code = _pay_for(app, payer, make_course().id, next(paid_ids))
        assert _self_cancel(app.test_client(), code).status_code == 303

    owe_one()
    one = _queries(app, staff, "/staff/payments/refunds")
    owe_one()
    owe_one()
    assert _queries(app, staff, "/staff/payments/refunds") == one


def test_the_payment_service_as_actor_is_named_in_the_staff_members_language(
    app, payer, make_course, staff
):
    _pay_for(app, payer, make_course().id)
    url = f"/staff/training/enrolments/{_enrolment(app).id}"
    shown = page(staff.get(url))
    assert "<td>the payment service</td>" in shown and "<td>payment service</td>" not in shown
    finnish = _catalogue_text(app, "fi", "the payment service")
    assert finnish != "the payment service"
    staff.post("/language", data={"language": "fi", "next": "/"})
    assert f"<td>{finnish}</td>" in page(staff.get(url))
