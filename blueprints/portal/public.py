"""The customer portal's tabs: Info, Bestilling, Ansatte, Rapporter, Fakturaer; the
bookings, and the employees' self-declaration behind its emailed link."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import (
    Flask,
    Response,
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
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice

from access import own_scoped
from blueprints.portal.common import (
    DB_ID,
    chosen_department,
    customer_required,
    department_choices,
    department_filter,
    own,
    query_filters,
)
from blueprints.shared import Routes
from extensions import db
from forms.portal import (
    InvoiceSearchForm,
    OrderForm,
    OrderSearchForm,
    ReportForm,
)
from fragments import cached_content, content_key
from models.portal import (
    CustomerInvoice,
    Employee,
    OrderStatus,
    PortalOrder,
    ProductGroup,
)
from models.types import utcnow
from paging import capped_count, paginate
from services import exports, portal, portal_kid, portal_pdf
from services.exports import Column
from services.spreadsheet import csv_response

routes = Routes()

TABS = (
    ("portal.index", _l("Info")),
    ("portal.orders", _l("Order")),
    ("portal.employees", _l("Employees")),
    ("portal.reports", _l("Reports")),
    ("portal.invoices", _l("Invoices")),
)
SORTS = {
    "number": PortalOrder.number,
    "date": PortalOrder.ordered_at,
    # In the order of an order's life, not of the codes' letters.
    "status": sa.case(
        {status: position for position, status in enumerate(OrderStatus)},
        value=PortalOrder.status,
    ),
}


# ---------------------------------------------------------------- Info


@routes.get("/")
@customer_required
def index() -> ResponseReturnValue:
    """Info: what the portal holds, and the bookings open for placing employees."""
    bookings = portal.active_bookings(current_user)
    # Capped: "10 000+" tells as much as an exact count of a hundred thousand.
    counts = {
        "orders": capped_count(own_scoped(PortalOrder)),
        "employees": capped_count(own_scoped(Employee).where(portal.in_service())),
        "unpaid": capped_count(
            own_scoped(CustomerInvoice).where(portal.invoice_status_filter("ubetalt"))
        ),
    }
    return render_template("portal/index.html", bookings=bookings, counts=counts, now=utcnow())


# ---------------------------------------------------------------- Bestilling


def _order_search() -> tuple[OrderSearchForm, sa.Select, tuple, str, bool]:
    """The order search of the query: its form, the user's filtered orders, their order,
    the sort and its direction; the list and its export both read it."""
    form = OrderSearchForm(formdata=request.args)
    form.status.choices = [SelectChoice("", _("All"))] + [
        SelectChoice(s.value, portal.ORDER_STATUS_LABELS[s]) for s in OrderStatus
    ]
    form.department.choices = department_choices(_("All"))
    groups = db.session.scalars(sa.select(ProductGroup).order_by(ProductGroup.position))
    form.product_group.choices = [SelectChoice("", _("All"))] + [
        SelectChoice(str(g.id), g.name) for g in groups
    ]
    stmt = own_scoped(PortalOrder).options(
        selectinload(PortalOrder.department), selectinload(PortalOrder.product_group)
    )
    if form.validate():
        number = (form.number.data or "").strip()
        if number:
            stmt = (
                stmt.where(PortalOrder.number == int(number))
                if DB_ID.fullmatch(number)
                else stmt.where(sa.false())
            )
        if form.date_from.data:
            stmt = stmt.where(
                PortalOrder.ordered_at >= portal.day_start_utc(form.date_from.data, portal.OSLO)
            )
        if form.date_to.data:
            stmt = stmt.where(
                PortalOrder.ordered_at
                < portal.day_start_utc(form.date_to.data + timedelta(days=1), portal.OSLO)
            )
    else:
        stmt = stmt.where(sa.false())
    if form.status.data in set(OrderStatus):
        stmt = stmt.where(PortalOrder.status == OrderStatus(form.status.data))
    stmt = department_filter(stmt, PortalOrder, form.department.data or "")
    if DB_ID.fullmatch(form.product_group.data or ""):
        stmt = stmt.where(PortalOrder.product_group_id == int(form.product_group.data))
    sort = request.args.get("sort", "date")
    column = SORTS.get(sort, PortalOrder.ordered_at)
    descending = request.args.get("dir", "desc") != "asc"
    order = (column.desc(), PortalOrder.id.desc()) if descending else (column, PortalOrder.id)
    return form, stmt, order, sort, descending


@routes.get("/orders")
@customer_required
def orders() -> ResponseReturnValue:
    """Finn bestillinger: filters, sortable columns, pages."""
    form, stmt, order, sort, descending = _order_search()
    page = paginate(stmt, order, per_page=25)
    filters = query_filters(
        "number", "date_from", "date_to", "status", "department", "product_group"
    )
    return render_template(
        "portal/orders.html",
        form=form,
        page=page,
        filters=filters,
        sort=sort,
        descending=descending,
    )


def order_description(order: PortalOrder) -> str:
    """The description column as the list writes it, with the order's details."""
    text = (
        f'{order.description} {_("Desired delivery")}: "{order.desired_delivery}". '
        f"{_('Quantity/scope')}: {order.quantity}. "
        f"{_('Place/location of the delivery')}: {order.location}."
    )
    if order.invoice_reference:
        text += f" {_('Invoice reference')}: {order.invoice_reference}."
    return f"{text} {_('Contact person')}: {order.contact}.".strip()


def _department_name(record) -> str:
    return record.department.name if record.department else current_user.organisation.name


ORDER_COLUMNS = (
    Column(_l("Order number"), lambda o: o.number, "int"),
    Column(_l("Order date"), lambda o: o.ordered_at, "datetime"),
    Column(_l("Product group"), lambda o: o.product_group.name if o.product_group else ""),
    Column(_l("Description"), order_description),
    Column(_l("Company/department"), _department_name),
    Column(_l("Order status"), lambda o: portal.ORDER_STATUS_LABELS[o.status]),
)


@routes.get("/orders/export.<any(csv, xlsx):fmt>")
@customer_required
def orders_export(fmt: str) -> ResponseReturnValue:
    """Download the orders found, in the list's order, as CSV or Excel."""
    _form, stmt, order, _sort, _descending = _order_search()
    return exports.export_response(
        fmt,
        "orders",
        ORDER_COLUMNS,
        exports.iterate(stmt, order),
        personal=False,
        what="portal.orders",
    )


@routes.route("/orders/new", methods=["GET", "POST"])
@customer_required
def new_order() -> ResponseReturnValue:
    """Ny bestilling: the account manager hears of it at once."""
    key = content_key()
    if kept_page := cached_content(key):
        return render_template("portal/order_new.html", kept_page=kept_page)
    form = OrderForm()
    form.department.choices = department_choices()
    if form.validate_on_submit():
        sent = _same_order_just_sent(form)
        if sent is not None:  # a double click: one order, one mail
            flash(_("Your order %(number)s was sent.", number=sent.number), "success")
            return redirect(url_for("portal.order", number=sent.number))
        order = portal.create_order(
            current_user,
            portal.OrderRequest(
                department=chosen_department(form.department.data),
                desired_delivery=form.desired_delivery.data,
                quantity=form.quantity.data,
                contact=form.contact.data,
                invoice_reference=form.invoice_reference.data or "",
                location=form.location.data,
                description=form.description.data or "",
            ),
        )
        db.session.commit()
        flash(_("Your order %(number)s was sent.", number=order.number), "success")
        return redirect(url_for("portal.order", number=order.number))
    return render_template("portal/order_new.html", form=form, content_key=key)


def _same_order_just_sent(form: OrderForm) -> PortalOrder | None:
    """The order the user sent with the same content a moment ago, if any."""
    department = chosen_department(form.department.data)
    return db.session.scalar(
        own_scoped(PortalOrder).where(
            PortalOrder.ordered_by_id == current_user.id,
            PortalOrder.ordered_at > utcnow() - timedelta(minutes=2),
            PortalOrder.department_id == (department.id if department else None)
            if department
            else PortalOrder.department_id.is_(None),
            PortalOrder.desired_delivery == form.desired_delivery.data,
            PortalOrder.quantity == form.quantity.data,
            PortalOrder.contact == form.contact.data,
            PortalOrder.location == form.location.data,
            PortalOrder.invoice_reference == (form.invoice_reference.data or ""),
            PortalOrder.description == (form.description.data or ""),
        )
    )


@routes.get("/orders/<id:number>")
@customer_required
def order(number: int) -> ResponseReturnValue:
    """An order with its bookings and its status history."""
    order = own(PortalOrder, number=number)
    return render_template("portal/order.html", order=order)


# ---------------------------------------------------------------- Fakturaer


INVOICE_ORDER = (CustomerInvoice.invoice_date, CustomerInvoice.id)


def _invoice_search() -> tuple[InvoiceSearchForm, sa.Select]:
    """The invoice search of the query and the organisation's invoices it finds."""
    form = InvoiceSearchForm(formdata=request.args if request.args else None)
    form.status.choices = [
        SelectChoice(key, label) for key, label in portal.INVOICE_STATUS_LABELS.items()
    ] + [SelectChoice("", _("All"))]
    stmt = own_scoped(CustomerInvoice)
    if form.validate():
        if form.number.data:
            stmt = stmt.where(portal_kid.number_or_kid(form.number.data))
        if form.date_from.data:
            stmt = stmt.where(CustomerInvoice.invoice_date >= form.date_from.data)
        if form.date_to.data:
            stmt = stmt.where(CustomerInvoice.invoice_date <= form.date_to.data)
    else:
        stmt = stmt.where(sa.false())
    condition = portal.invoice_status_filter(form.status.data or "")
    if condition is not None:
        stmt = stmt.where(condition)
    return form, stmt


@routes.get("/invoices")
@customer_required
def invoices() -> ResponseReturnValue:
    """Søk etter faktura: number, dates and status (Ubetalt, Forfalt, Betalt, all)."""
    form, stmt = _invoice_search()
    page = paginate(stmt, INVOICE_ORDER, 50)
    filters = query_filters("number", "date_from", "date_to")
    filters["status"] = form.status.data or ""
    return render_template(
        "portal/invoices.html",
        form=form,
        page=page,
        filters=filters,
        status_of=portal.invoice_status,
    )


INVOICE_COLUMNS = (
    Column(_l("Invoice number"), lambda i: i.number),
    Column(_l("KID"), lambda i: i.reference or ""),
    Column(_l("Invoice date"), lambda i: i.invoice_date, "date"),
    Column(_l("Due date"), lambda i: i.due_date, "date"),
    Column(_l("Payer"), lambda i: i.payer),
    Column(_l("Currency"), lambda i: i.currency),
    Column(_l("Total"), lambda i: i.total, "money"),
    Column(_l("Outstanding"), lambda i: i.outstanding, "money"),
    Column(_l("Status"), lambda i: portal.INVOICE_STATUS_LABELS[portal.invoice_status(i)]),
)


@routes.get("/invoices/export.<any(csv, xlsx):fmt>")
@customer_required
def invoices_export(fmt: str) -> ResponseReturnValue:
    """Download the invoices found, in the list's order, as CSV or Excel."""
    _form, stmt = _invoice_search()
    return exports.export_response(
        fmt,
        "invoices",
        INVOICE_COLUMNS,
        exports.iterate(stmt, INVOICE_ORDER),
        personal=False,
        what="portal.invoices",
    )


@routes.get("/invoices/<number>.pdf")
@customer_required
def invoice_pdf(number: str) -> ResponseReturnValue:
    invoice = own(CustomerInvoice, number=number)
    pdf = portal_pdf.render(invoice)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="faktura-{invoice.number}.pdf"'},
    )


# ---------------------------------------------------------------- Rapporter


def _report_period(form: ReportForm) -> tuple[date, date]:
    """The period asked for; a date that did not pass its check counts as not given."""
    form.validate()
    end = (None if form.date_to.errors else form.date_to.data) or portal.today()
    start = (None if form.date_from.errors else form.date_from.data) or end.replace(month=1, day=1)
    if start > end:
        start, end = end, start
    return start, end


@routes.get("/reports")
@customer_required
def reports() -> ResponseReturnValue:
    """Per department: orders by status, employees booked and attended, invoices open."""
    form = ReportForm(formdata=request.args)
    start, end = _report_period(form)
    rows = portal.reports(current_user, start, end)
    return render_template(
        "portal/reports.html",
        form=form,
        rows=rows,
        start=start,
        end=end,
        statuses=list(OrderStatus),
        chart=portal.chart_rows(rows),
        filters=query_filters("date_from", "date_to"),
    )


@routes.get("/reports.csv")
@customer_required
def reports_csv() -> ResponseReturnValue:
    form = ReportForm(formdata=request.args)
    start, end = _report_period(form)
    return csv_response(
        f"rapport-{start.isoformat()}-{end.isoformat()}.csv",
        [_("Department")]
        + [portal.ORDER_STATUS_LABELS[s] for s in OrderStatus]
        + [_("Booked"), _("Attended"), _("Open invoices"), _("Outstanding (NOK)")],
        (
            [row.name]
            + [row.orders.get(s.value, 0) for s in OrderStatus]
            + [
                row.booked,
                row.attended,
                row.invoices_open,
                _decimal_comma(row.invoices_outstanding),
            ]
            for row in portal.reports(current_user, start, end)
        ),
    )


def _decimal_comma(amount) -> str:
    """1500,00: the decimal comma that Norwegian (and Finnish) Excel reads as a number."""
    return f"{amount:.2f}".replace(".", ",")


def setup_app(app: Flask) -> None:
    app.jinja_env.globals["portal_tabs"] = TABS
    app.jinja_env.globals["portal_labels"] = {
        "order": portal.ORDER_STATUS_LABELS,
        "invoice": portal.INVOICE_STATUS_LABELS,
    }
