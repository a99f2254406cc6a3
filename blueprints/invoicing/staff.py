"""The invoice desk for staff: Lähettämättömät laskut in order of arrival with the 15:00
promise, the invoice page, forwarding by delivery method and Viimeistele, Korjattava,
the search of sales invoices and the open receivables."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectChoice

from access import staff_required
from blueprints.invoicing import bulk as bulk_views
from blueprints.invoicing.common import pdf_response
from blueprints.invoicing.common import staff_invoice as _invoice_or_404
from blueprints.shared import Routes
from extensions import db
from forms.invoicing import (
    STATUS_LABELS,
    BankNoteForm,
    CorrectionForm,
    CreditForm,
    InvoiceSearchForm,
    PaymentForm,
)
from forms.staff import ActionForm
from forms.tasks import TaskForm
from models.invoicing import (
    AWAITING_FINALISING,
    CREDIT_NOTE_STATUSES,
    IN_CORRECTION,
    ON_THE_DESK,
    RECEIVABLE_OPEN,
    STATUS_LISTS,
    DeliveryMethod,
    InvoiceKind,
    InvoiceStatus,
    SalesInvoice,
)
from models.types import one_of, utcnow
from paging import capped_count, paginate, starts_with
from services import registry, tasks
from services.invoicing import bulk, credit, finvoice
from services.invoicing import desk as invoicing
from services.invoicing.forwarding_errors import ForwardingError

routes = Routes()

FORWARDED_SHOWN = 50
# The order of each status list, the order of its partial index (models.invoicing).
LIST_ORDERS = {
    ON_THE_DESK: (SalesInvoice.sent_at, SalesInvoice.id),  # the oldest promise first
    AWAITING_FINALISING: (SalesInvoice.forwarded_at, SalesInvoice.id),
    RECEIVABLE_OPEN: (SalesInvoice.due_date, SalesInvoice.id),
    IN_CORRECTION: (SalesInvoice.id.desc(),),
}
SEARCH_FILTERS = (
    "reference",
    "number",
    "user_number",
    "payer",
    "status",
    "date_from",
    "date_to",
    "overdue",
)
_DIGITS = re.compile(r"[0-9]{1,19}")


@routes.get("/")
@staff_required
def desk() -> ResponseReturnValue:
    """Lähettämättömät laskut: in order of arrival, each with the day it is due."""
    now = utcnow()
    page = paginate(invoicing.on_the_desk(), LIST_ORDERS[ON_THE_DESK], per_page=50)
    # The oldest forwarded ones waiting for Viimeistele; the rest through the search.
    awaiting = sa.select(SalesInvoice).where(one_of(SalesInvoice.status, AWAITING_FINALISING))
    forwarded = paginate(awaiting, LIST_ORDERS[AWAITING_FINALISING], FORWARDED_SHOWN, args={})
    corrections = capped_count(
        sa.select(SalesInvoice).where(one_of(SalesInvoice.status, IN_CORRECTION))
    )
    return render_template(
        "invoicing/staff_desk.html",
        page=page,
        forwarded=forwarded,
        counts=invoicing.desk_counts(now),
        corrections=corrections,
        now=now,
        forwarding_day=invoicing.forwarding_day,
        forwarding_state=lambda invoice: invoicing.forwarding_state(invoice, now),
        task_form=TaskForm(),
    )


def search_invoices() -> tuple[InvoiceSearchForm, sa.Select, tuple, bool]:
    """The staff's invoice search of the query: its form, the invoices found, their
    order and whether anything was asked; the list and its export both read it."""
    form = InvoiceSearchForm(formdata=request.args if request.args else None)
    form.status.choices = [SelectChoice("", _("All"))] + [
        SelectChoice(status.value, label)
        for status, label in STATUS_LABELS.items()
        if status not in CREDIT_NOTE_STATUSES
    ]
    stmt = sa.select(SalesInvoice)
    # The newest first; a prefix search walks its column's index in order instead.
    order: tuple = (SalesInvoice.id.desc(),)
    searched = False
    # An empty search lists nothing: "%" asks for every invoice, newest first.
    if any(request.args.get(name) for name in SEARCH_FILTERS) and form.validate():
        condition = invoicing.reference_condition(form.reference.data or "")
        if condition is not None:
            stmt = stmt.where(condition)
            order = (SalesInvoice.reference, SalesInvoice.id)
        if form.number.data:
            stmt = stmt.where(SalesInvoice.number == "".join(form.number.data.split()))
        if form.user_number.data:
            stmt = stmt.where(SalesInvoice.user_number == form.user_number.data.strip())
        if form.payer.data:
            stmt = stmt.where(starts_with(SalesInvoice.payer_search, form.payer.data.lower()))
            if condition is None:
                order = (SalesInvoice.payer_search, SalesInvoice.id)
        if form.status.data in {s.value for s in InvoiceStatus}:
            status = InvoiceStatus(form.status.data)
            stmt = stmt.where(SalesInvoice.status == status)
            if status in STATUS_LISTS:  # stated as its partial index states it
                stmt = stmt.where(one_of(SalesInvoice.status, STATUS_LISTS[status]))
                if len(order) == 1:
                    order = LIST_ORDERS[STATUS_LISTS[status]]
        if form.date_from.data:
            stmt = stmt.where(SalesInvoice.invoice_date >= form.date_from.data)
        if form.date_to.data:
            stmt = stmt.where(SalesInvoice.invoice_date <= form.date_to.data)
        if form.overdue.data == "1":
            stmt = stmt.where(
                one_of(SalesInvoice.status, RECEIVABLE_OPEN),
                SalesInvoice.due_date < invoicing.today(),
            )
            if len(order) == 1:
                order = LIST_ORDERS[RECEIVABLE_OPEN]
        searched = True
    else:
        stmt = stmt.where(sa.false())
    # Drafts are the users' own business until sent; credit notes are no receivables (the
    # look-up box finds them by number, and each invoice's page lists its own).
    stmt = stmt.where(SalesInvoice.number.is_not(None), SalesInvoice.kind == InvoiceKind.INVOICE)
    return form, stmt, order, searched


@routes.get("/search")
@staff_required
def search() -> ResponseReturnValue:
    """Myyntilaskut: by reference (100102%), number, user, payer, status and dates."""
    form, stmt, order, searched = search_invoices()
    page = paginate(stmt, order, per_page=50, count=True)
    filters = {name: request.args.get(name, "") for name in SEARCH_FILTERS}
    return render_template(
        "invoicing/staff_search.html",
        form=form,
        page=page,
        filters={k: v for k, v in filters.items() if v},
        searched=searched,
        today=invoicing.today(),
    )


@routes.get("/receivables")
@staff_required
def receivables() -> ResponseReturnValue:
    """Avoimet saatavat: the oldest due date first; the overdue are flagged."""
    page = paginate(invoicing.open_receivables(), LIST_ORDERS[RECEIVABLE_OPEN], per_page=50)
    return render_template(
        "invoicing/staff_receivables.html",
        page=page,
        today=invoicing.today(),
        owed_back=credit.owed_back(),
        task_form=TaskForm(),
    )


@routes.get("/<number>")
@staff_required
def invoice(number: str) -> ResponseReturnValue:
    invoice = _invoice_or_404(number)
    return _render_invoice(invoice)


def _credit_form(invoice: SalesInvoice, formdata=None) -> CreditForm:
    """The credit form with a row for each line of the invoice (sent or to be filled)."""
    if formdata is None:
        lines = [{"line_id": line.id} for line in invoice.lines]
        return CreditForm(formdata=None, data={"lines": lines})
    return CreditForm()


def _line_errors(invoice: SalesInvoice, form: CreditForm | None) -> list[tuple[str, str, str]]:
    """The credit form's line errors for its error summary: (field id, "Line 2: …", error)."""
    if form is None:
        return []
    positions = {str(line.id): line.position for line in invoice.lines}
    found = [(form.scope.id + "-0", str(form.lines.label.text), str(message))
             for message in form.lines.errors if not isinstance(message, dict | list)]  # fmt: skip
    for entry in form.lines.entries:
        position = positions.get(str(entry.form.line_id.data))
        for subfield in (entry.form.quantity, entry.form.amount):
            for message in subfield.errors:
                label = _("Line %(number)s", number=position) + ": " + str(subfield.label.text)
                found.append((subfield.id, label, str(message)))
    return found


def _render_invoice(
    invoice,
    *,
    correction_form=None,
    payment_form=None,
    credit_form=None,
    refund_form=None,
    status=200,
):
    message_errors: list[str] = []
    if invoice.delivery_method == DeliveryMethod.EINVOICE:
        message_errors = finvoice.errors(invoicing.finvoice_message(invoice))
    now = utcnow()
    payment_form = payment_form or PaymentForm(
        formdata=None, data={"paid_on": invoicing.today(), "amount": invoice.outstanding}
    )
    return render_template(
        "invoicing/staff_invoice.html",
        invoice=invoice,
        totals=invoicing.totals(invoice),
        action_form=ActionForm(),
        task_form=TaskForm(),
        background=tasks.for_record(invoicing.RECORD_TYPE, invoice.id, limit=1),
        correction_form=correction_form or CorrectionForm(formdata=None),
        payment_form=payment_form,
        message_errors=message_errors,
        due_day=invoicing.forwarding_day(invoice),
        due_state=invoicing.forwarding_state(invoice, now),
        can_forward=invoicing.can_forward(invoice),
        overdue=invoicing.is_overdue(invoice),
        can_credit=credit.can_credit(invoice),
        credit_form=credit_form or _credit_form(invoice),
        credit_errors=_line_errors(invoice, credit_form),
        uncredited=credit.uncredited(invoice) if credit.can_credit(invoice) else {},
        refund_form=refund_form or BankNoteForm(formdata=None),
    ), status


@routes.get("/<number>/lasku.pdf")
@staff_required
def pdf(number: str) -> ResponseReturnValue:
    return pdf_response(_invoice_or_404(number))


@routes.get("/<number>/finvoice.xml")
@staff_required
def finvoice_xml(number: str) -> ResponseReturnValue:
    invoice = _invoice_or_404(number)
    if invoice.delivery_method != DeliveryMethod.EINVOICE:
        abort(404)  # only an e-invoice has a receiver for the message
    return Response(
        invoicing.finvoice_message(invoice),
        mimetype="application/xml",
        headers={"Content-Disposition": f'inline; filename="finvoice-{invoice.number}.xml"'},
    )


def _moved_on(invoice: SalesInvoice):
    db.session.rollback()
    flash(_("Someone else handled the invoice meanwhile; nothing was done twice."), "info")
    return redirect(url_for("invoicing_staff.invoice", number=invoice.number))


@routes.post("/<number>/forward")
@staff_required
def forward(number: str) -> ResponseReturnValue:
    """Forward by the delivery method; "finalise" also does Viimeistele in the same step.

    By email it is done at once (the mail is queued in the outbox); to the print service
    or the operator, whose answer may take FORWARDING_TIMEOUT, a background task does
    it, and the invoice's page shows how it goes."""
    invoice = _invoice_or_404(number)
    form = TaskForm()
    if not form.validate_on_submit():
        abort(400)
    finalise_too = request.form.get("finalise") == "1"
    if not invoicing.can_forward(invoice):
        return _moved_on(invoice)
    if invoice.delivery_method != DeliveryMethod.EMAIL:
        return bulk_views.forward_in_background([invoice], form.key.data, finalise_too, one=True)
    try:
        invoicing.forward(invoice, current_user, finalise_too=finalise_too)
    except invoicing.InvoiceStateError:
        return _moved_on(invoice)
    db.session.commit()
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        flash(_("The credit note was sent; an email telling the user is on its way."), "success")
    elif finalise_too:
        flash(_("The invoice was forwarded; an email telling the user is on its way."), "success")
    else:
        flash(_("The invoice was forwarded. Finalise it to tell the user."), "success")
    return redirect(url_for("invoicing_staff.invoice", number=number))


@routes.post("/<number>/finalise")
@staff_required
def finalise(number: str) -> ResponseReturnValue:
    """Viimeistele: the user is told and the invoice moves to the open receivables."""
    invoice = _invoice_or_404(number)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        invoicing.finalise(invoice, current_user)
    except invoicing.InvoiceStateError:
        return _moved_on(invoice)
    db.session.commit()
    flash(_("The process was finalised; an email telling the user is on its way."), "success")
    return redirect(url_for("invoicing_staff.invoice", number=number))


@routes.post("/<number>/correction")
@staff_required
def correction(number: str) -> ResponseReturnValue:
    """Korjattava: back to the user with a question."""
    invoice = _invoice_or_404(number)
    form = CorrectionForm()
    if not form.validate_on_submit():
        return _render_invoice(invoice, correction_form=form, status=422)
    try:
        invoicing.request_correction(invoice, current_user, form.question.data)
    except invoicing.InvoiceStateError:
        return _moved_on(invoice)
    db.session.commit()
    flash(_("The invoice needs correction; an email asking the user is on its way."), "success")
    return redirect(url_for("invoicing_staff.invoice", number=number))


@routes.post("/<number>/payments")
@staff_required
def payment(number: str) -> ResponseReturnValue:
    invoice = _invoice_or_404(number)
    form = PaymentForm()
    if not form.validate_on_submit():
        return _render_invoice(invoice, payment_form=form, status=422)
    try:
        invoicing.record_payment(invoice, form.amount.data, form.paid_on.data, current_user)
    except invoicing.PaymentError:
        db.session.rollback()
        invoice = _invoice_or_404(number)
        form.amount.errors = list(form.amount.errors) + [
            _(
                "The amount can be at most what is outstanding, %(amount)s €.",
                amount=format_decimal(invoice.outstanding, format="#,##0.00"),
            )
        ]
        return _render_invoice(invoice, payment_form=form, status=422)
    db.session.commit()
    if invoice.status == InvoiceStatus.PAID:
        flash(_("The payment was recorded; the invoice is paid."), "success")
    else:
        flash(_("The payment was recorded; the rest is outstanding."), "success")
    return redirect(url_for("invoicing_staff.invoice", number=number))


@routes.post("/<number>/credit")
@staff_required
def credit_note(number: str) -> ResponseReturnValue:
    """Hyvitä: issue a credit note of the invoice and send it by the invoice's method."""
    invoice = _invoice_or_404(number)
    form = _credit_form(invoice, formdata=True)
    if not form.validate_on_submit():
        return _render_invoice(invoice, credit_form=form, status=422)
    credits = None
    if form.scope.data == "part":
        credits = [
            credit.LineCredit(
                int(entry.form.line_id.data), entry.form.quantity.data, entry.form.amount.data
            )
            for entry in form.lines.entries
            if (entry.form.line_id.data or "").isdigit()
            and (entry.form.quantity.data is not None or entry.form.amount.data is not None)
        ]
    try:
        note = credit.issue(invoice, current_user, credits, form.reason.data or "")
    except credit.CreditError as error:
        db.session.rollback()
        form.form_errors.append(str(error.message))
        return _render_invoice(_invoice_or_404(number), credit_form=form, status=422)
    note_number = note.number
    if note.delivery_method != DeliveryMethod.EMAIL:
        # By post or e-invoice, sent by a background task: the note's own key, so that
        # however the form is sent again the note is sent once. Booked with it.
        db.session.flush()
        task, _new = tasks.enqueue(
            "invoice-forward",
            f"credit-note-{note.id}",
            current_user,
            records=bulk.records([note]),
            params={"finalise": False},
            capped=False,
        )
        db.session.commit()
        flash(
            _(
                "Credit note %(number)s was booked; it is being sent, and this page shows "
                "how it goes.",
                number=note_number,
            ),
            "info",
        )
        return redirect(url_for("invoicing_staff.invoice", number=note_number))
    try:
        invoicing.forward(note, current_user)
    except ForwardingError as error:  # booked and kept; staff send it again from its page
        flash(
            _(
                "Credit note %(number)s was booked, but sending it failed: %(error)s",
                number=note_number,
                error=str(error),
            ),
            "error",
        )
        return redirect(url_for("invoicing_staff.invoice", number=note_number))
    db.session.commit()
    flash(
        _(
            "Credit note %(number)s was booked and sent; an email telling the user is on its way.",
            number=note_number,
        ),
        "success",
    )
    return redirect(url_for("invoicing_staff.invoice", number=note_number))


@routes.post("/<number>/refund-returned")
@staff_required
def refund_returned(number: str) -> ResponseReturnValue:
    """Record that what a credit note owes the payer was returned to them."""
    note = _invoice_or_404(number)
    form = BankNoteForm()
    if not form.validate_on_submit():
        return _render_invoice(note, refund_form=form, status=422)
    try:
        credit.mark_refund_returned(note, form.note.data, current_user)
    except credit.CreditError as error:
        db.session.rollback()
        flash(str(error.message), "info")
        return redirect(url_for("invoicing_staff.invoice", number=number))
    db.session.commit()
    flash(_("The return of the credit to the payer was recorded."), "success")
    return redirect(url_for("invoicing_staff.invoice", number=number))


# ---------------------------------------------------------------- the staff area


def lookup(code: str) -> list[registry.LookupHit]:
    """Invoices and credit notes by number, reference or RF reference (a number may be
    another's reference: both are listed)."""
    return [
        registry.LookupHit(
            _lookup_label(invoice), url_for("invoicing_staff.invoice", number=invoice.number)
        )
        for invoice in invoicing.by_code(code)
        if invoice.number is not None
    ]


def _lookup_label(invoice: SalesInvoice) -> str:
    values = {
        "number": invoice.number,
        "payer": invoice.payer_name,
        "status": STATUS_LABELS[invoice.status],
    }
    if invoice.kind == InvoiceKind.CREDIT_NOTE:
        return _("Credit note %(number)s: %(payer)s, %(status)s", **values)
    return _("Invoice %(number)s: %(payer)s, %(status)s", **values)


def record_link(record_id: str) -> registry.LookupHit | None:
    invoice = db.session.get(SalesInvoice, int(record_id)) if record_id.isdigit() else None
    if invoice is None or invoice.number is None:
        return None
    return registry.LookupHit(
        _("Invoice %(number)s", number=invoice.number),
        url_for("invoicing_staff.invoice", number=invoice.number),
    )


def setup_app(app: Flask) -> None:
    registry.register_staff_section(app, _l("Invoice desk"), "invoicing_staff.desk")
    registry.register_lookup(app, lookup)
    registry.register_record_link(app, invoicing.RECORD_TYPE, record_link)
