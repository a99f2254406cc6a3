""" "Ask about this": an invoice, an order, a booking (and, from the lead's templates, an
enrolment and a payment) open the contact form with the application, the sub-application
and the target reference filled in (issue 17). What the link carries is checked as typed
text, and it is only text: it shows nothing of what it names."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask import Flask, render_template_string
from flask.testing import FlaskClient

from extensions import db
from models.invoicing import SalesInvoice
from models.portal import Booking, CustomerInvoice
from models.support import Application, SubApplication, Ticket
from tests.fixtures import support as preselect
from tests.fixtures.support import BRUKER, KAISA, MAIJA, TIINA, application_id, chosen

# The demo data and its logged-in clients, as there.
demo = preselect.demo
# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.


def ask_links(page: str) -> list[tuple[str, str]]:
    """The page's "Ask about this" links: (address, text)."""
    return [
        (html.unescape(href), html.unescape(text))
        for href, text in re.findall(r'<a class="ask-about" href="([^"]*)">([^<]*)</a>', page)
    ]


def reference_in(page: str) -> str | None:
    field = re.search(r'<input[^>]*id="target_reference"[^>]*>', page).group(0)
    value = re.search(r'value="([^"]*)"', field)
    return html.unescape(value.group(1)) if value and value.group(1) else None


def follow(client: FlaskClient, href: str) -> str:
    response = client.get(href)
    assert response.status_code == 200, href
    return response.get_data(as_text=True)


def sub_id(app: Flask, key: str, fi_name: str = "Raportti") -> str:
    with app.app_context():
        return str(
            db.session.scalar(
                sa.select(SubApplication.id)
                .join(SubApplication.application)
                .where(Application.part == key, SubApplication.names["fi"].as_string() == fi_name)
            )
        )


def test_an_invoice_of_the_invoice_desk(app, demo):
    client = demo(TIINA)
    with app.app_context():
        invoice = db.session.scalar(
            sa.select(SalesInvoice).where(SalesInvoice.number.is_not(None)).limit(1)
        )
        ident, number = invoice.id, invoice.number
    [(href, text)] = ask_links(follow(client, f"/invoices/{ident}"))
    assert text.strip()
    form = follow(client, href)
    assert chosen(form) == application_id(app, "invoices")
    assert chosen(form, "type") == "laskutusasiat"
    assert reference_in(form) == number


def test_a_draft_without_a_number_asks_without_a_reference(app, demo):
    client = demo(TIINA)
    with app.app_context():
        ident = db.session.scalar(sa.select(SalesInvoice.id).where(SalesInvoice.number.is_(None)))
    [(href, _text)] = ask_links(follow(client, f"/invoices/{ident}"))
    form = follow(client, href)
    assert chosen(form) == application_id(app, "invoices") and reference_in(form) is None


def test_each_invoice_of_the_customer_portal(app, demo):
    client = demo(BRUKER)
    links = ask_links(follow(client, "/portal/invoices"))
    with app.app_context():
        numbers = set(db.session.scalars(sa.select(CustomerInvoice.number)))
    assert len(links) == len(numbers)
    assert len({text for _href, text in links}) == len(links)  # each says which invoice
    for href, text in links:
        form = follow(client, href)
        assert chosen(form) == application_id(app, "portal")
        assert chosen(form, "type") == "laskutusasiat"
        assert reference_in(form) in numbers and reference_in(form) in text


def test_an_order_of_the_customer_portal(app, demo):
    client = demo(BRUKER)
    [(href, _text)] = ask_links(follow(client, "/portal/orders/307390"))
    form = follow(client, href)
    assert chosen(form) == application_id(app, "portal")
    assert reference_in(form) == "307390"


def test_a_booking_is_named_by_its_order(app, demo):
    client = demo(BRUKER)
    with app.app_context():
        booking = db.session.scalars(sa.select(Booking)).first()
        ident, order = booking.id, booking.order.number
    [(href, _text)] = ask_links(follow(client, f"/portal/bookings/{ident}"))
    form = follow(client, href)
    assert chosen(form) == application_id(app, "portal")
    assert reference_in(form) == str(order)


def test_a_booking_without_an_order_is_named_by_its_title(app, demo):
    client = demo(BRUKER)
    with app.app_context():
        booking = db.session.scalars(sa.select(Booking)).first()
        booking.order_id, booking.title = None, "Helsekontroll " + "x" * 186
        db.session.commit()
        ident = booking.id
    [(href, _text)] = ask_links(follow(client, f"/portal/bookings/{ident}"))
    reference = reference_in(follow(client, href))
    assert reference.startswith("Helsekontroll x") and len(reference) <= 100


def test_the_reports_take_the_report_sub_application(app, demo):
    """The seed: a contact about an application's reports takes Raportti."""
    client = demo(BRUKER)
    [(href, _text)] = ask_links(follow(client, "/portal/reports"))
    form = follow(client, href)
    assert chosen(form) == application_id(app, "portal")
    assert chosen(form, "sub_application") == sub_id(app, "portal")


@pytest.mark.parametrize("sub", ["Raportti", "report", " RAPPORT ", "{id}"])
def test_a_sub_application_by_its_name_in_any_language_or_its_id(app, demo, sub):
    client = demo(TIINA)
    wanted = sub_id(app, "invoices")
    form = follow(client, f"/support/new?app=invoices&sub={sub.format(id=wanted)}")
    assert chosen(form, "sub_application") == wanted


def test_a_sub_application_of_another_application_is_not_chosen(app, demo):
    client = demo(TIINA)
    other = sub_id(app, "training")
    form = follow(client, f"/support/new?app=invoices&sub={other}")
    assert chosen(form) == application_id(app, "invoices")
    assert chosen(form, "sub_application") is None
    form = follow(client, "/support/new?sub=Raportti")  # without an application: nothing
    assert chosen(form) is None and chosen(form, "sub_application") is None


@pytest.mark.parametrize(
    "reference",
    [
        "LASKU\x1b[31m",  # an escape sequence
        "100102\t15",  # a tab: one line holds none
        "100102\n15",
        "1001\u008521",  # a C1 control
        "x" * 101,  # longer than the field takes
    ],
)
def test_a_reference_the_form_would_refuse_is_left_out(app, demo, reference):
    client = demo(TIINA)
    response = client.get("/support/new", query_string={"app": "invoices", "ref": reference})
    assert response.status_code == 200
    form = response.get_data(as_text=True)
    assert reference_in(form) is None
    assert chosen(form) == application_id(app, "invoices")  # the rest of the link counts
    assert "error-summary" not in form and "aria-invalid" not in form  # nothing typed wrong


def test_a_reference_is_trimmed_and_taken_up_to_the_fields_length(app, demo):
    client = demo(TIINA)
    longest = "R" * 100
    assert reference_in(follow(client, f"/support/new?ref=++{longest}++")) == longest
    assert reference_in(follow(client, "/support/new?ref=%3Cb%3E1%3C/b%3E")) == "<b>1</b>"
    assert client.get("/support/new?ref=1%00").status_code == 400  # the portal's NUL rule


def test_a_reference_of_another_organisation_is_only_text(app, demo):
    """Maija (Testivirasto) opens a link naming Demokunde's portal invoice and Tiina's
    sales invoice: the form holds the text she was given, nothing of the invoices, and
    the ticket sent with it names no record of theirs."""
    client = demo(MAIJA)
    with app.app_context():
        sales = db.session.scalar(
            sa.select(SalesInvoice).where(SalesInvoice.number.is_not(None)).limit(1)
        )
        sales_number, sales_payer = sales.number, sales.payer_name
    for reference, secrets in (
        ("2017-118350", ("Testbedriften", "1 500", "1500", "Demokunde")),
        (sales_number, (sales_payer, "Toiminimi Testinen", "Tiina")),
    ):
        form = follow(client, f"/support/new?app=invoices&ref={reference}")
        assert reference_in(form) == reference
        for secret in secrets:
            assert secret not in form, secret
        response = client.post(
            "/support/new",
            data={
                "type": "laskutusasiat",
                "urgency": "normaali",
                "email": MAIJA,
                "application": application_id(app, "invoices"),
                "sub_application": "",
                "target_reference": reference,
                "message": "Mikä tämä lasku on?",
            },
            content_type="multipart/form-data",
        )
        assert response.status_code == 302
        with app.app_context():
            ticket = db.session.scalar(
                sa.select(Ticket).where(Ticket.target_reference == reference)
            )
            assert (ticket.target_type, ticket.target_id) == (None, None)
        sent = follow(client, response.headers["Location"])
        for secret in secrets:
            assert secret not in sent, secret


# The calls the lead's templates make (templates/training/enrolment.html and
# templates/payments/result.html), with the values those pages have.
LEADS_CALLS = [
    (
        '{{ ask_about("training", none, enrolment.service_code, type="koulutusasiat") }}',
        {"enrolment": SimpleNamespace(service_code="K7Q2-MX4P")},
        "training",
        "koulutusasiat",
        "K7Q2-MX4P",
    ),
    (
        '{{ ask_about("payments", none, payment.order_number, type="laskutusasiat") }}',
        {"payment": SimpleNamespace(order_number="VM-2026-000042")},
        "payments",
        "laskutusasiat",
        "VM-2026-000042",
    ),
]


@pytest.mark.parametrize(("call", "values", "key", "kind", "reference"), LEADS_CALLS)
def test_the_macro_as_the_enrolment_and_payment_pages_call_it(
    app, demo, call, values, key, kind, reference
):
    client = demo(MAIJA)
    with app.test_request_context():
        link = render_template_string('{% from "_ask.html" import ask_about %}' + call, **values)
    [(href, _text)] = ask_links(link)
    form = follow(client, href)
    assert chosen(form) == application_id(app, key)
    assert chosen(form, "type") == kind
    assert reference_in(form) == reference


def test_staff_ask_nobody(app, demo):
    """Staff are the customer service: their pages of the same records have no link."""
    client = demo(KAISA)
    assert ask_links(follow(client, "/staff/portal/orders/307390")) == []


def test_the_pages_with_the_links_and_the_form_they_open_pass_axe(app, demo, browser_page):
    """In a browser, in fi and nb: the pages that gained a link, and the filled-in form."""
    from commands.demo.data import ACCOUNTS

    passwords = {account.email: account.password for account in ACCOUNTS}
    with app.app_context():
        booking = str(db.session.scalar(sa.select(Booking.id)))
        invoice = str(
            db.session.scalar(sa.select(SalesInvoice.id).where(SalesInvoice.number.is_not(None)))
        )
    browser, page = browser_page, browser_page.page
    for email, paths in (
        (BRUKER, ["/portal/invoices", "/portal/orders/307390", f"/portal/bookings/{booking}",
                  "/portal/reports"]),
        (TIINA, [f"/invoices/{invoice}"]),
    ):  # fmt: skip
        page.context.clear_cookies()
        browser.goto("/auth/login")
        page.fill("#email", email)
        page.fill("#password", passwords[email])
        browser.navigate(lambda: page.locator("form.form button[type=submit]").click())
        for path in paths:
            browser.goto(path)
            browser.navigate(lambda: page.locator("a.ask-about").first.click())
            assert page.locator("#application option:checked").get_attribute("value")
