"""Online payment in the portal: the payment service's answers (return, cancel, notify),
checked, recorded once, refused when forged.

The payment service's side is played here by hand: the tests read the channel form the
payer's browser would post (the hidden fields of the page that goes to the service) and
answer at /payments/return, /payments/cancel and /payments/notify with parameters signed
as the seed (pp. 10-11) says. Payers, Tiina, Olli and Kaisa see the pages in English.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from extensions import db
from models.invoicing import InvoiceStatus, SalesInvoicePayment
from models.payments import PaymentState, RejectedPaymentCall
from tests.fixtures import invoicing as inv
from tests.fixtures import payments as payments_fixtures
from tests.fixtures.app import run_together
from tests.fixtures.invoicing import count, events, forward, invoice_row, mails, page, sent_invoice
from tests.fixtures.payments import (
    PAID_ID,
    _answer,
    _call,
    _online_payments,
    _pay_url,
    _payment,
    _rejected,
    _result_text,
    _start,
    _start_invoice_payment,
    _world,
)

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The payment tests' world (tests/fixtures/payments.py).
app_config = payments_fixtures.app_config
payer = payments_fixtures.payer
payments_log_enabled = payments_fixtures.payments_log_enabled
staff = payments_fixtures.staff
started = payments_fixtures.started
tiina = payments_fixtures.tiina


# ================================================================= 2. the answers


def _assert_paid_once(app: Flask, started: SimpleNamespace, *, flagged: bool = False) -> None:
    row = invoice_row(app, started.number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.PAID, Decimal("125.50"))
    assert _online_payments(app, started.number) == [(Decimal("125.50"), "online")]
    kinds = [kind for kind, _round, _text in events(app, started.number)]
    assert kinds.count("payment") == 1 and kinds.count("paid") == 1
    payment = _payment(app, started.order)
    assert (payment.state, payment.paid_code, payment.method) == (PaymentState.PAID, PAID_ID, "1")
    assert payment.service_timestamp == 1700000000
    assert payment.paid_at is not None and (payment.problem is not None) == flagged
    [receipt] = mails(app, "payments_receipt")
    assert receipt.recipients == ["matti@asiakas.example.com"]
    assert started.order in receipt.subject
    assert started.order in receipt.body and PAID_ID in receipt.body
    assert started.number in receipt.body and "125.50" in receipt.body
    assert receipt.record == ("online_payment", str(payment.id))


def test_notify_then_return_pays_the_invoice_once(app, payer, started):
    answer = _answer(started.order)
    notify = _call(payer, "notify", answer)
    assert (notify.status_code, notify.text, notify.mimetype) == (200, "OK", "text/plain")
    back = _call(payer, "return", answer)
    assert back.status_code == 200
    text = _result_text(back)
    assert "Thank you for your payment" in text
    assert f"Invoice {started.number} is paid." in text
    assert started.order in text and PAID_ID in text
    _assert_paid_once(app, started)
    payment = _payment(app)
    assert payment.notified_at is not None and payment.returned_at is not None


def test_return_then_notify_pays_the_invoice_once(app, payer, started):
    answer = _answer(started.order)
    assert _call(payer, "return", answer).status_code == 200
    after_return = _world(app)
    notify = _call(payer, "notify", answer)
    assert (notify.status_code, notify.text) == (200, "OK")
    _assert_paid_once(app, started)
    world = _world(app)
    assert world["payments"][0][-1] is not None  # notified_at set now
    world["payments"], after_return["payments"] = [], []
    assert world == after_return


def test_a_doubled_notify_pays_once(app, payer, started):
    answer = _answer(started.order)
    assert _call(payer, "notify", answer).text == "OK"
    before = _world(app)
    assert _call(payer, "notify", answer).text == "OK"
    assert _world(app) == before
    _assert_paid_once(app, started)
    assert _payment(app).returned_at is None


def test_a_notify_a_day_later_without_the_payer_returning_pays(app, payer, started):
    assert _payment(app).state == PaymentState.CREATED
    answer = _answer(started.order, ts="1700086400")
    notify = _call(app.test_client(), "notify", answer)  # server to server, no session
    assert (notify.status_code, notify.text) == (200, "OK")
    row = invoice_row(app, started.number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.PAID, Decimal("125.50"))
    payment = _payment(app)
    assert payment.state == PaymentState.PAID and payment.service_timestamp == 1700086400
    assert payment.returned_at is None and payment.notified_at is not None
    assert len(mails(app, "payments_receipt")) == 1


def test_a_replayed_return_changes_nothing(app, payer, started):
    answer = _answer(started.order)
    assert _call(payer, "return", answer).status_code == 200
    before = _world(app)
    fresh = app.test_client()
    fresh.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    again = _call(fresh, "return", answer)
    assert again.status_code == 200
    assert "Thank you for your payment" in _result_text(again)
    assert _world(app) == before
    _assert_paid_once(app, started)
    assert _rejected(app) == []


def test_a_cancel_pays_nothing_and_offers_to_try_again(app, payer, started):
    response = _call(payer, "cancel", _answer(started.order, paid=None))
    assert response.status_code == 200
    text = page(response)
    assert "You cancelled the payment. Nothing was charged." in text
    assert f'href="http://portal.test{_pay_url(app, started.number)}"' in text
    assert "Try again" in text
    payment = _payment(app)
    assert (payment.state, payment.paid_code) == (PaymentState.CANCELLED, None)
    assert payment.closed_at is not None and payment.paid_at is None
    row = invoice_row(app, started.number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.OPEN, Decimal("0.00"))
    assert count(app, SalesInvoicePayment) == 0 and mails(app, "payments_receipt") == []
    # Trying again is a new attempt, with a new order number.
    assert _start(payer, _pay_url(app, started.number))["ORDER_NUMBER"] == "VM100002"


def test_a_return_without_paid_is_a_failure(app, payer, started):
    response = _call(payer, "return", _answer(started.order, paid=None))
    assert response.status_code == 200
    assert "The payment failed. Nothing was charged." in page(response)
    payment = _payment(app)
    assert payment.state == PaymentState.FAILED and payment.closed_at is not None
    assert invoice_row(app, started.number).status == InvoiceStatus.OPEN
    assert count(app, SalesInvoicePayment) == 0 and mails(app, "payments_receipt") == []


def test_a_paid_after_a_cancel_is_paid(app, payer, started):
    """The service took the money after all (the payer cancelled in another tab)."""
    assert _call(payer, "cancel", _answer(started.order, paid=None)).status_code == 200
    assert _call(payer, "notify", _answer(started.order)).text == "OK"
    _assert_paid_once(app, started)


def test_a_late_cancel_after_payment_changes_nothing(app, payer, started):
    assert _call(payer, "return", _answer(started.order)).status_code == 200
    before = _world(app)
    response = _call(payer, "cancel", _answer(started.order, paid=None))
    assert response.status_code == 200
    assert "Thank you for your payment" in _result_text(response)
    assert _world(app) == before


def _tampered(order: str) -> dict[str, dict[str, str]]:
    good = _answer(order)
    without_method = _answer(order, method=None)
    return {
        "paid": {**good, "PAID": "FFFFFFFFFFFFFFFF"},
        "order number": {**good, "ORDER_NUMBER": "VM100002"},
        "timestamp": {**good, "TIMESTAMP": "1700000001"},
        "method added": {**without_method, "METHOD": "1"},
        "method removed": {k: v for k, v in good.items() if k != "METHOD"},
        "method changed": {**good, "METHOD": "2"},
        "lower-case authcode": {**good, "RETURN_AUTHCODE": good["RETURN_AUTHCODE"].lower()},
        "missing authcode": {k: v for k, v in good.items() if k != "RETURN_AUTHCODE"},
        "empty authcode": {**good, "RETURN_AUTHCODE": ""},
        "another secret": _answer(order, secret="not-the-secret"),
        "paid removed": {k: v for k, v in good.items() if k not in ("PAID", "METHOD")},
        "not a timestamp": _answer(order, ts="17e8"),
        "unknown order": _answer("VM999999"),
        # Signs exactly as the genuine PAID + METHOD: the checksum joins values with '|'.
        "method shifted into paid": {
            **without_method,
            "PAID": f"{PAID_ID}|1",
            "RETURN_AUTHCODE": good["RETURN_AUTHCODE"],
        },
    }


REASONS = {
    "missing authcode": "RETURN_AUTHCODE is missing",
    "empty authcode": "RETURN_AUTHCODE is missing",
    "not a timestamp": "TIMESTAMP is not a UNIX timestamp",
    "unknown order": "unknown order number",
    "method shifted into paid": "PAID contains '|'",
}


@pytest.mark.parametrize("kind", ["return", "cancel"])
@pytest.mark.parametrize("how", list(_tampered("VM100001")))
def test_a_tampered_answer_is_refused_recorded_and_shown_to_staff(
    app, payer, started, staff, caplog, kind, how
):
    params = _tampered(started.order)[how]
    before = _world(app)
    with caplog.at_level(logging.INFO, logger="services.payments"):
        response = _call(payer, kind, params)
    assert response.status_code == 400
    assert "The payment could not be verified" in page(response)
    assert "nothing was recorded" in page(response)
    assert _world(app) == before  # nothing paid, cancelled or mailed
    assert _payment(app).state == PaymentState.CREATED
    reason = REASONS.get(how, "RETURN_AUTHCODE does not match")
    [(call_kind, order, recorded)] = _rejected(app)
    assert (call_kind, order, recorded) == (kind, params["ORDER_NUMBER"], reason)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and reason in warnings[0].getMessage()
    assert params["ORDER_NUMBER"] in warnings[0].getMessage()
    refused = page(staff.get("/staff/payments/refused"))
    assert reason in refused and params["ORDER_NUMBER"] in refused
    assert "Refused answers of the payment service" in page(staff.get("/staff/payments/"))
    on_payment = page(staff.get(f"/staff/payments/{started.order}"))
    assert (reason in on_payment) == (params["ORDER_NUMBER"] == started.order)


def test_a_shifted_copy_of_the_genuine_answer_after_it_flags_nothing(app, payer, started):
    """A payer resending their genuine answer with METHOD moved into PAID ('P|1' signs as
    P and 1) must not make staff refund a payment that was made once."""
    good = _answer(started.order)
    assert _call(payer, "return", good).status_code == 200
    shifted = {k: v for k, v in good.items() if k != "METHOD"} | {"PAID": f"{PAID_ID}|1"}
    assert _call(payer, "notify", shifted).text == "REJECTED"
    _assert_paid_once(app, started, flagged=False)


def test_refused_answers_are_throttled_per_address_genuine_ones_never(app, payer, started):
    app.config["PAYMENT_REFUSED_THROTTLE"] = "3 per hour"
    forged = {**_answer(started.order), "PAID": "FFFFFFFFFFFFFFFF"}
    genuine = _answer(started.order)
    for _ in range(5):  # accepted answers do not count
        assert _call(payer, "return", genuine).status_code == 200
    statuses = [_call(payer, kind, forged).status_code for kind in ("return", "cancel", "notify")]
    assert statuses == [400, 400, 400]
    assert _call(payer, "notify", forged).status_code == 429
    assert _call(payer, "return", genuine).status_code == 429  # this address is slowed down
    assert len(_rejected(app)) == 3
    elsewhere = _call_from(payer, "notify", genuine, "203.0.113.9")
    assert (elsewhere.status_code, elsewhere.text) == (200, "OK")


def _call_from(client: FlaskClient, kind: str, params: dict[str, str], address: str):
    return client.get(
        f"/payments/{kind}?" + urlencode(params), environ_base={"REMOTE_ADDR": address}
    )


def test_a_refused_call_keeps_its_parameters_and_address_for_staff(app, payer, started, staff):
    params = {**_answer(started.order), "PAID": "FFFFFFFFFFFFFFFF"}
    payer.get("/payments/return?" + urlencode(params), environ_base={"REMOTE_ADDR": "198.51.100.7"})
    with app.app_context():
        call = db.session.scalars(sa.select(RejectedPaymentCall)).one()
        assert call.remote_addr == "198.51.100.7"
        assert "PAID=FFFFFFFFFFFFFFFF" in call.query and call.at is not None
    text = page(staff.get(f"/staff/payments/{started.order}"))
    assert "198.51.100.7" in text and "PAID=FFFFFFFFFFFFFFFF" in text


def test_a_refused_notify_answers_rejected(app, payer, started, caplog):
    params = {**_answer(started.order), "TIMESTAMP": "1"}
    before = _world(app)
    with caplog.at_level(logging.WARNING, logger="services.payments"):
        response = _call(app.test_client(), "notify", params)
    assert (response.status_code, response.text, response.mimetype) == (
        400,
        "REJECTED",
        "text/plain",
    )
    assert _world(app) == before
    assert _rejected(app) == [("notify", started.order, "RETURN_AUTHCODE does not match")]
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_a_notify_without_paid_is_refused(app, payer, started):
    response = _call(app.test_client(), "notify", _answer(started.order, paid=None))
    assert (response.status_code, response.text) == (400, "REJECTED")
    assert _payment(app).state == PaymentState.CREATED
    assert _rejected(app) == [("notify", started.order, "a notify without PAID")]


def test_a_refused_answer_does_not_stop_the_real_one(app, payer, started):
    _call(payer, "return", {**_answer(started.order), "PAID": "FFFFFFFFFFFFFFFF"})
    assert _call(payer, "return", _answer(started.order)).status_code == 200
    _assert_paid_once(app, started)
    assert len(_rejected(app)) == 1


def test_a_second_payment_id_for_a_paid_order_is_flagged_not_applied(app, payer, started, staff):
    assert _call(payer, "notify", _answer(started.order)).text == "OK"
    second = _call(app.test_client(), "notify", _answer(started.order, paid="ABCDEF0123456789"))
    assert (second.status_code, second.text) == (200, "OK")
    # One payment, one receipt, the first PAID id kept.
    _assert_paid_once(app, started, flagged=True)
    problem = _payment(app).problem
    assert "ABCDEF0123456789" in problem and PAID_ID in problem and "refund" in problem
    text = page(staff.get(f"/staff/payments/{started.order}"))
    assert "Needs action" in text and "ABCDEF0123456789" in text
    listed = page(staff.get("/staff/payments/"))
    assert "1 paid payment needs action" in listed


def test_a_forwarded_invoice_paid_online_is_paid_when_finalised(app, tiina, staff, payer):
    number = sent_invoice(tiina, app, "sahkoposti")
    forward(staff, number, finalise=False)
    fields = _start_invoice_payment(app, payer, number)
    assert _call(payer, "return", _answer(fields["ORDER_NUMBER"])).status_code == 200
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.FORWARDED, Decimal("125.50"))
    assert row.gross - row.paid_amount == 0
    assert _online_payments(app, number) == [(Decimal("125.50"), "online")]
    assert _payment(app).problem is None
    # Paid: the pay page says so and starts nothing more.
    again = page(payer.get(_pay_url(app, number)))
    assert "This has been paid online. Thank you." in again and fields["ORDER_NUMBER"] in again
    assert staff.post(f"/staff/invoices/{number}/finalise").status_code == 302
    assert invoice_row(app, number).status == InvoiceStatus.PAID
    kinds = [kind for kind, _round, _text in events(app, number)]
    assert kinds[-3:] == ["payment", "finalised", "paid"]


def test_an_invoice_paid_by_hand_meanwhile_flags_the_online_payment(app, tiina, staff, payer):
    number = inv.open_invoice(app, tiina, staff)
    fields = _start_invoice_payment(app, payer, number)
    assert inv.pay(staff, number, "125,49").status_code == 302
    assert invoice_row(app, number).status == InvoiceStatus.PAID
    response = _call(payer, "return", _answer(fields["ORDER_NUMBER"]))
    assert response.status_code == 200
    payment = _payment(app)
    assert payment.state == PaymentState.PAID  # the money was taken: kept, for staff to act
    assert number in payment.problem and "refund" in payment.problem
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.PAID, Decimal("125.49"))
    assert [source for _amount, source in _online_payments(app, number)] == ["manual"]
    assert "Needs action" in page(staff.get(f"/staff/payments/{fields['ORDER_NUMBER']}"))
    before = _world(app)
    assert _call(payer, "notify", _answer(fields["ORDER_NUMBER"])).text == "OK"
    assert _world(app)["invoice_payments"] == before["invoice_payments"]
    assert _payment(app).problem == payment.problem  # flagged once


def test_an_attempt_keeps_its_amount_when_the_invoice_is_part_paid_meanwhile(
    app, tiina, staff, payer
):
    number = inv.open_invoice(app, tiina, staff)
    order = _start_invoice_payment(app, payer, number)["ORDER_NUMBER"]
    assert inv.pay(staff, number, "100,00").status_code == 302
    assert _payment(app).amount == Decimal("125.49")  # frozen when it started
    assert _call(payer, "notify", _answer(order)).text == "OK"
    row = invoice_row(app, number)
    assert (row.status, row.paid_amount) == (InvoiceStatus.OPEN, Decimal("100.00"))
    assert _online_payments(app, number) == [(Decimal("100.00"), "manual")]
    payment = _payment(app)
    assert payment.state == PaymentState.PAID and "outstanding 25.49" in payment.problem


def test_two_attempts_both_paid_apply_once_and_flag_the_second(app, payer, started, staff):
    second = _start(payer, _pay_url(app, started.number))["ORDER_NUMBER"]
    assert _call(payer, "return", _answer(started.order)).status_code == 200
    assert _call(payer, "return", _answer(second, paid="0000000000000002")).status_code == 200
    assert _online_payments(app, started.number) == [(Decimal("125.50"), "online")]
    assert _payment(app, started.order).problem is None
    flagged = _payment(app, second)
    assert flagged.state == PaymentState.PAID and "refund" in flagged.problem


def test_notify_and_return_at_one_instant_apply_once(app, app_config, payer, started):
    from app import create_app

    answer = _answer(started.order)
    apps = [create_app(app_config) for _ in range(2)]
    outcomes: dict[int, object] = {}

    def attempt(worker_app, n):
        kind = ("notify", "return")[n]
        try:
            response = _call(worker_app.test_client(), kind, answer)
            outcomes[n] = response.status_code
        except Exception as error:  # noqa: BLE001  (an error page, as the caller would see)
            outcomes[n] = repr(error)

    run_together(attempt, apps)
    assert outcomes == {0: 200, 1: 200}
    _assert_paid_once(app, started)
    payment = _payment(app)
    assert payment.notified_at is not None and payment.returned_at is not None


def test_two_notifies_at_one_instant_apply_once(app, app_config, payer, started):
    from app import create_app

    answer = _answer(started.order)
    apps = [create_app(app_config) for _ in range(3)]
    outcomes: list[object] = []

    def attempt(worker_app, n):
        try:
            outcomes.append(_call(worker_app.test_client(), "notify", answer).text)
        except Exception as error:  # noqa: BLE001
            outcomes.append(repr(error))

    run_together(attempt, apps)
    assert outcomes == ["OK", "OK", "OK"]
    _assert_paid_once(app, started)
