"""Merchants that match who sells (issue 19): the service sells the invoices it issues in
its own name (PAYMENT_MERCHANT_ID), a course's organiser sells its fee (the training
institute by default, or an organiser registered with the payment service with its own
merchant ID and commission class), and one payment may pay several items: a participant's
course fees of several organisers, or a payer's several invoices. That is a payment of
several merchants, each line with its commission class, checked by the sandbox as the
service would (its AUTHCODE, its merchants), and each merchant's panel shows only its own
lines (seed 004, p. 4).

End to end over real HTTP (the portal and the sandbox on a live server, the payer's
browser a `requests` session), as tests/payments/test_e2e.py.
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

import lxml.html
import pytest
import sqlalchemy as sa
from flask import Flask

from extensions import db
from models.invoicing import InvoiceStatus, SalesInvoice
from models.payments import OnlinePayment, PaymentState, Refund
from models.training import CourseOrganiser, Enrolment, EnrolmentStatus
from services import training
from services.payments import attempts as payment_attempts
from services.payments import channel as pc
from tests.fixtures import invoicing as inv
from tests.fixtures import payments as payments_fixtures
from tests.fixtures.invoicing import TIINA, mails, make_sent, page
from tests.fixtures.payments import (
    CHANNEL_CONFIG,
    CONTACT,
    SECRET,
    _answer,
    _call,
    _enrol_online,
    _pay_course,
    _pay_url,
)
from tests.fixtures.payments import _rejected as rejected
from tests.fixtures.training import PERSON
from tests.payments.test_e2e import (  # the live journey's steps
    NOTIFY_DELAY,
    PAYER,
    Browser,
    order_of,
    pay,
    sandbox_payment,
    text_of,
    to_bank,
)

payer = payments_fixtures.payer
staff = payments_fixtures.staff
payments_log_enabled = payments_fixtures.payments_log_enabled


@pytest.fixture
def browser():
    browser = Browser()
    yield browser
    browser.close()


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config.update(CHANNEL_CONFIG, PAYMENT_SANDBOX_NOTIFY_DELAY=NOTIFY_DELAY)
    return app_config


ORGANISER_MERCHANT = "13467"  # a merchant the sandbox knows (PAYMENT_SANDBOX_MERCHANTS)
SERVICE_MERCHANT = "20001"  # PAYMENT_MERCHANT_ID of the payment tests


def _organiser(app: Flask, merchant_id: str = ORGANISER_MERCHANT, cp: str = "7") -> int:
    with app.app_context():
        organiser = CourseOrganiser(
            name="Aluehallinnon koulutuskeskus", merchant_id=merchant_id, commission_class=cp
        )
        db.session.add(organiser)
        db.session.commit()
        return organiser.id


def _enrol_live(app: Flask, browser, live_server: str, course_id: int) -> str:
    """Enrol choosing to pay online; the pay link of the confirmation mail."""
    form = browser.get(f"{live_server}/training/courses/{course_id}/enrol")
    thanks = browser.submit(
        form, field="payment_method", values={**PERSON, "payment_method": "online"}
    )
    assert urlsplit(thanks.url).path == "/training/enrolled"
    confirmation = mails(app, "training_confirmation")[-1]
    return re.search(r"https?://\S+/payments/course/\S+", confirmation.body).group(0)


def _choices(response) -> dict[str, str]:
    """The pay page's other items to pay at once: value -> label."""
    document = lxml.html.document_fromstring(response.content)
    return {
        box.get("value"): " ".join(
            document.xpath(f"//label[@for='{box.get('id')}']")[0].text_content().split()
        )
        for box in document.xpath("//input[@type='checkbox'][@name='also']")
    }


def _two_courses(app, make_course) -> tuple[int, int]:
    organiser = _organiser(app)
    own = make_course(title="Hankintalain perusteet", price=Decimal("290.00")).id
    other = make_course(
        title="Aluehallinnon talous", price=Decimal("150.00"), organiser_id=organiser
    ).id
    return own, other


# ---------------------------------------------------------------- who sells a line


def test_a_course_of_an_organiser_is_sold_under_its_merchant_id_and_class(app, make_course):
    _own, other = _two_courses(app, make_course)
    with app.test_request_context():
        course = db.session.get(training.Course, other)
        assert payment_attempts.seller(course) == (ORGANISER_MERCHANT, "7")
        course.organiser_id = None
        db.session.flush()
        db.session.expire(course)
        assert payment_attempts.seller(course) == ("13466", "1")  # the institute's own


def test_no_line_pays_more_commission_than_it_is_worth(app):
    # (the channel form refuses a line's commission over the line: tests/payments/
    # test_channel.py) A class whose rate is over 100 % is capped at the line itself.
    app.config["PAYMENT_COMMISSION_CLASSES"] = {"1": "2.5", "7": "150"}
    with app.test_request_context():
        line = payment_attempts._line(
            0, "Kurssi", "X", Decimal("10.00"), Decimal("25.5"), "13466", "7"
        )
        assert line.commission == line.total == Decimal("10.00")


# ---------------------------------------------------------------- several course fees


def test_course_fees_of_two_organisers_are_paid_in_one_payment(
    app, live_server, make_course, browser, staff
):
    own, other = _two_courses(app, make_course)
    _enrol_live(app, browser, live_server, own)
    link = _enrol_live(app, browser, live_server, other)
    pay_page = browser.get(link)
    with app.app_context():
        first = db.session.scalars(sa.select(Enrolment).where(Enrolment.course_id == own)).one()
    choices = _choices(pay_page)
    assert list(choices) == [str(first.id)]
    assert "Hankintalain perusteet" in choices[str(first.id)]

    to_service = browser.submit(
        pay_page,
        field="first_name",
        values={**PAYER, "email": PERSON["email"], "also": [str(first.id)]},
    )
    assert to_service.status_code == 200, text_of(to_service)
    order = order_of(to_service)
    bank = to_bank(browser, to_service, live_server)  # the sandbox checked its AUTHCODE
    transaction = sandbox_payment(app, order)
    assert transaction["total"] == "440.00"
    assert [(line["merchant_id"], line["cp"]) for line in transaction["lines"]] == [
        (ORGANISER_MERCHANT, "7"),  # the course of the link first
        ("13466", "1"),  # the institute's own course
    ]
    fields = transaction["fields"]
    assert fields["AUTHCODE"].upper() == pc.form_authcode(fields, secret=SECRET)

    result = text_of(browser.follow(pay(browser, bank)))
    assert "Everything listed below is paid." in result
    assert "Aluehallinnon talous" in result and "Hankintalain perusteet" in result
    [receipt] = mails(app, "payments_receipt")
    assert "every item below is paid" in receipt.body and "440" in receipt.body
    with app.app_context():
        enrolments = db.session.scalars(sa.select(Enrolment).order_by(Enrolment.id)).all()
        assert [(e.status, e.billing_reference) for e in enrolments] == [
            (EnrolmentStatus.BINDING, order)
        ] * 2
        payment = db.session.scalars(sa.select(OnlinePayment)).one()
        assert payment.state == PaymentState.PAID and payment.problem is None
        assert [line.commission for line in payment.lines] == [
            Decimal("2.85"),  # 1,9 % of 150,00 (class 7)
            Decimal("7.25"),  # 2,5 % of 290,00 (class 1)
        ]
    assert rejected(app) == []

    # Each merchant's panel shows its own lines of the payment, and only those.
    organisers = page(staff.get(f"/sandbox/payment/merchant/{ORGANISER_MERCHANT}"))
    institute = page(staff.get("/sandbox/payment/merchant/13466"))
    assert order in organisers and "Aluehallinnon talous" in organisers
    assert "Hankintalain perusteet" not in organisers
    assert order in institute and "Hankintalain perusteet" in institute
    assert "Aluehallinnon talous" not in institute
    assert staff.get("/sandbox/payment/merchant/99999999").status_code == 404


def test_a_fee_paid_with_another_for_a_cancelled_enrolment_is_refunded_alone(
    app, make_course, payer
):
    own, other = _two_courses(app, make_course)
    _enrol_online(payer, own)
    url = _enrol_online(payer, other)
    with app.app_context():
        first = db.session.scalars(sa.select(Enrolment).where(Enrolment.course_id == own)).one()
        first_id = first.id
    fields = _pay_course(payer, url, also=str(first_id))
    assert fields["ITEMS"] == "2"
    with app.test_request_context():
        second = db.session.scalars(sa.select(Enrolment).where(Enrolment.course_id == other)).one()
        training.cancel(second, "staff")  # before the payment is through
        db.session.commit()
    assert _call(payer, "notify", _answer(fields["ORDER_NUMBER"])).status_code == 200
    with app.app_context():
        refunds = db.session.scalars(sa.select(Refund)).all()
        assert [(r.enrolment.course_id, r.amount) for r in refunds] == [(other, Decimal("150.00"))]
        assert db.session.get(Enrolment, first_id).status == EnrolmentStatus.BINDING


# ---------------------------------------------------------------- several invoices


def test_a_payers_two_invoices_are_paid_in_one_payment(app, live_server, browser, make_user):
    inv.invoicer(app, make_user, TIINA, "100102", "Toiminimi Testinen")
    numbers = [make_sent(app, TIINA, status=InvoiceStatus.OPEN) for _ in range(2)]
    stranger = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    with app.app_context():
        rows = {
            n: db.session.scalars(sa.select(SalesInvoice).filter_by(number=n)).one().id
            for n in [*numbers, stranger]
        }
        db.session.get(SalesInvoice, rows[stranger]).payer_email = "toinen@example.com"
        db.session.commit()
    with app.test_request_context():
        from services.payments import links

        link = links.invoice_payment_url(db.session.get(SalesInvoice, rows[numbers[0]]))
    pay_page = browser.get(link)
    choices = _choices(pay_page)
    assert list(choices) == [str(rows[numbers[1]])]  # the stranger's is not offered
    assert numbers[1] in choices[str(rows[numbers[1]])]

    to_service = browser.submit(
        pay_page, field="first_name", values={**PAYER, "also": [str(rows[numbers[1]])]}
    )
    assert to_service.status_code == 200, text_of(to_service)
    with app.app_context():
        payment = db.session.scalars(sa.select(OnlinePayment)).one()
        assert [line.sales_invoice_id for line in payment.lines] == [
            rows[numbers[0]],
            rows[numbers[1]],
        ]
        assert {line.merchant_id for line in payment.lines} == {SERVICE_MERCHANT}
    order = order_of(to_service)
    bank = to_bank(browser, to_service, live_server)
    browser.follow(pay(browser, bank))
    with app.app_context():
        for number in numbers:
            invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
            assert invoice.status == InvoiceStatus.PAID
            assert [(p.amount, p.source) for p in invoice.payments] == [
                (Decimal("125.50"), "online")
            ]
        other = db.session.get(SalesInvoice, rows[stranger])
        assert other.status == InvoiceStatus.OPEN
        assert db.session.scalars(sa.select(OnlinePayment)).one().order_number == order


def test_an_item_not_offered_cannot_be_added_to_the_payment(app, make_user, payer):
    inv.invoicer(app, make_user, TIINA, "100102", "Toiminimi Testinen")
    mine = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    theirs = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    with app.app_context():
        other = db.session.scalars(sa.select(SalesInvoice).filter_by(number=theirs)).one()
        other.payer_email = "toinen@example.com"
        db.session.commit()
        other_id = other.id
    response = payer.post(_pay_url(app, mine), data={**CONTACT, "also": str(other_id)})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OnlinePayment)) == 0


def test_the_sandbox_refuses_a_merchant_who_has_not_accepted_the_channel(
    app, live_server, make_course, browser
):
    organiser = _organiser(app, merchant_id="55555")
    course = make_course(title="Tuntematon", organiser_id=organiser).id
    link = _enrol_live(app, browser, live_server, course)
    to_service = browser.submit(browser.get(link), field="first_name", values=PAYER)
    refused = browser.submit(to_service, action="/sandbox/payment/channel-payment")
    assert refused.status_code == 400
    assert "ITEM_MERCHANT_ID[0]" in text_of(refused)
