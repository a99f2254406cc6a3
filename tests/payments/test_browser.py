"""Online payment in headless Chromium: the payer pays an invoice from the link in its email.

Staff forward an invoicing user's invoice by email at the staff desk; the outbox delivers
it to a real SMTP server; the payer opens the payment link, confirms their details with
the keyboard, goes to the payment service (the portal's sandbox), chooses a bank, pays,
and lands on the portal's page saying the invoice is paid. axe-core checks every page,
the sandbox's bank page included. CSRF protection is on, as in production.
"""

from __future__ import annotations

import re
from decimal import Decimal
from email.utils import getaddresses
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, gettext

from extensions import db
from models.auth import Role
from models.invoicing import DeliveryMethod, InvoiceStatus, SalesInvoice
from models.payments import OnlinePayment, PaymentState
from sandboxes.payment_service import views as payment_sandbox
from services import accounts
from services.invoicing import desk as invoicing
from tests.fixtures.browser import _log_in, _log_out
from tests.fixtures.invoicing import (
    KAISA,
    PAYER_EMAIL,
    TIINA,
    give_number,
    helsinki_today,
    make_sent,
)
from tests.fixtures.mail import deliver_mail
from tests.fixtures.payments import CHANNEL_CONFIG

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config.update(CHANNEL_CONFIG, WTF_CSRF_ENABLED=True, PAYMENT_SANDBOX_NOTIFY_DELAY=3600)
    return app_config


def _finnish(app, text: str, **values) -> str:
    """A source text as the Finnish pages show it."""
    with app.test_request_context(), force_locale("fi"):
        return gettext(text, **values)


def _emailed_invoice(app) -> str:
    """Tiina's invoice to Asiakas Oy by email, 2 h × 50,00 € at 25,5 % (125,50 €), sent to
    the desk: waiting for staff to forward it. Its number."""
    with app.test_request_context():
        user = accounts.user_by_email(TIINA)
        invoice = invoicing.new_invoice(user)
        invoice.invoice_date = helsinki_today()
        invoice.delivery_method = DeliveryMethod.EMAIL
        invoice.payer_name, invoice.payer_search = "Asiakas Oy", "asiakas oy"
        invoice.payer_street, invoice.payer_postcode = "Esimerkkikatu 5", "00500"
        invoice.payer_city, invoice.payer_email = "Helsinki", PAYER_EMAIL
        invoicing.set_lines(
            invoice,
            [invoicing.LineData("Konsultointi", Decimal(2), "h", Decimal(50), Decimal("25.5"))],
        )
        db.session.add(invoice)
        invoicing.created(invoice, user)
        invoicing.submit(invoice, user)
        db.session.commit()
        return invoice.number


def _mail_to(smtp_server, address: str) -> list:
    return [
        message
        for message in smtp_server.messages
        if address in [a for _name, a in getaddresses(message.get_all("To", []))]
    ]


def test_a_payer_pays_an_emailed_invoice_from_the_link_in_its_email(
    browser_page, app, make_user, smtp_server, live_server
):
    make_user(TIINA, org="Toiminimi Testinen", name="Tiina Testinen")
    give_number(app, TIINA, "100102")
    make_user(KAISA, role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa")
    number = _emailed_invoice(app)
    browser = browser_page
    page = browser.page

    # Staff forward the invoice by email from the desk, finalised: an open receivable.
    _log_in(browser, KAISA)
    browser.goto(f"/staff/invoices/{number}")
    assert PAYER_EMAIL in page.locator("#forward-title + p").inner_text()
    browser.navigate(lambda: page.locator("button[name=finalise][value='1']").click())
    assert page.locator(".details .badge--invoice-avoin").is_visible()
    _log_out(browser)

    # The email reaches the payer with the invoice and its payment link.
    report = deliver_mail(app)
    assert report.failed == 0
    [to_payer] = _mail_to(smtp_server, PAYER_EMAIL)
    assert number in to_payer["Subject"]
    found = re.search(r"https?://\S+/payments/invoice/\S+", smtp_server.text_of(to_payer))
    assert found, smtp_server.text_of(to_payer)
    link = found.group(0)
    assert link.startswith(f"{live_server}/payments/invoice/")
    html_part = to_payer.get_body(preferencelist=("html",)).get_content()
    assert f'href="{link}"' in html_part

    # The payer opens it: the pay page, prefilled from the invoice.
    browser.goto(link)
    assert page.locator("h1").inner_text() == _finnish(app, "Pay online")
    assert number in page.locator("main").inner_text()
    assert page.locator("#company").input_value() == "Asiakas Oy"
    assert page.locator("#email").input_value() == PAYER_EMAIL
    assert page.locator("#city").input_value() == "Helsinki"

    # Their name typed with the keyboard; Enter in the last field typed sends the form.
    page.focus("#first_name")
    page.keyboard.type("Matti")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "last_name"
    page.keyboard.type("Meikäläinen")
    browser.navigate(lambda: page.keyboard.press("Enter"))
    assert page.locator("h1").inner_text() == _finnish(app, "Go to the payment service")
    order = page.locator("main dd strong.code").first.inner_text()
    assert re.fullmatch(r"VM\d+", order)

    # On to the payment service: its bank page, in Finnish (CULTURE fi_FI).
    go = page.get_by_role("button", name=_finnish(app, "Go to the payment service"))
    browser.navigate(go.click)
    assert urlsplit(page.url).path.startswith("/sandbox/payment/pay/")
    assert page.locator("h1").inner_text() == "Verkkomaksu"
    assert order in page.locator("main").inner_text()

    # A bank chosen with the arrow keys, then Maksa.
    page.focus("#method-1")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    assert page.is_checked("#method-2")  # Osuuspankki
    assert page.is_checked("#notify-now")
    browser.navigate(lambda: page.get_by_role("button", name=re.compile(r"^Maksa")).click())

    # Back at the portal: the invoice is paid.
    assert urlsplit(page.url).path == "/payments/return"
    assert page.locator("h1").inner_text() == _finnish(app, "Thank you for your payment")
    status = page.get_by_role("status").inner_text()
    assert number in status and PAYER_EMAIL in status
    assert order in page.locator("main").inner_text()

    with app.app_context():
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        assert (invoice.status, invoice.paid_amount) == (InvoiceStatus.PAID, Decimal("125.50"))
        assert [(p.amount, p.source) for p in invoice.payments] == [(Decimal("125.50"), "online")]
        payment = db.session.scalars(sa.select(OnlinePayment)).one()
        assert (payment.order_number, payment.state) == (order, PaymentState.PAID)
        assert (payment.first_name, payment.last_name) == ("Matti", "Meikäläinen")
        assert (payment.method, payment.language) == ("2", "fi")
        assert payment.notified_at is not None and payment.returned_at is not None
    [transaction] = payment_sandbox.transactions(app, order)
    assert (transaction["state"], transaction["paid"]) == ("paid", payment.paid_code)
    assert [n["status"] for n in transaction["notifies"]] == [200]

    # axe checked the service's bank page and the portal's result page too.
    checked = [urlsplit(path).path for path in browser.checked]
    assert f"/sandbox/payment/pay/{transaction['token']}" in checked
    assert "/payments/return" in checked

    # The receipt reaches the payer, and the invoicing user is told the invoice is paid.
    told_before = len(_mail_to(smtp_server, TIINA))
    assert deliver_mail(app).sent == 2
    [receipt] = _mail_to(smtp_server, PAYER_EMAIL)[1:]
    assert order in receipt["Subject"]
    assert payment.paid_code in smtp_server.text_of(receipt)
    assert len(_mail_to(smtp_server, TIINA)) == told_before + 1
    assert number in _mail_to(smtp_server, TIINA)[-1]["Subject"]


def test_a_payer_who_cancels_at_the_bank_tries_again_and_pays(browser_page, app, make_user):
    from services.payments import links as payment_links

    make_user(TIINA, org="Toiminimi Testinen", name="Tiina Testinen")
    give_number(app, TIINA, "100102")
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    with app.test_request_context():
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        link = payment_links.invoice_payment_url(invoice)
    browser = browser_page
    page = browser.page

    def to_the_bank() -> str:
        page.fill("#first_name", "Matti")
        page.fill("#last_name", "Meikäläinen")
        page.fill("#street", "Yliopistonkatu 1")
        page.fill("#postcode", "40100")
        page.fill("#city", "Jyväskylä")
        continue_ = page.get_by_role("button", name=_finnish(app, "Continue to payment"))
        browser.navigate(continue_.click)
        go = page.get_by_role("button", name=_finnish(app, "Go to the payment service"))
        browser.navigate(go.click)
        assert urlsplit(page.url).path.startswith("/sandbox/payment/pay/")
        return page.url

    # Cancelled at the bank: the portal says nothing was charged.
    browser.goto(link)
    bank = to_the_bank()
    browser.navigate(lambda: page.get_by_role("button", name="Peruuta maksu").click())
    assert urlsplit(page.url).path == "/payments/cancel"
    assert page.locator("h1").inner_text() == _finnish(app, "The payment was not made")
    assert page.get_by_role("status").inner_text() == _finnish(
        app, "You cancelled the payment. Nothing was charged."
    )
    with app.app_context():
        [first] = db.session.scalars(sa.select(OnlinePayment)).all()
        assert first.state == PaymentState.CANCELLED
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        assert (invoice.status, invoice.paid_amount) == (InvoiceStatus.OPEN, Decimal("0.00"))

    # The bank page again: the service says the payment was cancelled, and leads back.
    browser.goto(bank)
    assert page.get_by_text("Tämä maksu on peruutettu.").is_visible()
    assert page.get_by_role("button", name=re.compile(r"^Maksa")).count() == 0
    browser.navigate(lambda: page.get_by_role("link", name="Palaa kauppaan").click())
    assert urlsplit(page.url).path == "/payments/cancel"
    assert page.locator("h1").inner_text() == _finnish(app, "The payment was not made")

    # Try again: a new attempt, paid this time.
    browser.navigate(lambda: page.get_by_role("link", name=_finnish(app, "Try again")).click())
    assert page.url == link
    to_the_bank()
    page.check("#method-50")  # Aktia (the service's code)
    browser.navigate(lambda: page.get_by_role("button", name=re.compile(r"^Maksa")).click())
    assert page.locator("h1").inner_text() == _finnish(app, "Thank you for your payment")
    with app.app_context():
        first, second = db.session.scalars(sa.select(OnlinePayment).order_by(OnlinePayment.id))
        assert (first.state, second.state) == (PaymentState.CANCELLED, PaymentState.PAID)
        assert second.method == "50"
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        assert (invoice.status, invoice.paid_amount) == (InvoiceStatus.PAID, Decimal("125.50"))
