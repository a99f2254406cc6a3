"""The invoice desk's lists as CSV and Excel downloads: the staff's desk queue, search
results and open receivables (`staff_routes`), and the user's own invoices
(`user_routes`). Each reads the rows its list's own statement finds, in its order."""

from __future__ import annotations

from datetime import date

from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from access import staff_required
from blueprints.invoicing.common import invoicing_user_required
from blueprints.invoicing.public import OWN_ORDER, own_invoices
from blueprints.invoicing.staff import (
    LIST_ORDERS,
    search_invoices,
)
from blueprints.shared import Routes
from forms.invoicing import DELIVERY_LABELS, STATUS_LABELS
from models.invoicing import ON_THE_DESK, RECEIVABLE_OPEN, InvoiceStatus, SalesInvoice
from services import exports
from services.exports import Column
from services.invoicing import desk as invoicing

staff_routes = Routes()
user_routes = Routes()
EXPORT = "/export.<any(csv, xlsx):fmt>"


def _status_text(invoice: SalesInvoice, today: date) -> str:
    """The status as the lists' badge says it, overdue or not."""
    text = str(STATUS_LABELS[invoice.status])
    overdue = (
        invoice.status == InvoiceStatus.OPEN
        and invoice.outstanding > 0
        and invoice.due_date < today
    )
    return f"{text} ({_('Overdue')})" if overdue else text


DESK_COLUMNS = (
    Column(_l("Invoice number"), lambda i: i.number),
    Column(_l("Invoicing number"), lambda i: i.user_number),
    Column(_l("Payer"), lambda i: i.payer_name),
    Column(_l("Delivery method"), lambda i: DELIVERY_LABELS[i.delivery_method]),
    Column(_l("Total"), lambda i: i.gross, "money"),
    Column(_l("Sent"), lambda i: i.sent_at, "datetime"),
    Column(_l("To be forwarded"), invoicing.forwarding_day, "date"),
)


def _invoice_columns() -> tuple[Column, ...]:
    """The columns of the staff's invoice table (the search, the receivables)."""
    today = invoicing.today()
    return (
        Column(_l("Invoice number"), lambda i: i.number),
        Column(_l("Reference number"), lambda i: i.reference),
        Column(_l("Invoicing number"), lambda i: i.user_number),
        Column(_l("Payer"), lambda i: i.payer_name),
        Column(_l("Invoice date"), lambda i: i.invoice_date, "date"),
        Column(_l("Due date"), lambda i: i.due_date, "date"),
        Column(_l("Total"), lambda i: i.gross, "money"),
        Column(_l("Outstanding"), lambda i: i.outstanding, "money"),
        Column(_l("Status"), lambda i: _status_text(i, today)),
        Column(_l("Reminders"), lambda i: i.reminder_count, "int"),
    )


@staff_routes.get(EXPORT)
@staff_required
def desk_export(fmt: str) -> ResponseReturnValue:
    """Download the unsent invoices on the desk, in order of arrival, as CSV or Excel."""
    rows = exports.iterate(invoicing.on_the_desk(), LIST_ORDERS[ON_THE_DESK])
    return exports.export_response(
        fmt, "invoice-desk", DESK_COLUMNS, rows, personal=True, what="invoicing.desk"
    )


@staff_routes.get("/search" + EXPORT)
@staff_required
def search_export(fmt: str) -> ResponseReturnValue:
    """Download the invoices the search finds, in its order, as CSV or Excel."""
    _form, stmt, order, _searched = search_invoices()
    return exports.export_response(
        fmt,
        "sales-invoices",
        _invoice_columns(),
        exports.iterate(stmt, order),
        personal=True,
        what="invoicing.search",
    )


@staff_routes.get("/receivables" + EXPORT)
@staff_required
def receivables_export(fmt: str) -> ResponseReturnValue:
    """Download the open receivables, the oldest due date first, as CSV or Excel."""
    rows = exports.iterate(invoicing.open_receivables(), LIST_ORDERS[RECEIVABLE_OPEN])
    return exports.export_response(
        fmt,
        "receivables",
        _invoice_columns(),
        rows,
        personal=True,
        what="invoicing.receivables",
    )


@user_routes.get(EXPORT)
@invoicing_user_required
def index_export(fmt: str) -> ResponseReturnValue:
    """Download the user's own invoices (by the status chosen) as CSV or Excel."""
    _filters, stmt = own_invoices()
    today = invoicing.today()
    columns = (
        Column(_l("Invoice number"), lambda i: i.number or _("Draft")),
        Column(_l("Payer"), lambda i: i.payer_name),
        Column(_l("Invoice date"), lambda i: i.invoice_date, "date"),
        Column(_l("Due date"), lambda i: i.due_date, "date"),
        Column(_l("Total"), lambda i: i.gross, "money"),
        Column(_l("Outstanding"), lambda i: i.outstanding, "money"),
        Column(_l("Delivery method"), lambda i: DELIVERY_LABELS[i.delivery_method]),
        Column(_l("Status"), lambda i: _status_text(i, today)),
    )
    return exports.export_response(
        fmt,
        "my-invoices",
        columns,
        exports.iterate(stmt, OWN_ORDER),
        personal=False,
        what="invoicing.own",
    )
