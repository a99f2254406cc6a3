"""Configuration read from environment variables; every variable is in the README."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

LANGUAGES = {"fi": "suomi", "sv": "svenska", "nb": "norsk bokmål", "en": "English"}


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _commission_classes(value: str) -> dict[str, str]:
    """'1=2.5,2=1.9' -> {'1': '2.5', '2': '1.9'}: class ID -> the channel's commission %."""
    classes = {}
    for part in value.split(","):
        if part.strip():
            key, _, percent = part.partition("=")
            classes[key.strip()] = percent.strip() or "0"
    return classes


def secret_key(instance_path: str, production: bool) -> str:
    """Return SECRET_KEY from the environment, or one generated once into the instance folder."""
    key = os.environ.get("SECRET_KEY", "").strip()
    if key:
        return key
    if production:
        raise RuntimeError("SECRET_KEY must be set in production (FLASK_ENV=production).")
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Created readable by the owner only, and only once: a second process that
        # starts at the same moment reads the first one's key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


# A connection is tried before each use: one that the database or a proxy closed is
# replaced, never handed to a request.
ENGINE_OPTIONS = {"pool_pre_ping": True}


def database_url(instance_path: str) -> str:
    """Return DATABASE_URL with the driver spelled out, or the SQLite default."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "portal.sqlite3")
    # Hosting platforms hand out postgres:// and postgresql://; we speak psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def from_environment(instance_path: str) -> dict:
    """Build the configuration mapping from environment variables."""
    production = os.environ.get("FLASK_ENV", "").strip() == "production"
    mail_server = os.environ.get("MAIL_SERVER", "").strip() or None
    return {
        "PRODUCTION": production,
        "SECRET_KEY": secret_key(instance_path, production),
        "SQLALCHEMY_DATABASE_URI": database_url(instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": dict(ENGINE_OPTIONS),
        "BASE_URL": os.environ.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "MAIL_SERVER": mail_server,
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USE_TLS": _bool(os.environ.get("MAIL_USE_TLS")),
        "MAIL_USE_SSL": _bool(os.environ.get("MAIL_USE_SSL")),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_DEFAULT_SENDER": os.environ.get(
            "MAIL_DEFAULT_SENDER", "Palveluportaali <noreply@example.com>"
        ),
        # Flask-Mail would silently drop mail under TESTING; our capture mode replaces that.
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_TIMEOUT": _int("MAIL_TIMEOUT", 30),
        "MAIL_MAX_ATTEMPTS": _int("MAIL_MAX_ATTEMPTS", 8),
        "MAIL_RETRY_BASE_SECONDS": _int("MAIL_RETRY_BASE_SECONDS", 60),
        "MAIL_WORKER_INTERVAL": _int("MAIL_WORKER_INTERVAL", 5),
        "BABEL_DEFAULT_LOCALE": os.environ.get("DEFAULT_LANGUAGE", "fi"),
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("DEFAULT_TIMEZONE", "Europe/Helsinki"),
        "LANGUAGES": LANGUAGES,
        # How long another process's change may take to show on a cached page (fragments.py).
        "PAGE_CACHE_SECONDS": _int("PAGE_CACHE_SECONDS", 10),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Failed logins allowed: per address and account, per account from anywhere
        # (password guessing from many addresses), per address for any account (spraying).
        "LOGIN_THROTTLE": os.environ.get("LOGIN_THROTTLE", "5 per 15 minutes"),
        "LOGIN_THROTTLE_ACCOUNT": os.environ.get("LOGIN_THROTTLE_ACCOUNT", "20 per hour"),
        "LOGIN_THROTTLE_ADDRESS": os.environ.get("LOGIN_THROTTLE_ADDRESS", "30 per 15 minutes"),
        "PASSWORD_RESET_THROTTLE": os.environ.get("PASSWORD_RESET_THROTTLE", "10 per hour"),
        # How many reverse proxies stand in front of the app (their X-Forwarded-For and
        # X-Forwarded-Proto are trusted); 0 when it is reached directly.
        "PROXY_COUNT": _int("PROXY_COUNT", 0),
        "PASSWORD_RESET_MAX_AGE": _int("PASSWORD_RESET_MAX_AGE", 3600),
        "INVITATION_MAX_AGE": _int("INVITATION_MAX_AGE", 7 * 24 * 3600),
        "TRAINING_OFFER_HOURS": _int("TRAINING_OFFER_HOURS", 48),
        "TRAINING_CONTACT_EMAIL": os.environ.get("TRAINING_CONTACT_EMAIL", "koulutus@example.com"),
        "SERVICE_CODE_THROTTLE": os.environ.get(
            "SERVICE_CODE_THROTTLE", "10 per minute;60 per hour"
        ),
        "PUNCHOUT_START_SECONDS": _int("PUNCHOUT_START_SECONDS", 300),
        "PUNCHOUT_SUPPLIER_DOMAIN": os.environ.get("PUNCHOUT_SUPPLIER_DOMAIN", "NetworkID"),
        "PUNCHOUT_SUPPLIER_IDENTITY": os.environ.get(
            "PUNCHOUT_SUPPLIER_IDENTITY", "palveluportaali"
        ),
        "PUNCHOUT_THROTTLE": os.environ.get("PUNCHOUT_THROTTLE", "120 per minute"),
        "PUNCHOUT_PENDING_DAYS": _int("PUNCHOUT_PENDING_DAYS", 7),
        # The local buyer that plays Handi; on unless in production.
        "PUNCHOUT_SANDBOX": _bool(os.environ.get("PUNCHOUT_SANDBOX"), not production),
        "PUNCHOUT_SANDBOX_SECRET": os.environ.get(
            "PUNCHOUT_SANDBOX_SECRET", "handi-sandbox-secret"
        ),
        # Fernet keys for national identity numbers, comma-separated, the newest first
        # (then `flask portal reencrypt`); in development derived from SECRET_KEY.
        "NATIONAL_ID_KEYS": [
            key.strip() for key in os.environ.get("NATIONAL_ID_KEYS", "").split(",") if key.strip()
        ],
        # The key of the digest that finds an identity number again (duplicates) without
        # decrypting; kept when encryption keys change. Default: the last NATIONAL_ID_KEYS key.
        "NATIONAL_ID_DIGEST_KEY": os.environ.get("NATIONAL_ID_DIGEST_KEY", "").strip() or None,
        # The bearer token of the CRM integration reading the employee change feed.
        "CRM_FEED_TOKEN": os.environ.get("CRM_FEED_TOKEN", "").strip() or None,
        # A form with three screenshots at their limit must fit in one request.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 20 * 1024 * 1024),
        "SUPPORT_UPLOAD_DIR": os.environ.get(
            "SUPPORT_UPLOAD_DIR", str(Path(instance_path) / "uploads" / "support")
        ),
        "SUPPORT_MAX_IMAGE_BYTES": _int("SUPPORT_MAX_IMAGE_BYTES", 5 * 1024 * 1024),
        "SUPPORT_MAX_IMAGE_PIXELS": _int("SUPPORT_MAX_IMAGE_PIXELS", 40_000_000),
        # Contacts and messages (with their images) one user, or one address, may send.
        "SUPPORT_THROTTLE": os.environ.get("SUPPORT_THROTTLE", "20 per hour;60 per day"),
        # Where new tickets and customers' messages on unassigned tickets are announced.
        "SUPPORT_TEAM_EMAIL": os.environ.get("SUPPORT_TEAM_EMAIL", "tuki@example.com").strip()
        or None,
        # The invoice desk. The service invoices in its own name on the users' behalf: the
        # seller, its account and the address all billing mail comes from.
        "INVOICE_SELLER_NAME": os.environ.get("INVOICE_SELLER_NAME", "Palveluportaali Oy"),
        "INVOICE_SELLER_BUSINESS_ID": os.environ.get("INVOICE_SELLER_BUSINESS_ID", "1234567-1"),
        "INVOICE_SELLER_STREET": os.environ.get("INVOICE_SELLER_STREET", "Mannerheimintie 1"),
        "INVOICE_SELLER_POSTCODE": os.environ.get("INVOICE_SELLER_POSTCODE", "00100"),
        "INVOICE_SELLER_CITY": os.environ.get("INVOICE_SELLER_CITY", "Helsinki"),
        "INVOICE_SELLER_EMAIL": os.environ.get(
            "INVOICE_SELLER_EMAIL", "asiakaspalvelu@example.com"
        ),
        "INVOICE_IBAN": os.environ.get("INVOICE_IBAN", "FI21 1234 5600 0007 85"),
        "INVOICE_BIC": os.environ.get("INVOICE_BIC", "NDEAFIHH"),
        "INVOICE_MAIL_SENDER": os.environ.get(
            "INVOICE_MAIL_SENDER", "Palveluportaali laskutus <laskut@example.com>"
        ),
        # Our own e-invoice address (OVT) and operator, for the Finvoice sender fields.
        "INVOICE_EINVOICE_ADDRESS": os.environ.get("INVOICE_EINVOICE_ADDRESS", "003712345671"),
        "INVOICE_EINVOICE_OPERATOR": os.environ.get("INVOICE_EINVOICE_OPERATOR", "NDEAFIHH"),
        # The print service (Posti) and the e-invoice operator (Verkkolasku); empty means
        # the local sandboxes, which are mounted unless in production.
        "PRINT_SERVICE_URL": os.environ.get("PRINT_SERVICE_URL", "").strip().rstrip("/"),
        "PRINT_SERVICE_TOKEN": os.environ.get("PRINT_SERVICE_TOKEN", "print-sandbox-token"),
        "EINVOICE_OPERATOR_URL": os.environ.get("EINVOICE_OPERATOR_URL", "").strip().rstrip("/"),
        "EINVOICE_OPERATOR_TOKEN": os.environ.get(
            "EINVOICE_OPERATOR_TOKEN", "operator-sandbox-token"
        ),
        "FORWARDING_TIMEOUT": _int("FORWARDING_TIMEOUT", 30),
        "INVOICE_SANDBOX": _bool(os.environ.get("INVOICE_SANDBOX"), not production),
        "INVOICE_SANDBOX_DIR": os.environ.get(
            "INVOICE_SANDBOX_DIR", str(Path(instance_path) / "sandbox")
        ),
        # Online payment through the payment service's channel interface. Empty
        # PAYMENT_SERVICE_URL means the local sandbox, mounted unless in production.
        "PAYMENT_SERVICE_URL": os.environ.get("PAYMENT_SERVICE_URL", "").strip(),
        "PAYMENT_CHANNEL_ID": os.environ.get("PAYMENT_CHANNEL_ID", "123").strip(),
        "PAYMENT_CHANNEL_SECRET": os.environ.get(
            "PAYMENT_CHANNEL_SECRET", "" if production else "sandbox-channel-secret"
        ),
        "PAYMENT_CHARSET": os.environ.get("PAYMENT_CHARSET", "UTF-8").strip(),
        # The channel's commission classes (ITEM_CP), given by the payment service, each
        # with the channel's own commission in percent: "1=2.5,2=1.9".
        "PAYMENT_COMMISSION_CLASSES": _commission_classes(
            os.environ.get("PAYMENT_COMMISSION_CLASSES", "1=2.5")
        ),
        "PAYMENT_INVOICE_COMMISSION_CLASS": os.environ.get(
            "PAYMENT_INVOICE_COMMISSION_CLASS", "1"
        ).strip(),
        "PAYMENT_COURSE_COMMISSION_CLASS": os.environ.get(
            "PAYMENT_COURSE_COMMISSION_CLASS", "1"
        ).strip(),
        # The merchant ID (kauppiastunnus) of the training institute, the seller of courses.
        "PAYMENT_COURSE_MERCHANT_ID": os.environ.get("PAYMENT_COURSE_MERCHANT_ID", "13466").strip(),
        # Course prices include VAT at this rate (the item's ITEM_TAX).
        "PAYMENT_COURSE_VAT_PERCENT": os.environ.get("PAYMENT_COURSE_VAT_PERCENT", "25.5").strip(),
        # How long a seat waits for a course fee paid online (then offered to others).
        "PAYMENT_COURSE_HOLD_HOURS": _int("PAYMENT_COURSE_HOLD_HOURS", 72),
        # Refused return, cancel and notify calls allowed per address.
        "PAYMENT_REFUSED_THROTTLE": os.environ.get("PAYMENT_REFUSED_THROTTLE", "30 per hour"),
        "PAYMENT_SANDBOX": _bool(os.environ.get("PAYMENT_SANDBOX"), not production),
        "PAYMENT_SANDBOX_DIR": os.environ.get(
            "PAYMENT_SANDBOX_DIR", str(Path(instance_path) / "sandbox" / "payment")
        ),
        # How long the sandbox waits before a delayed notify (the real service: up to one
        # banking day).
        "PAYMENT_SANDBOX_NOTIFY_DELAY": _int("PAYMENT_SANDBOX_NOTIFY_DELAY", 60),
        "SESSION_COOKIE_SECURE": _bool(os.environ.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_SECURE": _bool(os.environ.get("SESSION_COOKIE_SECURE"), production),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
    }
