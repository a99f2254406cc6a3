"""Logging in and out, password reset, the profile (omat tiedot) and organisations."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import (
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from blueprints.auth.common import (
    PASSWORD_LINKS,
    begin_pending,
    complete_login,
    send_password_link,
)
from blueprints.shared import Routes
from extensions import db, limiter, on_post
from forms.auth import (
    LoginForm,
    PasswordResetForm,
    PasswordResetRequestForm,
    ProfileForm,
)
from forms.staff import ActionForm
from fragments import cached_content, content_key
from services import accounts
from services import two_factor as two_factor_service

routes = Routes()


def _login_email() -> str:
    return (request.form.get("email") or "").strip().lower()[:254]


def _is_failed_login(response) -> bool:
    return response.status_code == 200  # the form shown again; success redirects


def _login_throttle(setting: str, key: Callable[[], str]):
    """Count failed logins under `key`; past the configured limit, answer 429."""
    return on_post(
        limiter.limit(
            lambda: current_app.config[setting],
            key_func=key,
            methods=["POST"],
            deduct_when=_is_failed_login,
            scope=setting,
        )
    )


@routes.route("/login", methods=["GET", "POST"])
@_login_throttle("LOGIN_THROTTLE", lambda: f"{request.remote_addr}|{_login_email()}")
@_login_throttle("LOGIN_THROTTLE_ACCOUNT", _login_email)
@_login_throttle("LOGIN_THROTTLE_ADDRESS", lambda: request.remote_addr or "")
def login() -> ResponseReturnValue:
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
                begin_pending(user, form.remember.data, form.next.data, enrol=not has_second_factor)
                if has_second_factor:
                    return redirect(url_for("auth.two_factor"), 303)
                flash(_("Staff accounts log in with two-factor login. Set it up now."), "info")
                return redirect(url_for("auth.two_factor_setup"), 303)
            return complete_login(user, form.remember.data, form.next.data)
    return render_template("auth/login.html", form=form, content_key=key)


@routes.post("/logout")
def logout() -> ResponseReturnValue:
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
def profile() -> ResponseReturnValue:
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
@on_post(
    limiter.limit(
        lambda: current_app.config["PASSWORD_RESET_THROTTLE"],
        key_func=lambda: request.remote_addr or "",
        methods=["POST"],
    )
)
def reset_request() -> ResponseReturnValue:
    """Email a password-reset link to the address, if it has an account."""
    form = PasswordResetRequestForm()
    if form.validate_on_submit():
        user = accounts.user_by_email(form.email.data)
        if user is not None and user.active:
            send_password_link(user, accounts.RESET)
            db.session.commit()
        # The same answer whether or not the address has an account: no enumeration.
        flash(
            _("If the address has an account, a link for setting a new password is on its way."),
            "info",
        )
        return redirect(url_for("auth.login"), 303)
    return render_template("auth/reset_request.html", form=form)


@routes.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> ResponseReturnValue:
    """Set a new password through an emailed link (single-use, expiring)."""
    return _set_password(token, accounts.RESET)


@routes.route("/welcome/<token>", methods=["GET", "POST"])
def welcome(token: str) -> ResponseReturnValue:
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
