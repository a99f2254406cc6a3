"""Logging in and out, password reset, the profile (omat tiedot) and organisations."""

from __future__ import annotations

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

from access import get_owned_or_404, scoped
from blueprints import paginate, safe_next
from extensions import db, limiter
from forms.auth import LoginForm, PasswordResetForm, PasswordResetRequestForm, ProfileForm
from forms.staff import ActionForm
from models.auth import Organisation, User
from services import accounts
from services.outbox import queue_mail
from services.registry import LookupHit, register_lookup, register_staff_section

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _login_throttle_key() -> str:
    # Failures count per address and account, so one attacker cannot lock out everyone
    # and one account cannot be guessed at from many tabs.
    email = (request.form.get("email") or "").strip().lower()
    return f"login:{request.remote_addr}:{email}"


def _is_failed_login(response) -> bool:
    return response.status_code == 200  # the form shown again; success redirects


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_THROTTLE"],
    key_func=_login_throttle_key,
    methods=["POST"],
    deduct_when=_is_failed_login,
)
def login():
    """Log a user in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
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
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    """Log the user out."""
    form = ActionForm()
    if form.validate_on_submit():
        language = session.get("language")
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
            session["language"] = form.language.data
            db.session.commit()
            flash(_("Your details were saved."), "success")
            return redirect(url_for("auth.profile"), 303)
    return render_template("auth/profile.html", form=form)


def _reset_throttle_key() -> str:
    return f"reset:{request.remote_addr}"


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit("10 per hour", key_func=_reset_throttle_key, methods=["POST"])
def reset_request():
    """Email a password-reset link to the address, if it has an account."""
    form = PasswordResetRequestForm()
    if form.validate_on_submit():
        user = accounts.user_by_email(form.email.data)
        if user is not None and user.active:
            token = accounts.make_reset_token(user, current_app.config["SECRET_KEY"])
            queue_mail(
                "auth_password_reset",
                user.email,
                language=user.language,
                context={
                    "user": user,
                    "url": current_app.config["BASE_URL"] + url_for("auth.reset", token=token),
                    "minutes": current_app.config["PASSWORD_RESET_MAX_AGE"] // 60,
                },
                record=("user", user.id),
                sensitive=True,
            )
            db.session.commit()
        # The same answer whether or not the address has an account: no enumeration.
        flash(
            _("If the address has an account, a link for setting a new password is on its way."),
            "info",
        )
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    """Set a new password through an emailed link (single-use, expiring)."""
    config = current_app.config
    user = accounts.user_for_reset_token(
        token, config["SECRET_KEY"], config["PASSWORD_RESET_MAX_AGE"]
    )
    if user is None:
        flash(_("The link has expired or has been used already. Ask for a new one."), "error")
        return redirect(url_for("auth.reset_request"), 303)
    form = PasswordResetForm()
    if form.validate_on_submit():
        accounts.set_password(user, form.password.data)
        db.session.commit()
        flash(_("Your password was changed. You can now log in."), "success")
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/reset.html", form=form)


@bp.get("/organisations")
@login_required
def organisations():
    """List the organisations the user may see (staff: all; a customer: their own)."""
    if not current_user.is_staff:
        if current_user.organisation_id is None:
            return redirect(url_for("main.index"))
        return redirect(url_for("auth.organisation", org_id=current_user.organisation_id))
    page = paginate(scoped(Organisation).order_by(Organisation.name), per_page=25)
    return render_template("auth/organisations.html", page=page)


@bp.get("/organisations/<id:org_id>")
@login_required
def organisation(org_id: int):
    """Show an organisation with its departments and users."""
    org = get_owned_or_404(Organisation, org_id)
    return render_template("auth/organisation.html", org=org)


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


def setup_app(app: Flask) -> None:
    register_lookup(app, _lookup_user)
    register_staff_section(app, _l("Organisations"), "auth.organisations")
