"""The second factor of a login: TOTP codes (RFC 6238) and one-time recovery codes.

The secret is kept encrypted with the Fernet keys of the identity numbers
(NATIONAL_ID_KEYS, in development derived from SECRET_KEY as `identity.Vault` does).
A code is accepted once: the time step it belongs to is claimed by a conditional UPDATE,
so two requests with the same code cannot both pass, on one process or several.

Recovery codes are kept as HMAC-SHA256 digests keyed from SECRET_KEY, not as Argon2
hashes as passwords are: a code holds 50 random bits, so a slow hash adds nothing
against guessing it, while a keyed digest is found by one indexed comparison instead of
ten Argon2 checks (64 MiB each) per attempt, and a copy of the database alone does not
let anyone test guesses. A new SECRET_KEY therefore voids the recovery codes.

Plain logic: the keys and the time are passed in; the caller commits.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from extensions import db
from models.audit import AuditAction
from models.auth import RecoveryCode, User
from services import accounts, audit, identity

ISSUER = "Palveluportaali"  # what authenticator apps show above the account
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1  # a code of the step before or after is accepted too (clock drift)
RECOVERY_CODES = 10
RECOVERY_LENGTH = 10  # characters of a recovery code: 50 bits
# Crockford's base32: no I, L, O or U, so that a code read aloud or copied by hand is
# read back the same (`normalise_recovery_code` maps the look-alikes).
RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
SETUP_SECONDS = 15 * 60  # how long an enrolment page's secret may be confirmed


class CodeCheck(enum.Enum):
    """What became of a typed code: accepted, wrong, or right but used already."""

    ACCEPTED = "accepted"
    WRONG = "wrong"
    REPLAYED = "replayed"  # right, but its time step was used already


@dataclass(frozen=True)
class Status:
    """A user's second factor as the profile shows it."""

    enabled_at: datetime | None
    recovery_codes_left: int

    @property
    def enabled(self) -> bool:
        """Whether the user has the second factor on."""
        return self.enabled_at is not None


# --- Keys ------------------------------------------------------------------------------


def vault(keys: list[str], secret_key: str) -> identity.Vault:
    """The identity numbers' vault: the configured keys, or in development the key
    derived from SECRET_KEY (the same as `services.portal.vault()` uses)."""
    if keys:
        return identity.Vault(keys, secret_key)
    return identity.Vault.from_secret(secret_key)


def _fernet(keys: list[str], secret_key: str):
    from cryptography.fernet import Fernet, MultiFernet

    return MultiFernet([Fernet(key) for key in vault(keys, secret_key).keys])


def _recovery_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"two-factor-recovery-codes", hashlib.sha256).digest()


# --- TOTP --------------------------------------------------------------------------------


def new_secret() -> str:
    """A random TOTP secret: 160 bits in base32, as RFC 4226 recommends."""
    import pyotp

    return pyotp.random_base32(32)


def grouped(text: str, size: int = 4) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(text[i : i + size] for i in range(0, len(text), size))


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    """The QR code of `uri` as an SVG data: address (the CSP allows data: images)."""
    import segno

    return segno.make(uri, error="m").svg_data_uri(scale=5, border=4, dark="#000", light="#fff")


def normalise_code(text: str | None) -> str | None:
    """The six digits of a TOTP code as typed ("123 456", "123-456"), or None."""
    compact = "".join((text or "").split()).replace("-", "")
    if len(compact) == DIGITS and compact.isascii() and compact.isdigit():
        return compact
    return None


def time_step(now: datetime) -> int:
    """The TOTP time step (RFC 6238) that `now` falls in."""
    return int(now.timestamp()) // STEP_SECONDS


def matching_steps(secret: str, code: str, now: datetime) -> list[int]:
    """The time steps around `now` whose code `code` is (usually none or one)."""
    import pyotp

    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = time_step(now)
    return [
        step
        for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1)
        if hmac.compare_digest(totp.generate_otp(step), code)
    ]


def claim_step(user_id: int, step: int) -> bool:
    """Record `step` as the user's last used one, unless it (or a later one) was used:
    one conditional UPDATE, so that of two requests with one code only one passes."""
    claimed = db.session.execute(
        sa.update(User)
        .where(
            User.id == user_id,
            sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    return claimed == 1


def stored_secret(user_id: int, keys: list[str], secret_key: str) -> str | None:
    """The user's TOTP secret, decrypted (read explicitly: the column is deferred, and
    the logged-in user may be a kept snapshot)."""
    token = db.session.scalar(sa.select(User.totp_secret).where(User.id == user_id))
    if not token:
        return None
    return vault(keys, secret_key).decrypt(token)


def check_login_code(
    user_id: int, text: str | None, keys: list[str], secret_key: str, now: datetime
) -> CodeCheck:
    """Whether `text` is the user's current code, not used before; an accepted code's
    step is claimed in the session's transaction (the caller commits)."""
    code = normalise_code(text)
    row = db.session.execute(
        sa.select(User.totp_secret, User.totp_enabled_at, User.totp_last_step).where(
            User.id == user_id
        )
    ).first()
    if code is None or row is None or not row.totp_secret or row.totp_enabled_at is None:
        return CodeCheck.WRONG
    secret = vault(keys, secret_key).decrypt(row.totp_secret)
    steps = matching_steps(secret, code, now) if secret else []
    if not steps:
        return CodeCheck.WRONG
    fresh = [step for step in steps if row.totp_last_step is None or step > row.totp_last_step]
    if not fresh or not claim_step(user_id, max(fresh)):
        return CodeCheck.REPLAYED
    return CodeCheck.ACCEPTED


# --- Enrolment ---------------------------------------------------------------------------


def setup_token(user_id: int, secret: str, keys: list[str], secret_key: str, now: datetime) -> str:
    """The enrolment page's secret, encrypted and bound to the user, for its form to send
    back: nothing is stored until a code confirms it."""
    plain = f"{user_id}:{secret}".encode()
    return _fernet(keys, secret_key).encrypt_at_time(plain, int(now.timestamp())).decode()


def secret_of_setup_token(
    token: str | None, user_id: int, keys: list[str], secret_key: str, now: datetime
) -> str | None:
    """The secret of a setup token of this user, not older than SETUP_SECONDS; or None."""
    from cryptography.fernet import InvalidToken

    if not token or len(token) > 1000 or not token.isascii():
        return None
    try:
        plain = (
            _fernet(keys, secret_key)
            .decrypt_at_time(token.encode(), SETUP_SECONDS, int(now.timestamp()))
            .decode()
        )
    except (InvalidToken, ValueError):
        return None
    owner, _, secret = plain.partition(":")
    return secret if owner == str(user_id) and secret else None


def enable(
    user: User,
    secret: str,
    code: str | None,
    keys: list[str],
    secret_key: str,
    now: datetime,
    *,
    actor: User | None = None,
) -> list[str] | None:
    """Turn the second factor on if `code` is the secret's current code: store the
    secret, when, and the code's step; return new recovery codes (None: a wrong code)."""
    compact = normalise_code(code)
    steps = matching_steps(secret, compact, now) if compact else []
    if not steps:
        return None
    db.session.execute(
        sa.update(User)
        .where(User.id == user.id)
        .values(
            totp_secret=vault(keys, secret_key).encrypt(secret),
            totp_enabled_at=now,
            totp_last_step=max(steps),
        )
        .execution_options(synchronize_session=False)
    )
    codes = replace_recovery_codes(user.id, secret_key, now)
    audit.record(
        AuditAction.TWO_FACTOR_ENABLED, "user", user.id, "two-factor login on", actor=actor
    )
    return codes


def disable(user: User, *, actor: User | None = None, reset: bool = False) -> None:
    """Turn the second factor off: forget the secret, the last step and the recovery
    codes. `reset`: an admin did it for the user, whose sessions then end."""
    db.session.execute(
        sa.update(User)
        .where(User.id == user.id)
        .values(totp_secret=None, totp_enabled_at=None, totp_last_step=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    if reset:
        user.end_sessions()
        audit.record(
            AuditAction.TWO_FACTOR_RESET, "user", user.id, "two-factor login reset", actor=actor
        )
    else:
        audit.record(
            AuditAction.TWO_FACTOR_DISABLED, "user", user.id, "two-factor login off", actor=actor
        )


def status(user_id: int) -> Status:
    """The user's second factor as the profile shows it: since when on, recovery codes left."""
    enabled_at = db.session.scalar(sa.select(User.totp_enabled_at).where(User.id == user_id))
    left = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return Status(enabled_at, left or 0)


# --- Recovery codes ----------------------------------------------------------------------


def _recovery_digest(code: str, secret_key: str) -> str:
    return hmac.new(_recovery_key(secret_key), code.encode(), hashlib.sha256).hexdigest()


def _new_recovery_code() -> str:
    code = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return f"{code[:5]}-{code[5:]}"


def normalise_recovery_code(text: str | None) -> str | None:
    """A recovery code as typed (any case, spaces, the hyphen, O for 0), or None."""
    compact = "".join((text or "").split()).replace("-", "").upper().translate(_LOOK_ALIKES)
    if len(compact) == RECOVERY_LENGTH and all(ch in RECOVERY_ALPHABET for ch in compact):
        return compact
    return None


def replace_recovery_codes(user_id: int, secret_key: str, now: datetime) -> list[str]:
    """New recovery codes for the user, shown once; the old ones stop working."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    db.session.add_all(
        RecoveryCode(
            user_id=user_id,
            code_hash=_recovery_digest(code.replace("-", ""), secret_key),
            created_at=now,
        )
        for code in codes
    )
    db.session.flush()
    return codes


def spend_recovery_code(user_id: int, text: str | None, secret_key: str, now: datetime) -> bool:
    """Use up one of the user's recovery codes: a conditional UPDATE, so a code passes once
    even when sent twice at the same moment."""
    code = normalise_recovery_code(text)
    if code is None:
        return False
    spent = db.session.execute(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _recovery_digest(code, secret_key),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return spent == 1


def password_matches(user_id: int, password: str | None) -> bool:
    """Whether `password` is the user's (read explicitly: the logged-in user is loaded
    without the hash)."""
    stored = db.session.scalar(sa.select(User.password_hash).where(User.id == user_id))
    return accounts.password_matches(stored, password)


def reencrypt_secrets(keys: list[str], secret_key: str, batch: int = 500) -> int:
    """Encrypt every stored TOTP secret again with the first key (`flask portal
    reencrypt`, after a new key was put first), a batch of users at a time."""
    box = _fernet(keys, secret_key)
    count, last = 0, 0
    while True:
        rows = db.session.execute(
            sa.select(User.id, User.totp_secret)
            .where(User.id > last, User.totp_secret.is_not(None))
            .order_by(User.id)
            .limit(batch)
        ).all()
        if not rows:
            return count
        for user_id, token in rows:
            db.session.execute(
                sa.update(User)
                .where(User.id == user_id)
                .values(totp_secret=box.rotate(token.encode()).decode())
            )
        db.session.commit()
        count += len(rows)
        last = rows[-1][0]
