"""The invoice desk in headless Chromium: a user writes and sends an invoice, staff forward
and finalise it by email, the payer gets the PDF and the user sees an open receivable;
staff import the bank's file of payments; the user looks at their receivables' ageing."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from decimal import Decimal
from email.utils import parseaddr
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from extensions import db
from forms.invoicing import EVENT_LABELS, STATUS_LABELS
from models.auth import Role, User
from models.invoicing import EventKind, InvoiceStatus, SalesInvoice
from models.mail import OutboxMessage
from services.invoicing import desk as invoicing
from services.invoicing import reference
from tests.fixtures.bank import Paid, camt054, entry
from tests.fixtures.browser import _log_in, _log_out
from tests.fixtures.invoicing import give_number, helsinki_today, make_sent
from tests.fixtures.mail import deliver_mail
from tests.fixtures.tasks import run_tasks

pytestmark = pytest.mark.browser

PAYER_EMAIL = "reskontra@asiakas.example.com"


def _finnish(app, label) -> str:
    """A label as the Finnish pages show it (the English text until it is translated)."""
    with app.test_request_context(), force_locale("fi"):
        return str(label)


def _type(page, selector: str, text: str) -> None:
    """Type into a field key by key, as a user does (fill() would bypass what the field's
    type lets through)."""
    page.locator(selector).click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(text)
    assert page.locator(selector).input_value() == text, f"{selector} does not take {text!r}"


def _fill_line(page, n: int, description: str, quantity: str, price: str, vat: str) -> None:
    _type(page, f"#lines-{n}-description", description)
    _type(page, f"#lines-{n}-quantity", quantity)
    _type(page, f"#lines-{n}-unit", "h")
    _type(page, f"#lines-{n}-unit_price", price)
    page.select_option(f"#lines-{n}-vat_percent", vat)


def test_an_emailed_invoice_is_sent_forwarded_finalised_and_followed(
    browser_page, app, make_user, smtp_server
):
    make_user("maija@example.com", org="Testivirasto")
    make_user("kaisa@example.com", role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa")
    browser = browser_page
    page = browser.page

    # The user starts invoicing from the main navigation and gets the first number.
    _log_in(browser, "maija@example.com")
    browser.navigate(lambda: page.locator(".site-nav a[href='/invoices/']").click())
    browser.navigate(
        lambda: page.locator("form[action='/invoices/start'] button[type=submit]").click()
    )
    assert "100001" in page.locator(".flash--success").inner_text()
    assert page.locator("main strong.code").inner_text() == "100001"

    # A new invoice by email, with a second line added by "Lisää rivi".
    browser.navigate(lambda: page.locator("main a.button[href='/invoices/new']").click())
    page.check("#delivery_method-1")
    assert page.locator("#delivery_method-1").get_attribute("value") == "sahkoposti"
    page.fill("#payer_name", "Asiakas Oy")
    page.fill("#payer_street", "Esimerkkikatu 5")
    page.fill("#payer_postcode", "00500")
    page.fill("#payer_city", "Helsinki")
    page.fill("#payment_days", "14")
    _fill_line(page, 0, "Konsultointi", "2", "50,00", "25.5")
    assert page.locator("#lines-1-description").count() == 0
    browser.navigate(lambda: page.locator("button[name=action][value=add_line]").click())
    assert page.locator("#payer_name").input_value() == "Asiakas Oy"
    assert page.locator("#lines-0-unit_price").input_value() in {"50,00", "50.00", "50"}
    _fill_line(page, 1, "Koulutus", "1,5", "80,00", "13.5")

    # Sending without the payer's email: the error summary takes the focus and links there.
    browser.navigate(lambda: page.locator("button[name=action][value=send]").click())
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    assert page.evaluate("document.activeElement.matches('[data-error-summary]')")
    assert page.title().startswith(("Virhe:", "Error:"))
    link = summary.locator("a[href='#payer_email']")
    assert link.count() == 1
    assert page.locator("#payer_email").get_attribute("aria-invalid") == "true"
    assert "payer_email-error" in page.locator("#payer_email").get_attribute("aria-describedby")
    link.click()
    assert page.evaluate("document.activeElement.id") == "payer_email"
    # What was typed is kept, both lines with it.
    assert page.locator("#lines-1-description").input_value() == "Koulutus"
    assert page.locator("#lines-1-vat_percent").input_value() == "13.5"
    page.fill("#payer_email", PAYER_EMAIL)
    browser.navigate(lambda: page.locator("button[name=action][value=send]").click())

    number = "1000011"
    grouped = reference.grouped(reference.finnish(number))
    assert grouped == "100 00113"
    assert re.fullmatch(r"/invoices/\d+", urlsplit(page.url).path)
    flash = page.locator(".flash--success").inner_text()
    assert number in flash and grouped in flash
    assert page.locator(".details strong.code").first.inner_text() == number
    assert page.locator(".badge--invoice-lahettamaton").is_visible()
    with app.app_context():
        invoice = db.session.scalar(sa.select(SalesInvoice))
        assert (invoice.number, invoice.reference) == (number, "10000113")
        assert invoice.payer_email == PAYER_EMAIL
        assert [line.description for line in invoice.lines] == ["Konsultointi", "Koulutus"]
        # 100,00 at 25,5 % and 120,00 at 13,5 %.
        assert (str(invoice.net), str(invoice.vat), str(invoice.gross)) == (
            "220.00",
            "41.70",
            "261.70",
        )
    _log_out(browser)

    # Staff find it on the desk, due today or on a later day, and forward it by email.
    _log_in(browser, "kaisa@example.com")
    browser.goto("/staff/")
    browser.navigate(lambda: page.locator(".staff-nav a[href='/staff/invoices/']").click())
    row = page.locator("table tbody tr").filter(has=page.locator(f"a:text-is('{number}')"))
    assert row.count() == 1
    assert "Asiakas Oy" in row.inner_text() and "100001" in row.inner_text()
    badge = row.locator(".badge")
    assert re.search(r"\bbadge--due-(today|later)\b", badge.get_attribute("class"))
    browser.navigate(lambda: page.get_by_role("link", name=number, exact=True).click())
    assert page.url.endswith(f"/staff/invoices/{number}")
    assert PAYER_EMAIL in page.locator("#forward-title + p").inner_text()
    browser.navigate(lambda: page.locator("button[name=finalise][value='1']").click())
    assert page.locator(".flash--success").is_visible()
    assert page.locator(".details .badge--invoice-avoin").is_visible()
    assert page.locator("button[name=finalise]").count() == 0

    # It has left the desk for the open receivables, where the search finds it too.
    browser.navigate(lambda: page.locator("main p a[href='/staff/invoices/']").click())
    assert page.locator(f"table a:text-is('{number}')").count() == 0
    browser.navigate(lambda: page.locator(".portal-tabs a[href$='/receivables']").click())
    assert page.locator(f"table a:text-is('{number}')").count() == 1
    browser.navigate(lambda: page.locator(".portal-tabs a[href$='/search']").click())
    page.fill("#reference", grouped)
    browser.navigate(lambda: page.locator("form[role=search] button[type=submit]").click())
    assert page.locator(f"table a:text-is('{number}')").count() == 1
    _log_out(browser)

    # The outbox: the PDF to the payer from the invoicing address, two mails to the user.
    report = deliver_mail(app)
    assert (report.sent, report.failed) == (3, 0)
    by_recipient: dict[str, list] = {}
    for message in smtp_server.messages:
        for _name, address in [parseaddr(a) for a in message.get_all("To", [])]:
            by_recipient.setdefault(address, []).append(message)
    assert sorted(by_recipient) == sorted([PAYER_EMAIL, "maija@example.com"])
    (to_payer,) = by_recipient[PAYER_EMAIL]
    assert parseaddr(to_payer["From"])[1] == parseaddr(app.config["INVOICE_MAIL_SENDER"])[1]
    assert number in to_payer["Subject"]
    (attachment,) = to_payer.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"lasku-{number}.pdf"
    assert attachment.get_content().startswith(b"%PDF")
    user_mail = by_recipient["maija@example.com"]
    assert len(user_mail) == 2 and all(number in m["Subject"] for m in user_mail)
    with app.app_context():
        outbox = [(m.recipients, m.template) for m in db.session.scalars(sa.select(OutboxMessage))]
    assert sorted(outbox) == [
        (["maija@example.com"], "invoicing_forwarded"),
        (["maija@example.com"], "invoicing_submitted"),
        ([PAYER_EMAIL], "invoicing_to_payer"),
    ]

    # The user sees an open receivable, in the list and on the invoice's page.
    _log_in(browser, "maija@example.com")
    browser.goto("/invoices/")
    open_label = _finnish(app, STATUS_LABELS[InvoiceStatus.OPEN])
    row = page.locator("table tbody tr").filter(has=page.locator(f"a:text-is('{number}')"))
    assert row.locator(".badge--invoice-avoin").inner_text() == open_label
    browser.navigate(lambda: row.get_by_role("link", name=number, exact=True).click())
    assert page.locator(".details .badge--invoice-avoin").inner_text() == open_label
    history = page.locator(".thread .thread__entry strong").all_inner_texts()
    assert history == [
        _finnish(app, EVENT_LABELS[kind])
        for kind in (
            EventKind.CREATED,
            EventKind.SUBMITTED,
            EventKind.FORWARDED,
            EventKind.FINALISED,
        )
    ]


def test_the_invoice_form_is_filled_and_sent_with_the_keyboard(browser_page, app, make_user):
    make_user("maija@example.com", org="Testivirasto")
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "maija@example.com"))
        invoicing.start_service(user)
        db.session.commit()
    browser = browser_page
    page = browser.page
    keyboard = page.keyboard
    _log_in(browser, "maija@example.com")
    browser.goto("/invoices/new")

    def focused() -> str:
        return page.evaluate("document.activeElement.id")

    # The delivery method with the arrow keys, then Tab on through the payer's fields.
    page.focus("#delivery_method-0")
    keyboard.press("ArrowDown")
    assert focused() == "delivery_method-1" and page.is_checked("#delivery_method-1")
    keyboard.press("Tab")
    assert focused() == "payer_name"
    keyboard.type("Asiakas Oy")
    order = ["payer_business_id", "payer_street", "payer_postcode", "payer_city", "payer_country"]
    for expected in order:
        keyboard.press("Tab")
        assert focused() == expected
    keyboard.press("Tab")
    assert focused() == "payer_email"
    keyboard.type(PAYER_EMAIL)

    # One line, typed field by field.
    page.focus("#lines-0-description")
    keyboard.type("Konsultointi")
    keyboard.press("Tab")
    assert focused() == "lines-0-quantity"
    keyboard.type("3")
    keyboard.press("Tab")
    assert focused() == "lines-0-unit"
    keyboard.press("Tab")
    assert focused() == "lines-0-unit_price"
    keyboard.type("40")

    # From the free text, Tab reaches Lähetä; Enter on it sends.
    page.focus("#free_text")
    keyboard.press("Tab")
    assert page.evaluate("document.activeElement.value") == "send"
    browser.navigate(lambda: keyboard.press("Enter"))
    assert re.fullmatch(r"/invoices/\d+", urlsplit(page.url).path)
    assert "1000011" in page.locator(".flash--success").inner_text()
    with app.app_context():
        invoice = db.session.scalar(sa.select(SalesInvoice))
        assert invoice.status == InvoiceStatus.SUBMITTED
        assert (invoice.payer_name, invoice.payer_email) == ("Asiakas Oy", PAYER_EMAIL)
        assert str(invoice.net) == "120.00"


def test_staff_import_the_banks_file_and_handle_what_it_could_not_book(
    browser_page, app, make_user, tmp_path
):
    make_user("tiina@example.com", org="Toiminimi Testinen", name="Tiina")
    give_number(app, "tiina@example.com", "100102")
    make_user("kaisa@example.com", role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa")
    number = make_sent(app, "tiina@example.com", status=InvoiceStatus.OPEN)  # 125,50 €
    with app.app_context():
        ref = db.session.scalar(sa.select(SalesInvoice.reference))
    bank_file = tmp_path / "camt054-20261203.xml"
    bank_file.write_bytes(
        camt054(entry([Paid("BR-PAID-1", "125.50", ref), Paid("BR-NOREF-2", "40.00")]))
    )
    browser = browser_page
    page = browser.page

    _log_in(browser, "kaisa@example.com")
    browser.goto("/staff/invoices/")
    browser.navigate(lambda: page.locator(".portal-tabs a[href$='/bank']").click())
    assert page.locator("section.card").count() == 0
    page.set_input_files("#file", str(bank_file))
    browser.navigate(lambda: page.locator("main form[enctype] button[type=submit]").click())

    # The import is queued; once the worker has done it, the page shows it by itself
    # (the script fetches the page again): one booked, one to handle.
    assert page.locator(".task-status--queued").count() == 1
    run_tasks(app)
    page.locator(".task-status--done").wait_for(timeout=15_000)
    outcome = page.locator(".task-status").inner_text()
    assert re.search(r"\b1\b.*\b1\b.*\b0\b", outcome), outcome
    browser.goto("/staff/invoices/bank")  # the file is listed with its counts
    files = page.locator("table tbody tr").first.locator("td").all_inner_texts()
    assert "camt054-20261203.xml" in files[1] and files[2:] == ["2", "1", "1", "0"]
    # The payment without a reference waits in the queue, with the form to book it.
    (waiting,) = page.locator("section.card").all()
    assert "BR-NOREF-2" in waiting.inner_text()
    assert waiting.locator("input[name=invoice_number]").count() == 1

    # The invoice its reference named is paid.
    browser.goto(f"/staff/invoices/{number}")
    assert page.locator(".details .badge--invoice-maksettu").is_visible()
    with app.app_context():
        invoice = db.session.scalar(sa.select(SalesInvoice))
        assert (invoice.status, invoice.paid_amount) == (InvoiceStatus.PAID, Decimal("125.50"))


def test_the_user_sees_their_receivables_by_days_past_due(browser_page, app, make_user):
    make_user("tiina@example.com", org="Toiminimi Testinen", name="Tiina")
    give_number(app, "tiina@example.com", "100102")
    make_user("olli@example.com", org="Olli Oy", name="Olli")
    give_number(app, "olli@example.com", "100103")
    today = helsinki_today()
    for email, days in [("tiina@example.com", -3), ("tiina@example.com", 45)]:
        number = make_sent(app, email, status=InvoiceStatus.OPEN)  # 125,50 € each
        with app.app_context():
            db.session.execute(
                sa.update(SalesInvoice)
                .where(SalesInvoice.number == number)
                .values(due_date=today - timedelta(days=days))
            )
            db.session.commit()
    make_sent(app, "olli@example.com", status=InvoiceStatus.OPEN, price="999.00")
    browser = browser_page
    page = browser.page
    page.set_viewport_size({"width": 375, "height": 800})

    _log_in(browser, "tiina@example.com")
    browser.goto("/invoices/")
    browser.navigate(lambda: page.locator("main a[href='/invoices/receivables']").click())
    # The chart: an image with its text alternative, one labelled bar a bucket.
    chart = page.locator("main svg[role=img]")
    assert chart.is_visible()
    name = page.evaluate(
        "() => [...document.querySelector('main svg[role=img]').getAttribute("
        "'aria-labelledby').split(' ')].map(id => document.getElementById(id)"
        ".textContent).join(' ')"
    )
    assert "125,50" in name and "999" not in name
    assert chart.locator("rect").count() == 5
    # At 375 px the chart and the page fit the screen; nothing scrolls sideways.
    assert chart.bounding_box()["width"] <= 375
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # The same figures as a table.
    rows = page.locator("main table tbody tr")
    assert rows.count() == 5
    assert "125,50" in rows.nth(0).inner_text() and "125,50" in rows.nth(2).inner_text()
    assert "251,00" in page.locator("main table tfoot tr").first.inner_text()

    # The CSV, through its link: semicolons, decimal commas, her figures only.
    link = page.locator("main a[href='/invoices/receivables.csv']")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == (f"saatavien-ikajakauma-100102-{today.isoformat()}.csv")
    text = download.path().read_text(encoding="utf-8-sig")
    rows = list(csv.reader(text.splitlines(), delimiter=";"))
    assert [row[1:] for row in rows[1:6]] == [
        ["1", "125,50"],
        ["0", "0,00"],
        ["1", "125,50"],
        ["0", "0,00"],
        ["0", "0,00"],
    ]
    assert rows[6][1:] == ["2", "251,00"]
