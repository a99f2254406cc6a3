"""The security headers of every response, built from what each page declares it needs,
and the small web helpers that keep a request on safe ground (ids typed, redirects).

The Content-Security-Policy is one declaration, `POLICY`. A page that needs more than it
says declares that need while it is made, and the header is built once, after the view:
- `allow_form_targets(*addresses)`: the page's forms also post to these origins (the
  payment service's form, the payment sandbox's return to the shop);
- `allow_framing_by(origin)`: a PunchOut buyer's procurement system shows the page in
  its frame and receives the cart from it;
- `show_inert(policy)`: a document shown as it came (a mail's HTML part, a customer's
  attachment), with a policy of its own under which nothing in it runs or loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import Flask, Response, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import validate_csrf
from itsdangerous import URLSafeTimedSerializer
from wtforms import ValidationError

# Every page of the portal: nothing but its own scripts, styles, fonts and forms.
POLICY: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "frame-src": "'self'",
}

# A mail's HTML part, in the sandboxed frame of the staff mail page: its own inline
# styles and embedded images, nothing that runs or loads, framed by our page alone.
MAIL_HTML_POLICY: dict[str, str] = {
    "default-src": "'none'",
    "style-src": "'unsafe-inline'",
    "img-src": "data:",
    "frame-ancestors": "'self'",
}

# A file a customer sent (an attachment of a ticket): shown as a sandboxed document.
ATTACHMENT_POLICY: dict[str, str] = {"default-src": "'none'", "sandbox": ""}

_HOST = re.compile(r"[A-Za-z0-9.:\[\]-]+")
_DB_ID = re.compile(r"[0-9]{1,9}")


@dataclass
class _Needs:
    """What the page being made has declared beyond `POLICY`."""

    form_targets: set[str] = field(default_factory=set)
    framed_by: str | None = None
    inert: dict[str, str] | None = None


def _needs() -> _Needs:
    if "security_needs" not in g:
        g.security_needs = _Needs()
    return g.security_needs


def origin_of(address: str) -> str | None:
    """The origin (`https://host:port`) of a web address; None for anything else."""
    parts = urlsplit(address)
    if parts.scheme in ("http", "https") and _HOST.fullmatch(parts.netloc):
        return f"{parts.scheme}://{parts.netloc}"
    return None


def allow_form_targets(*addresses: str) -> None:
    """Let this page's forms also post to the origins of these web addresses."""
    _needs().form_targets.update(filter(None, map(origin_of, addresses)))


def allow_framing_by(origin: str) -> None:
    """Let `origin` (a PunchOut buyer) frame this page and receive its forms."""
    _needs().framed_by = origin


def show_inert(policy: dict[str, str]) -> None:
    """Serve this response as a document shown as it came, under `policy` alone."""
    _needs().inert = policy


def render_policy(policy: dict[str, str]) -> str:
    """A policy as the header's text: `directive value; …`, in the declaration's order."""
    return "; ".join(f"{name} {value}".strip() for name, value in policy.items())


def content_security_policy(needs: _Needs | None = None) -> str:
    """The header for a page with these needs (none: every ordinary page)."""
    if needs is None:
        return render_policy(POLICY)
    if needs.inert is not None:
        return render_policy(needs.inert)
    policy = dict(POLICY)
    targets = sorted(needs.form_targets)
    if needs.framed_by:
        policy["frame-ancestors"] = f"'self' {needs.framed_by}"
        targets = [needs.framed_by, *(t for t in targets if t != needs.framed_by)]
    policy["form-action"] = " ".join(["'self'", *targets])
    return render_policy(policy)


def init_app(app: Flask) -> None:
    """Give every response its security headers. Registered before the parts' own hooks,
    it runs after them, so that what they declare is in the header."""
    _sign_csrf_once(app)

    @app.after_request
    def security_headers(response: Response) -> Response:
        needs = g.get("security_needs")
        headers = response.headers
        headers.setdefault("Content-Security-Policy", content_security_policy(needs))
        if needs is None or needs.framed_by is None:
            framed_here = needs and needs.inert and needs.inert.get("frame-ancestors") == "'self'"
            frame = "SAMEORIGIN" if framed_here else "DENY"
            headers.setdefault("X-Frame-Options", frame)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config["SESSION_COOKIE_SECURE"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        # A logged-in user's page is never kept by caches (static files are nobody's).
        if request.endpoint != "static" and _carries_login(app):
            headers.setdefault("Cache-Control", "no-store")
        return response


SIGNED_TOKENS = 10_000  # sessions' signed CSRF tokens kept at most; then afresh


def _sign_csrf_once(app: Flask) -> None:
    """Sign a session's CSRF token once in this process, not on every page.

    Flask-WTF signs the session's raw token anew for each request that shows a form
    (`g.csrf_token`). The portal's tokens have no time limit (WTF_CSRF_TIME_LIMIT None),
    so the token signed once stays as valid as the session itself: it is kept under the
    session's own raw token, and a session is only ever given the one its raw token made.
    """
    if app.config.get("WTF_CSRF_TIME_LIMIT") is not None:
        return  # a signed token ages: each page signs its own
    field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    signed: dict[str, str] = {}

    def raw_token() -> str | None:
        # Not for a static file, which should not vary with the cookie (reading the
        # session marks it so); `in` alone does not read it.
        if request.endpoint == "static" or field not in session:
            return None
        raw = session.get(field)
        return raw if isinstance(raw, str) else None

    @app.before_request
    def reuse_signed_token() -> None:
        raw = raw_token()
        if raw is not None and raw in signed:
            setattr(g, field, signed[raw])

    @app.after_request
    def keep_signed_token(response: Response) -> Response:
        token = g.get(field)
        raw = raw_token() if token else None
        if raw is not None and raw not in signed:
            try:  # signed from this raw token (not from one the request then replaced)
                validate_csrf(token)
            except ValidationError:
                return response
            if len(signed) >= SIGNED_TOKENS:
                signed.clear()
            signed[raw] = token
        return response


def _carries_login(app: Flask) -> bool:
    """Whether the request comes with a login (in the session or a remember cookie),
    known without loading the user from the database."""
    from flask_login.config import COOKIE_NAME

    if session.get("_user_id"):
        return True
    return bool(request.cookies.get(app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)))


class SignedCookieSessions(SecureCookieSessionInterface):
    """Flask's session in a signed cookie, whose signer is made once for its keys.

    Flask makes it anew twice a request, to read the cookie and to write it, and each
    making tries the serializer out; the keys (SECRET_KEY and its fallbacks) change only
    with the configuration, and a serializer keeps nothing of what it signs."""

    _signing: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        kept = self._signing
        if kept is None or kept[0] != keys:
            kept = self._signing = (keys, super().get_signing_serializer(app))
        return kept[1]


def safe_next(target: str | None) -> str | None:
    """Accept only a path on this site as a redirect target (no open redirects).

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
    "/\t/evil.example" would lead off-site: any such character refuses the target.
    """
    if not target or not target.startswith("/") or len(target) > 2000:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target


def database_id(text: str) -> int | None:
    """A database id typed in a query argument, or None when it cannot be one."""
    return int(text) if _DB_ID.fullmatch(text) else None
