"""Work on many invoices at once, from the desk's lists, done in the background
(`services.invoicing.bulk`): forwarding the selected invoices (and one invoice by post
or e-invoice, from its page), and sending the selected receivables' reminders. The
task's page says which went and why any did not."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from access import staff_required
from blueprints.shared import Routes
from blueprints.tasks import too_many
from extensions import db
from forms.tasks import TaskForm
from models.invoicing import SalesInvoice
from security import database_id
from services import tasks
from services.invoicing import bulk
from services.invoicing import desk as invoicing

staff_routes = Routes()


def forward_in_background(
    invoices: list[SalesInvoice], key: str, finalise_too: bool, *, one: bool = False
) -> ResponseReturnValue:
    """Queue the forwarding of the invoices; back to the invoice's page (one) or to the
    task's page (the selected ones)."""
    try:
        task, new = tasks.enqueue(
            "invoice-forward",
            key,
            current_user,
            records=bulk.records(invoices),
            params={"finalise": finalise_too},
        )
    except tasks.TooManyTasks:
        flash(too_many(), "error")
        return redirect(request.referrer or url_for("invoicing_staff.desk"), 303)
    db.session.commit()
    if new:
        flash(_("The forwarding is queued; this page shows how it goes."), "info")
    if one:
        return redirect(url_for("invoicing_staff.invoice", number=invoices[0].number))
    return redirect(url_for("tasks.task", task_id=task.id), 303)


def selected_invoices(statement: sa.Select) -> list[SalesInvoice]:
    """The invoices ticked on a list (`invoice` ids), among those `statement` finds."""
    ids = []
    for value in request.form.getlist("invoice")[: tasks.MAX_ITEMS]:
        found_id = database_id(value)
        if found_id is not None:
            ids.append(found_id)
    if not ids:
        return []
    found = db.session.scalars(statement.where(SalesInvoice.id.in_(ids))).all()
    return sorted(found, key=lambda invoice: ids.index(invoice.id))


@staff_routes.post("/forward-selected")
@staff_required
def forward_selected() -> ResponseReturnValue:
    """Forward the invoices ticked on the desk, in the background, and finalise them."""
    form = TaskForm()
    if not form.validate_on_submit():
        abort(400)
    sent_before = tasks.by_key(current_user, form.key.data)
    if sent_before is not None:  # the same click again: its task, not a second one
        return redirect(url_for("tasks.task", task_id=sent_before.id), 303)
    invoices = [i for i in selected_invoices(invoicing.on_the_desk()) if invoicing.can_forward(i)]
    if not invoices:
        flash(_("Tick the invoices to forward first."), "error")
        return redirect(url_for("invoicing_staff.desk"), 303)
    return forward_in_background(invoices, form.key.data, finalise_too=True)


@staff_routes.post("/receivables/reminders")
@staff_required
def staff_send_selected() -> ResponseReturnValue:
    """Send the next reminder of each invoice ticked on the open receivables, in the
    background; the task's page says which went and why any did not."""
    form = TaskForm()
    if not form.validate_on_submit():
        abort(400)
    invoices = selected_invoices(invoicing.open_receivables())
    if not invoices:
        flash(_("Tick the invoices to remind first."), "error")
        return redirect(url_for("invoicing_staff.receivables"), 303)
    try:
        task, new = tasks.enqueue(
            "invoice-reminders", form.key.data, current_user, records=bulk.records(invoices)
        )
    except tasks.TooManyTasks:
        flash(too_many(), "error")
        return redirect(url_for("invoicing_staff.receivables"), 303)
    db.session.commit()
    if new:
        flash(_("The reminders are queued; this page shows how they go."), "info")
    return redirect(url_for("tasks.task", task_id=task.id), 303)
