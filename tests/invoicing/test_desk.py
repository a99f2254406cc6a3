"""The invoice desk through its pages, staff's side: the desk, forwarding by post, email
and e-invoice (to the local print service and operator over real HTTP), and corrections.

Every user here speaks English, so the pages' words are the source texts.
"""

from __future__ import annotations

import re
import time
from email.utils import parseaddr
from pathlib import Path

import pytest
from flask import Flask
from lxml import etree

from models.invoicing import EventKind, InvoiceStatus
from services.invoicing import desk as invoicing
from services.invoicing import finvoice, reference
from services.invoicing.forwarding_errors import ForwardingError
from tests.fixtures import invoicing as invoicing_fixtures
from tests.fixtures.app import free_port, run_together
from tests.fixtures.invoicing import (
    KAISA,
    PAYER_EMAIL,
    TIINA,
    at,
    events,
    forward,
    invoice_form,
    invoice_id,
    invoice_row,
    login,
    mails,
    make_sent,
    numbers,
    page,
    pdf_text,
    print_jobs,
    sent_invoice,
    set_sent_at,
)
from tests.fixtures.mail import deliver_mail

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The invoice desk's world (tests/fixtures/invoicing.py).
app_config = invoicing_fixtures.app_config
olli = invoicing_fixtures.olli
staff = invoicing_fixtures.staff
tiina = invoicing_fixtures.tiina


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
    rows = re.findall(
        r"<tr>\s*<td class=\"select-cell\">.*?</td>\s*"
        r"<td><a href=\"/staff/invoices/(\d+)\">.*?</tr>",
        text,
        re.S,
    )
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
    monkeypatch.setattr("services.invoicing.desk.utcnow", lambda: now)
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
    from services.invoicing import print_service

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
    # The background task's failure, and the notice of the invoice itself.
    assert 'badge--task-failed">Failed</span>' in text
    assert "Forwarding failed: the invoice was not sent" in text
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
