"""Online payments in the staff area, under /staff/payments: the payments, the refunds owed,
the refused answers of the payment service."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import selectinload

from access import staff_required
from blueprints.shared import Routes
from extensions import db
from forms.payments import (
    PURPOSE_LABELS,
    STATE_LABELS,
    PaymentSearchForm,
    RefundForm,
    RefundSearchForm,
)
from models.payments import (
    OnlinePayment,
    PaymentState,
    Refund,
    RefundState,
    RejectedPaymentCall,
)
from paging import capped_count, paginate
from services import exports, reasons, registry
from services.exports import Column
from services.payments import attempts as payment_attempts
from services.payments import links as payment_links
from services.payments import refunds as payment_refunds

routes = Routes()
PER_PAGE = 50


PAYMENT_ORDER = (OnlinePayment.created_at.desc(), OnlinePayment.id.desc())


def _payment_search(form: PaymentSearchForm, code: str) -> sa.Select:
    """The payments of the state chosen; a code typed that found no payment: none."""
    stmt = sa.select(OnlinePayment).options(
        selectinload(OnlinePayment.sales_invoice), selectinload(OnlinePayment.enrolment)
    )
    if form.state.data and not form.state.errors:
        stmt = stmt.where(OnlinePayment.state == PaymentState(form.state.data))
    if code:
        stmt = stmt.where(sa.false())
    return stmt


def _paid_for(payment: OnlinePayment) -> str:
    text = str(PURPOSE_LABELS[payment.purpose])
    if payment.sales_invoice:
        text += f" {payment.sales_invoice.number}"
    elif payment.enrolment:
        text += f" {payment.enrolment.service_code}"
    return text


PAYMENT_COLUMNS = (
    Column(_l("Order number"), lambda p: p.order_number),
    Column(_l("Started"), lambda p: p.created_at, "datetime"),
    Column(_l("Status"), lambda p: STATE_LABELS[p.state]),
    Column(_l("Paid for"), _paid_for),
    Column(_l("Payer"), lambda p: p.payer_name),
    Column(_l("Payment ID"), lambda p: p.paid_code or ""),
    Column(_l("Amount"), lambda p: p.amount, "money"),
)


@routes.get("/export.<any(csv, xlsx):fmt>")
@staff_required
def payments_export(fmt: str) -> ResponseReturnValue:
    """Download the payments of the state chosen, the newest first, as CSV or Excel."""
    form = PaymentSearchForm(request.args)
    form.validate()
    code = (form.q.data or "").strip()
    if code and not form.q.errors and (found := payment_attempts.by_code(code)):
        stmt = _payment_search(form, "").where(OnlinePayment.id == found.id)
    else:
        stmt = _payment_search(form, code)
    return exports.export_response(
        fmt,
        "payments",
        PAYMENT_COLUMNS,
        exports.iterate(stmt, PAYMENT_ORDER),
        personal=True,
        what="payments.list",
    )


@routes.get("/")
@staff_required
def payments_list() -> ResponseReturnValue:
    """List the online payments, the newest first, by state; a code typed opens its own."""
    form = PaymentSearchForm(request.args)
    form.validate()
    code = (form.q.data or "").strip()
    if code and not form.q.errors:
        found = payment_attempts.by_code(code)
        if found is not None:
            return redirect(url_for("payments_staff.payment", order_number=found.order_number))
    page = paginate(_payment_search(form, code), PAYMENT_ORDER, PER_PAGE)
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


@routes.get("/<order_number>")
@staff_required
def payment(order_number: str) -> ResponseReturnValue:
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
        refunds=found.refunds,
        refund_form=refund_form,
    )


@routes.get("/refunds")
@staff_required
def refunds() -> ResponseReturnValue:
    """Course fees owed back to their payers, the oldest first (or those refunded, newest
    first): staff refund each in the merchant panel and mark it on the payment's page."""
    form, state, stmt, order = _refund_search()
    page = paginate(stmt, order, PER_PAGE)
    return render_template(
        "payments/staff_refunds.html",
        form=form,
        page=page,
        state=state,
        filters={"state": state.value},
    )


def _refund_search() -> tuple[RefundSearchForm, RefundState, sa.Select, tuple]:
    """The refunds of the state chosen (those due by default) and their order."""
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
    return form, state, stmt, order


REFUND_COLUMNS = (
    Column(_l("Payment"), lambda r: r.payment.order_number),
    Column(_l("Due since"), lambda r: r.created_at, "datetime"),
    Column(_l("Enrolment"), lambda r: r.enrolment.service_code if r.enrolment else ""),
    Column(_l("Payer"), lambda r: r.payment.payer_name),
    Column(_l("Why"), lambda r: reasons.describe(r.cause)),
    Column(_l("Amount"), lambda r: r.amount, "money"),
)


@routes.get("/refunds/export.<any(csv, xlsx):fmt>")
@staff_required
def refunds_export(fmt: str) -> ResponseReturnValue:
    """Download the refunds of the state chosen, in the list's order, as CSV or Excel."""
    _form, _state, stmt, order = _refund_search()
    return exports.export_response(
        fmt,
        "refunds",
        REFUND_COLUMNS,
        exports.iterate(stmt, order),
        personal=True,
        what="payments.refunds",
    )


@routes.post("/<order_number>/refunded")
@staff_required
def mark_refunded(order_number: str) -> ResponseReturnValue:
    """Record that the payment's refund was made, with its reference."""
    found = db.session.scalar(
        sa.select(OnlinePayment).where(OnlinePayment.order_number == order_number)
    )
    form = RefundForm()
    # A payment of several course fees may owe several refunds: the form names its own.
    refunds = found.refunds if found else []
    chosen = form.refund_id.data or (str(refunds[0].id) if len(refunds) == 1 else "")
    refund = next((r for r in refunds if str(r.id) == chosen), None)
    if refund is None:
        abort(404)
    if form.validate_on_submit():
        try:
            payment_refunds.mark_refunded(refund, form.reference.data, current_user)
        except payment_refunds.RefundChanged:
            flash(_("The refund had already been marked refunded."), "info")
        else:
            db.session.commit()
            flash(_("The refund was recorded."), "success")
        return redirect(url_for("payments_staff.payment", order_number=order_number), 303)
    return _payment_page(found, form)


@routes.get("/refused")
@staff_required
def refused() -> ResponseReturnValue:
    """Return, cancel and notify calls that did not pass: forged, altered or unknown."""
    page = paginate(
        sa.select(RejectedPaymentCall),
        (RejectedPaymentCall.at.desc(), RejectedPaymentCall.id.desc()),
        per_page=PER_PAGE,
    )
    return render_template("payments/staff_refused.html", page=page)


def lookup(code: str) -> list[registry.LookupHit]:
    found = payment_attempts.by_code(code)
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
    registry.register_record_link(app, payment_links.RECORD_TYPE, record_link)
