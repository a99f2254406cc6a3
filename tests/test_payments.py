"""Online payment in the portal: paying invoices and course fees, the service's answers."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Role
from models.invoicing import InvoiceStatus, SalesInvoice
from models.payments import OnlinePayment, PaymentState, RejectedPaymentCall
from models.training import Enrolment, EnrolmentStatus
from services import payment_channel as pc
from tests import test_invoicing as inv
from tests.test_invoicing import TIINA, make_sent
from tests.test_training import PERSON

SECRET = "sandbox-channel-secret"
quick_password_hashing = inv.quick_password_hashing


@pytest.fixture
def tiina(app, make_user):
    """The invoicing user 100102, logged in."""
    return inv.invoicer(app, make_user, TIINA, "100102", "Toiminimi Testinen")


@pytest.fixture
def staff(app, make_user):
    make_user(inv.KAISA, role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa", language="en")
    return inv.login(app, inv.KAISA)


CONTACT = {
    "first_name": "Matti",
    "last_name": "Meikäläinen",
    "company": "Asiakas Oy",
    "email": "matti@asiakas.example.com",
    "street": "Testikatu 1",
    "postcode": "43210",
    "city": "Jyväskylä",
    "country": "FI",
}


def _token(app, invoice_number: str) -> str:
    from services import payments

    with app.test_request_context():
        invoice = db.session.scalar(
            sa.select(SalesInvoice).where(SalesInvoice.number == invoice_number)
        )
        return payments.invoice_token(invoice)


def _fields(html: str) -> dict[str, str]:
    import html as html_lib

    return {
        name: html_lib.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html)
    }


def _answer(
    order: str, *, paid: str | None = "1234567890ABCDEF", method: str | None = "1", ts="1700000000"
):
    code = pc.return_authcode(order, ts, paid, method if paid else None, SECRET)
    params = {"ORDER_NUMBER": order, "TIMESTAMP": ts}
    if paid:
        params["PAID"] = paid
        if method:
            params["METHOD"] = method
    params["RETURN_AUTHCODE"] = code
    return params


def _start_invoice_payment(app, client, number: str) -> dict[str, str]:
    token = _token(app, number)
    page = client.get(f"/payments/invoice/{token}")
    assert page.status_code == 200
    response = client.post(f"/payments/invoice/{token}", data=CONTACT)
    assert response.status_code == 200, response.text
    return _fields(response.text)


def test_an_open_invoice_is_paid_once_by_notify_then_return(app, client, tiina):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    fields = _start_invoice_payment(app, client, number)
    assert fields["AUTHCODE"] == pc.form_authcode(fields, secret=SECRET)
    assert fields["ITEM_MERCHANT_ID[0]"] == "100102"
    order = fields["ORDER_NUMBER"]
    answer = _answer(order)
    notify = client.get("/payments/notify?" + urlencode(answer))
    assert notify.status_code == 200 and notify.text == "OK"
    back = client.get("/payments/return?" + urlencode(answer))
    assert back.status_code == 200
    assert client.get("/payments/notify?" + urlencode(answer)).status_code == 200
    with app.app_context():
        invoice = db.session.scalar(sa.select(SalesInvoice).where(SalesInvoice.number == number))
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.paid_amount == Decimal("125.50")
        assert len(invoice.payments) == 1
        payment = db.session.scalar(sa.select(OnlinePayment))
        assert payment.state == PaymentState.PAID and payment.paid_code == "1234567890ABCDEF"


def test_a_tampered_return_is_refused_and_recorded(app, client, tiina):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    fields = _start_invoice_payment(app, client, number)
    answer = _answer(fields["ORDER_NUMBER"])
    answer["PAID"] = "FFFFFFFFFFFFFFFF"
    back = client.get("/payments/return?" + urlencode(answer))
    assert back.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(OnlinePayment)).state == PaymentState.CREATED
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RejectedPaymentCall)) == 1


def test_a_course_fee_paid_online_makes_the_enrolment_binding(app, client, make_course):
    course_id = make_course().id
    response = client.post(
        f"/training/courses/{course_id}/enrol", data={**PERSON, "payment_method": "online"}
    )
    assert response.status_code == 303
    assert "/payments/course/" in response.headers["Location"]
    with app.app_context():
        enrolment = db.session.scalar(sa.select(Enrolment))
        assert enrolment.status == EnrolmentStatus.PRELIMINARY and enrolment.pays_online
    location = response.headers["Location"]
    page = client.post(location, data=CONTACT)
    assert page.status_code == 200, page.text
    fields = _fields(page.text)
    assert fields["ITEM_PRICE[0]"] == "290.00"
    client.get("/payments/return?" + urlencode(_answer(fields["ORDER_NUMBER"])))
    with app.app_context():
        enrolment = db.session.scalar(sa.select(Enrolment))
        assert enrolment.status == EnrolmentStatus.BINDING


def test_staff_find_a_payment(app, client, tiina, staff):
    number = make_sent(app, TIINA, status=InvoiceStatus.OPEN)
    fields = _start_invoice_payment(app, client, number)
    order = fields["ORDER_NUMBER"]
    client.get("/payments/return?" + urlencode(_answer(order)))
    found = staff.get("/staff/payments/?q=1234567890abcdef")
    assert found.status_code == 302
    assert staff.get(found.headers["Location"]).status_code == 200
    assert tiina.get("/payments/").status_code == 200
    assert order in tiina.get("/payments/").text
