"""The invoice desk through its pages: search and look-up, who may see what, receivables
(payments recorded), the contact form's invoice questions, and what the review found.

Every user here speaks English, so the pages' words are the source texts.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

import paging
from extensions import db
from models.invoicing import InvoiceStatus, SalesInvoice, SalesInvoicePayment
from services import accounts, registry
from services.invoicing import desk as invoicing
from services.invoicing import reference
from services.workdays import HELSINKI
from tests.fixtures import invoicing as invoicing_fixtures
from tests.fixtures.app import sample_url
from tests.fixtures.invoicing import (
    OLLI,
    ON_SQLITE,
    TIINA,
    count,
    events,
    forward,
    helsinki_today,
    invoice_form,
    invoice_id,
    invoice_row,
    make_sent,
    numbers,
    open_invoice,
    page,
    pay,
    pdf_text,
    print_jobs,
    refused,
    send,
    sent_invoice,
    set_series,
)

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The invoice desk's world (tests/fixtures/invoicing.py).
app_config = invoicing_fixtures.app_config
olli = invoicing_fixtures.olli
staff = invoicing_fixtures.staff
tiina = invoicing_fixtures.tiina


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
