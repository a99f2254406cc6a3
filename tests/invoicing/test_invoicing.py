"""The invoice desk through its pages: users start invoicing, write, save and send invoices;
staff forward them by post, email and e-invoice (to the local print service and operator
over real HTTP), ask for corrections, search them and record payments.

Every user here speaks English, so the pages' words are the source texts.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.utils import parseaddr
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

import paging
from extensions import db
from models.invoicing import (
    EventKind,
    InvoiceStatus,
    SalesInvoice,
    SalesInvoiceLine,
    SalesInvoicePayment,
)
from services import accounts, finvoice, invoicing, reference, registry
from services.forwarding_errors import ForwardingError
from services.workdays import HELSINKI
from tests.fixtures import invoicing as invoicing_fixtures
from tests.fixtures.app import free_port, run_together, sample_url
from tests.fixtures.invoicing import (
    KAISA,
    OLLI,
    ON_SQLITE,
    PAYER_EMAIL,
    TIINA,
    at,
    count,
    events,
    field_error,
    forward,
    helsinki_today,
    invoice_form,
    invoice_id,
    invoice_row,
    invoicer,
    login,
    mails,
    make_sent,
    numbers,
    open_invoice,
    page,
    pay,
    pdf_text,
    send,
    sent_invoice,
    set_sent_at,
    set_series,
)
from tests.fixtures.mail import deliver_mail

app_config = invoicing_fixtures.app_config
olli = invoicing_fixtures.olli
staff = invoicing_fixtures.staff
tiina = invoicing_fixtures.tiina


# ---------------------------------------------------------------- the world


# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.
pytestmark = pytest.mark.usefixtures("quick_password_hashing")


# ================================================================= 1. the user's side


def test_a_customer_without_a_number_sees_the_start_page(app, make_user):
    client = invoicer(app, make_user, "uusi@example.com", None, "Uusi Oy")
    text = page(client.get("/invoices/"))
    assert 'action="/invoices/start"' in text
    assert "Start invoicing" in text


def test_starting_gives_the_first_number_then_the_next(app, make_user):
    first = invoicer(app, make_user, "eka@example.com", None, "Eka Oy")
    second = invoicer(app, make_user, "toka@example.com", None, "Toka Oy")
    response = first.post("/invoices/start", follow_redirects=True)
    assert "Your invoicing number is 100001." in page(response)
    second.post("/invoices/start")
    with app.app_context():
        assert accounts.user_by_email("eka@example.com").invoicing_number == "100001"
        assert accounts.user_by_email("toka@example.com").invoicing_number == "100002"


def test_starting_twice_keeps_the_number(app, make_user):
    client = invoicer(app, make_user, "eka@example.com", None, "Eka Oy")
    client.post("/invoices/start")
    client.post("/invoices/start")
    with app.app_context():
        assert accounts.user_by_email("eka@example.com").invoicing_number == "100001"
    assert "100001" in page(client.get("/invoices/"))


def test_the_first_number_follows_one_set_by_hand(app, make_user, tiina):
    """Tiina has 100102 from the seed and nobody has started yet: the series begins after
    the highest number in use."""
    client = invoicer(app, make_user, "uusi@example.com", None, "Uusi Oy")
    client.post("/invoices/start")
    with app.app_context():
        assert accounts.user_by_email("uusi@example.com").invoicing_number == "100103"


def test_a_number_taken_by_hand_ahead_of_the_series_is_passed_over(app, make_user):
    first = invoicer(app, make_user, "eka@example.com", None, "Eka Oy")
    first.post("/invoices/start")  # 100001: the series has begun
    invoicer(app, make_user, "kasin@example.com", "100002", "Käsin Oy")
    third = invoicer(app, make_user, "kolmas@example.com", None, "Kolmas Oy")
    third.post("/invoices/start")
    with app.app_context():
        assert accounts.user_by_email("kolmas@example.com").invoicing_number == "100003"


def test_staff_have_no_invoicing_pages(staff):
    assert staff.get("/invoices/").status_code == 404
    assert staff.get("/invoices/new").status_code == 404
    assert staff.post("/invoices/start").status_code == 400


def test_without_a_number_the_new_invoice_form_leads_to_the_start(app, make_user):
    client = invoicer(app, make_user, "uusi@example.com", None, "Uusi Oy")
    response = client.get("/invoices/new")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/invoices/")


def test_a_draft_is_saved_with_few_fields_and_no_number(app, tiina):
    response = tiina.post(
        "/invoices/new",
        data={
            "action": "save",
            "delivery_method": "posti",
            "invoice_date": helsinki_today().isoformat(),
            "payer_name": "Keskeneräinen Oy",
        },
    )
    assert response.status_code == 302
    draft = invoice_row(app, payer_name="Keskeneräinen Oy")
    assert draft.status == InvoiceStatus.DRAFT
    assert (draft.number, draft.reference, draft.sent_at) == (None, None, None)
    assert draft.due_date == helsinki_today() + timedelta(days=14)
    assert mails(app) == []
    text = page(tiina.get(response.headers["Location"]))
    assert "Draft invoice" in text and "Given when the invoice is sent" in text


def test_a_draft_can_be_edited(app, tiina):
    response = tiina.post("/invoices/new", data=invoice_form(action="save", payer_name="Eka"))
    location = response.headers["Location"]
    form = page(tiina.get(f"{location}/edit"))
    assert 'value="Eka"' in form
    response = tiina.post(
        f"{location}/edit",
        data=invoice_form(action="save", payer_name="Toka", **{"lines-0-quantity": "3"}),
    )
    assert response.status_code == 302
    draft = invoice_row(app, payer_name="Toka")
    assert draft.status == InvoiceStatus.DRAFT and draft.number is None
    assert draft.gross == Decimal("188.25")  # 150,00 + 25,5 %
    assert count(app, SalesInvoice) == 1


def test_a_draft_can_be_deleted(app, tiina):
    location = tiina.post("/invoices/new", data=invoice_form(action="save")).headers["Location"]
    response = tiina.post(f"{location}/delete", follow_redirects=True)
    assert "The draft was deleted." in page(response)
    assert count(app, SalesInvoice) == 0
    assert count(app, SalesInvoiceLine) == 0
    assert tiina.get(location).status_code == 404


def test_a_sent_invoice_cannot_be_deleted(app, tiina):
    number = sent_invoice(tiina, app)
    response = tiina.post(f"/invoices/{invoice_id(app, number)}/delete", follow_redirects=True)
    assert "Only a draft that was never sent can be deleted." in page(response)
    assert invoice_row(app, number).status == InvoiceStatus.SUBMITTED


def refused(client: FlaskClient, app: Flask, method: str = "sahkoposti", **fields) -> str:
    """Send an invoice that must be refused: 422, nothing saved; the form's text."""
    response = send(client, method, **fields)
    assert response.status_code == 422
    assert count(app, SalesInvoice) == 0
    assert count(app, SalesInvoiceLine) == 0
    assert mails(app) == []
    return page(response)


def test_sending_by_email_needs_the_payers_email(app, tiina):
    text = refused(tiina, app, "sahkoposti", payer_email="")
    assert "Sending the invoice needs this." in field_error(text, "payer_email")


@pytest.mark.parametrize("missing", ["payer_street", "payer_postcode", "payer_city"])
def test_sending_by_post_needs_the_address(app, tiina, missing):
    text = refused(tiina, app, "posti", **{missing: ""})
    assert "Sending the invoice needs this." in field_error(text, missing)


def test_sending_needs_the_payers_name(app, tiina):
    text = refused(tiina, app, "posti", payer_name="")
    assert "Sending the invoice needs this." in field_error(text, "payer_name")


@pytest.mark.parametrize("postcode", ["0050", "005000", "00 500", "OO500"])
def test_a_finnish_postcode_has_five_digits(app, tiina, postcode):
    text = refused(tiina, app, "posti", payer_postcode=postcode)
    assert "A Finnish postcode has five digits." in field_error(text, "payer_postcode")


def test_a_foreign_postcode_is_taken_as_it_is(app, tiina):
    number = sent_invoice(
        tiina, app, "posti", payer_country="SE", payer_postcode="113 51", payer_city="Stockholm"
    )
    assert invoice_row(app, number).payer_postcode == "113 51"


@pytest.mark.parametrize("missing", ["payer_einvoice_address", "payer_operator", "payer_street"])
def test_an_einvoice_needs_its_address_and_operator(app, tiina, missing):
    text = refused(tiina, app, "verkkolasku", **{missing: ""})
    assert "Sending the invoice needs this." in field_error(text, missing)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("payer_einvoice_address", "12345671", "Enter an OVT code (0037…) or an IBAN."),
        ("payer_einvoice_address", "0037123", "Enter an OVT code (0037…) or an IBAN."),
        ("payer_einvoice_address", "FI21 1234 5600 0007 86", "Enter an OVT code"),  # bad IBAN
        ("payer_operator", "NDEA", "Enter the operator's code"),
        ("payer_operator", "NDEA-FIHH", "Enter the operator's code"),
    ],
)
def test_an_einvoice_address_and_operator_must_look_right(app, tiina, field, value, message):
    text = refused(tiina, app, "verkkolasku", **{field: value})
    assert message in field_error(text, field)


def test_an_iban_and_a_bic_are_an_einvoice_address_and_operator(app, tiina):
    number = sent_invoice(
        tiina,
        app,
        "verkkolasku",
        payer_einvoice_address="fi21 1234 5600 0007 85",
        payer_operator="ndeafihh",
    )
    row = invoice_row(app, number)
    assert (row.payer_einvoice_address, row.payer_operator) == ("FI2112345600000785", "NDEAFIHH")


@pytest.mark.parametrize("action", ["send", "save"])
def test_an_invalid_business_id_is_refused(app, tiina, action):
    text = refused(tiina, app, "verkkolasku", payer_business_id="1234567-8", action=action)
    assert "Enter a valid business ID" in field_error(text, "payer_business_id")


@pytest.mark.parametrize(
    ("invoice_date", "rate"),
    [("2026-03-02", "24"), ("2026-03-02", "14"), ("2024-08-30", "25.5"), ("2025-12-31", "13.5")],
)
def test_a_vat_rate_not_in_force_on_the_invoice_date_is_refused(app, tiina, invoice_date, rate):
    text = refused(
        tiina, app, invoice_date=invoice_date, **{"lines-0-vat_percent": rate}, action="save"
    )
    assert "Choose a VAT rate in force on the invoice date." in field_error(
        text, "lines-0-vat_percent"
    )


@pytest.mark.parametrize(
    ("invoice_date", "rate"),
    [("2024-08-30", "24"), ("2025-12-31", "14"), ("2026-01-01", "13.5"), ("2026-03-02", "10")],
)
def test_the_vat_rates_in_force_on_the_invoice_date_are_taken(app, tiina, invoice_date, rate):
    number = sent_invoice(tiina, app, invoice_date=invoice_date, **{"lines-0-vat_percent": rate})
    with app.app_context():
        [line] = db.session.scalars(sa.select(SalesInvoiceLine)).all()
        assert line.vat_percent == Decimal(rate)
    assert invoice_row(app, number).invoice_date == date.fromisoformat(invoice_date)


@pytest.mark.parametrize("price", ["1,005", "0.001", "50,5O"])
def test_a_price_must_be_in_euros_and_cents(app, tiina, price):
    text = refused(tiina, app, **{"lines-0-unit_price": price})
    assert field_error(text, "lines-0-unit_price")


def test_an_empty_line_is_left_out(app, tiina):
    number = sent_invoice(
        tiina,
        app,
        **{
            "lines-1-description": "",
            "lines-1-quantity": "",
            "lines-1-unit": "kpl",
            "lines-1-unit_price": "",
            "lines-1-vat_percent": "25.5",
            "lines-2-description": "Matkakulut",
            "lines-2-quantity": "1",
            "lines-2-unit": "erä",
            "lines-2-unit_price": "20,00",
            "lines-2-vat_percent": "25.5",
        },
    )
    with app.app_context():
        lines = db.session.scalars(sa.select(SalesInvoiceLine).order_by(SalesInvoiceLine.position))
        assert [(line.position, line.description) for line in lines] == [
            (1, "Konsultointi"),
            (2, "Matkakulut"),
        ]
    assert invoice_row(app, number).net == Decimal("120.00")


NO_LINES = {"lines-0-description": "", "lines-0-quantity": "", "lines-0-unit_price": ""}


def test_the_user_is_told_an_invoice_needs_a_line(app, tiina):
    text = refused(tiina, app, **NO_LINES)
    assert "Please check the form" in text  # the error summary
    assert "Add at least one line." in text


def test_a_line_needs_its_quantity_and_price_to_be_sent(app, tiina):
    text = refused(tiina, app, **{"lines-0-quantity": "", "lines-0-unit_price": ""})
    assert "Sending the invoice needs this." in field_error(text, "lines-0-unit_price")
    assert "Sending the invoice needs this." in field_error(text, "lines-0-quantity")


def test_the_totals_are_exact(app, tiina):
    """3 × 33,33 = 99,99; VAT 25,5 % of it is 25,497 45 → 25,50; in all 125,49."""
    number = sent_invoice(tiina, app, **{"lines-0-quantity": "3", "lines-0-unit_price": "33,33"})
    row = invoice_row(app, number)
    assert (row.net, row.vat, row.gross) == (
        Decimal("99.99"),
        Decimal("25.50"),
        Decimal("125.49"),
    )


def test_vat_is_reckoned_per_rate_on_the_sum_of_its_lines(app, tiina):
    """Two lines of 0,02 € at 25,5 %: 0,005 1 each would round to 0,01 + 0,01, but the
    rate's VAT is 25,5 % of 0,04 = 0,010 2 → 0,01. And 1,5 h × 80,00 at 13,5 % → 16,20."""
    number = sent_invoice(
        tiina,
        app,
        **{
            "lines-0-quantity": "1",
            "lines-0-unit_price": "0,02",
            "lines-1-description": "Toinen",
            "lines-1-quantity": "1",
            "lines-1-unit": "kpl",
            "lines-1-unit_price": "0,02",
            "lines-1-vat_percent": "25.5",
            "lines-2-description": "Koulutus",
            "lines-2-quantity": "1,5",
            "lines-2-unit": "h",
            "lines-2-unit_price": "80,00",
            "lines-2-vat_percent": "13.5",
        },
    )
    row = invoice_row(app, number)
    assert (row.net, row.vat, row.gross) == (
        Decimal("120.04"),
        Decimal("16.21"),
        Decimal("136.25"),
    )


def test_a_total_of_zero_cannot_be_sent(app, tiina):
    text = refused(tiina, app, **{"lines-0-unit_price": "0,00"})
    assert "The invoice's total must be above zero." in text


def test_a_total_below_zero_cannot_be_sent(app, tiina):
    text = refused(tiina, app, **{"lines-0-unit_price": "-10,00"})
    assert "The invoice's total cannot be negative." in text


def test_a_draft_below_zero_is_refused_with_a_message_not_a_conflict(app, tiina):
    text = refused(tiina, app, action="save", **{"lines-0-unit_price": "-10,00"})
    assert "The invoice's total cannot be negative." in text


def test_the_same_form_sent_twice_makes_one_invoice(app, tiina):
    data = invoice_form()
    first = tiina.post("/invoices/new", data=data)
    second = tiina.post("/invoices/new", data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert numbers(app) == ["1001021"]
    assert len(mails(app, "invoicing_submitted")) == 1
    assert sent_invoice(tiina, app) == "1001022"  # no number was lost to the second click


def test_a_double_click_at_one_instant_makes_one_invoice(app, app_config, tiina, monkeypatch):
    """Both clicks of a double click arrive together (two server threads) and both look
    for an earlier invoice of the form before either has saved one: the second then finds
    the first one's invoice and goes there too; no error page, one number."""
    import threading

    from app import create_app
    from blueprints.invoicing import public

    looked = threading.Barrier(2, timeout=20)
    seen: set[int] = set()
    same_form = public._same_form

    def both_look_first(form_key):
        earlier = same_form(form_key)
        if threading.get_ident() not in seen:  # the first look of each click
            seen.add(threading.get_ident())
            looked.wait()
        return earlier

    monkeypatch.setattr(public, "_same_form", both_look_first)
    apps = [create_app(app_config) for _ in range(2)]
    clients = [login(worker_app, TIINA) for worker_app in apps]
    data = invoice_form()
    outcomes: list[object] = []

    def attempt(worker_app, n):
        try:
            response = clients[n].post("/invoices/new", data=data)
            outcomes.append((response.status_code, response.headers.get("Location")))
        except Exception as error:  # noqa: BLE001  (an error page, as a browser would see)
            outcomes.append(type(error).__name__)

    run_together(attempt, apps)
    assert numbers(app) == ["1001021"]
    location = f"/invoices/{invoice_id(app, '1001021')}"
    assert outcomes == [(302, location), (302, location)]


def test_add_line_gives_another_line_and_saves_nothing(app, tiina):
    response = tiina.post("/invoices/new", data=invoice_form(action="add_line"))
    assert response.status_code == 200
    text = page(response)
    assert 'id="lines-1-description"' in text
    assert 'value="Konsultointi"' in text  # what was typed is kept
    assert count(app, SalesInvoice) == 0


def test_the_user_is_told_the_invoice_was_received(app, tiina):
    number = sent_invoice(tiina, app)
    [mail] = mails(app)
    assert mail.template == "invoicing_submitted"
    assert mail.recipients == [TIINA]
    assert mail.subject == f"Invoice {number} received"
    assert "100 10213" in mail.body
    assert mail.record == ("sales_invoice", str(invoice_id(app, number)))


# ================================================================= 2. numbers


def test_the_first_invoice_is_numbered_from_the_invoicing_number(app, tiina):
    response = send(tiina)
    text = page(tiina.get(response.headers["Location"]))
    row = invoice_row(app, "1001021")
    assert (row.user_number, row.reference, row.round) == ("100102", "10010213", 1)
    assert row.status == InvoiceStatus.SUBMITTED
    assert "Invoice 1001021" in text
    assert "100 10213" in text
    rf = reference.rf("10010213")
    assert rf == "RF0910010213"
    assert reference.grouped(rf) in text  # the RF form too, for the payer's bank


def test_the_flash_after_sending_names_the_number_and_reference(app, tiina):
    response = tiina.post("/invoices/new", data=invoice_form(), follow_redirects=True)
    text = page(response)
    assert "Invoice 1001021 was sent to be checked and forwarded." in text
    assert "Reference number 100 10213." in text


def test_the_second_invoice_takes_the_next_number(app, tiina):
    assert sent_invoice(tiina, app) == "1001021"
    assert sent_invoice(tiina, app) == "1001022"
    assert invoice_row(app, "1001022").reference == reference.finnish("1001022")


def test_each_user_has_a_series_of_their_own(app, tiina, olli):
    assert sent_invoice(tiina, app) == "1001021"
    assert sent_invoice(olli, app) == "1001031"
    assert sent_invoice(tiina, app) == "1001022"


def test_drafts_take_no_numbers(app, tiina):
    draft = tiina.post("/invoices/new", data=invoice_form(action="save")).headers["Location"]
    assert sent_invoice(tiina, app) == "1001021"
    response = tiina.post(f"{draft}/edit", data=invoice_form())
    assert response.status_code == 302
    assert numbers(app) == ["1001022", "1001021"]  # the draft, sent second, is the second


def test_a_deleted_draft_leaves_no_gap(app, tiina):
    draft = tiina.post("/invoices/new", data=invoice_form(action="save")).headers["Location"]
    tiina.post(f"{draft}/delete")
    assert sent_invoice(tiina, app) == "1001021"


def test_a_refused_sending_takes_no_number(app, tiina):
    send(tiina, **{"lines-0-unit_price": "0,00"})
    send(tiina, payer_email="")
    assert sent_invoice(tiina, app) == "1001021"


def test_invoices_sent_at_once_get_distinct_gapless_numbers(app, app_config, tiina):
    """The same user sends from several places at one instant (each app its own
    connection pool, as separate server processes), the series' very first number among
    them: every invoice has its own number, and none is skipped."""
    from app import create_app

    workers = 4
    apps = [create_app(app_config) for _ in range(workers)]
    clients = [login(worker_app, TIINA) for worker_app in apps]
    statuses: list[int] = []

    def attempt(worker_app, n):
        statuses.append(send(clients[n], payer_name=f"Maksaja {n}").status_code)

    run_together(attempt, apps)
    assert statuses == [302] * workers
    assert sorted(numbers(app)) == [f"100102{n}" for n in range(1, workers + 1)]
    with app.app_context():
        references = set(db.session.scalars(sa.select(SalesInvoice.reference)))
    assert references == {reference.finnish(f"100102{n}") for n in range(1, workers + 1)}
    assert sent_invoice(tiina, app) == f"100102{workers + 1}"


# ================================================================= 3. the desk


def test_the_desk_lists_unsent_invoices_in_order_of_arrival_with_their_method(
    app, tiina, olli, staff
):
    post = sent_invoice(tiina, app, "posti", payer_name="Posti Maksaja")
    email = sent_invoice(olli, app, "sahkoposti", payer_name="Sähköposti Maksaja")
    einvoice = sent_invoice(tiina, app, "verkkolasku", payer_name="Verkko Maksaja")
    tiina.post("/invoices/new", data=invoice_form(action="save", payer_name="Luonnos Maksaja"))
    set_sent_at(app, post, at(2026, 11, 23, 12))
    set_sent_at(app, email, at(2026, 11, 23, 9))
    set_sent_at(app, einvoice, at(2026, 11, 23, 10))
    text = page(staff.get("/staff/invoices/"))
    rows = re.findall(r"<tr>\s*<td><a href=\"/staff/invoices/(\d+)\">.*?</tr>", text, re.S)
    assert rows == [email, einvoice, post]
    for number, method in ((email, "Email"), (einvoice, "E-invoice"), (post, "Post")):
        row = re.search(rf'<a href="/staff/invoices/{number}">.*?</tr>', text, re.S).group(0)
        assert f"<td>{method}</td>" in row
    assert "Luonnos Maksaja" not in text


def test_desk_counts_follow_the_three_oclock_promise(app, tiina):
    friday_evening = make_sent(app, TIINA)  # due Monday 23.11.
    monday_before_three = make_sent(app, TIINA)  # due the same Monday
    monday_after_three = make_sent(app, TIINA)  # due Tuesday 24.11.
    thursday_evening = make_sent(app, TIINA)  # due Friday 20.11.: late on Monday
    set_sent_at(app, friday_evening, at(2026, 11, 20, 16))
    set_sent_at(app, monday_before_three, at(2026, 11, 23, 14, 59))
    set_sent_at(app, monday_after_three, at(2026, 11, 23, 15, 1))
    set_sent_at(app, thursday_evening, at(2026, 11, 19, 16))
    with app.app_context():
        assert invoicing.desk_counts(at(2026, 11, 23, 15, 30)) == {
            "today": 2,
            "late": 1,
            "later": 1,
        }
        assert invoicing.desk_counts(at(2026, 11, 24, 8)) == {"today": 1, "late": 3, "later": 0}
        assert invoicing.desk_counts(at(2026, 11, 22, 20)) == {"today": 0, "late": 1, "later": 3}


def test_desk_counts_skip_holidays(app, tiina):
    independence_day = make_sent(app, TIINA)  # Sunday 6.12. → Monday 7.12.
    christmas_eve = make_sent(app, TIINA)  # Thursday 24.12. → Monday 28.12.
    set_sent_at(app, independence_day, at(2026, 12, 6, 10))
    set_sent_at(app, christmas_eve, at(2026, 12, 24, 10))
    with app.app_context():
        assert invoicing.desk_counts(at(2026, 12, 7, 9)) == {"today": 1, "late": 0, "later": 1}
        assert invoicing.desk_counts(at(2026, 12, 24, 16)) == {"today": 0, "late": 1, "later": 1}
        assert invoicing.desk_counts(at(2026, 12, 28, 9)) == {"today": 1, "late": 1, "later": 0}


def test_only_unsent_invoices_are_counted(app, tiina):
    on_desk = make_sent(app, TIINA)
    make_sent(app, TIINA, status=InvoiceStatus.CORRECTION)
    make_sent(app, TIINA, status=InvoiceStatus.FORWARDED)
    make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    set_sent_at(app, on_desk, at(2026, 11, 23, 9))
    with app.app_context():
        assert invoicing.desk_counts(at(2026, 11, 23, 10)) == {"today": 1, "late": 0, "later": 0}


def test_the_desk_page_shows_the_counts(app, tiina, staff, monkeypatch):
    now = at(2026, 11, 23, 15, 30)
    monkeypatch.setattr("blueprints.invoicing.staff.utcnow", lambda: now)
    monkeypatch.setattr("services.invoicing.utcnow", lambda: now)
    late = make_sent(app, TIINA)
    today = make_sent(app, TIINA)
    later = make_sent(app, TIINA)
    make_sent(app, TIINA, status=InvoiceStatus.CORRECTION)
    set_sent_at(app, late, at(2026, 11, 19, 16))
    set_sent_at(app, today, at(2026, 11, 20, 16))
    set_sent_at(app, later, at(2026, 11, 23, 15, 1))
    text = " ".join(page(staff.get("/staff/invoices/")).split())
    assert "<strong>1</strong> late" in text
    assert "<strong>1</strong> to forward today" in text
    assert "<strong>1</strong> for a later day" in text
    assert "<strong>1</strong> waiting for the user's correction" in text
    for number, badge in ((late, "late"), (today, "today"), (later, "later")):
        row = re.search(rf'<a href="/staff/invoices/{number}">.*?</tr>', text).group(0)
        assert f"badge--due-{badge}" in row


# ================================================================= 4. forwarding


def test_an_emailed_invoice_reaches_the_payer_with_its_pdf(app, tiina, staff, smtp_server):
    number = sent_invoice(tiina, app, "sahkoposti")
    response = forward(staff, number)
    assert response.status_code == 302
    assert "The invoice was forwarded; an email telling the user is on its way." in page(
        staff.get(response.headers["Location"])
    )
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.OPEN
    assert row.forward_receipt.startswith("mail ")
    assert row.forwarded_at is not None and row.finalised_at is not None

    deliver_mail(app)
    to_payer = [m for m in smtp_server.messages if parseaddr(m["To"])[1] == PAYER_EMAIL]
    assert len(to_payer) == 1
    message = to_payer[0]
    assert message["From"] == app.config["INVOICE_MAIL_SENDER"]
    assert message["Reply-To"] == app.config["INVOICE_SELLER_EMAIL"]
    assert number in message["Subject"]
    assert "100 10213" in smtp_server.text_of(message)
    [attachment] = [part for part in message.iter_attachments()]
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"lasku-{number}.pdf"
    text = pdf_text(attachment.get_content())
    assert "10010213" in text  # printed grouped, "100 10213"
    assert reference.rf("10010213") in text
    assert number in text


def test_the_user_is_told_when_received_and_when_sent_to_the_payer(app, tiina, staff, smtp_server):
    number = sent_invoice(tiina, app, "sahkoposti")
    forward(staff, number)
    deliver_mail(app)
    to_user = [m for m in smtp_server.messages if parseaddr(m["To"])[1] == TIINA]
    assert [m["Subject"] for m in to_user] == [
        f"Invoice {number} received",
        f"Invoice {number} has been sent to the payer",
    ]
    assert "Email" in smtp_server.text_of(to_user[1])  # by which method


def print_jobs(app: Flask) -> list[Path]:
    return sorted((Path(app.config["INVOICE_SANDBOX_DIR"]) / "print").glob("PJ-*.pdf"))


def operator_messages(app: Flask) -> list[Path]:
    folder = Path(app.config["INVOICE_SANDBOX_DIR"]) / "einvoice"
    return sorted(p for p in folder.glob("OP-*.xml") if not p.name.endswith(".frame.xml"))


def test_a_posted_invoice_goes_to_the_print_service(app, live_server, tiina, staff):
    number = sent_invoice(tiina, app, "posti", payer_name="Kahvila Kulma")
    response = forward(staff, number)
    assert response.status_code == 302
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.OPEN
    [job] = print_jobs(app)
    assert row.forward_receipt == job.stem
    text = pdf_text(job.read_bytes())
    assert "10010213" in text and "KahvilaKulma" in text
    assert mails(app, "invoicing_to_payer") == []  # posted, not emailed


def test_forwarding_again_prints_nothing_more(app, live_server, tiina, staff):
    number = sent_invoice(tiina, app, "posti")
    forward(staff, number, finalise=False)
    receipt = invoice_row(app, number).forward_receipt
    response = forward(staff, number)
    assert "nothing was done twice" in page(staff.get(response.headers["Location"]))
    assert len(print_jobs(app)) == 1
    row = invoice_row(app, number)
    assert (row.status, row.forward_receipt) == (InvoiceStatus.FORWARDED, receipt)


def test_a_retry_after_a_lost_answer_gets_the_first_job(
    app, live_server, tiina, staff, monkeypatch
):
    """The print service took the job but its answer never came (a timeout): staff forward
    again, the same round's key answers the first job, and nothing is printed twice."""
    from services import print_service

    number = sent_invoice(tiina, app, "posti")
    real_exchange = print_service.exchange
    lost = []

    def answer_lost(*args, **kwargs):
        answer = real_exchange(*args, **kwargs)
        if not lost:
            lost.append(True)
            raise ForwardingError("The print service did not answer within 30 seconds.")
        return answer

    monkeypatch.setattr(print_service, "exchange", answer_lost)
    forward(staff, number)
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.SUBMITTED and "did not answer" in row.last_error
    [job] = print_jobs(app)
    time.sleep(1.1)  # staff retry a moment later
    forward(staff, number)
    row = invoice_row(app, number)
    assert row.last_error == ""
    assert (row.status, row.forward_receipt) == (InvoiceStatus.OPEN, job.stem)
    assert print_jobs(app) == [job]


def test_an_einvoice_goes_to_the_operator_as_valid_finvoice(app, live_server, tiina, staff):
    number = sent_invoice(tiina, app, "verkkolasku", payer_name="Oy Esimerkki Ab")
    response = forward(staff, number)
    assert response.status_code == 302
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.OPEN
    [message] = operator_messages(app)
    assert row.forward_receipt == message.stem
    finvoice_part = message.read_bytes()
    assert finvoice.errors(finvoice_part) == []
    root = etree.fromstring(finvoice_part)
    assert root.findtext("InvoiceDetails/InvoiceNumber") == number
    remittance = root.find("EpiDetails/EpiPaymentInstructionDetails/EpiRemittanceInfoIdentifier")
    assert remittance.text == "10010213"
    assert remittance.get("IdentificationSchemeName") == "SPY"
    assert root.findtext("BuyerPartyDetails/BuyerOrganisationName") == "Oy Esimerkki Ab"
    assert (
        root.findtext("MessageTransmissionDetails/MessageReceiverDetails/ToIdentifier")
        == "003712345671"
    )
    frame = message.with_name(f"{message.stem}.frame.xml").read_bytes()
    assert b"<eb:Action>ProcessInvoice</eb:Action>" in frame


def test_the_staff_see_the_finvoice_message_before_forwarding(app, tiina, staff):
    number = sent_invoice(tiina, app, "verkkolasku")
    text = page(staff.get(f"/staff/invoices/{number}"))
    assert "does not pass the schema" not in text
    response = staff.get(f"/staff/invoices/{number}/finvoice.xml")
    assert finvoice.errors(response.data) == []


def test_forwarding_only_leaves_finalising_for_later(app, tiina, staff):
    number = sent_invoice(tiina, app, "sahkoposti")
    response = forward(staff, number, finalise=False)
    assert "Finalise it to tell the user." in page(staff.get(response.headers["Location"]))
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.FORWARDED and row.finalised_at is None
    assert [m.template for m in mails(app)] == ["invoicing_submitted", "invoicing_to_payer"]
    desk = page(staff.get("/staff/invoices/"))
    assert "Forwarded, not yet finalised" in desk

    response = staff.post(f"/staff/invoices/{number}/finalise")
    assert response.status_code == 302
    assert invoice_row(app, number).status == InvoiceStatus.OPEN
    [told] = mails(app, "invoicing_forwarded")
    assert told.recipients == [TIINA]
    assert told.subject == f"Invoice {number} has been sent to the payer"
    kinds = [kind for kind, _round, _text in events(app, number)]
    assert kinds == ["created", "submitted", "forwarded", "finalised"]


def assert_untouched_by_failure(app: Flask, number: str, error: str) -> None:
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.SUBMITTED
    assert (row.forwarded_at, row.finalised_at, row.forward_receipt) == (None, None, "")
    assert error in row.last_error
    assert events(app, number)[-1][0] == EventKind.FORWARD_FAILED.value
    assert [m.template for m in mails(app)] == ["invoicing_submitted"]


@pytest.mark.parametrize("method", ["posti", "verkkolasku"])
def test_an_outage_leaves_the_invoice_unsent_and_a_retry_works(
    app, live_server, tiina, staff, method
):
    number = sent_invoice(tiina, app, method)
    app.config["INVOICE_SANDBOX_OUTAGE"] = True
    response = forward(staff, number)
    assert response.status_code == 302
    text = page(staff.get(response.headers["Location"]))
    assert "Forwarding failed; the invoice was not sent" in text
    assert "Forwarding failed: the invoice was not sent" in text  # the notice on the page
    assert "(HTTP 503): service unavailable" in text
    assert_untouched_by_failure(app, number, "HTTP 503")
    assert print_jobs(app) == [] and operator_messages(app) == []
    assert "Forwarding failed" in page(staff.get("/staff/invoices/"))  # flagged on the desk

    app.config["INVOICE_SANDBOX_OUTAGE"] = False
    forward(staff, number)
    row = invoice_row(app, number)
    assert (row.status, row.last_error) == (InvoiceStatus.OPEN, "")
    assert len(print_jobs(app) + operator_messages(app)) == 1
    assert len(mails(app, "invoicing_forwarded")) == 1
    kinds = [kind for kind, _round, _text in events(app, number)]
    assert kinds == ["created", "submitted", "forward_failed", "forwarded", "finalised"]
    assert "Forwarding failed: the invoice was not sent" not in page(
        staff.get(f"/staff/invoices/{number}")
    )


def test_an_unreachable_print_service_leaves_the_invoice_unsent(app, tiina, staff):
    app.config["PRINT_SERVICE_URL"] = f"http://127.0.0.1:{free_port()}"
    app.config["FORWARDING_TIMEOUT"] = 5
    number = sent_invoice(tiina, app, "posti")
    forward(staff, number)
    assert_untouched_by_failure(app, number, "could not be reached")
    assert "The print service could not be reached" in page(staff.get(f"/staff/invoices/{number}"))


def test_two_staff_forwarding_at_once_send_one_mail_to_the_payer(app, app_config, tiina, staff):
    from app import create_app

    number = sent_invoice(tiina, app, "sahkoposti")
    apps = [create_app(app_config) for _ in range(2)]
    clients = [login(worker_app, KAISA) for worker_app in apps]
    statuses: list[int] = []

    def attempt(worker_app, n):
        statuses.append(forward(clients[n], number).status_code)

    run_together(attempt, apps)
    assert statuses == [302, 302]
    assert invoice_row(app, number).status == InvoiceStatus.OPEN
    assert len(mails(app, "invoicing_to_payer")) == 1
    assert len(mails(app, "invoicing_forwarded")) == 1
    kinds = [kind for kind, _round, _text in events(app, number)]
    assert kinds.count("forwarded") == kinds.count("finalised") == 1


def test_a_second_click_after_success_changes_nothing(app, tiina, staff):
    number = sent_invoice(tiina, app, "sahkoposti")
    forward(staff, number)
    before = mails(app)
    again = forward(staff, number)
    assert "nothing was done twice" in page(staff.get(again.headers["Location"]))
    again = staff.post(f"/staff/invoices/{number}/finalise")
    assert "nothing was done twice" in page(staff.get(again.headers["Location"]))
    assert mails(app) == before
    assert invoice_row(app, number).status == InvoiceStatus.OPEN
    kinds = [kind for kind, _round, _text in events(app, number)]
    assert kinds.count("forwarded") == kinds.count("finalised") == 1


# ================================================================= 5. corrections


QUESTION = "Laskulta puuttuu tilausnumero.\nLisäisitkö sen lisätietoihin?"


def test_a_correction_goes_back_to_the_user_and_returns_in_a_second_round(app, tiina, staff):
    number = sent_invoice(tiina, app, "sahkoposti")
    ident = invoice_id(app, number)
    response = staff.post(f"/staff/invoices/{number}/correction", data={"question": QUESTION})
    assert response.status_code == 302
    row = invoice_row(app, number)
    assert (row.status, row.question) == (InvoiceStatus.CORRECTION, QUESTION)
    [asked] = mails(app, "invoicing_correction")
    assert asked.recipients == [TIINA]
    assert "Laskulta puuttuu tilausnumero." in asked.body
    assert f"/invoices/{ident}/edit" in asked.body
    desk = " ".join(page(staff.get("/staff/invoices/")).split())
    assert f'href="/staff/invoices/{number}"' not in desk  # off the desk's list
    assert "<strong>1</strong> waiting for the user's correction" in desk

    user_page = page(tiina.get(f"/invoices/{ident}"))
    assert "The invoice needs correction" in user_page and "Laskulta puuttuu" in user_page
    form = page(tiina.get(f"/invoices/{ident}/edit"))
    assert f"Correct invoice {number}" in form and "Laskulta puuttuu" in form

    response = tiina.post(
        f"/invoices/{ident}/edit", data=invoice_form(free_text="Tilausnumero 4711")
    )
    assert response.status_code == 302
    row = invoice_row(app, number)
    assert (row.status, row.round, row.number, row.reference) == (
        InvoiceStatus.SUBMITTED,
        2,
        number,
        "10010213",
    )
    assert (row.question, row.free_text) == ("", "Tilausnumero 4711")
    assert numbers(app) == [number]
    assert len(mails(app, "invoicing_submitted")) == 2
    assert [(kind, rnd) for kind, rnd, _text in events(app, number)] == [
        ("created", 0),
        ("submitted", 1),
        ("correction", 1),
        ("submitted", 2),
    ]
    for client, url in ((tiina, f"/invoices/{ident}"), (staff, f"/staff/invoices/{number}")):
        history = page(client.get(url)).split("<h2>History</h2>")[1]
        assert "round 1" in history and "round 2" in history
        assert "Laskulta puuttuu tilausnumero." in history


def test_a_correction_needs_a_question(app, tiina, staff):
    number = sent_invoice(tiina, app)
    response = staff.post(f"/staff/invoices/{number}/correction", data={"question": "  "})
    assert response.status_code == 422
    assert "Write what needs correcting." in page(response)
    assert invoice_row(app, number).status == InvoiceStatus.SUBMITTED
    assert mails(app, "invoicing_correction") == []


def test_an_invoice_being_corrected_cannot_be_forwarded(app, tiina, staff):
    number = sent_invoice(tiina, app)
    staff.post(f"/staff/invoices/{number}/correction", data={"question": QUESTION})
    response = forward(staff, number)
    assert "nothing was done twice" in page(staff.get(response.headers["Location"]))
    assert invoice_row(app, number).status == InvoiceStatus.CORRECTION
    assert mails(app, "invoicing_to_payer") == []


def test_a_sent_invoice_can_no_longer_be_edited(app, tiina):
    number = sent_invoice(tiina, app)
    ident = invoice_id(app, number)
    response = tiina.post(f"/invoices/{ident}/edit", data=invoice_form(payer_name="Muutettu"))
    assert response.status_code == 302
    assert "can no longer be changed" in page(tiina.get(response.headers["Location"]))
    row = invoice_row(app, number)
    assert (row.payer_name, row.round) == ("Asiakas Oy", 1)


# ================================================================= 6. search and look-up


def search(staff: FlaskClient, **args) -> list[str]:
    """The invoice numbers a search lists, in the order shown."""
    response = staff.get("/staff/invoices/search", query_string=args)
    assert response.status_code == 200
    return re.findall(r'<td><a href="/staff/invoices/(\d+)">', page(response))


def test_search_by_reference_prefix_lists_only_the_users_invoices(app, tiina, olli, staff):
    own = [make_sent(app, TIINA), make_sent(app, TIINA)]
    make_sent(app, OLLI)
    assert sorted(search(staff, reference="100102%")) == own
    assert sorted(search(staff, reference="100 102%")) == own  # spaces as typed from paper


def test_a_longer_prefix_also_finds_the_later_invoices_it_begins(app, tiina, staff):
    """The prefix 1001021 begins the reference of invoice 1 (10010213) and those of
    invoices 10–19 (10010210x … 10010219x): that is what a prefix means."""
    made = [make_sent(app, TIINA) for _ in range(11)]
    assert made[0] == "1001021" and made[9] == "10010210" and made[10] == "10010211"
    assert sorted(search(staff, reference="1001021%")) == sorted(
        ["1001021", "10010210", "10010211"]
    )
    assert search(staff, reference="10010210%") == ["10010210"]


@pytest.mark.parametrize("typed", ["1001_2%", "100%02%", "_%", "1001021_", "10010%13"])
def test_wildcards_inside_the_reference_are_literal(app, tiina, staff, typed):
    make_sent(app, TIINA)
    assert search(staff, reference=typed) == []


def test_a_reference_without_percent_must_match_exactly(app, tiina, staff):
    make_sent(app, TIINA)
    assert search(staff, reference="10010213") == ["1001021"]
    assert search(staff, reference="1001021") == []
    assert search(staff, reference="100102") == []


def test_search_by_number_and_by_invoicing_number(app, tiina, olli, staff):
    first, second = make_sent(app, TIINA), make_sent(app, TIINA)
    others = make_sent(app, OLLI)
    assert search(staff, number=second) == [second]
    assert search(staff, number="100102") == []  # a number is exact, not a prefix
    assert search(staff, user_number="100103") == [others]
    assert search(staff, user_number="100102") == [second, first]  # the newest first


@pytest.mark.parametrize("typed", ["ää", "ÄÄNI", "ääninen oy", "Ä"])
def test_search_by_the_beginning_of_the_payers_name_ignores_case(app, tiina, staff, typed):
    wanted = make_sent(app, TIINA, "Ääninen Oy")
    make_sent(app, TIINA, "Aalto Oy")
    make_sent(app, TIINA, "Oy Ääninen Ab")
    assert search(staff, payer=typed) == [wanted]


@pytest.mark.skipif(ON_SQLITE, reason="collations are PostgreSQL's (SQLite compares bytes)")
@pytest.mark.parametrize("collation", ["fi-FI-x-icu", "en-US-x-icu"])
def test_a_prefix_search_holds_under_a_language_collation(app, tiina, collation):
    with app.app_context():
        known = db.session.scalar(
            sa.text("SELECT count(*) FROM pg_collation WHERE collname = :name"),
            {"name": collation},
        )
    if not known:
        pytest.skip(f"the server has no collation {collation}")
    wanted = make_sent(app, TIINA, "Ääninen Oy")
    with app.app_context():
        column = SalesInvoice.payer_search.collate(collation)
        found = db.session.scalars(
            sa.select(SalesInvoice.number).where(paging.starts_with(column, "ä"))
        ).all()
    assert found == [wanted]


def test_search_by_payer_takes_wildcards_literally(app, tiina, staff):
    make_sent(app, TIINA, "Ääninen Oy")
    assert search(staff, payer="%") == []
    assert search(staff, payer="_äninen") == []


def test_search_by_status_and_invoice_date(app, tiina, staff):
    early = make_sent(app, TIINA, invoice_date=date(2026, 3, 2), status=InvoiceStatus.OPEN)
    middle = make_sent(app, TIINA, invoice_date=date(2026, 6, 1), status=InvoiceStatus.PAID)
    late = make_sent(app, TIINA, invoice_date=date(2026, 9, 1))
    assert search(staff, status="avoin") == [early]
    assert search(staff, status="maksettu") == [middle]
    assert search(staff, status="lahettamaton") == [late]
    assert search(staff, date_from="2026-06-01") == [late, middle]
    assert search(staff, date_to="2026-06-01") == [middle, early]
    assert search(staff, date_from="2026-04-01", date_to="2026-08-31") == [middle]


def test_search_overdue_only(app, tiina, staff):
    today = helsinki_today()
    overdue = make_sent(
        app, TIINA, invoice_date=today - timedelta(days=20), status=InvoiceStatus.OPEN
    )
    make_sent(app, TIINA, invoice_date=today, status=InvoiceStatus.OPEN)  # due in 14 days
    make_sent(app, TIINA, invoice_date=today - timedelta(days=20), status=InvoiceStatus.PAID)
    make_sent(app, TIINA, invoice_date=today - timedelta(days=20))  # still on the desk
    assert search(staff, overdue="1") == [overdue]


def test_drafts_are_never_listed(app, tiina, staff):
    tiina.post("/invoices/new", data=invoice_form(action="save", payer_name="Luonnos Oy"))
    sent = make_sent(app, TIINA)
    assert search(staff, reference="%") == [sent]
    assert search(staff, status="luonnos") == []
    assert search(staff, payer="luonnos") == []
    assert search(staff, user_number="100102") == [sent]


def test_the_search_has_pages(app, tiina, staff):
    made = [make_sent(app, TIINA) for _ in range(51)]
    # A prefix search walks the reference index: in the references' own (text) order.
    in_order = sorted(made, key=lambda number: reference.finnish(number))
    first = search(staff, reference="100102%")
    response = staff.get("/staff/invoices/search", query_string={"reference": "100102%"})
    assert first == in_order[:50] and "51 invoices found." in page(response)
    next_link = re.search(r'href="([^"]+)" rel="next"', page(response)).group(1)
    assert "reference=100102%25" in next_link  # the pages keep the search
    text = page(staff.get(next_link.replace("&amp;", "&")))
    assert re.findall(r'<td><a href="/staff/invoices/(\d+)">', text) == in_order[50:]
    assert 'rel="next"' not in text and 'rel="prev"' in text


def test_the_staff_look_up_finds_an_invoice_by_number_reference_and_rf(app, tiina, staff):
    number = make_sent(app, TIINA)
    for code in (number, "10010213", "100 10213", reference.rf("10010213"), "rf09 1001 0213"):
        response = staff.get("/staff/lookup", query_string={"code": code})
        assert response.status_code == 302, code
        assert response.headers["Location"].endswith(f"/staff/invoices/{number}"), code


def test_the_look_up_of_an_unknown_or_draft_code_finds_nothing(app, tiina, staff):
    make_sent(app, TIINA)
    for code in ("1001022", "10010214", "RF00 1001 0213"):
        response = staff.get("/staff/lookup", query_string={"code": code})
        assert response.status_code == 200
        assert "Nothing was found with this code." in page(response)


def test_a_number_that_is_also_a_reference_shows_both_invoices(app, tiina, staff):
    first = make_sent(app, TIINA)
    set_series(app, "100102", 12)
    thirteenth = make_sent(app, TIINA)
    assert (first, thirteenth) == ("1001021", "10010213")
    assert invoice_row(app, first).reference == thirteenth
    response = staff.get("/staff/lookup", query_string={"code": thirteenth})
    assert response.status_code == 200  # two hits: listed, not one chosen
    text = page(response)
    assert f'href="/staff/invoices/{first}"' in text
    assert f'href="/staff/invoices/{thirteenth}"' in text


# ================================================================= 7. access


def test_another_users_invoice_is_not_found(app, tiina, olli):
    sent = sent_invoice(tiina, app)
    draft = tiina.post("/invoices/new", data=invoice_form(action="save")).headers["Location"]
    for ident in (invoice_id(app, sent), int(draft.rsplit("/", 1)[1])):
        assert olli.get(f"/invoices/{ident}").status_code == 404
        assert olli.get(f"/invoices/{ident}/edit").status_code == 404
        assert olli.post(f"/invoices/{ident}/edit", data=invoice_form()).status_code == 404
        assert olli.get(f"/invoices/{ident}/lasku.pdf").status_code == 404
        assert olli.post(f"/invoices/{ident}/delete").status_code == 404
    assert count(app, SalesInvoice) == 2
    assert numbers(app) == [sent, None]
    assert "Asiakas Oy" not in page(olli.get("/invoices/"))


def test_the_user_gets_the_pdf_of_a_sent_invoice_not_of_a_draft(app, tiina):
    number = sent_invoice(tiina, app)
    response = tiina.get(f"/invoices/{invoice_id(app, number)}/lasku.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "10010213" in pdf_text(response.data)
    draft = tiina.post("/invoices/new", data=invoice_form(action="save")).headers["Location"]
    assert tiina.get(f"{draft}/lasku.pdf").status_code == 404


def staff_routes(app: Flask):
    """Every route of the staff's invoice desk: (method, URL)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("invoicing_staff."):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, sample_url(rule, text="1001021")


def test_customers_cannot_reach_the_desk(app, tiina):
    make_sent(app, TIINA)
    routes = list(staff_routes(app))
    assert len(routes) >= 10
    for method, url in routes:
        response = tiina.open(url, method=method, data={"question": "x", "amount": "1"})
        assert response.status_code == 403, (method, url)
    assert invoice_row(app, "1001021").status == InvoiceStatus.SUBMITTED


def test_anonymous_visitors_are_sent_to_log_in(app, tiina):
    make_sent(app, TIINA)
    ident = invoice_id(app, "1001021")
    anonymous = app.test_client()
    public = [
        ("GET", "/invoices/"),
        ("POST", "/invoices/start"),
        ("GET", "/invoices/new"),
        ("POST", "/invoices/new"),
        ("GET", f"/invoices/{ident}"),
        ("GET", f"/invoices/{ident}/edit"),
        ("GET", f"/invoices/{ident}/lasku.pdf"),
        ("POST", f"/invoices/{ident}/delete"),
    ]
    for method, url in public + list(staff_routes(app)):
        response = anonymous.open(url, method=method)
        assert response.status_code == 302, (method, url)
        assert "/auth/login" in response.headers["Location"], (method, url)
    assert invoice_row(app, "1001021").status == InvoiceStatus.SUBMITTED


# ================================================================= 8. receivables


def test_a_partial_payment_leaves_the_rest_outstanding(app, tiina, staff):
    number = open_invoice(app, tiina, staff)
    response = pay(staff, number, "100,00")
    assert response.status_code == 302
    assert "the rest is outstanding" in page(staff.get(response.headers["Location"]))
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.OPEN, Decimal("100.00"))
    assert row.gross - row.paid_amount == Decimal("25.49")
    text = page(staff.get(f"/staff/invoices/{number}"))
    assert re.search(r"Outstanding</dt><dd>[^<]*25\.49", text)
    assert events(app, number)[-1] == ("payment", 1, "100.00")


def _history(text: str) -> str:
    return text[text.index('<ol class="thread">') :]


def test_a_payment_in_the_history_is_an_amount_in_the_readers_format(app, tiina, staff):
    number = open_invoice(app, tiina, staff)
    pay(staff, number, "100,00")
    assert events(app, number)[-1] == ("payment", 1, "100.00")  # stored as it was

    staff_history = _history(page(staff.get(f"/staff/invoices/{number}")))
    assert '<p class="thread__body">€100.00</p>' in staff_history
    user_page = f"/invoices/{invoice_id(app, number)}"
    assert '<p class="thread__body">€100.00</p>' in _history(page(tiina.get(user_page)))

    tiina.post("/language", data={"language": "fi", "next": "/"})
    finnish = _history(page(tiina.get(user_page)))
    assert '<p class="thread__body">100,00\xa0€</p>' in finnish
    assert "100.00" not in finnish


def test_a_payment_over_the_outstanding_is_refused(app, tiina, staff):
    number = open_invoice(app, tiina, staff)
    pay(staff, number, "100,00")
    response = pay(staff, number, "25,50")
    assert response.status_code == 422
    assert "The amount can be at most what is outstanding, 25.49 €." in page(response)
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.OPEN, Decimal("100.00"))
    assert count(app, SalesInvoicePayment) == 1


@pytest.mark.parametrize("amount", ["0", "-5,00", "1,005", "lots"])
def test_a_payment_must_be_a_sum_above_zero_in_cents(app, tiina, staff, amount):
    number = open_invoice(app, tiina, staff)
    assert pay(staff, number, amount).status_code == 422
    assert count(app, SalesInvoicePayment) == 0


def test_the_whole_sum_at_once_pays_the_invoice(app, tiina, staff):
    number = open_invoice(app, tiina, staff)
    response = pay(staff, number, "125,49")
    assert "the invoice is paid" in page(staff.get(response.headers["Location"]))
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.PAID, Decimal("125.49"))
    assert [kind for kind, _r, _t in events(app, number)][-2:] == ["payment", "paid"]


def test_the_rest_paid_makes_the_invoice_paid(app, tiina, staff):
    number = open_invoice(app, tiina, staff)
    pay(staff, number, "100,00")
    response = pay(staff, number, "25,49")
    assert response.status_code == 302
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.PAID, Decimal("125.49"))
    assert count(app, SalesInvoicePayment) == 2


@pytest.mark.parametrize("status", ["lahettamaton", "valitetty", "maksettu"])
def test_a_payment_on_an_invoice_that_is_not_open_is_refused(app, tiina, staff, status):
    number = make_sent(app, TIINA, status=InvoiceStatus(status))
    assert pay(staff, number, "10,00").status_code == 422
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (InvoiceStatus(status), Decimal("0.00"))
    assert count(app, SalesInvoicePayment) == 0


def test_overdue_receivables_are_flagged(app, tiina, staff):
    today = helsinki_today()
    overdue = make_sent(
        app, TIINA, invoice_date=today - timedelta(days=15), status=InvoiceStatus.OPEN
    )
    due_today = make_sent(
        app, TIINA, invoice_date=today - timedelta(days=14), status=InvoiceStatus.OPEN
    )
    make_sent(app, TIINA, invoice_date=today - timedelta(days=30))  # not yet forwarded
    text = page(staff.get("/staff/invoices/receivables"))
    listed = re.findall(r'<td><a href="/staff/invoices/(\d+)">', text)
    assert listed == [overdue, due_today]  # the earliest due date first
    assert "badge--invoice-overdue" in listed_row(text, overdue)
    assert "badge--invoice-overdue" not in listed_row(text, due_today)

    own = page(tiina.get("/invoices/"))
    assert "badge--invoice-overdue" in own_row(own, app, overdue)
    assert "badge--invoice-overdue" not in own_row(own, app, due_today)
    assert "badge--invoice-overdue" in page(tiina.get(f"/invoices/{invoice_id(app, overdue)}"))


def test_a_paid_invoice_is_not_overdue(app, tiina, staff):
    today = helsinki_today()
    paid = make_sent(app, TIINA, invoice_date=today - timedelta(days=30), status=InvoiceStatus.PAID)
    assert "badge--invoice-overdue" not in own_row(page(tiina.get("/invoices/")), app, paid)
    assert paid not in page(staff.get("/staff/invoices/receivables"))


def listed_row(text: str, number: str) -> str:
    return re.search(rf'<a href="/staff/invoices/{number}">.*?</tr>', text, re.S).group(0)


def own_row(text: str, app: Flask, number: str) -> str:
    ident = invoice_id(app, number)
    return re.search(rf'<a href="/invoices/{ident}">.*?</tr>', text, re.S).group(0)


# ================================================================= 9. the contact form


def test_an_invoice_number_matches_only_the_organisations_own(app, tiina, olli, make_org):
    number = make_sent(app, TIINA)
    ident = invoice_id(app, number)
    with app.app_context():
        own = accounts.user_by_email(TIINA).organisation_id
        other = accounts.user_by_email(OLLI).organisation_id
        for code in (number, "10010213", reference.rf("10010213")):
            assert registry.match_reference(app, code, own) == ("sales_invoice", str(ident))
            assert registry.match_reference(app, code, other) is None


def test_a_ticket_about_an_invoice_links_to_it_for_staff(app, tiina, staff):
    from models.support import Application, Ticket, TicketType
    from services import support

    number = make_sent(app, TIINA)
    with app.app_context():
        support.ensure_default_applications()
        db.session.commit()
        application = db.session.scalars(sa.select(Application)).first()
        app_id, sub_id = application.id, application.sub_applications[0].id
    response = tiina.post(
        "/support/new",
        data={
            "type": TicketType.BILLING.value,
            "urgency": "normaali",
            "email": TIINA,
            "application": str(app_id),
            "sub_application": str(sub_id),
            "target_reference": f" {number} ",
            "message": "Maksaja kysyy laskun eräpäivästä.",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, page(response)
    with app.app_context():
        ticket = db.session.scalars(sa.select(Ticket)).one()
        assert (ticket.target_type, ticket.target_id) == (
            "sales_invoice",
            str(invoice_id(app, number)),
        )
        ticket_number = ticket.number
    text = page(staff.get(f"/staff/support/tickets/{ticket_number}"))
    assert f'href="/staff/invoices/{number}"' in text
    assert f"Invoice {number}" in text


# ================================================================= review fixes


def _set(app: Flask, number: str, **values) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(SalesInvoice).where(SalesInvoice.number == number).values(**values)
        )
        db.session.commit()


def test_an_invoice_at_the_print_service_cannot_be_sent_back_or_forwarded_again(app, tiina, staff):
    """While its forwarding runs (Välityksessä), nobody asks for a correction or forwards
    it a second time; the desk still lists it."""
    number = make_sent(app, TIINA, status=InvoiceStatus.FORWARDING)
    text = page(staff.get(f"/staff/invoices/{number}"))
    assert f'action="/staff/invoices/{number}/forward"' not in text
    assert f'action="/staff/invoices/{number}/correction"' not in text
    response = staff.post(f"/staff/invoices/{number}/correction", data={"question": "?"})
    assert "nothing was done twice" in page(staff.get(response.headers["Location"]))
    forward(staff, number)
    assert invoice_row(app, number).status == InvoiceStatus.FORWARDING
    assert number in page(staff.get("/staff/invoices/"))


def test_a_forwarding_whose_process_died_can_be_forwarded_again(app, live_server, tiina, staff):
    number = sent_invoice(tiina, app, "posti")
    long_ago = datetime.now(HELSINKI) - timedelta(hours=1)
    _set(app, number, status=InvoiceStatus.FORWARDING, updated_at=long_ago)
    assert f'action="/staff/invoices/{number}/forward"' in page(
        staff.get(f"/staff/invoices/{number}")
    )
    forward(staff, number)
    assert invoice_row(app, number).status == InvoiceStatus.OPEN
    assert len(print_jobs(app)) == 1


def test_a_rendered_invoice_is_the_same_bytes_each_time(app, tiina):
    number = sent_invoice(tiina, app)
    with app.test_request_context():
        invoice = db.session.scalar(sa.select(SalesInvoice).where(SalesInvoice.number == number))
        first = invoicing.pdf(invoice)
        time.sleep(1.1)
        assert invoicing.pdf(invoice) == first
        assert invoicing.finvoice_message(invoice) == invoicing.finvoice_message(invoice)


def test_a_ten_percent_line_keeps_its_rate_when_edited(app, tiina):
    response = tiina.post(
        "/invoices/new",
        data=invoice_form(action="save", **{"lines-0-vat_percent": "10", "lines-0-quantity": "10"}),
    )
    text = page(tiina.get(response.headers["Location"] + "/edit"))
    assert re.search(r'<option selected value="10">|<option value="10" selected', text)
    assert 'value="10"' in text and "1E+1" not in text


def test_control_characters_are_refused_with_a_field_message(app, tiina):
    response = send(tiina, payer_name="Asiakas\x0b Oy\x01")
    assert response.status_code == 422
    assert "control character" in page(response)
    assert count(app, SalesInvoice) == 0


def test_odd_amounts_are_refused_with_a_message(app, tiina):
    for price in ("-1e30", "1e30", "-Infinity", "NaN"):
        response = send(tiina, **{"lines-0-unit_price": price})
        assert response.status_code == 422, price
    response = tiina.post(
        "/invoices/new", data=invoice_form(action="add_line", **{"lines-0-quantity": "1e30"})
    )
    assert response.status_code == 200
    text = refused(tiina, app, **{"lines-0-quantity": "99999999", "lines-0-unit_price": "999,00"})
    assert "The invoice's total is too large." in text


def test_a_date_without_vat_rates_is_refused_not_a_crash(app, tiina):
    response = tiina.post(
        "/invoices/new", data=invoice_form(action="add_line", invoice_date="1999-01-01")
    )
    assert response.status_code == 200
    assert send(tiina, invoice_date="1999-01-01").status_code == 422


def test_the_country_list_has_only_countries(app, tiina):
    text = page(tiina.get("/invoices/new"))
    assert 'value="SE"' in text
    for code in ("ZZ", "EU", "UN"):
        assert f'value="{code}"' not in text


def test_the_search_finds_an_rf_reference(app, tiina, staff):
    number = make_sent(app, TIINA)
    rf = reference.rf(reference.finnish(number))
    assert search(staff, reference=rf) == [number]
    assert search(staff, reference="RF00123") == []


def test_a_prefix_at_the_end_of_unicode_is_no_crash(app, tiina, staff):
    make_sent(app, TIINA)
    for text in ("\U0010ffff", "\ud7ff%", "\uffff"):
        assert staff.get("/staff/invoices/search", query_string={"payer": text}).status_code in (
            200,
            400,
        )
