"""Logging in and out, password reset, the profile (omat tiedot) and organisations."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import (
    Flask,
    current_app,
    flash,
    g,
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
from blueprints.shared import Routes
from extensions import db, limiter
from forms.auth import (
    DepartmentForm,
    LoginForm,
    OrganisationForm,
    PasswordResetForm,
    PasswordResetRequestForm,
    ProfileForm,
    RecoveryCodeForm,
    TwoFactorConfirmForm,
    TwoFactorForm,
    TwoFactorSetupForm,
    UserForm,
    UserSearchForm,
)
from forms.staff import ActionForm
from fragments import cached_content, content_key
from models.audit import AuditAction
from models.auth import Department, Organisation, Role, User
from models.types import utcnow
from paging import capped_counts, paginate
from security import safe_next
from services import accounts, audit
from services import two_factor as two_factor_service
from services.outbox import queue_mail
from services.registry import (
    LookupHit,
    register_lookup,
    register_record_link,
    register_staff_section,
)
from services.urls import external_url

routes = Routes()


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


@routes.route("/login", methods=["GET", "POST"])
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
            has_second_factor = user.totp_enabled_at is not None
            must_enrol = user.is_staff and current_app.config["TWO_FACTOR_REQUIRED"]
            db.session.commit()
            if has_second_factor or must_enrol:
                # Not logged in yet: the password is half of it.
                _begin_pending(
                    user, form.remember.data, form.next.data, enrol=not has_second_factor
                )
                if has_second_factor:
                    return redirect(url_for("auth.two_factor"), 303)
                flash(_("Staff accounts log in with two-factor login. Set it up now."), "info")
                return redirect(url_for("auth.two_factor_setup"), 303)
            return _complete_login(user, form.remember.data, form.next.data)
    return render_template("auth/login.html", form=form, content_key=key)


def _complete_login(user: User, remember: bool, next_target: str | None):
    session.clear()  # a fresh session on login: no fixation
    login_user(user, remember=remember)
    session["language"] = user.language
    flash(_("You are logged in as %(name)s.", name=user.name), "success")
    return redirect(safe_next(next_target) or _landing(user), 303)


def _landing(user: User) -> str:
    return url_for("staff.index") if user.is_staff else url_for("main.index")


# --- The second step of a login (TOTP or a recovery code) -----------------------------

# A login whose password was right and whose second factor is still to come: the user,
# their session token (a password changed meanwhile voids it), when it ends, and where
# the login goes on to. In the signed session cookie, never in process memory.
PENDING = "pending_login"
PENDING_SECONDS = 300


def _begin_pending(user: User, remember: bool, next_target: str | None, *, enrol: bool) -> None:
    session.clear()  # whatever the session held before, as for a login
    session[PENDING] = {
        "user": user.id,
        "token": user.session_token,
        "until": int(time.time()) + PENDING_SECONDS,
        "remember": bool(remember),
        "next": safe_next(next_target) or "",
        "enrol": enrol,
    }
    session["language"] = user.language


def _pending() -> dict[str, Any] | None:
    """The pending login of this session, if it has not expired."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict):
        return None
    until, user_id = pending.get("until"), pending.get("user")
    if not isinstance(until, int) or until < time.time():
        return None
    if not isinstance(user_id, int) or not 0 < user_id < 2**31:
        return None
    return pending


def _pending_user(*, enrol: bool) -> User | None:
    """The user of this session's pending login of that kind, if it still holds."""
    pending = _pending()
    if pending is None or pending.get("enrol") is not enrol:
        return None
    user = db.session.get(User, pending["user"])
    token = pending.get("token")
    if user is None or not user.active or not isinstance(token, str) or not token.isascii():
        return None
    if not hmac.compare_digest(user.session_token, token):
        return None  # the password changed, or an admin ended the user's sessions
    return user


def _pending_expired():
    """Where a page of the second step goes without a pending login of its kind."""
    pending = _pending()
    if pending is not None and isinstance(pending.get("enrol"), bool):
        # A login that holds, at the other step's page: back to its own.
        step = "auth.two_factor_setup" if pending["enrol"] else "auth.two_factor"
        if request.endpoint != step:
            return redirect(url_for(step), 303)
    session.pop(PENDING, None)
    flash(_("The login took too long or was interrupted. Log in again."), "error")
    return redirect(url_for("auth.login"), 303)


def _finish_pending(user: User):
    pending = _pending() or {}
    return _complete_login(user, pending.get("remember", False), pending.get("next"))


def _second_factor_account() -> str:
    """Whose second factor a request tries: the pending login's user, or the logged-in one."""
    pending = session.get(PENDING)
    if isinstance(pending, dict) and isinstance(pending.get("user"), int):
        return f"user:{pending['user']}"
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return ""


def _code_failed(response) -> bool:
    return bool(g.get("second_factor_failed"))


def _code_throttle(view: Callable) -> Callable:
    """Count wrong codes (and passwords proving the owner) like wrong passwords, per
    account and per address and account, over every page that checks one."""
    for scope, key in (
        ("TWO_FACTOR_THROTTLE_ACCOUNT", _second_factor_account),
        ("TWO_FACTOR_THROTTLE", lambda: f"{request.remote_addr}|{_second_factor_account()}"),
    ):
        view = limiter.shared_limit(
            lambda: current_app.config["TWO_FACTOR_THROTTLE"],
            scope=scope,
            key_func=key,
            methods=["POST"],
            deduct_when=_code_failed,
        )(view)
    return view


def _keys() -> tuple[list[str], str]:
    config = current_app.config
    return config.get("NATIONAL_ID_KEYS") or [], config["SECRET_KEY"]


WRONG_CODE = _l(
    "The code is wrong. Enter the code your app shows now, and check that the clock of "
    "your device is right."
)
REPLAYED_CODE = _l("This code was used already. Wait for the next code in your app and enter it.")


@routes.route("/two-factor", methods=["GET", "POST"])
@_code_throttle
def two_factor():
    """Ask a logging-in user for the code of their authenticator app."""
    user = _pending_user(enrol=False)
    if user is None:
        return _pending_expired()
    form = TwoFactorForm()
    if form.validate_on_submit():
        check = two_factor_service.check_login_code(user.id, form.code.data, *_keys(), utcnow())
        if check is two_factor_service.CodeCheck.ACCEPTED:
            db.session.commit()
            return _finish_pending(user)
        form.code.errors.append(
            REPLAYED_CODE if check is two_factor_service.CodeCheck.REPLAYED else WRONG_CODE
        )
    if form.is_submitted():
        g.second_factor_failed = True
        form.code.data = ""
    return render_template("auth/two_factor.html", form=form)


@routes.route("/two-factor/recovery", methods=["GET", "POST"])
@_code_throttle
def two_factor_recovery():
    """Let a logging-in user who has no app at hand use a recovery code."""
    user = _pending_user(enrol=False)
    if user is None:
        return _pending_expired()
    form = RecoveryCodeForm()
    if form.validate_on_submit():
        secret_key = _keys()[1]
        if two_factor_service.spend_recovery_code(user.id, form.code.data, secret_key, utcnow()):
            db.session.commit()
            left = two_factor_service.status(user.id).recovery_codes_left
            response = _finish_pending(user)
            flash(
                _(
                    "You used a recovery code; %(left)d are left. You can make new ones in "
                    "My details.",
                    left=left,
                ),
                "info" if left > 2 else "error",
            )
            return response
        form.code.errors.append(_("The recovery code is wrong or has been used already."))
    if form.is_submitted():
        g.second_factor_failed = True
        form.code.data = ""
    return render_template("auth/two_factor_recovery.html", form=form)


def _setup_user() -> tuple[User | None, bool]:
    """Who sets up a second factor: the logged-in user, or a pending login that must."""
    if current_user.is_authenticated:
        return current_user, False
    return _pending_user(enrol=True), True


@routes.route("/two-factor/setup", methods=["GET", "POST"])
def two_factor_setup():
    """Turn two-factor login on: add the account to an app and confirm with its code."""
    user, logging_in = _setup_user()
    if user is None:
        if PENDING not in session:
            return current_app.login_manager.unauthorized()
        return _pending_expired()
    if two_factor_service.status(user.id).enabled:
        flash(_("Two-factor login is on already."), "info")
        return redirect(url_for("auth.profile"), 303)
    keys, secret_key = _keys()
    now = utcnow()
    form = TwoFactorSetupForm()
    secret = None
    if form.is_submitted():
        token = form.secret_token.data
        secret = two_factor_service.secret_of_setup_token(token, user.id, keys, secret_key, now)
        if secret is None:
            form.form_errors.append(
                _("The page had expired. Add the account to your app again from this page.")
            )
        elif form.validate_on_submit():
            codes = two_factor_service.enable(
                user, secret, form.code.data, keys, secret_key, now, actor=user
            )
            if codes is not None:
                db.session.commit()
                if logging_in:
                    pending = _pending() or {}
                    _complete_login(user, pending.get("remember", False), None)
                    next_url = safe_next(pending.get("next")) or _landing(user)
                else:
                    flash(_("Two-factor login is on."), "success")
                    next_url = url_for("auth.profile")
                return render_template(
                    "auth/two_factor_codes.html", codes=codes, next_url=next_url, form=None
                )
            form.code.errors.append(WRONG_CODE)
        form.code.data = ""
    if secret is None:
        secret = two_factor_service.new_secret()
        form.secret_token.data = two_factor_service.setup_token(
            user.id, secret, keys, secret_key, now
        )
    uri = two_factor_service.provisioning_uri(secret, user.email)
    return render_template(
        "auth/two_factor_setup.html",
        form=form,
        qr=two_factor_service.qr_data_uri(uri),
        secret=two_factor_service.grouped(secret),
        logging_in=logging_in,
    )


def _proof_accepted(form: TwoFactorConfirmForm) -> bool:
    """Whether the form's password or current code is the logged-in user's; otherwise
    the field says why and the attempt counts towards the throttle."""
    text = form.proof.data
    if two_factor_service.normalise_code(text) is not None:
        check = two_factor_service.check_login_code(current_user.id, text, *_keys(), utcnow())
        if check is two_factor_service.CodeCheck.ACCEPTED:
            return True
        message = REPLAYED_CODE if check is two_factor_service.CodeCheck.REPLAYED else WRONG_CODE
    elif two_factor_service.password_matches(current_user.id, text):
        return True
    else:
        message = _("The password or code is wrong.")
    form.proof.errors.append(message)
    g.second_factor_failed = True
    return False


def _second_factor_on() -> bool:
    if two_factor_service.status(current_user.id).enabled:
        return True
    flash(_("Two-factor login is off."), "info")
    return False


@routes.route("/two-factor/recovery-codes", methods=["GET", "POST"])
@login_required
@_code_throttle
def recovery_codes():
    """Make new recovery codes; the old ones stop working."""
    if not _second_factor_on():
        return redirect(url_for("auth.profile"), 303)
    form = TwoFactorConfirmForm()
    if form.validate_on_submit() and _proof_accepted(form):
        codes = two_factor_service.replace_recovery_codes(current_user.id, _keys()[1], utcnow())
        db.session.commit()
        flash(_("New recovery codes were made; the old ones no longer work."), "success")
        return render_template(
            "auth/two_factor_codes.html", codes=codes, next_url=url_for("auth.profile"), form=None
        )
    return render_template("auth/two_factor_codes.html", codes=None, form=form)


@routes.route("/two-factor/disable", methods=["GET", "POST"])
@login_required
@_code_throttle
def two_factor_disable():
    """Turn two-factor login off, with the password or a current code."""
    if not _second_factor_on():
        return redirect(url_for("auth.profile"), 303)
    if current_user.is_staff and current_app.config["TWO_FACTOR_REQUIRED"]:
        flash(_("Staff accounts must keep two-factor login on."), "error")
        return redirect(url_for("auth.profile"), 303)
    form = TwoFactorConfirmForm()
    if form.validate_on_submit() and _proof_accepted(form):
        two_factor_service.disable(current_user, actor=current_user)
        db.session.commit()
        flash(_("Two-factor login is off."), "success")
        return redirect(url_for("auth.profile"), 303)
    return render_template("auth/two_factor_disable.html", form=form)


def _require_second_factor():
    """With TWO_FACTOR_REQUIRED, a staff login made without a second factor (before it
    was required, or kept by a remember cookie) ends: the next login sets one up."""
    if not current_app.config["TWO_FACTOR_REQUIRED"] or request.endpoint in (
        "static",
        "auth.logout",
    ):
        return None
    if not (current_user.is_authenticated and current_user.is_staff):
        return None
    if current_user.totp_enabled_at is not None:
        return None
    logout_user()  # and its remember cookie
    flash(_("Staff accounts log in with two-factor login. Log in again to set it up."), "info")
    target = request.full_path if request.query_string else request.path
    if request.method != "GET":
        target = None
    return redirect(url_for("auth.login", next=safe_next(target)), 303)


@routes.post("/logout")
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


@routes.route("/profile", methods=["GET", "POST"])
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
    return render_template(
        "auth/profile.html",
        form=form,
        second_factor=two_factor_service.status(current_user.id),
        second_factor_required=current_user.is_staff and current_app.config["TWO_FACTOR_REQUIRED"],
    )


@routes.route("/reset", methods=["GET", "POST"])
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
            "url": external_url(endpoint, token=token, language=user.language),
            "minutes": max_age // 60,
            "days": max_age // 86400,
        },
        record=("user", user.id),
        sensitive=True,  # a personal secret: staff may not read it
    )


@routes.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    """Set a new password through an emailed link (single-use, expiring)."""
    return _set_password(token, accounts.RESET)


@routes.route("/welcome/<token>", methods=["GET", "POST"])
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


@routes.get("/organisations")
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


@routes.get("/organisations/<id:org_id>")
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


@routes.get("/users")
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


@routes.route("/users/new", methods=["GET", "POST"])
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
            if user.role != Role.CUSTOMER:  # staff rights from the start
                _record_role(user, None)
            _send_password_link(user, accounts.INVITATION)
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
def reset_two_factor(user_id: int):
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
def invite_user(user_id: int):
    """Send the account's owner a new link for choosing a password."""
    user = db.get_or_404(User, user_id)
    if ActionForm().validate_on_submit():
        _send_password_link(user, accounts.INVITATION)
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


@routes.route("/organisations/<id:org_id>/edit", methods=["GET", "POST"])
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


@routes.post("/organisations/<id:org_id>/departments")
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
    app.before_request(_require_second_factor)
    register_lookup(app, _lookup_user)
    register_record_link(app, "user", _user_link)
    register_staff_section(app, _l("Organisations"), "auth.organisations")
    register_staff_section(app, _l("Users"), "auth.users", admin_only=True)
