"""The second factor, under /auth/two-factor: the second step of a login (a TOTP code or a
recovery code), setting it up, new recovery codes, turning it off, and the check that
keeps every other page from a user who must set it up first."""

from __future__ import annotations

from collections.abc import Callable

from flask import (
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, logout_user

from blueprints.auth.common import (
    PENDING,
    complete_login,
    finish_pending,
    landing,
    pending_expired,
    pending_login,
    pending_user,
)
from blueprints.shared import Routes
from extensions import db, limiter, on_post
from forms.auth import (
    RecoveryCodeForm,
    TwoFactorConfirmForm,
    TwoFactorForm,
    TwoFactorSetupForm,
)
from models.auth import User
from models.types import utcnow
from security import safe_next
from services import two_factor as two_factor_service

routes = Routes()


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
        view = on_post(
            limiter.shared_limit(
                lambda: current_app.config["TWO_FACTOR_THROTTLE"],
                scope=scope,
                key_func=key,
                methods=["POST"],
                deduct_when=_code_failed,
            )
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
def two_factor() -> ResponseReturnValue:
    """Ask a logging-in user for the code of their authenticator app."""
    user = pending_user(enrol=False)
    if user is None:
        return pending_expired()
    form = TwoFactorForm()
    if form.validate_on_submit():
        check = two_factor_service.check_login_code(user.id, form.code.data, *_keys(), utcnow())
        if check is two_factor_service.CodeCheck.ACCEPTED:
            db.session.commit()
            return finish_pending(user)
        form.code.errors.append(
            REPLAYED_CODE if check is two_factor_service.CodeCheck.REPLAYED else WRONG_CODE
        )
    if form.is_submitted():
        g.second_factor_failed = True
        form.code.data = ""
    return render_template("auth/two_factor.html", form=form)


@routes.route("/two-factor/recovery", methods=["GET", "POST"])
@_code_throttle
def two_factor_recovery() -> ResponseReturnValue:
    """Let a logging-in user who has no app at hand use a recovery code."""
    user = pending_user(enrol=False)
    if user is None:
        return pending_expired()
    form = RecoveryCodeForm()
    if form.validate_on_submit():
        secret_key = _keys()[1]
        if two_factor_service.spend_recovery_code(user.id, form.code.data, secret_key, utcnow()):
            db.session.commit()
            left = two_factor_service.status(user.id).recovery_codes_left
            response = finish_pending(user)
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
    return pending_user(enrol=True), True


@routes.route("/two-factor/setup", methods=["GET", "POST"])
def two_factor_setup() -> ResponseReturnValue:
    """Turn two-factor login on: add the account to an app and confirm with its code."""
    user, logging_in = _setup_user()
    if user is None:
        if PENDING not in session:
            return current_app.login_manager.unauthorized()
        return pending_expired()
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
                    pending = pending_login() or {}
                    complete_login(user, pending.get("remember", False), None)
                    next_url = safe_next(pending.get("next")) or landing(user)
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
def recovery_codes() -> ResponseReturnValue:
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
def two_factor_disable() -> ResponseReturnValue:
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


def require_second_factor():
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
