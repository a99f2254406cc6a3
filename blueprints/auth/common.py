"""What the auth part's pages share: a login completed (at once, or after its second step),
the login waiting for its second step, and the mailed password links."""

from __future__ import annotations

import hmac
import time
from typing import Any

from flask import (
    current_app,
    flash,
    redirect,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_user

from extensions import db
from models.auth import User
from security import safe_next
from services import accounts
from services.outbox import queue_mail
from services.urls import external_url


def complete_login(user: User, remember: bool, next_target: str | None):
    session.clear()  # a fresh session on login: no fixation
    login_user(user, remember=remember)
    session["language"] = user.language
    flash(_("You are logged in as %(name)s.", name=user.name), "success")
    return redirect(safe_next(next_target) or landing(user), 303)


def landing(user: User) -> str:
    return url_for("staff.index") if user.is_staff else url_for("main.index")


# A login whose password was right and whose second factor is still to come: the user,
# their session token (a password changed meanwhile voids it), when it ends, and where
# the login goes on to. In the signed session cookie, never in process memory.
PENDING = "pending_login"


PENDING_SECONDS = 300


def begin_pending(user: User, remember: bool, next_target: str | None, *, enrol: bool) -> None:
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


def pending_login() -> dict[str, Any] | None:
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


def pending_user(*, enrol: bool) -> User | None:
    """The user of this session's pending login of that kind, if it still holds."""
    pending = pending_login()
    if pending is None or pending.get("enrol") is not enrol:
        return None
    user = db.session.get(User, pending["user"])
    token = pending.get("token")
    if user is None or not user.active or not isinstance(token, str) or not token.isascii():
        return None
    if not hmac.compare_digest(user.session_token, token):
        return None  # the password changed, or an admin ended the user's sessions
    return user


def pending_expired():
    """Where a page of the second step goes without a pending login of its kind."""
    pending = pending_login()
    if pending is not None and isinstance(pending.get("enrol"), bool):
        # A login that holds, at the other step's page: back to its own.
        step = "auth.two_factor_setup" if pending["enrol"] else "auth.two_factor"
        if request.endpoint != step:
            return redirect(url_for(step), 303)
    session.pop(PENDING, None)
    flash(_("The login took too long or was interrupted. Log in again."), "error")
    return redirect(url_for("auth.login"), 303)


def finish_pending(user: User):
    pending = pending_login() or {}
    return complete_login(user, pending.get("remember", False), pending.get("next"))


# Per purpose of a password link: its mail template, its page and its lifetime setting.
PASSWORD_LINKS = {
    accounts.RESET: ("auth_password_reset", "auth.reset", "PASSWORD_RESET_MAX_AGE"),
    accounts.INVITATION: ("auth_invitation", "auth.welcome", "INVITATION_MAX_AGE"),
}


def send_password_link(user: User, purpose: str) -> None:
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
