"""The customer portal's tabs: Info, Bestilling, Ansatte, Rapporter, Fakturaer; the
bookings, and the employees' self-declaration behind its emailed link."""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import wraps

import sqlalchemy as sa
from flask import (
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice

from access import own_scoped, visible_departments
from blueprints.shared import Routes
from extensions import db
from forms.portal import (
    DeactivateForm,
    EmployeeForm,
    EmployeeSearchForm,
    InvoiceSearchForm,
    OrderForm,
    OrderSearchForm,
    PlaceForm,
    PlaceSearchForm,
    ReportForm,
    declaration_form,
)
from forms.staff import ActionForm
from fragments import cached_content, content_key
from models.auth import Department
from models.portal import (
    Booking,
    BookingSlot,
    CustomerInvoice,
    Employee,
    Gender,
    OrderStatus,
    Placement,
    PortalOrder,
    ProductGroup,
)
from models.types import utcnow
from paging import capped_count, paginate
from services import identity, portal, portal_kid, portal_pdf
from services.spreadsheet import csv_response
from services.timezones import shown_in_zone

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
GENDER_LABELS = {Gender.MALE: _l("Male"), Gender.FEMALE: _l("Female"), Gender.OTHER: _l("Other")}
PLACE_CHOICES = 200  # employees offered on a booking's place form at once
_ID = re.compile(r"[0-9]{1,9}")


def customer_required(view):
    """The portal is a company's: the user must belong to an organisation."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.organisation_id is None:
            abort(404)
        return view(*args, **kwargs)

    return wrapped


def _own(model, *, department=None, **criteria):
    """One record of the user's organisation (and departments), or 404."""
    stmt = own_scoped(model, department=department)
    for name, value in criteria.items():
        stmt = stmt.where(getattr(model, name) == value)
    record = db.session.scalar(stmt)
    if record is None:
        abort(404)
    return record


def _department_choices(everything: str | None = None) -> list:
    """The company (when the user sees all of it) and the departments the user may see."""
    choices = [SelectChoice("", everything)] if everything else []
    if visible_departments() is None:
        choices.append(SelectChoice("company", current_user.organisation.name))
    choices += [
        SelectChoice(str(d.id), portal.department_path(d))
        for d in portal.departments_for(current_user)
    ]
    return choices


def _chosen_department(value: str) -> Department | None:
    """The department picked in a form, if the user may see it; None for the company."""
    if not _ID.fullmatch(value or ""):
        return None
    allowed = {d.id for d in portal.departments_for(current_user)}
    department = db.session.get(Department, int(value))
    return department if department and department.id in allowed else None


def _department_filter(stmt, model, value: str):
    if value == "company":
        return stmt.where(model.department_id.is_(None))
    department = _chosen_department(value)
    if department is not None:
        below = portal.department_and_below(department)
        return stmt.where(model.department_id.in_(below))
    return stmt


def _filters(*names: str) -> dict:
    return {name: request.args[name] for name in names if request.args.get(name)}


# ---------------------------------------------------------------- Info


@routes.get("/")
@customer_required
def index():
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


@routes.get("/orders")
@customer_required
def orders():
    """Finn bestillinger: filters, sortable columns, pages."""
    form = OrderSearchForm(formdata=request.args)
    form.status.choices = [SelectChoice("", _("All"))] + [
        SelectChoice(s.value, portal.ORDER_STATUS_LABELS[s]) for s in OrderStatus
    ]
    form.department.choices = _department_choices(_("All"))
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
                if _ID.fullmatch(number)
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
    stmt = _department_filter(stmt, PortalOrder, form.department.data or "")
    if _ID.fullmatch(form.product_group.data or ""):
        stmt = stmt.where(PortalOrder.product_group_id == int(form.product_group.data))
    sort = request.args.get("sort", "date")
    column = SORTS.get(sort, PortalOrder.ordered_at)
    descending = request.args.get("dir", "desc") != "asc"
    order = (column.desc(), PortalOrder.id.desc()) if descending else (column, PortalOrder.id)
    page = paginate(stmt, order, per_page=25)
    filters = _filters("number", "date_from", "date_to", "status", "department", "product_group")
    return render_template(
        "portal/orders.html",
        form=form,
        page=page,
        filters=filters,
        sort=sort,
        descending=descending,
    )


@routes.route("/orders/new", methods=["GET", "POST"])
@customer_required
def new_order():
    """Ny bestilling: the account manager hears of it at once."""
    key = content_key()
    if kept_page := cached_content(key):
        return render_template("portal/order_new.html", kept_page=kept_page)
    form = OrderForm()
    form.department.choices = _department_choices()
    if form.validate_on_submit():
        sent = _same_order_just_sent(form)
        if sent is not None:  # a double click: one order, one mail
            flash(_("Your order %(number)s was sent.", number=sent.number), "success")
            return redirect(url_for("portal.order", number=sent.number))
        order = portal.create_order(
            current_user,
            portal.OrderRequest(
                department=_chosen_department(form.department.data),
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
    department = _chosen_department(form.department.data)
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
def order(number: int):
    """An order with its bookings and its status history."""
    order = _own(PortalOrder, number=number)
    return render_template("portal/order.html", order=order)


# ---------------------------------------------------------------- Ansatte


def _gender_choices() -> list:
    return [SelectChoice("", _("Not given"))] + [
        SelectChoice(g.value, GENDER_LABELS[g]) for g in Gender
    ]


@routes.get("/employees")
@customer_required
def employees():
    """Finn ansatte: free text and department."""
    form = EmployeeSearchForm(formdata=request.args)
    form.department.choices = _department_choices(_("All"))
    stmt = own_scoped(Employee).options(selectinload(Employee.department))
    if not form.inactive.data:
        stmt = stmt.where(portal.in_service())
    stmt = _matching(stmt, form.q.data if form.validate() else "")
    stmt = _department_filter(stmt, Employee, form.department.data or "")
    page = paginate(stmt, (Employee.last_name, Employee.first_name, Employee.id), 50)
    return render_template(
        "portal/employees.html",
        form=form,
        page=page,
        filters=_filters("q", "department", "inactive"),
    )


@routes.get("/employees/<id:employee_id>")
@customer_required
def employee(employee_id: int):
    employee = _own(Employee, id=employee_id)
    placements = db.session.scalars(
        sa.select(Placement)
        .where(Placement.employee_id == employee.id)
        .order_by(Placement.placed_at.desc())
    )
    return render_template(
        "portal/employee.html",
        employee=employee,
        placements=list(placements),
        gender_labels=GENDER_LABELS,
        deactivate_form=DeactivateForm(formdata=None, on=portal.today()),
        action_form=ActionForm(),
    )


_NUMBER_ERRORS = {
    "length": _l("Enter the 11 digits of a national identity number."),
    "checksum": _l("The check digits do not match: check the number."),
    "date": _l("The number holds no valid birth date: check the number."),
    "birth_date": _l("The number does not match the birth date."),
}


def _save_employee(employee: Employee, form: EmployeeForm) -> bool:
    """Check the identity number (typed, or the saved one) against the birth date and
    save; False with a field message (never echoing the number) when it does not pass."""
    number = None
    if form.remove_national_id.data:
        number = ""
    elif form.national_id.data:
        try:
            number = identity.validate(form.national_id.data, form.birth_date.data)
        except identity.InvalidNumber as exc:
            form.national_id.errors.append(_NUMBER_ERRORS[exc.reason])
            return False
    saved = None
    if number is None and employee.national_id_encrypted:
        saved = portal.vault().decrypt(employee.national_id_encrypted)
    known = number or saved
    birth_date = form.birth_date.data
    if known and birth_date is None:
        birth_date = identity.birth_date_of(known)
    elif saved and birth_date != identity.birth_date_of(saved):
        form.birth_date.errors.append(
            _("The birth date does not match the saved national identity number.")
        )
        return False
    department = _chosen_department(form.department.data)
    values = {
        "first_name": form.first_name.data,
        "last_name": form.last_name.data,
        "email": form.email.data,
        "mobile": form.mobile.data or None,
        "birth_date": birth_date,
        "gender": Gender(form.gender.data) if form.gender.data else None,
        "department_id": department.id if department else None,
    }
    try:
        portal.save_employee(employee, values, number, current_user.email)
    except portal.DuplicateEmployee:
        db.session.rollback()
        form.national_id.errors.append(
            _("Another employee of the company already has this national identity number.")
        )
        return False
    db.session.commit()
    return True


def _employee_form(employee: Employee | None) -> EmployeeForm:
    form = EmployeeForm(obj=None if request.method == "POST" else employee)
    form.gender.choices = _gender_choices()
    form.department.choices = _department_choices()
    if request.method == "GET" and employee is not None:
        form.gender.data = employee.gender.value if employee.gender else ""
        form.department.data = (
            str(employee.department_id) if employee.department_id else ("company")
        )
    return form


@routes.route("/employees/new", methods=["GET", "POST"])
@customer_required
def new_employee():
    """Ny ansatt."""
    form = _employee_form(None)
    if form.validate_on_submit():
        employee = Employee(organisation_id=current_user.organisation_id, active=True)
        if _save_employee(employee, form):
            flash(_("%(name)s was added.", name=employee.name), "success")
            return redirect(url_for("portal.employee", employee_id=employee.id))
    return render_template("portal/employee_form.html", form=form, employee=None)


@routes.route("/employees/<id:employee_id>/edit", methods=["GET", "POST"])
@customer_required
def edit_employee(employee_id: int):
    """Rediger ansatt: the identity number is shown masked and changed only when typed."""
    employee = _own(Employee, id=employee_id)
    form = _employee_form(employee)
    if form.validate_on_submit() and _save_employee(employee, form):
        flash(_("The changes were saved."), "success")
        return redirect(url_for("portal.employee", employee_id=employee.id))
    return render_template("portal/employee_form.html", form=form, employee=employee)


@routes.post("/employees/<id:employee_id>/deactivate")
@customer_required
def deactivate_employee(employee_id: int):
    """Deaktiver: off the pickers from the date, with the history kept."""
    employee = _own(Employee, id=employee_id)
    form = DeactivateForm()
    if not form.validate_on_submit():
        flash(_("Give the date of the deactivation."), "error")
    elif portal.set_active(employee, False, form.on.data, current_user.email):
        db.session.commit()
        flash(_("%(name)s was deactivated.", name=employee.name), "success")
    return redirect(url_for("portal.employee", employee_id=employee.id))


@routes.post("/employees/<id:employee_id>/reactivate")
@customer_required
def reactivate_employee(employee_id: int):
    employee = _own(Employee, id=employee_id)
    if ActionForm().validate_on_submit() and portal.set_active(
        employee, True, None, current_user.email
    ):
        db.session.commit()
        flash(_("%(name)s is active again.", name=employee.name), "success")
    return redirect(url_for("portal.employee", employee_id=employee.id))


# ---------------------------------------------------------------- Fakturaer


@routes.get("/invoices")
@customer_required
def invoices():
    """Søk etter faktura: number, dates and status (Ubetalt, Forfalt, Betalt, all)."""
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
    page = paginate(stmt, (CustomerInvoice.invoice_date, CustomerInvoice.id), 50)
    filters = _filters("number", "date_from", "date_to")
    filters["status"] = form.status.data or ""
    return render_template(
        "portal/invoices.html",
        form=form,
        page=page,
        filters=filters,
        status_of=portal.invoice_status,
    )


@routes.get("/invoices/<number>.pdf")
@customer_required
def invoice_pdf(number: str):
    invoice = _own(CustomerInvoice, number=number)
    pdf = portal_pdf.render(invoice)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="faktura-{invoice.number}.pdf"'},
    )


# ---------------------------------------------------------------- bookings


def _own_booking(booking_id: int) -> Booking:
    """An open booking the user may see: a department user, only their departments'
    (those of orders of the departments), not the whole company's."""
    booking = _own(Booking, department=portal.booking_department(), id=booking_id)
    if not booking.active:
        abort(404)
    return booking


def _matching(stmt: sa.Select, text: str | None) -> sa.Select:
    """Employees whose first name, last name or email holds every word of the text."""
    for word in (text or "").strip().lower().split()[:5]:
        pattern = f"%{word}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(Employee.first_name).like(pattern),
                sa.func.lower(Employee.last_name).like(pattern),
                sa.func.lower(Employee.email).like(pattern),
            )
        )
    return stmt


def _place_form(booking: Booking, formdata=None, search: str = "") -> PlaceForm:
    """The place form, offering at most PLACE_CHOICES employees: those the search finds
    (a large company's whole staff is no list to choose from), and the one posted."""
    form = PlaceForm(formdata=formdata) if formdata is not None else PlaceForm(formdata=None)
    placed = {p.employee_id for slot in booking.slots for p in slot.placements if not p.removed_at}
    candidates = own_scoped(Employee).where(
        portal.in_service(), Employee.id.not_in(placed) if placed else sa.true()
    )
    employees = list(
        db.session.scalars(
            _matching(candidates, search)
            .order_by(Employee.last_name, Employee.first_name, Employee.id)
            .limit(PLACE_CHOICES + 1)
        )
    )
    form.more_employees = len(employees) > PLACE_CHOICES
    employees = employees[:PLACE_CHOICES]
    posted = (formdata or {}).get("employee", "")
    if _ID.fullmatch(posted) and int(posted) not in {e.id for e in employees}:
        employees += db.session.scalars(candidates.where(Employee.id == int(posted)))
    form.employee.choices = [SelectChoice("", _("Choose the employee"))] + [
        SelectChoice(str(e.id), f"{e.name} ({e.email})") for e in employees
    ]
    form.slot.choices = [SelectChoice("", _("Choose the time"))] + [
        SelectChoice(str(s.id), _slot_label(s), render_kw={"disabled": True} if not s.free else {})
        for s in booking.slots
    ]
    return form


def _slot_label(slot: BookingSlot) -> str:
    from flask_babel import format_datetime, format_time

    return _(
        "%(start)s–%(end)s (%(free)s free)",
        start=format_datetime(slot.starts_at, "short"),
        end=format_time(slot.ends_at, "short"),
        free=slot.free,
    )


def _visible_placements(booking: Booking) -> list[Placement]:
    shown = {p.employee_id for slot in booking.slots for p in slot.placements}
    visible = set(
        db.session.scalars(
            own_scoped(Employee).where(Employee.id.in_(shown)).with_only_columns(Employee.id)
        )
    )
    return [
        p
        for slot in booking.slots
        for p in slot.placements
        if p.removed_at is None and p.employee_id in visible
    ]


@routes.get("/bookings/<id:booking_id>")
@customer_required
def booking(booking_id: int):
    """A booking: its times, who is placed, and the form to place more."""
    booking = _own_booking(booking_id)
    search_form = PlaceSearchForm(formdata=request.args)
    return render_template(
        "portal/booking.html",
        booking=booking,
        placements=_visible_placements(booking),
        form=_place_form(booking, search=search_form.q.data if search_form.validate() else ""),
        search_form=search_form,
        place_choices=PLACE_CHOICES,
        action_form=ActionForm(),
        open_=utcnow() <= booking.deadline,
    )


@routes.post("/bookings/<id:booking_id>/place")
@customer_required
def place(booking_id: int):
    booking = _own_booking(booking_id)
    form = _place_form(booking, request.form)
    if form.validate():
        employee = _own(Employee, id=int(form.employee.data))
        slot = next(s for s in booking.slots if str(s.id) == form.slot.data)
        try:
            portal.place(slot, employee, current_user.email)
        except portal.SlotFull:
            db.session.rollback()
            form.slot.errors.append(_("That time just filled up: choose another."))
        except (portal.AlreadyPlaced, IntegrityError):
            db.session.rollback()
            form.employee.errors.append(_("The employee is already placed on this booking."))
        except portal.NotInService:
            db.session.rollback()
            form.employee.errors.append(
                _("The employee is deactivated from a date before this time.")
            )
        except portal.PastDeadline:
            db.session.rollback()
            form.form_errors.append(_("The deadline has passed: contact us to make changes."))
        else:
            db.session.commit()
            flash(
                _("%(name)s was placed; they get the details by email.", name=employee.name),
                "success",
            )
            return redirect(url_for("portal.booking", booking_id=booking.id))
    return render_template(
        "portal/booking.html",
        booking=booking,
        placements=_visible_placements(booking),
        form=form,
        search_form=PlaceSearchForm(formdata=None),
        place_choices=PLACE_CHOICES,
        action_form=ActionForm(),
        open_=utcnow() <= booking.deadline,
    ), 400


@routes.post("/placements/<id:placement_id>/remove")
@customer_required
def remove_placement(placement_id: int):
    placement = db.session.get(Placement, placement_id)
    if placement is None:
        abort(404)
    booking = _own_booking(placement.booking_id)
    _own(Employee, id=placement.employee_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        removed = portal.remove(placement, current_user.email)
    except portal.PastDeadline:
        db.session.rollback()
        flash(_("The deadline has passed: contact us to make changes."), "error")
    else:
        db.session.commit()
        if removed:
            flash(_("%(name)s was taken off the booking.", name=placement.employee.name), "success")
    return redirect(url_for("portal.booking", booking_id=booking.id))


@routes.route("/egenerklaering/<token>", methods=["GET", "POST"])
def declaration(token: str):
    """Egenerklæring: the employee answers a few questions, without logging in."""
    placement = portal.placement_by_token(token)
    if placement is None:
        abort(404)
    form = declaration_form(
        portal.DECLARATION_QUESTIONS, request.form if request.method == "POST" else None
    )
    if request.method == "POST" and form.validate():
        answers = {key: form[key].data for key, _label in portal.DECLARATION_QUESTIONS}
        answers["other"] = form.other.data or ""
        portal.save_declaration(placement, answers)
        db.session.commit()
        with shown_in_zone("Europe/Oslo"):  # the appointment's own time
            return render_template("portal/declaration_done.html", placement=placement)
    with shown_in_zone("Europe/Oslo"):
        response = render_template(
            "portal/declaration.html",
            form=form,
            placement=placement,
            questions=[key for key, _label in portal.DECLARATION_QUESTIONS],
        )
    return response, 400 if form.errors else 200


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
def reports():
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
        filters=_filters("date_from", "date_to"),
    )


@routes.get("/reports.csv")
@customer_required
def reports_csv():
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
