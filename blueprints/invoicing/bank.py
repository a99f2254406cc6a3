"""Incoming bank payments in the staff area, under /staff/invoices/bank: the bank's file
imported, and the payments that wait for staff (unmatched, or overpaid) handled."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from access import staff_required
from blueprints.shared import Routes
from blueprints.tasks import too_many
from extensions import db
from forms.invoicing import AllocateForm, BankFileForm, BankNoteForm
from forms.tasks import TaskForm
from models.invoicing import BankFile, BankPayment, BankPaymentState
from models.tasks import Task
from paging import paginate
from services import tasks
from services.invoicing import bank, camt

routes = Routes()
RECENT_FILES = 10
MAX_FILE_BYTES = 20 * 1024 * 1024  # a day's camt.054 of a large biller is a few MB


def _page(
    form: BankFileForm | None = None,
    *,
    allocate: tuple[int, AllocateForm] | None = None,
    note: tuple[int, BankNoteForm] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    page = paginate(bank.waiting(), (BankPayment.id,), per_page=25)
    files = db.session.scalars(
        sa.select(BankFile).order_by(BankFile.id.desc()).limit(RECENT_FILES)
    ).all()
    imports = db.session.scalars(
        sa.select(Task).where(Task.kind == "bank-import").order_by(Task.id.desc()).limit(3)
    ).all()
    html = render_template(
        "invoicing/staff_bank.html",
        form=form or BankFileForm(),
        page=page,
        files=files,
        imports=imports,
        import_outcome=import_outcome,
        retry_form=TaskForm(),
        reasons=bank.REASONS,
        allocate=allocate,
        note=note,
        unmatched=BankPaymentState.UNMATCHED,
    )
    return html, status


@routes.get("/bank")
@staff_required
def bank_payments() -> ResponseReturnValue:
    """The import form, the payments waiting for staff (the oldest first), recent files."""
    return _page()


@routes.post("/bank")
@staff_required
def import_bank_file() -> ResponseReturnValue:
    """Queue the bank's file for import: each payment booked by its reference, the rest
    left to staff; the page shows the import's state until it is done. A file that is
    no bank report the import can read is refused at once."""
    form = BankFileForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    upload = form.file.data
    data = upload.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        form.file.errors = [*form.file.errors, _("The file is larger than a bank file can be.")]
        return _page(form, status=422)
    try:
        camt.parse(data)  # a file the import cannot read is refused now, with the reason
    except camt.CamtError as exc:
        form.file.errors = [*form.file.errors, str(exc.message)]
        return _page(form, status=422)
    try:
        _task, new = tasks.enqueue(
            "bank-import",
            form.key.data,
            current_user,
            params={"filename": (upload.filename or "")[:200]},
            payload=data,
            total=1,
        )
    except tasks.TooManyTasks:
        form.file.errors = [*form.file.errors, too_many()]
        return _page(form, status=422)
    db.session.commit()
    if new:
        flash(_("The file is being imported; this page shows how it goes."), "info")
    return redirect(url_for("invoicing_staff.bank_payments"), 303)


def import_outcome(task: Task) -> str:
    """What a finished import did, in the reader's language."""
    result = task.result or {}
    return _(
        "The file was imported: %(booked)s payments booked on their invoices, "
        "%(unmatched)s left for you to handle, %(repeated)s imported before.",
        booked=result.get("booked", 0),
        unmatched=result.get("unmatched", 0),
        repeated=result.get("repeated", 0),
    )


def _payment_or_404(payment_id: int) -> BankPayment:
    return db.get_or_404(BankPayment, payment_id)


def _handled(action, payment_id: int, form, key: str) -> ResponseReturnValue:
    payment = _payment_or_404(payment_id)
    if not form.validate_on_submit():
        return _page(**{key: (payment.id, form)}, status=422)
    try:
        action(payment, form)
    except bank.BankError as exc:
        db.session.rollback()
        field = form.invoice_number if key == "allocate" else form.note
        field.errors = [*field.errors, str(exc.message)]
        return _page(**{key: (payment_id, form)}, status=422)
    db.session.commit()
    flash(_("The payment was handled."), "success")
    return redirect(url_for("invoicing_staff.bank_payments"), 303)


@routes.post("/bank/<id:payment_id>/allocate")
@staff_required
def allocate_bank_payment(payment_id: int) -> ResponseReturnValue:
    """Book a waiting payment on the invoice staff name."""
    return _handled(
        lambda payment, form: bank.allocate(payment, form.invoice_number.data, current_user),
        payment_id,
        AllocateForm(),
        "allocate",
    )


@routes.post("/bank/<id:payment_id>/returned")
@staff_required
def return_bank_payment(payment_id: int) -> ResponseReturnValue:
    """Record that a waiting payment (or an overpayment's excess) is returned to the payer."""

    def returned(payment: BankPayment, form: BankNoteForm) -> None:
        if payment.state == BankPaymentState.UNMATCHED:
            bank.mark_returned(payment, form.note.data, current_user)
        else:
            bank.mark_overpayment_returned(payment, form.note.data, current_user)

    return _handled(returned, payment_id, BankNoteForm(), "note")
