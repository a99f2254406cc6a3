"""The invoice desk through its pages, the user's side: users start invoicing, write, save
and send invoices, numbered in their own series.

Every user here speaks English, so the pages' words are the source texts.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from extensions import db
from models.invoicing import InvoiceStatus, SalesInvoice, SalesInvoiceLine
from services import accounts
from services.invoicing import reference
from tests.fixtures import invoicing as invoicing_fixtures
from tests.fixtures.app import run_together
from tests.fixtures.invoicing import (
    TIINA,
    count,
    field_error,
    helsinki_today,
    invoice_form,
    invoice_id,
    invoice_row,
    invoicer,
    login,
    mails,
    numbers,
    page,
    refused,
    send,
    sent_invoice,
)

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The invoice desk's world (tests/fixtures/invoicing.py).
app_config = invoicing_fixtures.app_config
olli = invoicing_fixtures.olli
staff = invoicing_fixtures.staff
tiina = invoicing_fixtures.tiina


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
