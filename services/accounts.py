"""Accounts: creating users, checking passwords, password-reset tokens."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from extensions import db
from models.auth import Organisation, Role, User
from models.types import search_key, utcnow
from paging import starts_with

MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()


# A real hash of a random password: verifying against it when the email is unknown
# costs the same time as a real check, so response times do not reveal accounts.
# Made on first use, not at import: a hash costs 64 MiB and a tenth of a second.
@cache
def _dummy_hash() -> str:
    """The hash an unknown email address is checked against."""
    return _hasher.hash("not-a-password-of-anyone")


class AccountError(ValueError):
    """A value that cannot make an account; the message is meant for the user."""


def normalise_email(email: str) -> str:
    """Return the address in its canonical form, or raise AccountError."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(_("Enter a valid email address.")) from exc


def hash_password(password: str) -> str:
    """Hash a password with Argon2id."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            _("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
        )
    return _hasher.hash(password)


def password_matches(stored: str | None, password: str | None) -> bool:
    """Whether `password` is the one that `stored` is the hash of."""
    if not stored or not password:
        return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def user_by_email(email: str) -> User | None:
    """Return the user with this email address, case-insensitively."""
    return db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))


def authenticate(email: str, password: str) -> User | None:
    """Return the active user whose password matches, upgrading an outdated hash."""
    user = user_by_email(email)
    if not password_matches(user.password_hash if user else _dummy_hash(), password):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def set_password(user: User, password: str) -> None:
    """Give the user a new password; it voids their password links and ends their sessions."""
    user.password_hash = hash_password(password)
    user.end_sessions()


# --- Organisations by name or business ID (the company pickers) ----------------------

PICKED = 10  # the organisations a picker names at most when the text fits several


def _business_id_forms(text: str) -> set[str]:
    """The ways a business ID may be stored: as typed, and as Finland's and Norway's
    registers write it (1234567-8, 123 456 789) when the text is one."""
    from stdnum.fi import ytunnus
    from stdnum.no import orgnr

    forms = set()
    for module in (ytunnus, orgnr):
        if module.is_valid(text):
            forms |= {module.compact(text), module.format(text)}
    return forms | {text} if forms else forms


def organisations_matching(text: str, limit: int = PICKED) -> list[Organisation]:
    """The organisations whose business ID `text` is, then those whose name begins with it
    (any letter case), by name: `limit` at most, each found through an index."""
    text = " ".join((text or "").split())
    if not text:
        return []
    found: list[Organisation] = []
    ids = _business_id_forms(text)
    if ids:
        by_id = db.session.scalars(
            sa.select(Organisation).where(Organisation.business_id.in_(ids)).limit(limit)
        )
        found += sorted(by_id, key=lambda org: (org.name_search, org.id))
    named = db.session.scalars(
        sa.select(Organisation)
        .where(starts_with(Organisation.name_search, search_key(text, 200)))
        .order_by(Organisation.name_search, Organisation.id)
        .limit(limit)
    )
    found += [org for org in named if org not in found]
    return found[:limit]


def pick_organisation(text: str) -> tuple[Organisation | None, list[Organisation]]:
    """The one organisation that `text` names (its whole name in any letter case, its
    business ID, or the beginning of one name only) and no candidates; or None and the
    organisations it may mean (PICKED at most; none when nothing fits)."""
    matches = organisations_matching(text, PICKED + 1)
    key, ids = search_key(" ".join(text.split()), 200), _business_id_forms(text.strip())
    exact = [org for org in matches if org.name_search == key or org.business_id in ids]
    if len(exact) == 1:
        return exact[0], []
    if len(matches) == 1:
        return matches[0], []
    return None, matches[:PICKED]


def get_or_create_organisation(name: str, **values) -> Organisation:
    """Return the organisation of that name, creating it with the given values if new."""
    org = db.session.scalar(sa.select(Organisation).where(Organisation.name == name))
    if org is None:
        org = Organisation(name=name, **values)
        db.session.add(org)
        db.session.flush()
    return org


def create_user(
    email: str,
    password: str,
    *,
    name: str,
    role: Role = Role.CUSTOMER,
    organisation: Organisation | None = None,
    language: str | None = None,
) -> User:
    """Add a new user to the session; the caller commits."""
    email = normalise_email(email)
    if user_by_email(email) is not None:
        raise AccountError(_("A user with the email %(email)s exists already.", email=email))
    if role == Role.CUSTOMER and organisation is None:
        raise AccountError(_("A customer user must belong to an organisation."))
    user = User(
        email=email,
        name=name.strip() or email,
        password_hash=hash_password(password),
        role=role,
        organisation=organisation,
        language=language or (organisation.language if organisation else "fi"),
    )
    db.session.add(user)
    db.session.flush()
    return user


# What a password link is for; each purpose signs with its own salt, so an invitation
# token is no reset token and the other way round.
RESET = "password-reset"
INVITATION = "invitation"


def _serializer(secret_key: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=purpose)


def _password_fingerprint(user: User) -> str:
    # A new password or a corrected email address voids every link sent before.
    return hashlib.sha256(f"{user.password_hash}|{user.email}".encode()).hexdigest()[:16]


def make_password_token(user: User, secret_key: str, purpose: str = RESET) -> str:
    """Return a signed token bound to the user's current password hash: single-use."""
    payload = {"u": user.id, "p": _password_fingerprint(user)}
    return _serializer(secret_key, purpose).dumps(payload)


def user_for_password_token(
    token: str, secret_key: str, max_age: int, purpose: str = RESET
) -> User | None:
    """Return the user a valid, unexpired, unused token belongs to, else None."""
    try:
        data = _serializer(secret_key, purpose).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = db.session.get(User, data["u"])
    if user is None or not user.active or data.get("p") != _password_fingerprint(user):
        return None
    return user


def unusable_password() -> str:
    """A random password nobody knows, for an account whose owner sets their own."""
    return secrets.token_urlsafe(32)
