"""Staff pages of the customer portal: orders and their status, bookings with their
slots and attendance, invoices' payments, and the employee change feed for the CRM."""

from __future__ import annotations

import hmac
import re
from functools import wraps

import sqlalchemy as sa
from flask import (
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
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

from access import reads_health_data, staff_required
from blueprints.shared import CompanyFilter, Routes, company_filter
from extensions import db
from forms.portal import BookingForm, OrderStatusForm, PaymentForm, SlotForm
from forms.staff import ActionForm
from fragments import cached_content, content_key, staff_audience
from models.audit import AuditAction
from models.portal import (
    Booking,
    BookingSlot,
    CustomerInvoice,
    Employee,
    EmployeeEvent,
    OrderStatus,
    Placement,
    PortalOrder,
    ProductGroup,
)
from paging import paginate
from services import audit, portal, portal_kid, registry
from services.timezones import local_to_utc, shown_in_zone, utc_to_local

routes = Routes()
_ID = re.compile(r"[0-9]{1,9}")


# ---------------------------------------------------------------- orders


ORDER_ORDER = (PortalOrder.ordered_at.desc(), PortalOrder.id.desc())


def order_search() -> tuple[sa.Select, CompanyFilter, str]:
    """Every company's orders as the query filters them (company, status): the list and
    its export both read them."""
    stmt = sa.select(PortalOrder).options(
        selectinload(PortalOrder.organisation),
        selectinload(PortalOrder.department),
        selectinload(PortalOrder.product_group),
    )
    company = company_filter()
    stmt = company.narrow(stmt, PortalOrder.organisation_id)
    status = request.args.get("status", "")
    if status in set(OrderStatus):
        stmt = stmt.where(PortalOrder.status == OrderStatus(status))
    return stmt, company, status


@routes.get("/")
@staff_required
def orders() -> ResponseReturnValue:
    """Every company's orders, the newest first; filter by company and status."""
    key = content_key(audience=staff_audience())
    if kept_page := cached_content(key):
        return render_template("portal/staff_orders.html", kept_page=kept_page)
    stmt, company, status = order_search()
    page = paginate(stmt, ORDER_ORDER, 25)
    with shown_in_zone("Europe/Oslo"):  # the Norwegian customers' own time
        return render_template(
            "portal/staff_orders.html",
            page=page,
            company=company,
            status=status,
            filters={**company.args(), **({"status": status} if status else {})},
            content_key=key,
        )


def _order_or_404(number: int) -> PortalOrder:
    order = db.session.scalar(sa.select(PortalOrder).where(PortalOrder.number == number))
    if order is None:
        abort(404)
    return order


def _status_form(order: PortalOrder, formdata=None) -> OrderStatusForm:
    form = OrderStatusForm(formdata=formdata)
    form.status.choices = [
        SelectChoice(s.value, portal.ORDER_STATUS_LABELS[s]) for s in OrderStatus
    ]
    groups = db.session.scalars(sa.select(ProductGroup).order_by(ProductGroup.position))
    form.product_group.choices = [SelectChoice("", _("Not set"))] + [
        SelectChoice(str(g.id), g.name) for g in groups
    ]
    if formdata is None:
        form.status.data = order.status.value
        form.product_group.data = str(order.product_group_id or "")
    return form


@routes.get("/orders/<id:number>")
@staff_required
def order(number: int) -> ResponseReturnValue:
    order = _order_or_404(number)
    with shown_in_zone("Europe/Oslo"):
        return render_template("portal/staff_order.html", order=order, form=_status_form(order))


@routes.post("/orders/<id:number>/status")
@staff_required
def order_status(number: int) -> ResponseReturnValue:
    """Change the status (the customer sees it at once) and the product group."""
    order = _order_or_404(number)
    form = _status_form(order, request.form)
    if not form.validate():
        return render_template("portal/staff_order.html", order=order, form=form), 400
    group = form.product_group.data
    order.product_group_id = (
        int(group)
        if _ID.fullmatch(group or "") and db.session.get(ProductGroup, int(group))
        else None
    )
    portal.set_order_status(order, current_user.email, OrderStatus(form.status.data))
    db.session.commit()
    flash(_("The order was updated."), "success")
    return redirect(url_for("portal_staff.order", number=number))


# ---------------------------------------------------------------- bookings


@routes.get("/bookings")
@staff_required
def bookings() -> ResponseReturnValue:
    page = paginate(
        sa.select(Booking).options(selectinload(Booking.organisation), selectinload(Booking.slots)),
        (Booking.deadline.desc(), Booking.id.desc()),
        50,
    )
    with shown_in_zone("Europe/Oslo"):  # the bookings' own time, as staff typed it
        return render_template("portal/staff_bookings.html", page=page)


@routes.route("/bookings/new", methods=["GET", "POST"])
@staff_required
def new_booking() -> ResponseReturnValue:
    """Define a booking for a company; its times are added on its page."""
    form = BookingForm()
    if form.validate_on_submit():
        organisation_id = form.organisation.picked.id
        order = None
        if form.order_number.data:
            order = db.session.scalar(
                sa.select(PortalOrder).where(
                    PortalOrder.number == form.order_number.data,
                    PortalOrder.organisation_id == organisation_id,
                )
            )
            if order is None:
                form.order_number.errors.append(_("The company has no order with this number."))
        if not form.order_number.errors:
            booking = Booking(
                organisation_id=organisation_id,
                order=order,
                title=form.title.data,
                place=form.place.data,
                what_to_bring=form.what_to_bring.data or "",
                deadline=local_to_utc(form.deadline.data, portal.OSLO),
            )
            db.session.add(booking)
            db.session.commit()
            flash(_("The booking was created: now add its times."), "success")
            return redirect(url_for("portal_staff.booking", booking_id=booking.id))
    return render_template("portal/staff_booking_form.html", form=form)


@routes.route("/bookings/<id:booking_id>", methods=["GET", "POST"])
@staff_required
def booking(booking_id: int) -> ResponseReturnValue:
    """A booking's times, who is placed and their answers; add a time."""
    booking = db.get_or_404(Booking, booking_id)
    form = SlotForm()
    if form.validate_on_submit():
        db.session.add(
            BookingSlot(
                booking=booking,
                starts_at=local_to_utc(form.starts_at.data, portal.OSLO),
                ends_at=local_to_utc(form.ends_at.data, portal.OSLO),
                capacity=form.capacity.data,
                taken=0,
            )
        )
        db.session.commit()
        flash(_("The time was added."), "success")
        return redirect(url_for("portal_staff.booking", booking_id=booking.id))
    if request.method == "GET" and booking.slots:
        last = booking.slots[-1]
        form.starts_at.data = utc_to_local(last.ends_at, portal.OSLO).replace(tzinfo=None)
    # Only health personnel read the answers; other staff see that and when one came.
    show_answers = reads_health_data()
    with shown_in_zone("Europe/Oslo"):  # the booking's own time, as staff typed it
        page = render_template(
            "portal/staff_booking.html",
            booking=booking,
            form=form,
            action_form=ActionForm(),
            questions=portal.DECLARATION_QUESTIONS,
            show_answers=show_answers,
        )
    if show_answers:
        # The answers are on the page: each opening is in the audit log before it is sent.
        audit.record_read(
            AuditAction.HEALTH_OPENED,
            "placement",
            (
                (placement.id, f"self-declaration {placement.id} (booking {booking.id})")
                for slot in booking.slots
                for placement in slot.placements
                if not placement.removed_at and placement.declaration
            ),
        )
    return page, 400 if form.errors else 200


@routes.post("/bookings/<id:booking_id>/active")
@staff_required
def booking_active(booking_id: int) -> ResponseReturnValue:
    """Close a booking (the customer no longer sees or fills it) or open it again."""
    booking = db.get_or_404(Booking, booking_id)
    if ActionForm().validate_on_submit():
        booking.active = not booking.active
        db.session.commit()
        flash(
            _("The booking is open.") if booking.active else _("The booking is closed."), "success"
        )
    return redirect(url_for("portal_staff.booking", booking_id=booking.id))


def _placement_or_404(placement_id: int) -> Placement:
    placement = db.session.get(Placement, placement_id)
    if placement is None:
        abort(404)
    return placement


@routes.post("/placements/<id:placement_id>/attended")
@staff_required
def attended(placement_id: int) -> ResponseReturnValue:
    """Mark whether the employee came (for the reports)."""
    placement = _placement_or_404(placement_id)
    if ActionForm().validate_on_submit():
        placement.attended = request.form.get("attended") == "yes"
        db.session.commit()
    return redirect(url_for("portal_staff.booking", booking_id=placement.booking_id))


@routes.post("/placements/<id:placement_id>/remove")
@staff_required
def remove_placement(placement_id: int) -> ResponseReturnValue:
    """Take an employee off, also after the customer's deadline."""
    placement = _placement_or_404(placement_id)
    if ActionForm().validate_on_submit() and portal.remove(
        placement, current_user.email, staff=True
    ):
        db.session.commit()
        flash(_("%(name)s was taken off the booking.", name=placement.employee.name), "success")
    return redirect(url_for("portal_staff.booking", booking_id=placement.booking_id))


# ---------------------------------------------------------------- invoices


INVOICE_ORDER = (CustomerInvoice.due_date, CustomerInvoice.id)


def invoice_search() -> tuple[sa.Select, CompanyFilter]:
    """Every company's invoices as the query filters them (company, status)."""
    stmt = sa.select(CustomerInvoice).options(selectinload(CustomerInvoice.organisation))
    company = company_filter()
    stmt = company.narrow(stmt, CustomerInvoice.organisation_id)
    condition = portal.invoice_status_filter(request.args.get("status", ""))
    if condition is not None:
        stmt = stmt.where(condition)
    return stmt, company


@routes.get("/invoices")
@staff_required
def invoices() -> ResponseReturnValue:
    """Every company's invoices, the earliest due first; filter by company and status."""
    stmt, company = invoice_search()
    page = paginate(stmt, INVOICE_ORDER, 50)
    return render_template(
        "portal/staff_invoices.html",
        page=page,
        company=company,
        status=request.args.get("status", ""),
        status_of=portal.invoice_status,
        form=PaymentForm(formdata=None),
    )


@routes.post("/invoices/<id:invoice_id>/payment")
@staff_required
def payment(invoice_id: int) -> ResponseReturnValue:
    """Register a payment; a part payment leaves the rest outstanding."""
    invoice = db.get_or_404(CustomerInvoice, invoice_id)
    form = PaymentForm()
    if form.validate_on_submit():
        if portal.record_payment(invoice, form.amount.data, form.seen.data):
            db.session.commit()
            flash(
                _("The payment of invoice %(number)s was registered.", number=invoice.number),
                "success",
            )
        else:
            db.session.rollback()
            flash(
                _(
                    "Invoice %(number)s changed meanwhile: check it and register again.",
                    number=invoice.number,
                ),
                "error",
            )
    else:
        flash(_("Give the amount paid, for example 1500,00."), "error")
    return redirect(url_for("portal_staff.invoices", company=invoice.organisation_id))


# ---------------------------------------------------------------- the CRM feed


def _crm_token_given() -> bool:
    """A request of the CRM integration, by the bearer token of CRM_FEED_TOKEN."""
    token = current_app.config.get("CRM_FEED_TOKEN")
    given = request.headers.get("Authorization", "")
    if not token or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").encode(), token.encode())


def _employee_changes_allowed(view):
    """Staff in the browser, or the CRM integration with its token."""
    staff_view = staff_required(view)

    @wraps(view)
    def wrapped(*args, **kwargs):
        if _crm_token_given():
            return view(*args, **kwargs)
        return staff_view(*args, **kwargs)

    return wrapped


@routes.get("/employee-changes.json")
@_employee_changes_allowed
def employee_changes() -> ResponseReturnValue:
    """Changes to employees since a cursor, oldest first, for the CRM integration.

    `?after=<cursor>&limit=<n>`: each change names the fields that changed and carries
    the employee as they are now (the identity number only masked). Store `next` and
    ask with it again; `more` tells whether another page waits.
    """
    after = request.args.get("after", "0")
    limit = request.args.get("limit", "100")
    if not _ID.fullmatch(after) or not _ID.fullmatch(limit):
        return jsonify({"error": "after and limit must be whole numbers"}), 400
    limit = max(1, min(int(limit), 500))
    events = list(
        db.session.scalars(
            sa.select(EmployeeEvent)
            .options(selectinload(EmployeeEvent.employee).selectinload(Employee.organisation))
            .where(EmployeeEvent.id > int(after))
            .order_by(EmployeeEvent.id)
            .limit(limit + 1)
        )
    )
    more = len(events) > limit
    events = events[:limit]
    return jsonify(
        {
            "changes": [
                {
                    "cursor": event.id,
                    "action": event.action,
                    "fields": event.fields,
                    "actor": event.actor,
                    "at": event.at.isoformat(),
                    "employee": portal.employee_record(event.employee),
                }
                for event in events
            ],
            "next": events[-1].id if events else int(after),
            "more": more,
        }
    )


# ---------------------------------------------------------------- the staff area


def _lookup(code: str) -> list[registry.LookupHit]:
    code = code.strip()
    hits = []
    if _ID.fullmatch(code):
        order = db.session.scalar(sa.select(PortalOrder).where(PortalOrder.number == int(code)))
        if order is not None:
            hits.append(
                registry.LookupHit(
                    _(
                        "Order %(number)s: %(company)s",
                        number=order.number,
                        company=order.organisation.name,
                    ),
                    url_for("portal_staff.order", number=order.number),
                )
            )
    invoice = db.session.scalar(sa.select(CustomerInvoice).where(CustomerInvoice.number == code))
    if invoice is not None:
        hits.append(
            registry.LookupHit(
                _("Invoice %(number)s: %(payer)s", number=invoice.number, payer=invoice.payer),
                url_for("portal_staff.invoices", company=invoice.organisation_id),
            )
        )
    return hits


def _order_link(record_id: str) -> registry.LookupHit | None:
    order = db.session.get(PortalOrder, int(record_id)) if record_id.isdigit() else None
    if order is None:
        return None
    return registry.LookupHit(
        _("Order %(number)s", number=order.number),
        url_for("portal_staff.order", number=order.number),
    )


def _order_of_organisation(reference: str, organisation_id: int) -> tuple[str, str] | None:
    """A contact's target reference that is one of the organisation's order numbers."""
    reference = reference.strip()
    if not _ID.fullmatch(reference):
        return None
    order_id = db.session.scalar(
        sa.select(PortalOrder.id).where(
            PortalOrder.number == int(reference), PortalOrder.organisation_id == organisation_id
        )
    )
    return ("portal_order", str(order_id)) if order_id else None


def setup_app(app: Flask) -> None:
    registry.register_staff_section(app, _l("Customer portal"), "portal_staff.orders")
    registry.register_lookup(app, _lookup)
    portal_kid.setup_app(app)  # customer invoices by their KID
    registry.register_record_link(app, "portal_order", _order_link)
    registry.register_reference(app, _order_of_organisation)
