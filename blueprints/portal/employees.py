"""The customer's employees (Ansatte), under /portal/employees: the list, an employee's
page, adding, editing, deactivating; the fødselsnummer is shown masked."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
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
    chosen_department,
    customer_required,
    department_choices,
    department_filter,
    matching,
    own,
    query_filters,
)
from blueprints.shared import Routes
from extensions import db
from forms.portal import (
    DeactivateForm,
    EmployeeForm,
    EmployeeSearchForm,
)
from forms.staff import ActionForm
from models.portal import (
    Employee,
    Gender,
    Placement,
)
from paging import paginate
from services import exports, identity, portal
from services.exports import Column

routes = Routes()


GENDER_LABELS = {Gender.MALE: _l("Male"), Gender.FEMALE: _l("Female"), Gender.OTHER: _l("Other")}


def _gender_choices() -> list:
    return [SelectChoice("", _("Not given"))] + [
        SelectChoice(g.value, GENDER_LABELS[g]) for g in Gender
    ]


EMPLOYEE_ORDER = (Employee.last_name, Employee.first_name, Employee.id)


def _employee_search() -> tuple[EmployeeSearchForm, sa.Select]:
    """The employee search of the query and the user's employees it finds."""
    form = EmployeeSearchForm(formdata=request.args)
    form.department.choices = department_choices(_("All"))
    stmt = own_scoped(Employee).options(selectinload(Employee.department))
    if not form.inactive.data:
        stmt = stmt.where(portal.in_service())
    stmt = matching(stmt, form.q.data if form.validate() else "")
    stmt = department_filter(stmt, Employee, form.department.data or "")
    return form, stmt


@routes.get("/employees")
@customer_required
def employees() -> ResponseReturnValue:
    """Finn ansatte: free text and department."""
    form, stmt = _employee_search()
    page = paginate(stmt, EMPLOYEE_ORDER, 50)
    return render_template(
        "portal/employees.html",
        form=form,
        page=page,
        filters=query_filters("q", "department", "inactive"),
    )


# As the list shows them: the birth date, never the identity number (not even masked).
EMPLOYEE_COLUMNS = (
    Column(_l("Last name"), lambda e: e.last_name),
    Column(_l("First name"), lambda e: e.first_name),
    Column(_l("Birth date"), lambda e: e.birth_date, "date"),
    Column(_l("Email"), lambda e: e.email),
    Column(
        _l("Employer"),
        lambda e: e.department.name if e.department else current_user.organisation.name,
    ),
    Column(_l("Status"), lambda e: "" if e.active else _("deactivated")),
)


@routes.get("/employees/export.<any(csv, xlsx):fmt>")
@customer_required
def employees_export(fmt: str) -> ResponseReturnValue:
    """Download the employees found, in the list's order, as CSV or Excel."""
    _form, stmt = _employee_search()
    return exports.export_response(
        fmt,
        "employees",
        EMPLOYEE_COLUMNS,
        exports.iterate(stmt, EMPLOYEE_ORDER),
        personal=True,
        what="portal.employees",
    )


@routes.get("/employees/<id:employee_id>")
@customer_required
def employee(employee_id: int) -> ResponseReturnValue:
    employee = own(Employee, id=employee_id)
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
    department = chosen_department(form.department.data)
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
    form.department.choices = department_choices()
    if request.method == "GET" and employee is not None:
        form.gender.data = employee.gender.value if employee.gender else ""
        form.department.data = (
            str(employee.department_id) if employee.department_id else ("company")
        )
    return form


@routes.route("/employees/new", methods=["GET", "POST"])
@customer_required
def new_employee() -> ResponseReturnValue:
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
def edit_employee(employee_id: int) -> ResponseReturnValue:
    """Rediger ansatt: the identity number is shown masked and changed only when typed."""
    employee = own(Employee, id=employee_id)
    form = _employee_form(employee)
    if form.validate_on_submit() and _save_employee(employee, form):
        flash(_("The changes were saved."), "success")
        return redirect(url_for("portal.employee", employee_id=employee.id))
    return render_template("portal/employee_form.html", form=form, employee=employee)


@routes.post("/employees/<id:employee_id>/deactivate")
@customer_required
def deactivate_employee(employee_id: int) -> ResponseReturnValue:
    """Deaktiver: off the pickers from the date, with the history kept."""
    employee = own(Employee, id=employee_id)
    form = DeactivateForm()
    if not form.validate_on_submit():
        flash(_("Give the date of the deactivation."), "error")
    elif portal.set_active(employee, False, form.on.data, current_user.email):
        db.session.commit()
        flash(_("%(name)s was deactivated.", name=employee.name), "success")
    return redirect(url_for("portal.employee", employee_id=employee.id))


@routes.post("/employees/<id:employee_id>/reactivate")
@customer_required
def reactivate_employee(employee_id: int) -> ResponseReturnValue:
    employee = own(Employee, id=employee_id)
    if ActionForm().validate_on_submit() and portal.set_active(
        employee, True, None, current_user.email
    ):
        db.session.commit()
        flash(_("%(name)s is active again.", name=employee.name), "success")
    return redirect(url_for("portal.employee", employee_id=employee.id))
