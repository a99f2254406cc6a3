"""Online payment (Verkkomaksu): paying invoices and course fees through the payment service.

The payer opens the payment link of an invoice (in its email and PDF) or of an enrolment
(after enrolling, in the confirmation email and on the enrolment's page), confirms their
details, and their browser posts the channel form to the payment service. The service
answers at /payments/return, /payments/cancel and /payments/notify (services.payments
verifies and applies every answer). Invoicing users see the payments of their own
invoices line by line (the merchant panel); staff see every payment and the answers that
were refused.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Flask,
    abort,
    current_app,
    make_response,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_currency, format_date, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import contains_eager

import security
from blueprints.shared import Routes
from extensions import db, limiter
from forms.payments import (
    PURPOSE_LABELS,
    STATE_LABELS,
    PayerForm,
)
from models.payments import (
    OnlinePayment,
    OnlinePaymentLine,
    PaymentState,
)
from paging import paginate
from services import training
from services.payments import attempts as payment_attempts
from services.payments import channel as payment_channel
from services.payments import links as payment_links

routes = Routes()

PER_PAGE = 50
# The payment service's fields the payer typed, and the form's fields they came from.
CONTACT_FIELDS = {
    "CONTACT_FIRSTNAME": "first_name",
    "CONTACT_LASTNAME": "last_name",
    "CONTACT_COMPANY": "company",
    "CONTACT_EMAIL": "email",
    "CONTACT_ADDR_STREET": "street",
    "CONTACT_ADDR_ZIP": "postcode",
    "CONTACT_ADDR_CITY": "city",
    "CONTACT_ADDR_COUNTRY": "country",
}
CALL_LABELS = {"return": _l("Return"), "cancel": _l("Cancel"), "notify": _l("Notify")}


# ---------------------------------------------------------------- payers


@routes.get("/")
def index() -> ResponseReturnValue:
    """What can be paid here; for an invoicing user, the payments of their invoices."""
    if not current_user.is_authenticated or current_user.is_staff:
        return render_template("payments/index.html", page=None)
    page = paginate(
        sa.select(OnlinePaymentLine)
        .join(OnlinePaymentLine.payment)
        .where(
            OnlinePaymentLine.merchant_user_id == current_user.id,
            OnlinePayment.state == PaymentState.PAID,
        )
        .options(contains_eager(OnlinePaymentLine.payment)),
        # The newest payment first (its merchant's index holds them so), its lines in order.
        (
            OnlinePaymentLine.payment_id.desc(),
            OnlinePaymentLine.position,
            OnlinePaymentLine.id,
        ),
        per_page=PER_PAGE,
    )
    return render_template("payments/index.html", page=page)


@routes.route("/invoice/<token>", methods=["GET", "POST"])
def invoice(token: str) -> ResponseReturnValue:
    """Pay an invoice of the invoice desk (the link in its email and PDF)."""
    sales_invoice = payment_links.invoice_for_token(token)
    if sales_invoice is None:
        abort(404)
    others = payment_attempts.other_invoices(sales_invoice)
    return _pay(
        payable=payment_attempts.invoice_payable(sales_invoice),
        contact=lambda: payment_attempts.invoice_contact(sales_invoice),
        others={
            other.id: (
                other,
                _l(
                    "Invoice %(number)s, due %(date)s: %(amount)s",
                    number=other.number,
                    date=format_date(other.due_date, "short"),
                    amount=format_currency(other.outstanding, "EUR"),
                ),
            )
            for other in others
        },
        start=lambda contact, also: payment_attempts.start_invoice_payment(
            sales_invoice, contact, _language(), also
        ),
        amount=sales_invoice.outstanding,
        paid=lambda: payment_links.paid_payment(invoice=sales_invoice),
        invoice=sales_invoice,
        enrolment=None,
    )


@routes.route("/course/<token>", methods=["GET", "POST"])
def course_fee(token: str) -> ResponseReturnValue:
    """Pay the fee of an enrolment whose participant chose to pay online."""
    enrolment = payment_links.enrolment_for_token(token)
    if enrolment is None:
        abort(404)
    others = payment_attempts.other_course_fees(enrolment)
    return _pay(
        payable=payment_attempts.course_fee_payable(enrolment),
        contact=lambda: payment_attempts.enrolment_contact(enrolment),
        others={
            other.id: (
                other,
                _l(
                    "Course fee: %(title)s, %(date)s: %(amount)s",
                    title=other.course.title,
                    date=format_date(other.course.starts_at, "short"),
                    amount=format_currency(other.course.price, "EUR"),
                ),
            )
            for other in others
        },
        start=lambda contact, also: payment_attempts.start_course_fee_payment(
            enrolment, contact, _language(), also
        ),
        amount=enrolment.course.price,
        paid=lambda: payment_links.paid_payment(enrolment=enrolment),
        invoice=None,
        enrolment=enrolment,
    )


def _pay(*, payable: bool, contact, others: dict, start, amount, paid, **what):
    """The payer's details and the other open items they may pay at the same time, then
    the page that posts the channel form to the service."""
    form = PayerForm(data=contact() if request.method == "GET" else None)
    form.also.choices = [(key, label) for key, (_item, label) in others.items()]
    # A link mailed while online payment was in use may be opened after it was switched off.
    unavailable = not payment_links.is_configured()
    payable = payable and not unavailable
    if payable and form.validate_on_submit():
        also = [others[key][0] for key in form.also.data or ()]
        try:
            payment = start(payment_attempts.Contact(**form.contact_values()), also)
        except payment_channel.PaymentFieldError as exc:
            field = CONTACT_FIELDS.get(exc.field)
            if field is None:
                return _not_started(exc)
            db.session.rollback()
            getattr(form, field).errors.append(
                _l("The payment service cannot take this text. Write it in another way.")
            )
        except payment_attempts.NotPayable as exc:
            return _not_started(exc)
        else:
            db.session.commit()
            return _to_service(payment)
    page = render_template(
        "payments/pay.html",
        form=form,
        payable=payable,
        unavailable=unavailable,
        amount=amount,
        paid=paid(),
        **what,
    )
    return page, (503 if unavailable else 422 if form.errors else 200)


def _language() -> str:
    return str(get_locale())


def _not_started(exc: Exception):
    """The attempt could not be made (paid a moment ago, or data the service would refuse)."""
    db.session.rollback()
    if isinstance(exc, payment_channel.PaymentFieldError):
        current_app.logger.error("payment not started: %s", exc)
    return render_template("payments/not_started.html"), 409


def _to_service(payment: OnlinePayment):
    """The page whose form the payer's browser posts to the payment service."""
    action = payment_links.service_url()
    response = make_response(
        render_template(
            "payments/to_service.html",
            payment=payment,
            action=action,
            fields=payment_attempts.channel_form(payment),
        )
    )
    # The form leaves for the payment service's address: allow that one form target.
    security.allow_form_targets(action)
    return response


def _refused_throttle() -> str:
    return current_app.config["PAYMENT_REFUSED_THROTTLE"]


# Only refused answers count: the service's genuine calls are never slowed, while a
# forger's guesses are, and the staff's list of refused answers stays readable.
_refused_limit = limiter.shared_limit(
    _refused_throttle,
    scope="payment-answer",
    key_func=lambda: request.remote_addr or "",
    deduct_when=lambda response: response.status_code == 400,
)


def _receive(kind: str) -> payment_attempts.Answer:
    """The payment service's answer at this address, received and committed."""
    answer = payment_attempts.receive(
        kind,
        request.args,
        remote=request.remote_addr or "",
        query=request.query_string.decode("latin-1"),
    )
    db.session.commit()
    return answer


@routes.get("/return")
@_refused_limit
def returned() -> ResponseReturnValue:
    """The payer back from the payment service: paid, or (without PAID) failed."""
    return _result("return")


@routes.get("/cancel")
@_refused_limit
def cancelled() -> ResponseReturnValue:
    """The payer back from the payment service after cancelling, or a failure."""
    return _result("cancel")


def _result(kind: str):
    answer = _receive(kind)
    return render_template("payments/result.html", answer=answer, payment=answer.payment), (
        200 if answer.accepted else 400
    )


@routes.get("/notify")
@_refused_limit
def notify() -> ResponseReturnValue:
    """The payment service's own call when it records the payment as paid (server to server)."""
    answer = _receive("notify")
    text, status = ("OK", 200) if answer.accepted else ("REJECTED", 400)
    return current_app.response_class(text, status=status, mimetype="text/plain")


# ---------------------------------------------------------------- staff


def setup_app(app: Flask) -> None:
    app.jinja_env.globals.update(
        {
            "payment_state_labels": STATE_LABELS,
            "payment_purpose_labels": PURPOSE_LABELS,
            "payment_call_labels": CALL_LABELS,
            "invoice_payment_url": payment_links.invoice_payment_url,
            "course_fee_payment_url": payment_links.enrolment_payment_url,
            "course_fee_deadline": training.payment_deadline,
            "invoice_payable": payment_attempts.invoice_payable,
        }
    )
