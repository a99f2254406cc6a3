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
from services import registry
from services.payments import attempts as payment_attempts
from services.payments import links as payment_links
from services.payments import refunds as payment_refunds

routes = Routes()
PER_PAGE = 50


@routes.get("/")
@staff_required
def payments_list() -> ResponseReturnValue:
    form = PaymentSearchForm(request.args)
    form.validate()
    code = (form.q.data or "").strip()
    if code and not form.q.errors:
        found = payment_attempts.by_code(code)
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
