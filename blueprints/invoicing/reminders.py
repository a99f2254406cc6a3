"""Payment reminders of overdue invoices: sent by staff from the desk's invoice page or
by the invoicing user from their own (`services.invoicing.reminders`), each reminder's
PDF, and the user's choice of manual or automatic reminders under /invoices/reminders."""

from __future__ import annotations

from decimal import Decimal

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from access import staff_required
from blueprints.invoicing.common import invoicing_user_required, own_invoice, staff_invoice
from blueprints.shared import Routes
from extensions import db
from forms.invoicing import ReminderSettingsForm
from forms.staff import ActionForm
from models.invoicing import InvoiceStatus, SalesInvoice, SalesInvoiceReminder
from services.invoicing import desk, reminders
from services.invoicing.forwarding_errors import ForwardingError

routes = Routes()  # the invoicing user's, under /invoices
staff_routes = Routes()  # the staff's, under /staff/invoices


def preview(invoice: SalesInvoice) -> dict:
    """For the invoice's page: what the next reminder would claim, or why none can go."""
    if invoice.status != InvoiceStatus.OPEN:
        return {"calculation": None, "refusal": None}
    try:
        reminders.check(invoice)
    except reminders.ReminderError as error:
        return {"calculation": None, "refusal": reminders.refusal(error)}
    return {"calculation": reminders.calculate(invoice), "refusal": None}


def _send(invoice: SalesInvoice, *, staff: bool) -> str | None:
    """Send the next reminder as the logged-in user; the error to show, if any."""
    try:
        reminder = reminders.send(invoice, current_user)
    except reminders.ReminderError as error:
        db.session.rollback()
        return reminders.refusal(error)
    except ForwardingError as error:
        db.session.rollback()
        if staff:
            return _("The reminder could not be sent: %(error)s", error=str(error))
        return _("The reminder could not be sent just now. Please try again later.")
    except desk.InvoiceStateError:
        return _("Someone else handled the invoice meanwhile; nothing was done twice.")
    db.session.commit()
    flash(
        _(
            "Reminder %(number)s was sent: %(total)s € to pay by %(day)s.",
            number=reminder.number,
            total=f"{reminder.total:.2f}".replace(".", ","),
            day=format_date(reminder.due_date, "medium"),
        ),
        "success",
    )
    return None


def _reminder_pdf(invoice: SalesInvoice, number: int) -> Response:
    reminder = next((r for r in invoice.reminders if r.number == number), None)
    if reminder is None:
        abort(404)
    return _pdf_response(invoice, reminder)


def _pdf_response(invoice: SalesInvoice, reminder: SalesInvoiceReminder) -> Response:
    return Response(
        reminders.pdf(invoice, reminders.sent(invoice, reminder)),
        mimetype="application/pdf",
        headers={
            "Content-Disposition": (
                f'inline; filename="maksumuistutus-{invoice.number}-{reminder.number}.pdf"'
            )
        },
    )


# ---------------------------------------------------------------- staff


@staff_routes.post("/<number>/reminders")
@staff_required
def staff_send(number: str) -> ResponseReturnValue:
    """Send the invoice's next reminder by its delivery method."""
    invoice = staff_invoice(number)
    if not ActionForm().validate_on_submit():
        abort(400)
    error = _send(invoice, staff=True)
    if error:
        flash(error, "error")
    return redirect(url_for("invoicing_staff.invoice", number=invoice.number))


@staff_routes.get("/<number>/reminders/<int:reminder_number>.pdf")
@staff_required
def staff_pdf(number: str, reminder_number: int) -> ResponseReturnValue:
    return _reminder_pdf(staff_invoice(number), reminder_number)


# ---------------------------------------------------------------- the invoicing user


@routes.post("/<id:invoice_id>/reminders")
@invoicing_user_required
def send(invoice_id: int) -> ResponseReturnValue:
    """The user reminds their payer of an overdue invoice."""
    invoice = own_invoice(invoice_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    error = _send(invoice, staff=False)
    if error:
        flash(error, "error")
    return redirect(url_for("invoicing.invoice", invoice_id=invoice.id))


@routes.get("/<id:invoice_id>/reminders/<int:reminder_number>.pdf")
@invoicing_user_required
def reminder_pdf(invoice_id: int, reminder_number: int) -> ResponseReturnValue:
    return _reminder_pdf(own_invoice(invoice_id), reminder_number)


def _settings_form(formdata=None) -> ReminderSettingsForm:
    form = ReminderSettingsForm(
        formdata=formdata,
        data={
            "mode": current_user.invoice_reminders,
            "limit": reminders.limit_for(current_user)
            if current_user.invoice_reminders == reminders.AUTOMATIC
            else current_user.invoice_reminder_limit,
        },
    )
    ceiling = current_app.config["INVOICE_REMINDER_MAX"]
    form.limit.choices = [(count, str(count)) for count in range(1, ceiling + 1)]
    return form


@routes.route("/reminders", methods=["GET", "POST"])
@invoicing_user_required
def settings() -> ResponseReturnValue:
    """Manual or automatic reminders, and how many at most."""
    form = _settings_form(request.form if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            reminders.set_mode(current_user, form.mode.data, form.limit.data)
            db.session.commit()
            flash(_("Your reminder settings were saved."), "success")
            return redirect(url_for("invoicing.settings"))
        status = 422
    return render_template(
        "invoicing/reminders.html",
        form=form,
        consumer_fee=min(
            Decimal(current_app.config["INVOICE_REMINDER_FEE"]), reminders.CONSUMER_FEE_CAP
        ),
        business_fee=Decimal(current_app.config["INVOICE_REMINDER_FEE_BUSINESS"]),
        days=current_app.config["INVOICE_REMINDER_DAYS"],
        after_days=current_app.config["INVOICE_REMINDER_AFTER_DAYS"],
    ), status
