"""Payouts to the invoicing users (tilitys): the staff's payout batches under
/staff/invoices/payouts (what is owed, a batch run, its bank file and statements), and
each user's own under /invoices/payouts (the account, what is owed, what was paid)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from access import staff_required
from blueprints.invoicing.common import invoicing_user_required
from blueprints.shared import Routes
from extensions import db
from forms.invoicing import PayoutAccountForm, PayoutBatchForm
from models.invoicing import Payout, PayoutBatch, SalesInvoice
from paging import paginate
from services.invoicing import payouts as payout_service

staff_routes = Routes()  # on the staff's desk, /staff/invoices
user_routes = Routes()  # on the user's own pages, /invoices
OWED_PER_PAGE = 25


@dataclass(frozen=True)
class ServiceFee:
    """The service's fee of an invoice's sum, as the user's form shows it before sending."""

    percent: Decimal
    fee: Decimal
    amount: Decimal


def service_fee(gross, invoice: SalesInvoice | None = None) -> ServiceFee:
    """The fee of the invoice (its own, once sent; else the service's now) on `gross`."""
    percent = payout_service.fee_percent(invoice)
    fee = payout_service.fee_of(Decimal(gross), percent)
    return ServiceFee(percent, fee, Decimal(gross) - fee)


def _pdf(payout: Payout) -> Response:
    return Response(
        payout_service.statement_pdf(payout, current_user.language),
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{payout_service.statement_filename(payout)}"'
        },
    )


# ---------------------------------------------------------------- staff


def _staff_page(form: PayoutBatchForm | None = None, status: int = 200) -> ResponseReturnValue:
    after = request.args.get("after_user", type=int) or 0
    rows = payout_service.owed(after, OWED_PER_PAGE + 1)
    more = len(rows) > OWED_PER_PAGE
    rows = rows[:OWED_PER_PAGE]
    if form is None:
        form = PayoutBatchForm(
            data={
                "execution_date": payout_service.next_execution_date(),
                "form_key": secrets.token_hex(16),
            }
        )
    batches = paginate(sa.select(PayoutBatch), (PayoutBatch.id.desc(),), per_page=10)
    html = render_template(
        "invoicing/staff_payouts.html",
        owed=rows,
        next_after=rows[-1].user.id if more else None,
        first_page=after == 0,
        form=form,
        batches=batches,
        fee_percent=payout_service.fee_percent(),
    )
    return html, status


@staff_routes.get("/payouts")
@staff_required
def payouts_page() -> ResponseReturnValue:
    """What the users are owed, the payout batch's form, and the batches run."""
    return _staff_page()


@staff_routes.post("/payouts")
@staff_required
def run_payout_batch() -> ResponseReturnValue:
    """Run a payout batch: the bank file, and a statement mailed to each user paid."""
    form = PayoutBatchForm()
    if not form.validate_on_submit():
        return _staff_page(form, 422)
    key = form.form_key.data or None
    if key and (earlier := _batch_of_key(key)) is not None:  # the same form sent twice
        return redirect(url_for("invoicing_staff.payout_batch", batch_id=earlier.id), 303)
    try:
        batch = payout_service.run_batch(current_user, form.execution_date.data, key)
        db.session.commit()
    except payout_service.PayoutError as exc:
        db.session.rollback()
        form.execution_date.errors = [*form.execution_date.errors, str(exc.message)]
        return _staff_page(form, 422)
    except IntegrityError:  # another batch, or the same form, took it first
        db.session.rollback()
        if key and (earlier := _batch_of_key(key)) is not None:
            return redirect(url_for("invoicing_staff.payout_batch", batch_id=earlier.id), 303)
        form.execution_date.errors = [
            _("Another payout batch was run meanwhile; nothing was paid.")
        ]
        return _staff_page(form, 409)
    flash(
        _(
            "Payout batch %(number)s was made: %(count)s payouts. Download its bank file "
            "and send it to the bank.",
            number=batch.number,
            count=batch.payouts_count,
        ),
        "success",
    )
    return redirect(url_for("invoicing_staff.payout_batch", batch_id=batch.id), 303)


def _batch_of_key(key: str) -> PayoutBatch | None:
    return db.session.scalar(sa.select(PayoutBatch).where(PayoutBatch.form_key == key))


@staff_routes.get("/payouts/<id:batch_id>")
@staff_required
def payout_batch(batch_id: int) -> ResponseReturnValue:
    """A batch: its payouts, a page at a time, with the bank file and statements."""
    batch = db.get_or_404(PayoutBatch, batch_id)
    page = paginate(
        sa.select(Payout)
        .where(Payout.batch_id == batch.id)
        .options(sa.orm.joinedload(Payout.user)),
        (Payout.id,),
    )
    return render_template("invoicing/staff_payout_batch.html", batch=batch, page=page)


@staff_routes.get("/payouts/<id:batch_id>/pain001.xml")
@staff_required
def payout_file(batch_id: int) -> ResponseReturnValue:
    """The batch's SEPA credit transfer file, the same every time (the first download is
    shown on the batch; each is in the audit log)."""
    batch = db.get_or_404(PayoutBatch, batch_id)
    payout_service.record_download(batch, current_user)
    db.session.commit()
    return Response(
        batch.pain001,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{batch.number}.xml"'},
    )


@staff_routes.get("/payouts/<id:batch_id>/<id:payout_id>.pdf")
@staff_required
def payout_statement(batch_id: int, payout_id: int) -> ResponseReturnValue:
    """A user's statement of the batch, as it was mailed (in the reader's language)."""
    payout = db.get_or_404(Payout, payout_id)
    if payout.batch_id != batch_id:
        abort(404)
    return _pdf(payout)


# ---------------------------------------------------------------- the user's own


def _user_page(form: PayoutAccountForm | None = None, status: int = 200) -> ResponseReturnValue:
    user = current_user
    if form is None:
        form = PayoutAccountForm(data={"iban": user.payout_iban, "name": user.payout_name})
    made = paginate(
        payout_service.user_payouts(user).options(sa.orm.joinedload(Payout.batch)),
        (Payout.id.desc(),),
    )
    html = render_template(
        "invoicing/payouts.html",
        form=form,
        owed=payout_service.owed_to(user),
        made=made,
        fee_percent=payout_service.fee_percent(),
    )
    return html, status


@user_routes.get("/payouts")
@invoicing_user_required
def payouts() -> ResponseReturnValue:
    """The user's payouts: the account they go to, what is owed now, what was paid."""
    return _user_page()


@user_routes.post("/payouts")
@invoicing_user_required
def payout_account() -> ResponseReturnValue:
    """Set the account the user's payouts are paid to."""
    form = PayoutAccountForm()
    if not form.validate_on_submit():
        return _user_page(form, 422)
    payout_service.set_account(current_user, form.iban.data, form.name.data)
    db.session.commit()
    flash(_("Your payouts are paid to the account you gave."), "success")
    return redirect(url_for("invoicing.payouts"), 303)


@user_routes.get("/payouts/owed")
@invoicing_user_required
def payouts_owed() -> ResponseReturnValue:
    """The user's invoices with an amount the next payout batch pays, invoice by invoice."""
    page = paginate(payout_service.pending_invoices(current_user), (SalesInvoice.id,))
    return render_template(
        "invoicing/payouts_owed.html", page=page, owed=payout_service.owed_to(current_user)
    )


@user_routes.get("/payouts/<id:payout_id>.pdf")
@invoicing_user_required
def payout_pdf(payout_id: int) -> ResponseReturnValue:
    """The statement of one of the user's own payouts."""
    payout = db.session.get(Payout, payout_id)
    if payout is None or payout.user_id != current_user.id:
        abort(404)
    return _pdf(payout)
