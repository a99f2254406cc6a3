"""Online payment in the portal: course fees, and the seat that waits for its fee until a
deadline.

The payment service's side is played here by hand: the tests read the channel form the
payer's browser would post (the hidden fields of the page that goes to the service) and
answer at /payments/return, /payments/cancel and /payments/notify with parameters signed
as the seed (pp. 10-11) says. Payers, Tiina, Olli and Kaisa see the pages in English.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from extensions import db
from models.payments import OnlinePayment, PaymentState, RefundState
from models.training import Course, Enrolment, EnrolmentStatus
from services import reasons, training
from services.payments import channel as pc
from tests.fixtures import payments as payments_fixtures
from tests.fixtures.invoicing import count, mails, page
from tests.fixtures.payments import (
    CONTACT,
    COURSE_CONTACT,
    PAID_ID,
    SECRET,
    _answer,
    _call,
    _enrol,
    _enrol_online,
    _lines,
    _pay_course,
    _payment,
    _refund,
    _result_text,
    _world,
)
from tests.fixtures.training import _enrolment

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The payment tests' world (tests/fixtures/payments.py).
app_config = payments_fixtures.app_config
payer = payments_fixtures.payer
payments_log_enabled = payments_fixtures.payments_log_enabled
staff = payments_fixtures.staff


# ================================================================= 3. course fees


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
    from services.payments import links as payment_links

    with app.test_request_context():
        enrolment = db.session.get(Enrolment, _enrolment(app).id)
        return f"/payments/course/{payment_links.enrolment_token(enrolment)}"


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
