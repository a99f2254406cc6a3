"""The invoice desk's work done in the background (services/tasks.py): forwarding
invoices to the print service or the operator, one or the selected ones, and sending
the selected invoices' reminders. Each invoice is one item of the task; what someone
else did meanwhile is skipped, so nothing goes out twice."""

from __future__ import annotations

from flask_babel import gettext as _

from extensions import db
from models.invoicing import SalesInvoice
from models.tasks import ItemState, Task, TaskItem
from services import tasks
from services.invoicing import desk, reminders
from services.invoicing.forwarding_errors import ForwardingError

RECORD_TYPE = desk.RECORD_TYPE


def records(invoices: list[SalesInvoice]) -> list[tasks.Record]:
    """The invoices as a task's records."""
    return [tasks.Record(RECORD_TYPE, invoice.id, invoice.number) for invoice in invoices]


def _skipped() -> tasks.Outcome:
    return ItemState.SKIPPED, _(
        "Someone else handled the invoice meanwhile; nothing was done twice."
    )


def forward_invoices(task: Task, progress: tasks.Progress) -> dict:
    """Forward each invoice by its delivery method (and finalise it, if asked)."""
    actor = task.created_by
    finalise_too = bool(task.params.get("finalise", True))

    def handle(item: TaskItem) -> tasks.Outcome:
        invoice = db.session.get(SalesInvoice, item.record_id)
        if invoice is None or not desk.can_forward(invoice):
            return _skipped()
        try:
            desk.forward(invoice, actor, finalise_too=finalise_too)
        except desk.InvoiceStateError:
            return _skipped()
        except ForwardingError as error:
            # forward() has put the invoice back on the desk with the error, committed.
            return ItemState.FAILED, str(error)
        db.session.commit()
        return ItemState.DONE, ""

    return tasks.each_item(task, progress, handle)


def send_reminders(task: Task, progress: tasks.Progress) -> dict:
    """Send each invoice's next payment reminder by its delivery method."""
    actor = task.created_by

    def handle(item: TaskItem) -> tasks.Outcome:
        invoice = db.session.get(SalesInvoice, item.record_id)
        if invoice is None:
            return _skipped()
        try:
            reminders.send(invoice, actor)
        except reminders.ReminderError as error:
            db.session.rollback()
            return ItemState.SKIPPED, reminders.refusal(error)
        except desk.InvoiceStateError:
            db.session.rollback()
            return _skipped()
        except ForwardingError as error:
            db.session.rollback()
            return ItemState.FAILED, _(
                "The reminder could not be sent: %(error)s", error=str(error)
            )
        db.session.commit()
        return ItemState.DONE, ""

    return tasks.each_item(task, progress, handle)
