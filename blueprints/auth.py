"""Logging in and out, password reset, the profile (omat tiedot) and organisations."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice

from access import admin_required, get_owned_or_404, scoped
from blueprints import paginate, safe_next
from extensions import db, limiter
from forms.auth import (
    DepartmentForm,
    LoginForm,
    OrganisationForm,
    PasswordResetForm,
    PasswordResetRequestForm,
    ProfileForm,
    UserForm,
    UserSearchForm,
)
from forms.staff import ActionForm
from fragments import cached_content, content_key
from models.auth import Department, Organisation, Role, User
from paging import capped_counts
from services import accounts
from services.outbox import queue_mail
from services.registry import (
    LookupHit,
    register_lookup,
    register_record_link,
    register_staff_section,
)
from services.urls import external_url

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _login_email() -> str:
    return (request.form.get("email") or "").strip().lower()[:254]


def _is_failed_login(response) -> bool:
    return response.status_code == 200  # the form shown again; success redirects


def _login_throttle(setting: str, key: Callable[[], str]):
    """Count failed logins under `key`; past the configured limit, answer 429."""
    return limiter.limit(
        lambda: current_app.config[setting],
        key_func=key,
        methods=["POST"],
        deduct_when=_is_failed_login,
        scope=setting,
    )


@bp.route("/login", methods=["GET", "POST"])
@_login_throttle("LOGIN_THROTTLE", lambda: f"{request.remote_addr}|{_login_email()}")
@_login_throttle("LOGIN_THROTTLE_ACCOUNT", _login_email)
@_login_throttle("LOGIN_THROTTLE_ADDRESS", lambda: request.remote_addr or "")
def login():
    """Log a user in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    key = content_key(tables=())  # the form shows no rows
    if kept_page := cached_content(key):
        return render_template("auth/login.html", kept_page=kept_page)
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            form.form_errors.append(_("The email address or password is wrong."))
        else:
            db.session.commit()
            session.clear()  # a fresh session on login: no fixation
            login_user(user, remember=form.remember.data)
            session["language"] = user.language
            flash(_("You are logged in as %(name)s.", name=user.name), "success")
            default = url_for("staff.index") if user.is_staff else url_for("main.index")
            return redirect(safe_next(form.next.data) or default, 303)
    return render_template("auth/login.html", form=form, content_key=key)


@bp.post("/logout")
def logout():
    """Log the user out."""
    form = ActionForm()
    if form.validate_on_submit():
        language = session.get("language")
        if current_user.is_authenticated:
            current_user.end_sessions()  # a copied cookie dies with this logout
            db.session.commit()
        logout_user()
        session.clear()
        if language:
            session["language"] = language
        flash(_("You have logged out."), "success")
    return redirect(url_for("main.index"), 303)


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Show and update the user's own details (omat tiedot)."""
    form = ProfileForm(obj=current_user)
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        other = accounts.user_by_email(email)
        if other is not None and other.id != current_user.id:
            form.email.errors.append(_("Another account uses this email address."))
        else:
            current_user.name = form.name.data.strip()
            current_user.email = email
            current_user.language = form.language.data
            try:
                db.session.commit()
            except sa.exc.IntegrityError:  # the same address taken a moment ago
                db.session.rollback()
                form.email.errors.append(_("Another account uses this email address."))
            else:
                session["language"] = form.language.data
                flash(_("Your details were saved."), "success")
                return redirect(url_for("auth.profile"), 303)
    return render_template("auth/profile.html", form=form)


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["PASSWORD_RESET_THROTTLE"],
    key_func=lambda: request.remote_addr or "",
    methods=["POST"],
)
def reset_request():
    """Email a password-reset link to the address, if it has an account."""
    form = PasswordResetRequestForm()
    if form.validate_on_submit():
        user = accounts.user_by_email(form.email.data)
        if user is not None and user.active:
            _send_password_link(user, accounts.RESET)
            db.session.commit()
        # The same answer whether or not the address has an account: no enumeration.
        flash(
            _("If the address has an account, a link for setting a new password is on its way."),
            "info",
        )
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/reset_request.html", form=form)


# Per purpose of a password link: its mail template, its page and its lifetime setting.
PASSWORD_LINKS = {
    accounts.RESET: ("auth_password_reset", "auth.reset", "PASSWORD_RESET_MAX_AGE"),
    accounts.INVITATION: ("auth_invitation", "auth.welcome", "INVITATION_MAX_AGE"),
}


def _send_password_link(user: User, purpose: str) -> None:
    """Queue the mail with a single-use link for choosing a password."""
    template, endpoint, max_age_setting = PASSWORD_LINKS[purpose]
    config = current_app.config
    token = accounts.make_password_token(user, config["SECRET_KEY"], purpose)
    max_age = config[max_age_setting]
    queue_mail(
        template,
        user.email,
        language=user.language,
        context={
            "user": user,
            "url": external_url(endpoint, token=token),
            "minutes": max_age // 60,
            "days": max_age // 86400,
        },
        record=("user", user.id),
        sensitive=True,  # a personal secret: staff may not read it
    )


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    """Set a new password through an emailed link (single-use, expiring)."""
    return _set_password(token, accounts.RESET)


@bp.route("/welcome/<token>", methods=["GET", "POST"])
def welcome(token: str):
    """Set the first password of an invited account (single-use, expiring)."""
    return _set_password(token, accounts.INVITATION)


def _set_password(token: str, purpose: str):
    config = current_app.config
    max_age = config[PASSWORD_LINKS[purpose][2]]
    user = accounts.user_for_password_token(token, config["SECRET_KEY"], max_age, purpose)
    if user is None:
        flash(_("The link has expired or has been used already. Ask for a new one."), "error")
        return redirect(url_for("auth.reset_request"), 303)
    form = PasswordResetForm()
    if form.validate_on_submit():
        accounts.set_password(user, form.password.data)
        db.session.commit()
        flash(_("Your password was saved. You can now log in."), "success")
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/reset.html", form=form, welcome=purpose == accounts.INVITATION)


@bp.get("/organisations")
@login_required
def organisations():
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


@bp.get("/organisations/<id:org_id>")
@login_required
def organisation(org_id: int):
    """Show an organisation with its departments and users."""
    org = get_owned_or_404(Organisation, org_id)
    department_form = _department_form(org) if current_user.is_admin else None
    return render_template("auth/organisation.html", org=org, department_form=department_form)


# --- Administration of accounts and organisations (admins) ---------------------------


def _staff_choices() -> list[SelectChoice]:
    staff = db.session.scalars(
        sa.select(User)
        .where(User.role.in_([Role.STAFF, Role.ADMIN]), User.active)
        .order_by(User.name)
    )
    return [SelectChoice("", "–")] + [
        SelectChoice(str(u.id), f"{u.name} ({u.email})") for u in staff
    ]


@bp.get("/users")
@admin_required
def users():
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


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def create_user():
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
            _send_password_link(user, accounts.INVITATION)
            db.session.commit()
            flash(
                _("The account was created and an invitation sent to %(email)s.", email=user.email),
                "success",
            )
            return redirect(url_for("auth.users"), 303)
    form.granted_department_ids.choices = _department_choices(form.organisation.picked)
    return render_template("auth/user_form.html", form=form, user=None)


@bp.route("/users/<id:user_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int):
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
            form.populate_obj(user)
            user.email = email
            user.role = Role(form.role.data)
            _set_access(user, form)
            db.session.commit()
            flash(_("The account was saved."), "success")
            return redirect(url_for("auth.users"), 303)
    form.granted_department_ids.choices = _department_choices(form.organisation.picked)
    return render_template("auth/user_form.html", form=form, user=user, action_form=ActionForm())


@bp.post("/users/<id:user_id>/invite")
@admin_required
def invite_user(user_id: int):
    """Send the account's owner a new link for choosing a password."""
    user = db.get_or_404(User, user_id)
    if ActionForm().validate_on_submit():
        _send_password_link(user, accounts.INVITATION)
        db.session.commit()
        flash(_("An invitation was sent to %(email)s.", email=user.email), "success")
    return redirect(url_for("auth.edit_user", user_id=user.id), 303)


def _organisation_form(org: Organisation | None) -> OrganisationForm:
    form = OrganisationForm(obj=org)
    form.account_manager_id.choices = _staff_choices()
    return form


def _name_taken(name: str, org: Organisation | None) -> bool:
    other = db.session.scalar(sa.select(Organisation).where(Organisation.name == name.strip()))
    return other is not None and (org is None or other.id != org.id)


@bp.route("/organisations/new", methods=["GET", "POST"])
@admin_required
def create_organisation():
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


@bp.route("/organisations/<id:org_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_organisation(org_id: int):
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


@bp.post("/organisations/<id:org_id>/departments")
@admin_required
def create_department(org_id: int):
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
