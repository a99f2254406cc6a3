"""The users' own invoicing pages (oma): start using the service, write invoices, save
drafts, send them to the desk (Lähetä), correct them when asked, follow their status."""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import Flask, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError
from wtforms import SelectChoice

from blueprints.invoicing.common import invoicing_user_required, pdf_response
from blueprints.invoicing.common import own_invoice as _own_invoice
from blueprints.shared import Routes
from extensions import db
from forms.invoicing import (
    DELIVERY_HINTS,
    DELIVERY_LABELS,
    EINVOICE_OPERATORS,
    EVENT_LABELS,
    MAX_LINES,
    STATUS_LABELS,
    UNITS,
    InvoiceFilterForm,
    InvoiceForm,
)
from forms.staff import ActionForm
from models.auth import Role
from models.invoicing import EDITABLE, InvoiceStatus, SalesInvoice
from paging import paginate
from services import registry
from services.invoicing import desk as invoicing
from services.invoicing import reference

routes = Routes()


@routes.get("/")
@login_required
def index() -> ResponseReturnValue:
    if current_user.role != Role.CUSTOMER:
        abort(404)
    if not current_user.invoicing_number:
        return render_template("invoicing/start.html", form=ActionForm())
    filters, stmt = own_invoices()
    page = paginate(stmt, OWN_ORDER)
    return render_template(
        "invoicing/index.html", page=page, filters=filters, today=invoicing.today()
    )


OWN_ORDER = (SalesInvoice.created_at.desc(), SalesInvoice.id.desc())


def own_invoices() -> tuple[InvoiceFilterForm, sa.Select]:
    """The status filter of the query and the user's own invoices it leaves."""
    filters = InvoiceFilterForm()
    filters.status.choices = [SelectChoice("", _("All"))] + [
        SelectChoice(status.value, label) for status, label in STATUS_LABELS.items()
    ]
    stmt = sa.select(SalesInvoice).where(SalesInvoice.user_id == current_user.id)
    if filters.status.data in {s.value for s in InvoiceStatus}:
        stmt = stmt.where(SalesInvoice.status == filters.status.data)
    return filters, stmt


@routes.post("/start")
@login_required
def start() -> ResponseReturnValue:
    """Ota käyttöön: the user gets the next free invoicing number."""
    form = ActionForm()
    if current_user.role != Role.CUSTOMER or not form.validate_on_submit():
        abort(400)
    if not current_user.invoicing_number:
        number = invoicing.start_service(current_user)
        try:
            db.session.commit()
        except IntegrityError:  # another tab started it at the same moment
            db.session.rollback()
        else:
            flash(_("Your invoicing number is %(number)s.", number=number), "success")
    return redirect(url_for("invoicing.index"))


# The invoice's text fields as the form names them.
TEXT_FIELDS = (
    "payer_name",
    "payer_business_id",
    "payer_street",
    "payer_postcode",
    "payer_city",
    "payer_country",
    "payer_email",
    "payer_einvoice_address",
    "payer_operator",
    "free_text",
)


def _form_data(invoice: SalesInvoice) -> dict:
    data = {
        name: getattr(invoice, name)
        for name in (*TEXT_FIELDS, "invoice_date", "payment_days", "due_date")
    }
    data["delivery_method"] = invoice.delivery_method.value
    data["lines"] = [
        {
            "description": line.description,
            "quantity": _plain(line.quantity),
            "unit": line.unit,
            "unit_price": Decimal(line.unit_price),
            "vat_percent": _plain(line.vat_percent),
        }
        for line in invoice.lines
    ] or [{}]
    return data


def _plain(value) -> str:
    """10.00 → "10", 2.500 → "2.5" (normalize() alone would give "1E+1")."""
    return format(Decimal(value).normalize(), "f")


def _apply(form: InvoiceForm, invoice: SalesInvoice) -> None:
    for name in TEXT_FIELDS:
        setattr(invoice, name, getattr(form, name).data or "")
    invoice.payer_search = invoice.payer_name.lower()[:70]  # "İ" lower-cased is two
    invoice.delivery_method = form.delivery_method.data
    invoice.invoice_date = form.invoice_date.data
    if form.due_date.data:
        invoice.due_date = form.due_date.data
        invoice.payment_days = (form.due_date.data - form.invoice_date.data).days
    else:
        invoice.payment_days = form.payment_days.data if form.payment_days.data is not None else 14
        invoice.due_date = form.invoice_date.data + timedelta(days=invoice.payment_days)
    invoicing.set_lines(
        invoice,
        [
            invoicing.LineData(
                description=line.description.data or "",
                quantity=line.quantity.data if line.quantity.data is not None else Decimal(1),
                unit=line.unit.data or "kpl",
                unit_price=line.unit_price.data or Decimal("0.00"),
                vat_percent=Decimal(line.vat_percent.data),
            )
            for line in form.filled_lines()
        ],
    )


def _edit(invoice: SalesInvoice | None):
    """The invoice form for a new invoice or an editable one; save, add a line, or send."""
    from flask import request

    action = request.form.get("action", "save")
    if request.method == "POST":
        form = InvoiceForm()
    elif invoice is None:
        form = InvoiceForm(
            data={"invoice_date": invoicing.today(), "form_key": secrets.token_hex(16)}
        )
    else:
        form = InvoiceForm(data=_form_data(invoice))
    if request.method == "POST" and action == "add_line":
        if len(form.lines) < MAX_LINES:
            form.lines.append_entry()
            form.lines[-1].form.vat_percent.choices = form.lines[0].form.vat_percent.choices
            form.lines[-1].form.vat_percent.data = form.lines[0].form.vat_percent.choices[0].value
        return _render_form(form, invoice)
    if request.method == "POST" and form.validate():
        sending = action == "send"
        if sending and not form.check_complete():
            return _render_form(form, invoice), 422
        is_new = invoice is None
        if is_new:
            earlier = _same_form(form.form_key.data)
            if earlier is not None:  # a double click: the first one saved it
                return redirect(url_for("invoicing.invoice", invoice_id=earlier.id))
            invoice = invoicing.new_invoice(current_user)
            invoice.form_key = form.form_key.data or None
            db.session.add(invoice)
            earlier = _write_or_find_first(form, db.session.flush)  # the key is taken here
            if earlier is not None:
                return redirect(url_for("invoicing.invoice", invoice_id=earlier.id))
            invoicing.created(invoice, current_user)
        elif not invoicing.lock_editable(invoice):
            return _already_sent(invoice)
        _apply(form, invoice)
        if sending:
            if invoice.gross <= 0:
                form.form_errors.append(_("The invoice's total must be above zero."))
                db.session.rollback()
                return _render_form(form, None if is_new else invoice), 422
            invoicing.submit(invoice, current_user)
        earlier = _write_or_find_first(form, db.session.commit)
        if earlier is not None:
            return redirect(url_for("invoicing.invoice", invoice_id=earlier.id))
        if sending:
            flash(
                _(
                    "Invoice %(number)s was sent to be checked and forwarded. "
                    "Reference number %(reference)s.",
                    number=invoice.number,
                    reference=reference.grouped(invoice.reference),
                ),
                "success",
            )
        else:
            flash(_("The draft was saved."), "success")
        return redirect(url_for("invoicing.invoice", invoice_id=invoice.id))
    status = 422 if request.method == "POST" else 200
    return _render_form(form, invoice), status


def _write_or_find_first(form: InvoiceForm, write) -> SalesInvoice | None:
    """Flush or commit; if the form's key is taken meanwhile (the other click of a double
    click saved it first), roll back and give the invoice that click saved."""
    try:
        write()
    except IntegrityError:
        db.session.rollback()
        earlier = _same_form(form.form_key.data)
        if earlier is None:
            raise
        return earlier
    return None


def _same_form(form_key: str | None) -> SalesInvoice | None:
    if not form_key:
        return None
    return db.session.scalar(
        sa.select(SalesInvoice).where(
            SalesInvoice.form_key == form_key, SalesInvoice.user_id == current_user.id
        )
    )


def _already_sent(invoice: SalesInvoice):
    db.session.rollback()
    flash(_("The invoice was already sent: it can no longer be changed."), "info")
    return redirect(url_for("invoicing.invoice", invoice_id=invoice.id))


def _render_form(form: InvoiceForm, invoice: SalesInvoice | None) -> str:
    preview = _preview(form)
    return render_template(
        "invoicing/form.html",
        form=form,
        invoice=invoice,
        preview=preview,
        delivery_labels=DELIVERY_LABELS,
        delivery_hints=DELIVERY_HINTS,
        max_lines=MAX_LINES,
    )


def _preview(form: InvoiceForm):
    """The totals of the lines as typed, when they can be computed."""
    from services import vat

    lines = []
    for line in form.filled_lines():
        if line.quantity.data is None or line.unit_price.data is None or line.errors:
            return None
        try:
            percent = Decimal(line.vat_percent.data)
            lines.append(vat.Line(line.quantity.data, line.unit_price.data, percent))
            result = vat.totals(lines)
        except (ArithmeticError, TypeError, ValueError):  # e.g. 1e30 typed before validating
            return None
    return result if lines and abs(result.gross) < invoicing.MAX_TOTAL else None


@routes.route("/new", methods=["GET", "POST"])
@invoicing_user_required
def new() -> ResponseReturnValue:
    return _edit(None)


@routes.route("/<id:invoice_id>/edit", methods=["GET", "POST"])
@invoicing_user_required
def edit(invoice_id: int) -> ResponseReturnValue:
    invoice = _own_invoice(invoice_id)
    if invoice.status not in EDITABLE:
        return _already_sent(invoice)
    return _edit(invoice)


@routes.get("/<id:invoice_id>")
@invoicing_user_required
def invoice(invoice_id: int) -> ResponseReturnValue:
    invoice = _own_invoice(invoice_id)
    return render_template(
        "invoicing/invoice.html",
        invoice=invoice,
        totals=invoicing.totals(invoice),
        action_form=ActionForm(),
        delivery_labels=DELIVERY_LABELS,
        overdue=invoicing.is_overdue(invoice),
    )


@routes.get("/<id:invoice_id>/lasku.pdf")
@invoicing_user_required
def pdf(invoice_id: int) -> ResponseReturnValue:
    invoice = _own_invoice(invoice_id)
    if invoice.number is None:
        abort(404)  # a draft has no number nor reference yet
    return pdf_response(invoice)


@routes.post("/<id:invoice_id>/delete")
@invoicing_user_required
def delete(invoice_id: int) -> ResponseReturnValue:
    invoice = _own_invoice(invoice_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if invoice.status != InvoiceStatus.DRAFT or invoice.number is not None:
        flash(_("Only a draft that was never sent can be deleted."), "error")
        return redirect(url_for("invoicing.invoice", invoice_id=invoice.id))
    invoicing.delete_draft(invoice)
    db.session.commit()
    flash(_("The draft was deleted."), "success")
    return redirect(url_for("invoicing.index"))


# ---------------------------------------------------------------- registration


def _reference_matcher(text: str, organisation_id: int):
    """An invoice number or reference typed in the contact form: the organisation's own."""
    found = [i for i in invoicing.by_code(text) if i.user.organisation_id == organisation_id]
    if len(found) > 1:  # a number that is also another invoice's reference: the number
        found = [i for i in found if i.number == invoicing.compact_code(text)]
    if len(found) != 1:
        return None
    return (invoicing.RECORD_TYPE, str(found[0].id))


def setup_app(app: Flask) -> None:
    registry.register_reference(app, _reference_matcher)

    # Globals (not a context processor): imported macros and mail templates see them too.
    app.jinja_env.globals.update(
        {
            "invoice_status_labels": STATUS_LABELS,
            "invoice_event_labels": EVENT_LABELS,
            "delivery_labels": DELIVERY_LABELS,
            "rf_reference": reference.rf,
            "line_errors": line_errors,
            "lines_messages": lines_messages,
            "units": UNITS,
            "einvoice_operators": EINVOICE_OPERATORS,
        }
    )


def lines_messages(form: InvoiceForm) -> list[str]:
    """The errors of the lines as a whole ("Add at least one line."), not of one line."""
    return [str(message) for message in form.lines.errors if not isinstance(message, dict | list)]


def line_errors(form: InvoiceForm) -> list[tuple[str, str, str]]:
    """The invoice lines' errors for the error summary: (field id, "Line 2: Quantity", error)."""
    found: list[tuple[str, str, str]] = []
    for message in lines_messages(form):
        if form.lines.entries:
            first = form.lines.entries[0].form.description
            found.append((first.id, str(_l("Invoice lines")), message))
    for number, entry in enumerate(form.lines.entries, start=1):
        for subfield in entry.form:
            for message in subfield.errors:
                label = _("Line %(number)s", number=number) + ": " + str(subfield.label.text)
                found.append((subfield.id, label, str(message)))
    return found
