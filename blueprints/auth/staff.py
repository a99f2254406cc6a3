"""The staff's organisations (with their departments) and, for administrators, the users:
accounts made, edited, invited, their second factor reset, under /auth."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Flask,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice

from access import admin_required, get_owned_or_404, scoped
from blueprints.auth.common import (
    send_password_link,
)
from blueprints.shared import Routes
from extensions import db
from forms.auth import (
    DepartmentForm,
    OrganisationForm,
    UserForm,
    UserSearchForm,
)
from forms.staff import ActionForm
from models.audit import AuditAction
from models.auth import Department, Organisation, Role, User
from paging import capped_counts, paginate
from services import accounts, audit
from services import two_factor as two_factor_service
from services.registry import (
    LookupHit,
    register_lookup,
    register_record_link,
    register_staff_section,
)

routes = Routes()


@routes.get("/organisations")
@login_required
def organisations() -> ResponseReturnValue:
    """List the organisations the user may see (staff: all; a customer: their own)."""
    if not current_user.is_staff:
        if current_user.organisation_id is None:
            return redirect(url_for("main.index"))
        return redirect(url_for("auth.organisation", org_id=current_user.organisation_id))
    page = paginate(scoped(Organisation), (Organisation.name, Organisation.id), per_page=25)
    user_counts = capped_counts(
        {org.id: sa.select(User).where(User.organisation_id == org.id) for org in page.items}
    )
    return render_template("auth/organisations.html", page=page, user_counts=user_counts)


@routes.get("/organisations/<id:org_id>")
@login_required
def organisation(org_id: int) -> ResponseReturnValue:
    """Show an organisation with its departments and users."""
    org = get_owned_or_404(Organisation, org_id)
    department_form = _department_form(org) if current_user.is_admin else None
    return render_template("auth/organisation.html", org=org, department_form=department_form)


def _staff_choices() -> list[SelectChoice]:
    staff = db.session.scalars(
        sa.select(User)
        .where(User.role.in_([Role.STAFF, Role.ADMIN]), User.active)
        .order_by(User.name)
    )
    return [SelectChoice("", "–")] + [
        SelectChoice(str(u.id), f"{u.name} ({u.email})") for u in staff
    ]


@routes.get("/users")
@admin_required
def users() -> ResponseReturnValue:
    """List and search the accounts."""
    form = UserSearchForm(formdata=request.args)
    stmt = sa.select(User).options(selectinload(User.organisation))
    if form.validate() and form.q.data:
        pattern = f"%{form.q.data.strip().lower()}%"
        stmt = stmt.outerjoin(User.organisation).where(
            sa.or_(
                sa.func.lower(User.name).like(pattern),
                User.email.like(pattern),
                sa.func.lower(Organisation.name).like(pattern),
            )
        )
    page = paginate(stmt, (User.name, User.id), per_page=50)
    return render_template("auth/users.html", page=page, form=form)


def _department_choices(organisation: Organisation | None) -> list[SelectChoice]:
    """The departments of the user's organisation, as its tree: those a customer user may
    be granted (the form checks any sent against the organisation, not against these)."""
    if organisation is None:
        return []
    return [
        SelectChoice(dep_id, name)
        for dep_id, name in organisation.department_choices()
        if dep_id is not None
    ]


def _set_access(user: User, form: UserForm) -> None:
    """The username shown in the portal and the departments a customer user may see."""
    user.username = (form.username.data or "").strip() or None
    ids = form.granted_department_ids.data or []
    user.granted_departments = (
        list(db.session.scalars(sa.select(Department).where(Department.id.in_(ids))))
        if ids and user.role == Role.CUSTOMER
        else []
    )


@routes.route("/users/new", methods=["GET", "POST"])
@admin_required
def create_user() -> ResponseReturnValue:
    """Create an account and email its owner a link for choosing a password."""
    form = UserForm()
    if form.validate_on_submit():
        org = form.organisation.picked
        try:
            user = accounts.create_user(
                form.email.data,
                accounts.unusable_password(),
                name=form.name.data,
                role=Role(form.role.data),
                organisation=org,
                language=form.language.data,
            )
        except accounts.AccountError as exc:
            form.email.errors.append(str(exc))
        else:
            user.active = form.active.data
            _set_access(user, form)
            if user.role != Role.CUSTOMER:  # staff rights from the start
                _record_role(user, None)
            send_password_link(user, accounts.INVITATION)
            db.session.commit()
            # Queued in the outbox, not yet sent: say no more than that it is coming.
            flash(
                _(
                    "The account was created; an invitation is on its way to %(email)s.",
                    email=user.email,
                ),
                "success",
            )
            return redirect(url_for("auth.users"), 303)
    form.granted_department_ids.choices = _department_choices(form.organisation.picked)
    return render_template("auth/user_form.html", form=form, user=None)


@routes.route("/users/<id:user_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int) -> ResponseReturnValue:
    """Change an account's details, role, organisation or whether it may log in."""
    user = db.get_or_404(User, user_id)
    form = UserForm(obj=user)
    if request.method == "GET":
        form.granted_department_ids.data = [d.id for d in user.granted_departments]
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        other = accounts.user_by_email(email)
        if other is not None and other.id != user.id:
            form.email.errors.append(_("Another account uses this email address."))
        elif user.id == current_user.id and (
            form.role.data != Role.ADMIN.value or not form.active.data
        ):
            form.role.errors.append(
                _("You cannot remove your own admin rights or deactivate yourself.")
            )
        else:
            old_role = user.role
            form.populate_obj(user)
            user.email = email
            user.role = Role(form.role.data)
            if user.role != old_role:
                _record_role(user, old_role)
            _set_access(user, form)
            db.session.commit()
            flash(_("The account was saved."), "success")
            return redirect(url_for("auth.users"), 303)
    form.granted_department_ids.choices = _department_choices(form.organisation.picked)
    return render_template(
        "auth/user_form.html",
        form=form,
        user=user,
        action_form=ActionForm(),
        second_factor=two_factor_service.status(user.id),
    )


def _record_role(user: User, old: Role | None) -> None:
    """A role given, in the audit log: the roles only, nothing of the person."""
    was = old.value if old is not None else "none"
    audit.record(AuditAction.ROLE_GRANTED, "user", user.id, f"role: {was} -> {user.role.value}")


@routes.post("/users/<id:user_id>/two-factor/reset")
@admin_required
def reset_two_factor(user_id: int) -> ResponseReturnValue:
    """Turn off a colleague's second factor (a lost phone): they set it up again."""
    user = db.get_or_404(User, user_id)
    if ActionForm().validate_on_submit():
        if user.id == current_user.id:
            flash(_("Turn your own two-factor login off in My details."), "error")
        else:
            two_factor_service.disable(user, actor=current_user, reset=True)
            db.session.commit()
            flash(
                _(
                    "The two-factor login of %(name)s was reset and their sessions ended. "
                    "They set it up again when they next log in.",
                    name=user.name,
                ),
                "success",
            )
    return redirect(url_for("auth.edit_user", user_id=user.id), 303)


@routes.post("/users/<id:user_id>/invite")
@admin_required
def invite_user(user_id: int) -> ResponseReturnValue:
    """Send the account's owner a new link for choosing a password."""
    user = db.get_or_404(User, user_id)
    if ActionForm().validate_on_submit():
        send_password_link(user, accounts.INVITATION)
        db.session.commit()
        flash(_("An invitation is on its way to %(email)s.", email=user.email), "success")
    return redirect(url_for("auth.edit_user", user_id=user.id), 303)


def _organisation_form(org: Organisation | None) -> OrganisationForm:
    form = OrganisationForm(obj=org)
    form.account_manager_id.choices = _staff_choices()
    return form


def _name_taken(name: str, org: Organisation | None) -> bool:
    other = db.session.scalar(sa.select(Organisation).where(Organisation.name == name.strip()))
    return other is not None and (org is None or other.id != org.id)


@routes.route("/organisations/new", methods=["GET", "POST"])
@admin_required
def create_organisation() -> ResponseReturnValue:
    """Add a customer organisation."""
    form = _organisation_form(None)
    if form.validate_on_submit():
        if _name_taken(form.name.data, None):
            form.name.errors.append(_("An organisation of this name exists already."))
        else:
            org = Organisation()
            form.populate_obj(org)
            org.name = org.name.strip()
            org.business_id = org.business_id or None
            db.session.add(org)
            db.session.commit()
            flash(_("The organisation was saved."), "success")
            return redirect(url_for("auth.organisation", org_id=org.id), 303)
    return render_template("auth/organisation_form.html", form=form, org=None)


@routes.route("/organisations/<id:org_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_organisation(org_id: int) -> ResponseReturnValue:
    """Change an organisation's details and account manager."""
    org = db.get_or_404(Organisation, org_id)
    form = _organisation_form(org)
    if form.validate_on_submit():
        if _name_taken(form.name.data, org):
            form.name.errors.append(_("An organisation of this name exists already."))
        else:
            form.populate_obj(org)
            org.name = org.name.strip()
            org.business_id = org.business_id or None
            db.session.commit()
            flash(_("The organisation was saved."), "success")
            return redirect(url_for("auth.organisation", org_id=org.id), 303)
    return render_template("auth/organisation_form.html", form=form, org=org)


def _department_form(org: Organisation) -> DepartmentForm:
    form = DepartmentForm()
    form.parent_id.choices = [SelectChoice("", "–")] + [
        SelectChoice(str(dep_id), name) for dep_id, name in org.department_choices() if dep_id
    ]
    return form


@routes.post("/organisations/<id:org_id>/departments")
@admin_required
def create_department(org_id: int) -> ResponseReturnValue:
    """Add a department to an organisation, at the top or under another one."""
    org = db.get_or_404(Organisation, org_id)
    form = _department_form(org)
    if form.validate_on_submit():
        name = form.name.data.strip()
        siblings = [d for d in org.departments if d.parent_id == form.parent_id.data]
        if any(d.name == name for d in siblings):
            form.name.errors.append(_("A department of this name exists already there."))
        else:
            db.session.add(Department(organisation=org, name=name, parent_id=form.parent_id.data))
            db.session.commit()
            flash(_("The department was added."), "success")
            return redirect(url_for("auth.organisation", org_id=org.id), 303)
    return render_template("auth/organisation.html", org=org, department_form=form), 200


def _lookup_user(code: str) -> list[LookupHit]:
    if "@" not in code:
        return []
    user = db.session.scalar(sa.select(User).where(User.email == code.strip().lower()))
    if user is None or user.organisation_id is None:
        return []
    return [
        LookupHit(
            _("User %(name)s (%(org)s)", name=user.name, org=user.organisation.name),
            url_for("auth.organisation", org_id=user.organisation_id),
        )
    ]


def _user_link(record_id: str) -> LookupHit | None:
    user = db.session.get(User, int(record_id)) if record_id.isdigit() else None
    if user is None:
        return None
    if current_user.is_admin:
        return LookupHit(user.name, url_for("auth.edit_user", user_id=user.id))
    if user.organisation_id is None:
        return LookupHit(user.name, url_for("staff.index"))
    return LookupHit(user.name, url_for("auth.organisation", org_id=user.organisation_id))


def setup_app(app: Flask) -> None:
    register_lookup(app, _lookup_user)
    register_record_link(app, "user", _user_link)
    register_staff_section(app, _l("Organisations"), "auth.organisations")
    register_staff_section(app, _l("Users"), "auth.users", admin_only=True)
