"""Online payment end to end over real HTTP: the portal and its payment service sandbox on a
live server, the payer's browser played by a `requests` session.

The payer opens a payment link, confirms their details, and posts the hidden channel form
to the sandbox exactly as a browser does (in the form's accept-charset); at the bank page
they choose a bank and pay (or cancel); the sandbox calls the portal's notify address
itself, server to server, and sends the payer back to the return or cancel address.
CSRF protection is on, as in production: the payer's forms carry their tokens.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import lxml.html
import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from extensions import db
from models.invoicing import InvoiceStatus, SalesInvoice
from models.payments import OnlinePayment, PaymentState
from models.training import Enrolment, EnrolmentStatus
from sandboxes.payment_service import views as payment_sandbox
from services.invoicing import desk as invoicing
from services.payments import channel as pc
from tests.fixtures import invoicing as inv
from tests.fixtures.invoicing import TIINA, mails, make_sent
from tests.fixtures.payments import CHANNEL_CONFIG, SECRET, _world
from tests.fixtures.payments import _rejected as rejected
from tests.fixtures.training import PERSON

NOTIFY_DELAY = 3600  # never by the timer while a test runs: the tests deliver it
TIMEOUT = 15
# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

PAYER = {
    "first_name": "Matti",
    "last_name": "Meikäläinen",
    "company": "Asiakas Oy",
    "email": "matti@asiakas.example.com",
    "street": "Yliopistonkatu 1",
    "postcode": "40100",
    "city": "Jyväskylä",
    "country": "FI",
}


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config.update(
        CHANNEL_CONFIG, WTF_CSRF_ENABLED=True, PAYMENT_SANDBOX_NOTIFY_DELAY=NOTIFY_DELAY
    )
    return app_config


# ---------------------------------------------------------------- the payer's browser


class Browser:
    """A requests session that reads pages and submits their forms as a browser does."""

    def __init__(self, language: str = "en") -> None:
        self.session = requests.Session()
        self.session.headers["Accept-Language"] = language

    def close(self) -> None:
        self.session.close()

    def get(self, url: str, *, follow: bool = True) -> requests.Response:
        return self.session.get(url, allow_redirects=follow, timeout=TIMEOUT)

    def follow(self, response: requests.Response) -> requests.Response:
        """Follow a redirect the browser was given."""
        assert response.status_code in (302, 303), (response.status_code, response.text[:2000])
        return self.get(urljoin(response.url, response.headers["Location"]))

    def submit(
        self,
        response: requests.Response,
        *,
        action: str | None = None,
        field: str | None = None,
        values: dict[str, str] | None = None,
        follow: bool = True,
    ) -> requests.Response:
        """Submit the page's form (the one whose action contains `action`, or that has
        `field`) with its successful controls, `values` typed or chosen over them, in the
        first charset of its accept-charset (else the page's)."""
        document = lxml.html.document_fromstring(response.content, base_url=response.url)
        forms = [
            form
            for form in document.forms
            if (action is None or action in (form.get("action") or ""))
            and (field is None or field in form.inputs)
        ]
        assert len(forms) == 1, f"{len(forms)} forms match on {response.url}"
        form = forms[0]
        for name, value in (values or {}).items():
            form.fields[name] = value
        pairs = list(form.form_values())
        buttons = form.xpath(".//button[@type='submit' or not(@type)] | .//input[@type='submit']")
        if buttons and buttons[0].get("name"):  # submitted by its first submit button
            pairs.append((buttons[0].get("name"), buttons[0].get("value", "")))
        charset = (form.get("accept-charset") or response.encoding or "utf-8").split()[0]
        body = urlencode(pairs, encoding=charset)
        target = urljoin(response.url, form.get("action") or response.url)
        assert (form.get("method") or "get").lower() == "post"
        return self.session.post(
            target,
            data=body.encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            allow_redirects=follow,
            timeout=TIMEOUT,
        )


@pytest.fixture
def browser():
    browser = Browser()
    yield browser
    browser.close()


def text_of(response: requests.Response) -> str:
    document = lxml.html.document_fromstring(response.content)
    return " ".join(document.text_content().split())


# ---------------------------------------------------------------- the world


@pytest.fixture
def tiina(app, make_user):
    """The invoicing user 100102 of the seed (who sends the invoices)."""
    make_user(TIINA, org="Toiminimi Testinen", name="Tiina", language="en")
    inv.give_number(app, TIINA, "100102")


def open_invoice(app: Flask, lines: list[tuple[str, str, str]] | None = None) -> SimpleNamespace:
    """An open receivable of Tiina's and its payment link (at the live server): by default
    one line of 100,00 € at 25,5 % (125,50 €); else `lines` of (quantity, price, VAT %)."""
    from services.payments import links as payment_links

    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    with app.test_request_context():
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        if lines:
            invoicing.set_lines(
                invoice,
                [
                    invoicing.LineData(f"Rivi {n}", Decimal(q), "kpl", Decimal(p), Decimal(v))
                    for n, (q, p, v) in enumerate(lines, 1)
                ],
            )
            db.session.commit()
        link = payment_links.invoice_payment_url(invoice)
    return SimpleNamespace(number=number, link=link)


def invoice_state(app: Flask, number: str) -> tuple:
    with app.app_context():
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        return (
            invoice.status,
            invoice.paid_amount,
            [(p.amount, p.source) for p in invoice.payments],
        )


def attempts(app: Flask) -> list[SimpleNamespace]:
    """Every payment attempt's columns, oldest first."""
    with app.app_context():
        rows = db.session.scalars(sa.select(OnlinePayment).order_by(OnlinePayment.id))
        columns = sa.inspect(OnlinePayment).columns.keys()
        return [SimpleNamespace(**{c: getattr(row, c) for c in columns}) for row in rows]


def world(app: Flask) -> dict:
    """Everything an answer of the payment service could change, but the call stamps."""
    return _world(app, stamps=False, refused=True)


# ---------------------------------------------------------------- the journey's steps


def to_service(browser: Browser, link: str, **details: str) -> requests.Response:
    """Open the payment link, confirm the details: the page that goes to the service."""
    form = browser.get(link)
    assert form.status_code == 200, text_of(form)
    page = browser.submit(form, field="first_name", values={**PAYER, **details})
    assert page.status_code == 200, text_of(page)
    assert "Go to the payment service" in text_of(page)
    return page


def to_bank(browser: Browser, page: requests.Response, live_server: str) -> requests.Response:
    """Post the channel form to the sandbox: its bank page."""
    bank = browser.submit(page, action="/sandbox/payment/channel-payment")
    assert bank.status_code == 200, text_of(bank)
    assert [r.status_code for r in bank.history] == [303]
    assert bank.history[0].url == f"{live_server}/sandbox/payment/channel-payment"
    assert urlsplit(bank.url).path.startswith("/sandbox/payment/pay/")
    return bank


def pay(browser: Browser, bank: requests.Response, notify: str = "now", method: str = "1"):
    """Choose a bank and pay; the service's redirect back to the portal, not followed."""
    back = browser.submit(
        bank,
        action="/sandbox/payment/pay/",
        values={"method": method, "notify": notify},
        follow=False,
    )
    assert back.status_code == 303, text_of(back)
    return back


def order_of(page: requests.Response) -> str:
    document = lxml.html.document_fromstring(page.content)
    [order] = document.xpath("//form[@accept-charset]//input[@name='ORDER_NUMBER']/@value")
    return order


def wait_for(condition, timeout: float = 10.0):
    """Poll until `condition()` is true (a server-to-server call under way); its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def sandbox_payment(app: Flask, order: str) -> dict:
    [transaction] = payment_sandbox.transactions(app, order)
    return transaction


def assert_invoice_paid_once(app: Flask, number: str, order: str, *, refused: int = 0) -> None:
    status, paid_amount, recorded = invoice_state(app, number)
    assert (status, paid_amount) == (InvoiceStatus.PAID, Decimal("125.50"))
    assert recorded == [(Decimal("125.50"), "online")]
    [payment] = [a for a in attempts(app) if a.order_number == order]
    assert payment.state == PaymentState.PAID and payment.problem is None
    transaction = sandbox_payment(app, order)
    assert (payment.paid_code, payment.method) == (transaction["paid"], transaction["method"])
    assert payment.service_timestamp == int(transaction["timestamp"])
    [receipt] = mails(app, "payments_receipt")
    assert receipt.record == ("online_payment", str(payment.id))
    assert order in receipt.body and payment.paid_code in receipt.body
    with app.app_context():
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        kinds = [event.kind.value for event in invoice.events]
    assert kinds.count("payment") == 1 and kinds.count("paid") == 1
    assert len(rejected(app)) == refused


# ================================================================= (a) an invoice


def test_an_invoice_is_paid_through_the_payment_service(app, live_server, tiina, browser):
    invoice = open_invoice(app)
    assert invoice.link.startswith(f"{live_server}/payments/invoice/")

    # The pay page, prefilled from the invoice; the details confirmed.
    form = browser.get(invoice.link)
    assert form.status_code == 200
    assert "125.50" in text_of(form) and invoice.number in text_of(form)
    page = to_service(browser, invoice.link)
    document = lxml.html.document_fromstring(page.content)
    [channel_form] = document.xpath("//form[@accept-charset]")
    assert channel_form.get("action") == f"{live_server}/sandbox/payment/channel-payment"
    assert channel_form.get("accept-charset") == "UTF-8"
    order = order_of(page)
    assert [(a.order_number, a.state) for a in attempts(app)] == [(order, PaymentState.CREATED)]

    # The sandbox took the form: its bank page shows the order and its total.
    bank = to_bank(browser, page, live_server)
    bank_text = text_of(bank)
    assert order in bank_text and "125.50" in bank_text and "Nordea" in bank_text
    transaction = sandbox_payment(app, order)
    assert (transaction["state"], transaction["total"]) == ("open", "125.50")
    assert transaction["fields"]["CONTACT_LASTNAME"] == "Meikäläinen"
    assert (
        transaction["fields"]["ITEM_MERCHANT_ID[0]"] == "20001"
    )  # the service: it issues the invoice

    # Paying: the notify reached the portal, server to server, before the payer is back.
    back = pay(browser, bank, notify="now", method="2")
    location = back.headers["Location"]
    assert location.startswith(f"{live_server}/payments/return?")
    answer = dict(parse_qsl(urlsplit(location).query))
    assert answer.keys() == {"ORDER_NUMBER", "TIMESTAMP", "PAID", "METHOD", "RETURN_AUTHCODE"}
    assert (answer["ORDER_NUMBER"], answer["METHOD"]) == (order, "2")
    [attempt] = attempts(app)
    assert attempt.state == PaymentState.PAID
    assert attempt.notified_at is not None and attempt.returned_at is None
    [notify] = sandbox_payment(app, order)["notifies"]
    assert (notify["kind"], notify["status"], notify["error"]) == ("now", 200, None)
    assert notify["url"].startswith(f"{live_server}/payments/notify?")
    assert invoice_state(app, invoice.number)[0] == InvoiceStatus.PAID

    # Back at the portal: the result page says the invoice is paid.
    result = browser.follow(back)
    assert result.status_code == 200
    text = text_of(result)
    assert "Thank you for your payment" in text
    assert f"Invoice {invoice.number} is paid." in text
    assert order in text and answer["PAID"] in text
    [attempt] = attempts(app)
    assert attempt.returned_at is not None and attempt.notified_at <= attempt.returned_at
    assert (attempt.paid_code, attempt.method) == (answer["PAID"], "2")
    assert_invoice_paid_once(app, invoice.number, order)

    # The link now says it has been paid, and offers no form.
    again = browser.get(invoice.link)
    assert "This has been paid online. Thank you." in text_of(again)
    assert not lxml.html.document_fromstring(again.content).xpath("//input[@name='first_name']")


# ================================================================= (b) a course fee


def enrol_online(app: Flask, browser, live_server: str, course_id: int) -> requests.Response:
    """Enrol choosing to pay online, then open the pay page from the confirmation mail
    (the form's own answer is the thank-you page, as for an address already enrolled)."""
    enrol_form = browser.get(f"{live_server}/training/courses/{course_id}/enrol")
    assert enrol_form.status_code == 200
    thanks = browser.submit(
        enrol_form, field="payment_method", values={**PERSON, "payment_method": "online"}
    )
    assert urlsplit(thanks.url).path == "/training/enrolled"
    [confirmation] = mails(app, "training_confirmation")
    link = re.search(r"https?://\S+/payments/course/\S+", confirmation.body).group(0)
    pay_page = browser.get(link)
    assert pay_page.status_code == 200
    assert urlsplit(pay_page.url).path.startswith("/payments/course/")
    return pay_page


def test_a_course_fee_is_paid_and_the_enrolment_turns_binding(
    app, live_server, make_course, browser
):
    course = make_course(title="Julkiset hankinnat käytännössä")
    pay_page = enrol_online(app, browser, live_server, course.id)
    assert "290.00" in text_of(pay_page)
    with app.app_context():
        enrolment = db.session.scalars(sa.select(Enrolment)).one()
        assert (enrolment.status, enrolment.pays_online) == (EnrolmentStatus.PRELIMINARY, True)

    page = browser.submit(
        pay_page,
        field="first_name",
        values={"street": "Virastokatu 1", "postcode": "00100", "city": "Helsinki"},
    )
    assert page.status_code == 200, text_of(page)
    order = order_of(page)
    bank = to_bank(browser, page, live_server)
    assert "Julkiset hankinnat käytännössä" in text_of(bank)
    result = browser.follow(pay(browser, bank))
    assert result.status_code == 200
    text = text_of(result)
    assert "The course fee is paid and your enrolment is binding." in text
    assert "Julkiset hankinnat käytännössä" in text

    with app.app_context():
        enrolment = db.session.scalars(sa.select(Enrolment)).one()
        assert (enrolment.status, enrolment.billing_reference) == (EnrolmentStatus.BINDING, order)
    [attempt] = attempts(app)
    assert attempt.state == PaymentState.PAID and attempt.problem is None
    assert attempt.notified_at is not None and attempt.returned_at is not None
    assert attempt.amount == Decimal("290.00")
    [receipt] = mails(app, "payments_receipt")
    assert receipt.recipients == ["maija.meikalainen@virasto.example.com"]
    assert rejected(app) == []


# ================================================================= (c) notify twice


def test_a_notify_called_twice_is_applied_once(app, live_server, tiina, browser):
    invoice = open_invoice(app)
    page = to_service(browser, invoice.link)
    order = order_of(page)
    back = pay(browser, to_bank(browser, page, live_server), notify="twice")
    notifies = sandbox_payment(app, order)["notifies"]
    assert [(n["kind"], n["status"], n["error"]) for n in notifies] == [("twice", 200, None)] * 2
    before = world(app)
    result = browser.follow(back)
    assert "Thank you for your payment" in text_of(result)
    assert world(app) == before
    # Staff send it once more from the sandbox's overview: still nothing changes.
    token = sandbox_payment(app, order)["token"]
    resent = payment_sandbox.send_notify(app, token)
    assert (resent["kind"], resent["status"], resent["error"]) == ("resend", 200, None)
    assert world(app) == before
    assert_invoice_paid_once(app, invoice.number, order)


def test_an_invoice_of_two_vat_rates_is_paid_to_the_cent(app, live_server, tiina, browser):
    """3 × 33,33 € at 25,5 % (125,49 €) and 19,99 € at 13,5 % (22,69 €): 148,18 €, a line
    per rate; the service adds the lines up to what the invoice says."""
    invoice = open_invoice(app, [("3", "33.33", "25.5"), ("1", "19.99", "13.5")])
    page = to_service(browser, invoice.link)
    order = order_of(page)
    bank = to_bank(browser, page, live_server)
    transaction = sandbox_payment(app, order)
    assert transaction["total"] == "148.18"
    assert [(line["price"], line["tax"]) for line in transaction["lines"]] == [
        ("125.49", "25.5"),
        ("22.69", "13.5"),
    ]
    result = browser.follow(pay(browser, bank))
    assert f"Invoice {invoice.number} is paid." in text_of(result)
    status, paid_amount, recorded = invoice_state(app, invoice.number)
    assert (status, paid_amount, recorded) == (
        InvoiceStatus.PAID,
        Decimal("148.18"),
        [(Decimal("148.18"), "online")],
    )


# ================================================================= (d) a delayed notify


def test_a_delayed_notify_after_the_return_changes_nothing(app, live_server, tiina, browser):
    invoice = open_invoice(app)
    page = to_service(browser, invoice.link)
    order = order_of(page)
    back = pay(browser, to_bank(browser, page, live_server), notify="delayed")
    transaction = sandbox_payment(app, order)
    assert transaction["notifies"] == [] and transaction["notify_due"] is not None
    [attempt] = attempts(app)
    assert attempt.state == PaymentState.CREATED  # nobody has told the portal yet

    # The return carries PAID and a valid checksum: it pays.
    result = browser.follow(back)
    assert result.status_code == 200
    assert f"Invoice {invoice.number} is paid." in text_of(result)
    [attempt] = attempts(app)
    assert attempt.state == PaymentState.PAID
    assert attempt.returned_at is not None and attempt.notified_at is None
    assert_invoice_paid_once(app, invoice.number, order)

    # The notify, a banking day later, changes nothing but its stamp.
    before = world(app)
    assert payment_sandbox.deliver_due_notifies(app, now=time.time()) == 0  # not yet due
    assert payment_sandbox.deliver_due_notifies(app, now=time.time() + NOTIFY_DELAY + 1) == 1
    [notify] = sandbox_payment(app, order)["notifies"]
    assert (notify["kind"], notify["status"], notify["error"]) == ("delayed", 200, None)
    assert world(app) == before
    [attempt] = attempts(app)
    assert attempt.notified_at is not None
    assert_invoice_paid_once(app, invoice.number, order)
    assert payment_sandbox.deliver_due_notifies(app, now=time.time() + 10 * NOTIFY_DELAY) == 0


def test_a_payer_who_never_comes_back_is_paid_by_the_delayed_notify(
    app, live_server, tiina, browser
):
    invoice = open_invoice(app)
    page = to_service(browser, invoice.link)
    order = order_of(page)
    back = pay(browser, to_bank(browser, page, live_server), notify="delayed")
    assert back.headers["Location"].startswith(f"{live_server}/payments/return?")
    # The payer closes the tab at the bank: the redirect is never followed.
    [attempt] = attempts(app)
    assert attempt.state == PaymentState.CREATED
    assert invoice_state(app, invoice.number) == (InvoiceStatus.OPEN, Decimal("0.00"), [])
    assert mails(app, "payments_receipt") == []

    # Other payers' pages at the sandbox deliver only what is due: nothing yet.
    assert browser.get(f"{live_server}/sandbox/payment/pay/{'0' * 32}").status_code == 404
    assert attempts(app)[0].state == PaymentState.CREATED

    assert payment_sandbox.deliver_due_notifies(app, now=time.time() + NOTIFY_DELAY + 1) == 1
    [notify] = sandbox_payment(app, order)["notifies"]
    assert (notify["kind"], notify["status"]) == ("delayed", 200)
    [attempt] = attempts(app)
    assert attempt.state == PaymentState.PAID
    assert attempt.notified_at is not None and attempt.returned_at is None
    assert_invoice_paid_once(app, invoice.number, order)

    # Should the payer come back after all, they are told it is paid; nothing changes.
    before = world(app)
    result = browser.follow(back)
    assert f"Invoice {invoice.number} is paid." in text_of(result)
    assert world(app) == before


# ================================================================= (e) cancel


def test_a_payment_cancelled_at_the_bank_can_be_made_again(app, live_server, tiina, browser):
    invoice = open_invoice(app)
    page = to_service(browser, invoice.link)
    first = order_of(page)
    bank = to_bank(browser, page, live_server)
    back = browser.submit(bank, action="/sandbox/payment/cancel/", follow=False)
    assert back.status_code == 303
    location = back.headers["Location"]
    assert location.startswith(f"{live_server}/payments/cancel?")
    assert dict(parse_qsl(urlsplit(location).query)).keys() == {
        "ORDER_NUMBER",
        "TIMESTAMP",
        "RETURN_AUTHCODE",
    }
    result = browser.follow(back)
    assert result.status_code == 200
    text = text_of(result)
    assert "You cancelled the payment. Nothing was charged." in text
    [attempt] = attempts(app)
    assert (attempt.order_number, attempt.state) == (first, PaymentState.CANCELLED)
    assert attempt.paid_code is None and attempt.closed_at is not None
    assert invoice_state(app, invoice.number) == (InvoiceStatus.OPEN, Decimal("0.00"), [])
    assert mails(app, "payments_receipt") == []
    assert sandbox_payment(app, first)["state"] == "cancelled"

    # Try again: a new attempt, a new order number, paid this time.
    [again] = lxml.html.document_fromstring(result.content, base_url=result.url).xpath(
        "//main//a[normalize-space()='Try again']/@href"
    )
    assert again == invoice.link
    page = to_service(browser, again)
    second = order_of(page)
    assert second != first
    result = browser.follow(pay(browser, to_bank(browser, page, live_server)))
    assert f"Invoice {invoice.number} is paid." in text_of(result)
    assert [(a.order_number, a.state) for a in attempts(app)] == [
        (first, PaymentState.CANCELLED),
        (second, PaymentState.PAID),
    ]
    assert_invoice_paid_once(app, invoice.number, second)
    # The cancelled payment cannot be paid at the bank afterwards.
    stale = browser.submit(bank, action="/sandbox/payment/pay/", values={"method": "1"})
    assert stale.status_code == 409
    assert sandbox_payment(app, first)["state"] == "cancelled"
    assert_invoice_paid_once(app, invoice.number, second)


# ================================================================= (f) both charsets


@pytest.mark.parametrize("charset", ["UTF-8", "ISO-8859-1"])
def test_the_payment_goes_through_in_the_channels_charset(
    app, app_config, live_server, tiina, browser, charset
):
    app.config["PAYMENT_CHARSET"] = charset
    invoice = open_invoice(app)
    page = to_service(
        browser,
        invoice.link,
        first_name="Väinö",
        last_name="Meikäläinen",
        company="Öljy & Sähkö Oy",
        email="vaino+lasku@asiakas.example.com",
        street="Äänekoskentie 5 A 1",
        city="Jyväskylä",
    )
    [tag] = lxml.html.document_fromstring(page.content).xpath("//form[@accept-charset]")
    assert tag.get("accept-charset") == charset
    order = order_of(page)
    bank = to_bank(browser, page, live_server)
    # The body was posted in the charset, and read back to the same letters.
    posted = bank.history[0].request.body
    assert ("Meik%E4l%E4inen" in posted.decode()) == (charset == "ISO-8859-1")
    assert ("Meik%C3%A4l%C3%A4inen" in posted.decode()) == (charset == "UTF-8")
    transaction = sandbox_payment(app, order)
    assert transaction["charset"] == charset
    fields = transaction["fields"]
    assert (fields["CONTACT_FIRSTNAME"], fields["CONTACT_LASTNAME"]) == ("Väinö", "Meikäläinen")
    assert (fields["CONTACT_COMPANY"], fields["CONTACT_ADDR_CITY"]) == (
        "Öljy & Sähkö Oy",
        "Jyväskylä",
    )
    assert fields["CONTACT_EMAIL"] == "vaino+lasku@asiakas.example.com"
    assert fields["AUTHCODE"] == pc.form_authcode(fields, secret=SECRET, charset=charset)

    result = browser.follow(pay(browser, bank))
    assert result.status_code == 200
    assert f"Invoice {invoice.number} is paid." in text_of(result)
    [attempt] = attempts(app)
    assert attempt.charset == charset
    assert (attempt.first_name, attempt.last_name) == ("Väinö", "Meikäläinen")
    assert_invoice_paid_once(app, invoice.number, order)


@pytest.mark.parametrize(
    ("language", "title", "button"),
    [
        ("fi", "Verkkomaksu", "Maksa"),
        ("sv", "Nätbetalning", "Betala"),
        ("en", "Online payment", "Pay"),
        ("nb", "Online payment", "Pay"),
    ],
)
def test_the_bank_page_speaks_the_payers_language(app, live_server, tiina, language, title, button):
    payer = Browser(language)
    try:
        invoice = open_invoice(app)
        form = payer.get(invoice.link)
        page = payer.submit(form, field="first_name", values=PAYER)
        assert page.status_code == 200, text_of(page)
        order = order_of(page)
        bank = to_bank(payer, page, live_server)
        document = lxml.html.document_fromstring(bank.content)
        # The whole page is the service's, in the CULTURE's language (nb: en_US).
        assert document.get("lang") == {"nb": "en"}.get(language, language)
        [content] = document.xpath("//main")
        assert content.xpath("string(.//h1)") == title
        [pay_button] = content.xpath(".//form[contains(@action, '/pay/')]//button")
        assert pay_button.text_content().startswith(button)
        result = payer.follow(pay(payer, bank))
        assert result.status_code == 200
        assert attempts(app)[0].language == language
        assert_invoice_paid_once(app, invoice.number, order)
    finally:
        payer.close()


# ================================================================= (g) a forged return


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query)) | changes
    return urlunsplit(parts._replace(query=urlencode(params)))


def test_a_forged_return_is_refused_and_pays_nothing(app, live_server, tiina, browser):
    invoice = open_invoice(app)
    page = to_service(browser, invoice.link)
    order = order_of(page)
    back = pay(browser, to_bank(browser, page, live_server), notify="delayed")
    location = back.headers["Location"]
    paid = dict(parse_qsl(urlsplit(location).query))["PAID"]
    other = ("0" if paid[0] != "0" else "1") + paid[1:]
    before = world(app)

    forged = browser.get(_with(location, PAID=other))
    assert forged.status_code == 400
    assert "The payment could not be verified" in text_of(forged)
    # Another bank's METHOD in the same answer: refused too (METHOD is in the checksum).
    assert browser.get(_with(location, METHOD="3")).status_code == 400
    [attempt] = attempts(app)
    assert attempt.state == PaymentState.CREATED
    assert invoice_state(app, invoice.number) == (InvoiceStatus.OPEN, Decimal("0.00"), [])
    assert mails(app, "payments_receipt") == []
    assert [(kind, number) for kind, number, _reason in rejected(app)] == [
        ("return", order),
        ("return", order),
    ]
    after = world(app)
    assert len(after.pop("refused")) == 2 and before.pop("refused") == []
    assert after == before

    # The genuine return still pays.
    result = browser.follow(back)
    assert f"Invoice {invoice.number} is paid." in text_of(result)
    [attempt] = attempts(app)
    assert (attempt.state, attempt.paid_code) == (PaymentState.PAID, paid)
    assert_invoice_paid_once(app, invoice.number, order, refused=2)


def test_a_forged_notify_over_http_is_refused(app, live_server, tiina, browser):
    invoice = open_invoice(app)
    page = to_service(browser, invoice.link)
    order = order_of(page)
    back = pay(browser, to_bank(browser, page, live_server), notify="delayed")
    notify = f"{live_server}/payments/notify?" + urlsplit(back.headers["Location"]).query
    forged = requests.get(_with(notify, TIMESTAMP="1"), timeout=TIMEOUT)
    assert (forged.status_code, forged.text) == (400, "REJECTED")
    assert attempts(app)[0].state == PaymentState.CREATED
    assert [(kind, number) for kind, number, _reason in rejected(app)] == [("notify", order)]
    # The genuine notify, when it comes, pays.
    assert payment_sandbox.deliver_due_notifies(app, now=time.time() + NOTIFY_DELAY + 1) == 1
    assert attempts(app)[0].state == PaymentState.PAID
    assert_invoice_paid_once(app, invoice.number, order, refused=1)


# ================================================================= more


def test_a_delayed_notify_comes_by_the_sandboxs_own_timer(app, live_server, tiina, browser):
    app.config["PAYMENT_SANDBOX_NOTIFY_DELAY"] = 0.5
    invoice = open_invoice(app)
    page = to_service(browser, invoice.link)
    order = order_of(page)
    pay(browser, to_bank(browser, page, live_server), notify="delayed")
    assert attempts(app)[0].state == PaymentState.CREATED  # the payer is not back
    # Nobody delivers it here: the sandbox calls the portal by itself when it is due.
    assert wait_for(lambda: sandbox_payment(app, order)["notifies"], timeout=10)
    [notify] = sandbox_payment(app, order)["notifies"]
    assert (notify["kind"], notify["status"], notify["error"]) == ("delayed", 200, None)
    [attempt] = attempts(app)
    assert attempt.state == PaymentState.PAID and attempt.returned_at is None
    assert_invoice_paid_once(app, invoice.number, order)


@pytest.mark.parametrize(
    ("charset", "title"),
    [
        ("ISO-8859-1", "Julkiset hankinnat – käytännön opas"),
        ("ISO-8859-1", "Hankinnat alle 60 000 €"),
        ("UTF-8", "Excel | jatkokurssi"),
    ],
    ids=["en-dash", "euro-sign", "bar"],
)
def test_a_course_fee_is_paid_whatever_its_title(
    app, live_server, make_course, browser, charset, title
):
    app.config["PAYMENT_CHARSET"] = charset
    course = make_course(title=title)
    pay_page = enrol_online(app, browser, live_server, course.id)  # offered, so payable
    page = browser.submit(
        pay_page,
        field="first_name",
        values={"street": "Virastokatu 1", "postcode": "00100", "city": "Helsinki"},
    )
    assert page.status_code == 200, text_of(page)
    order = order_of(page)
    bank = to_bank(browser, page, live_server)
    item_title = sandbox_payment(app, order)["fields"]["ITEM_TITLE[0]"]
    assert "|" not in item_title and item_title.encode(charset)
    result = browser.follow(pay(browser, bank))
    assert "The course fee is paid and your enrolment is binding." in text_of(result)
    with app.app_context():
        enrolment = db.session.scalars(sa.select(Enrolment)).one()
        assert enrolment.status == EnrolmentStatus.BINDING
