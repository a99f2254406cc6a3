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
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import contains_eager, selectinload

from access import staff_required
from blueprints import csp_with_form_targets, paginate
from extensions import db, limiter
from forms.payments import (
    REFUND_STATE_LABELS,
    STATE_LABELS,
    PayerForm,
    PaymentSearchForm,
    RefundForm,
    RefundSearchForm,
)
from models.payments import (
    OnlinePayment,
    OnlinePaymentLine,
    PaymentPurpose,
    PaymentState,
    Refund,
    RefundState,
    RejectedPaymentCall,
)
from paging import capped_count
from services import invoicing, payment_channel, payments, registry, training

bp = Blueprint("payments", __name__, url_prefix="/payments")
staff_bp = Blueprint("payments_staff", __name__, url_prefix="/staff/payments")

PER_PAGE = 50
PURPOSE_LABELS = {
    PaymentPurpose.INVOICE: _l("Invoice"),
    PaymentPurpose.COURSE_FEE: _l("Course fee"),
}
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


@bp.get("/")
def index():
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


@bp.route("/invoice/<token>", methods=["GET", "POST"])
def invoice(token: str):
    """Pay an invoice of the invoice desk (the link in its email and PDF)."""
    sales_invoice = payments.invoice_for_token(token)
    if sales_invoice is None:
        abort(404)
    return _pay(
        payable=payments.invoice_payable(sales_invoice),
        contact=lambda: payments.invoice_contact(sales_invoice),
        start=lambda contact: payments.start_invoice_payment(sales_invoice, contact, _language()),
        amount=sales_invoice.outstanding,
        paid=lambda: payments.paid_payment(invoice=sales_invoice),
        invoice=sales_invoice,
        enrolment=None,
    )


@bp.route("/course/<token>", methods=["GET", "POST"])
def course_fee(token: str):
    """Pay the fee of an enrolment whose participant chose to pay online."""
    enrolment = payments.enrolment_for_token(token)
    if enrolment is None:
        abort(404)
    return _pay(
        payable=payments.course_fee_payable(enrolment),
        contact=lambda: payments.enrolment_contact(enrolment),
        start=lambda contact: payments.start_course_fee_payment(enrolment, contact, _language()),
        amount=enrolment.course.price,
        paid=lambda: payments.paid_payment(enrolment=enrolment),
        invoice=None,
        enrolment=enrolment,
    )


def _pay(*, payable: bool, contact, start, amount, paid, **what):
    """The payer's details, then the page that posts the channel form to the service."""
    form = PayerForm(data=contact() if request.method == "GET" else None)
    # A link mailed while online payment was in use may be opened after it was switched off.
    unavailable = not payments.is_configured()
    payable = payable and not unavailable
    if payable and form.validate_on_submit():
        try:
            payment = start(payments.Contact(**form.contact_values()))
        except payment_channel.PaymentFieldError as exc:
            field = CONTACT_FIELDS.get(exc.field)
            if field is None:
                return _not_started(exc)
            db.session.rollback()
            getattr(form, field).errors.append(
                _l("The payment service cannot take this text. Write it in another way.")
            )
        except payments.NotPayable as exc:
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
    action = payments.service_url()
    response = make_response(
        render_template(
            "payments/to_service.html",
            payment=payment,
            action=action,
            fields=payments.channel_form(payment),
        )
    )
    # The form leaves for the payment service's address: allow that one form target.
    response.headers["Content-Security-Policy"] = csp_with_form_targets(action)
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


@bp.get("/return")
@_refused_limit
def returned():
    """The payer back from the payment service: paid, or (without PAID) failed."""
    return _result("return")


@bp.get("/cancel")
@_refused_limit
def cancelled():
    """The payer back from the payment service after cancelling, or a failure."""
    return _result("cancel")


def _result(kind: str):
    answer = payments.receive(kind, request.args)
    return render_template("payments/result.html", answer=answer, payment=answer.payment), (
        200 if answer.accepted else 400
    )


@bp.get("/notify")
@_refused_limit
def notify():
    """The payment service's own call when it records the payment as paid (server to server)."""
    answer = payments.receive("notify", request.args)
    text, status = ("OK", 200) if answer.accepted else ("REJECTED", 400)
    return current_app.response_class(text, status=status, mimetype="text/plain")


# ---------------------------------------------------------------- staff


@staff_bp.get("/")
@staff_required
def payments_list():
    form = PaymentSearchForm(request.args)
    form.validate()
    code = (form.q.data or "").strip()
    if code and not form.q.errors:
        found = payments.by_code(code)
        if found is not None:
            return redirect(url_for("payments_staff.payment", order_number=found.order_number))
    stmt = sa.select(OnlinePayment).options(
        selectinload(OnlinePayment.sales_invoice), selectinload(OnlinePayment.enrolment)
    )
    if form.state.data and not form.state.errors:
        stmt = stmt.where(OnlinePayment.state == PaymentState(form.state.data))
    if code:
        stmt = stmt.where(sa.false())
    page = paginate(stmt, (OnlinePayment.created_at.desc(), OnlinePayment.id.desc()), PER_PAGE)
    problems = capped_count(sa.select(OnlinePayment).where(OnlinePayment.problem.is_not(None)))
    rejected = capped_count(sa.select(RejectedPaymentCall))
    return render_template(
        "payments/staff_list.html",
        form=form,
        page=page,
        code=code,
        problems=problems,
        rejected=rejected,
        refunds_due=capped_count(sa.select(Refund).where(Refund.state == RefundState.DUE)),
        filters={k: v for k, v in (("q", code), ("state", form.state.data)) if v},
    )


@staff_bp.get("/<order_number>")
@staff_required
def payment(order_number: str):
    found = db.session.scalar(
        sa.select(OnlinePayment).where(OnlinePayment.order_number == order_number)
    )
    if found is None:
        abort(404)
    return _payment_page(found, RefundForm())


def _payment_page(found: OnlinePayment, refund_form: RefundForm) -> str:
    refused = db.session.scalars(
        sa.select(RejectedPaymentCall)
        .where(RejectedPaymentCall.order_number == found.order_number)
        .order_by(RejectedPaymentCall.at.desc())
        .limit(PER_PAGE)
    ).all()
    return render_template(
        "payments/staff_payment.html",
        payment=found,
        refused=refused,
        refund=found.refund,
        refund_form=refund_form,
    )


@staff_bp.get("/refunds")
@staff_required
def refunds():
    """Course fees owed back to their payers, the oldest first (or those refunded, newest
    first): staff refund each in the merchant panel and mark it on the payment's page."""
    form = RefundSearchForm(request.args)
    state = RefundState(form.state.data) if form.validate() else RefundState.DUE
    stmt = (
        sa.select(Refund)
        .where(Refund.state == state)
        .options(selectinload(Refund.payment), selectinload(Refund.enrolment))
    )
    order = (
        (Refund.created_at, Refund.id)
        if state == RefundState.DUE
        else (Refund.created_at.desc(), Refund.id.desc())
    )
    page = paginate(stmt, order, PER_PAGE)
    return render_template(
        "payments/staff_refunds.html",
        form=form,
        page=page,
        state=state,
        filters={"state": state.value},
    )


@staff_bp.post("/<order_number>/refunded")
@staff_required
def mark_refunded(order_number: str):
    """Record that the payment's refund was made, with its reference."""
    found = db.session.scalar(
        sa.select(OnlinePayment).where(OnlinePayment.order_number == order_number)
    )
    if found is None or found.refund is None:
        abort(404)
    form = RefundForm()
    if form.validate_on_submit():
        try:
            payments.mark_refunded(found.refund, form.reference.data, current_user)
        except payments.RefundChanged:
            flash(_("The refund had already been marked refunded."), "info")
        else:
            db.session.commit()
            flash(_("The refund was recorded."), "success")
        return redirect(url_for("payments_staff.payment", order_number=order_number), 303)
    return _payment_page(found, form)


@staff_bp.get("/refused")
@staff_required
def refused():
    """Return, cancel and notify calls that did not pass: forged, altered or unknown."""
    page = paginate(
        sa.select(RejectedPaymentCall),
        (RejectedPaymentCall.at.desc(), RejectedPaymentCall.id.desc()),
        per_page=PER_PAGE,
    )
    return render_template("payments/staff_refused.html", page=page)


def lookup(code: str) -> list[registry.LookupHit]:
    found = payments.by_code(code)
    if found is None:
        return []
    return [_hit(found)]


def _hit(payment: OnlinePayment) -> registry.LookupHit:
    from flask_babel import gettext as _

    return registry.LookupHit(
        _("Online payment %(number)s", number=payment.order_number),
        url_for("payments_staff.payment", order_number=payment.order_number),
    )


def record_link(record_id: str) -> registry.LookupHit | None:
    found = db.session.get(OnlinePayment, int(record_id)) if record_id.isdigit() else None
    return _hit(found) if found else None


def setup_app(app: Flask) -> None:
    registry.register_staff_section(app, _l("Online payments"), "payments_staff.payments_list")
    registry.register_lookup(app, lookup)
    registry.register_record_link(app, payments.RECORD_TYPE, record_link)
    app.jinja_env.globals.update(
        {
            "payment_state_labels": STATE_LABELS,
            "payment_purpose_labels": PURPOSE_LABELS,
            "payment_call_labels": CALL_LABELS,
            "invoice_payment_url": payments.invoice_payment_url,
            "invoice_payment_link": invoicing.payment_link,
            "course_fee_payment_url": payments.enrolment_payment_url,
            "course_fee_payable": payments.course_fee_payable,
            "course_fee_deadline": training.payment_deadline,
            "course_fee_token": payments.enrolment_token,
            "course_fee_paid": lambda enrolment: payments.paid_payment(enrolment=enrolment),
            "course_fee_refund": payments.refund_of,
            "refund_state_labels": REFUND_STATE_LABELS,
            "invoice_payable": payments.invoice_payable,
        }
    )
