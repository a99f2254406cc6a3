"""The staff's lists of the customer portal as CSV and Excel downloads: every company's
orders and invoices (`staff_routes`), each read by its list's own statement, in its order.
The customer's own lists' downloads are beside their pages, in `public.py`."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from access import staff_required
from blueprints.portal.public import INVOICE_COLUMNS, order_description
from blueprints.portal.staff import INVOICE_ORDER, ORDER_ORDER, invoice_search, order_search
from blueprints.shared import Routes
from services import exports, portal
from services.exports import Column
from services.timezones import shown_in_zone

staff_routes = Routes()


STAFF_ORDER_COLUMNS = (
    Column(_l("Order number"), lambda o: o.number, "int"),
    Column(_l("Order date"), lambda o: o.ordered_at, "datetime"),
    Column(_l("Company"), lambda o: o.organisation.name),
    Column(_l("Department"), lambda o: o.department.name if o.department else ""),
    Column(_l("Product group"), lambda o: o.product_group.name if o.product_group else ""),
    Column(_l("Description"), order_description),
    Column(_l("Order status"), lambda o: portal.ORDER_STATUS_LABELS[o.status]),
)


@staff_routes.get("/export.<any(csv, xlsx):fmt>")
@staff_required
def orders_export(fmt: str) -> ResponseReturnValue:
    """Download every company's orders found, in the list's order, as CSV or Excel."""
    stmt, _company, _status = order_search()
    with shown_in_zone("Europe/Oslo"):
        return exports.export_response(
            fmt,
            "orders",
            STAFF_ORDER_COLUMNS,
            exports.iterate(stmt, ORDER_ORDER),
            personal=False,
            what="portal_staff.orders",
        )


STAFF_INVOICE_COLUMNS = (
    Column(_l("Invoice number"), lambda i: i.number),
    Column(_l("Company"), lambda i: i.organisation.name),
    *INVOICE_COLUMNS[1:],
)


@staff_routes.get("/invoices/export.<any(csv, xlsx):fmt>")
@staff_required
def invoices_export(fmt: str) -> ResponseReturnValue:
    """Download every company's invoices found, in the list's order, as CSV or Excel."""
    stmt, _company = invoice_search()
    return exports.export_response(
        fmt,
        "invoices",
        STAFF_INVOICE_COLUMNS,
        exports.iterate(stmt, INVOICE_ORDER),
        personal=False,
        what="portal_staff.invoices",
    )
