"""PunchOut in the staff area, under /staff/punchout: the buyers, the log of every cXML
message, and the enrolments waiting for approval."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Flask,
    current_app,
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

from access import staff_required
from blueprints.shared import Routes
from extensions import db
from forms.punchout import BuyerForm, OrderNumberForm
from forms.staff import ActionForm
from models.punchout import PunchoutBuyer, PunchoutLog
from models.training import Enrolment
from services import punchout, registry, training

routes = Routes()


@routes.route("/", methods=["GET", "POST"])
@staff_required
def index() -> ResponseReturnValue:
    """List the buyers with their traffic, and add a buyer."""
    form = BuyerForm()
    if form.validate_on_submit():
        try:
            punchout.add_buyer(
                form.name.data, form.domain.data, form.identity.data, form.secret.data
            )
        except punchout.PunchoutError as exc:
            form.identity.errors.append(exc.text)
        else:
            db.session.commit()
            flash(_("The buyer was added."), "success")
            return redirect(url_for("punchout_staff.index"), 303)
    buyers = db.session.scalars(sa.select(PunchoutBuyer).order_by(PunchoutBuyer.name)).all()
    return render_template(
        "punchout/staff_index.html",
        buyers=buyers,
        form=form,
        log=punchout.recent_log(),
        days=current_app.config["PUNCHOUT_PENDING_DAYS"],
    )


@routes.get("/buyers/<id:buyer_id>")
@staff_required
def buyer(buyer_id: int) -> ResponseReturnValue:
    """Show a buyer's requests and responses."""
    found = db.get_or_404(PunchoutBuyer, buyer_id)
    return render_template(
        "punchout/staff_buyer.html", buyer=found, log=punchout.recent_log(found.id, 200)
    )


@routes.get("/log/<id:log_id>")
@staff_required
def log_entry(log_id: int) -> ResponseReturnValue:
    """Show one logged document (its secrets redacted)."""
    return render_template("punchout/staff_log.html", entry=db.get_or_404(PunchoutLog, log_id))


@routes.get("/pending")
@staff_required
def pending() -> ResponseReturnValue:
    """Preliminary PunchOut enrolments still waiting for the buyer's approval."""
    days = request.args.get("days", current_app.config["PUNCHOUT_PENDING_DAYS"], type=int)
    days = min(max(days or 0, 0), 3650)
    return render_template(
        "punchout/staff_pending.html",
        enrolments=punchout.pending(days),
        days=days,
        form=OrderNumberForm(),
        action_form=ActionForm(),
    )


@routes.post("/enrolments/<id:enrolment_id>/approve")
@staff_required
def approve(enrolment_id: int) -> ResponseReturnValue:
    """Approve with the procurement system's order number (as an OrderRequest would)."""
    enrolment = db.get_or_404(Enrolment, enrolment_id)
    form = OrderNumberForm()
    if form.validate_on_submit():
        try:
            punchout.approve_by_staff(enrolment, form.order_number.data.strip(), current_user.email)
        except training.EnrolmentError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("The enrolment is binding."), "success")
    else:
        flash(_("Enter the order number."), "error")
    return redirect(url_for("punchout_staff.pending", days=request.args.get("days", 0)), 303)


@routes.post("/enrolments/<id:enrolment_id>/cancel")
@staff_required
def cancel(enrolment_id: int) -> ResponseReturnValue:
    """Cancel a preliminary enrolment whose order was never approved."""
    enrolment = db.get_or_404(Enrolment, enrolment_id)
    if ActionForm().validate_on_submit():
        try:
            training.reject_preliminary(
                enrolment, current_user.email, _("The order was not approved.")
            )
        except training.EnrolmentError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("The enrolment was cancelled and the participant told."), "success")
    return redirect(url_for("punchout_staff.pending", days=request.args.get("days", 0)), 303)


def _lookup_order(code: str) -> list[registry.LookupHit]:
    """A PunchOut order by its number (HANDI-…, in any letter case): what it approved."""
    hits = []
    for found in punchout.orders_numbered(code):
        number = found.order.order_id
        for enrolment in found.enrolments:
            hits.append(
                registry.LookupHit(
                    _(
                        "PunchOut order %(number)s: %(name)s, %(course)s",
                        number=number,
                        name=enrolment.name,
                        course=enrolment.course.title,
                    ),
                    url_for("training_staff.enrolment", enrolment_id=enrolment.id),
                )
            )
        if not found.enrolments:  # refused, or approved nothing: its answer says why
            hits.append(
                registry.LookupHit(
                    _(
                        "PunchOut order %(number)s: %(code)s %(text)s",
                        number=number,
                        code=found.order.status_code,
                        text=found.order.status_text,
                    ),
                    url_for("punchout_staff.buyer", buyer_id=found.buyer.id)
                    if found.buyer
                    else url_for("punchout_staff.index"),
                )
            )
    return hits


def setup_app(app: Flask) -> None:
    registry.register_staff_section(app, _l("PunchOut"), "punchout_staff.index")
    registry.register_lookup(app, _lookup_order)
