"""Online payment in the portal: staff's and payers' views, mail and PDF, languages, and
refunds owed.

The payment service's side is played here by hand: the tests read the channel form the
payer's browser would post (the hidden fields of the page that goes to the service) and
answer at /payments/return, /payments/cancel and /payments/notify with parameters signed
as the seed (pp. 10-11) says. Payers, Tiina, Olli and Kaisa see the pages in English.
"""

from __future__ import annotations

import re
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models.invoicing import InvoiceStatus
from models.mail import OutboxMessage
from models.payments import Refund, RefundState
from models.training import Enrolment, EnrolmentStatus
from services import training
from tests.fixtures import payments as payments_fixtures
from tests.fixtures.invoicing import (
    OLLI,
    PAYER_EMAIL,
    TIINA,
    forward,
    invoice_row,
    mails,
    make_sent,
    page,
    pdf_text,
    sent_invoice,
)
from tests.fixtures.payments import (
    EN,
    PAID_ID,
    _answer,
    _call,
    _enrol_online,
    _pay_course,
    _pay_url,
    _payment,
    _refund,
    _start,
    _start_invoice_payment,
)
from tests.fixtures.training import _enrolment

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The payment tests' world (tests/fixtures/payments.py).
app_config = payments_fixtures.app_config
olli = payments_fixtures.olli
payer = payments_fixtures.payer
payments_log_enabled = payments_fixtures.payments_log_enabled
staff = payments_fixtures.staff
tiina = payments_fixtures.tiina


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
    assert "125.50" in shown and "20001" in shown  # the line's merchant: the service
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
