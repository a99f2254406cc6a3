"""Configuration read from environment variables; every variable is in the README."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from stdnum.no import kontonr, orgnr

LANGUAGES = {"fi": "suomi", "sv": "svenska", "nb": "norsk bokmål", "en": "English"}


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}.") from None


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip().lower() or default
    if value not in choices:
        raise SystemExit(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def _norwegian(name: str, default: str, number, what: str) -> str:
    """A Norwegian number from the environment, checked with its python-stdnum module
    (`stdnum.no.orgnr`, `stdnum.no.kontonr`) and kept compact."""
    value = os.environ.get(name, "").strip() or default
    try:
        return number.validate(value)
    except ValueError:  # stdnum's ValidationError: format, length or control digit
        raise SystemExit(f"{name} must be {what}, not {value!r}.") from None


def _address_lines(name: str, default: str) -> tuple[str, ...]:
    """A postal address from the environment, its lines separated by `;`: at most four
    lines of at most 60 characters, as the invoice's window envelope holds them."""
    value = os.environ.get(name, "").strip() or default
    lines = tuple(line.strip() for line in value.split(";") if line.strip())
    if not lines or len(lines) > 4 or any(len(line) > 60 for line in lines):
        raise SystemExit(
            f"{name} must be one to four lines of at most 60 characters, separated by ';', "
            f"not {value!r}."
        )
    return lines


def _money(name: str, default: str) -> str:
    """An amount in euros, 0 or more with at most two decimals, as text ("5.00")."""
    from decimal import Decimal, InvalidOperation

    value = os.environ.get(name, "").strip() or default
    try:
        amount = Decimal(value.replace(",", "."))
    except InvalidOperation:
        amount = None
    if (
        amount is None
        or not amount.is_finite()
        or amount < 0
        or amount != amount.quantize(Decimal("0.01"))
    ):
        raise SystemExit(f"{name} must be an amount in euros such as 5.00, not {value!r}.")
    return f"{amount:.2f}"


def _percent(name: str, default: str) -> str:
    """A percentage from 0 to 100 with at most two decimals, as text ("3.00")."""
    from decimal import Decimal, InvalidOperation

    value = os.environ.get(name, "").strip() or default
    try:
        rate = Decimal(value.replace(",", "."))
    except InvalidOperation:
        rate = None
    if (
        rate is None
        or not rate.is_finite()
        or not 0 <= rate < 100
        or rate != rate.quantize(Decimal("0.01"))
    ):
        raise SystemExit(f"{name} must be a percentage from 0 to 99.99 such as 3.5, not {value!r}.")
    return f"{rate:.2f}"


def _at_least(name: str, default: int, least: int) -> int:
    value = _int(name, default)
    if value < least:
        raise SystemExit(f"{name} must be at least {least}, not {value}.")
    return value


def _reference_rates() -> str:
    value = os.environ.get("INVOICE_REFERENCE_RATES", "").strip()
    from services.invoicing import interest

    try:
        interest.parse_setting(value)
    except interest.RateTableError as error:
        raise SystemExit(f"INVOICE_REFERENCE_RATES: {error}.") from None
    return value


def _kid_length() -> int:
    length = _int("PORTAL_KID_LENGTH", 11)
    if length != 0 and not 2 <= length <= 25:
        raise SystemExit(f"PORTAL_KID_LENGTH must be 0 or 2 to 25 (digits), not {length}.")
    return length


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
        return ""  # refused by `problems()`, with everything else that is missing
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


def development_secret(key: str, name: str) -> str:
    """A sandbox's shared secret in development: derived from SECRET_KEY, so that it is
    this installation's own and never a value printed in the code."""
    return hmac.new(key.encode(), f"development:{name}".encode(), hashlib.sha256).hexdigest()


# Secrets that were once defaults, or that people write in examples: never in production.
PUBLIC_SECRETS = frozenset(
    {
        "handi-sandbox-secret",
        "sandbox-channel-secret",
        "print-sandbox-token",
        "operator-sandbox-token",
        "secret",
        "changeme",
        "change-me",
        "dev",
        "development",
        "test",
        "x",
    }
)
# The settings that hold secrets, checked against PUBLIC_SECRETS in production.
SECRET_SETTINGS = (
    "SECRET_KEY",
    "PUNCHOUT_SANDBOX_SECRET",
    "PRINT_SERVICE_TOKEN",
    "EINVOICE_OPERATOR_TOKEN",
    "PAYMENT_CHANNEL_SECRET",
    "CRM_FEED_TOKEN",
)
# Each throttle store that keeps its counts in one process only.
PROCESS_STORES = ("memory://",)


def problems(config: dict) -> list[str]:
    """Every reason the configuration is unsafe for production, each naming its setting."""
    found = []
    for name, why in (
        ("SECRET_KEY", "signs sessions, CSRF tokens and password links"),
        ("BASE_URL", "the public address that links in mail and from jobs point to"),
    ):
        if not config.get(name):
            found.append(f"{name} is not set: {why}.")
    if not config.get("NATIONAL_ID_KEYS"):
        found.append(
            "NATIONAL_ID_KEYS is not set: the Fernet keys that encrypt national identity numbers."
        )
    store = str(config.get("RATELIMIT_STORAGE_URI") or "")
    if not store or store.startswith(PROCESS_STORES):
        found.append(
            f"RATELIMIT_STORAGE_URI is {store or 'not set'}: every process would count "
            "throttled logins and look-ups on its own; use a shared store (redis://host:6379)."
        )
    for name, what in (
        ("PUNCHOUT_SANDBOX", "the Handi sandbox"),
        ("INVOICE_SANDBOX", "the print service and e-invoice operator sandboxes"),
        ("PAYMENT_SANDBOX", "the payment service sandbox"),
    ):
        if config.get(name):
            found.append(f"{name} is on: {what} would be mounted; set {name}=false.")
    for name in SECRET_SETTINGS:
        value = config.get(name)
        if value and (value in PUBLIC_SECRETS or len(value) < 16):
            found.append(f"{name} has a development or example value; set a long random secret.")
    for url, token in (
        ("PRINT_SERVICE_URL", "PRINT_SERVICE_TOKEN"),
        ("EINVOICE_OPERATOR_URL", "EINVOICE_OPERATOR_TOKEN"),
        ("PAYMENT_SERVICE_URL", "PAYMENT_CHANNEL_SECRET"),
        ("SUPPORT_IMAP_HOST", "SUPPORT_IMAP_PASSWORD"),
    ):
        if config.get(url) and not config.get(token):
            found.append(f"{token} is not set, but {url} is.")
    return found


# A connection is tried before each use: one that the database or a proxy closed is
# replaced, never handed to a request.
ENGINE_OPTIONS = {"pool_pre_ping": True}


def engine_options(config: dict) -> dict:
    """The engine's options, given ones first: pre-ping everywhere, and on PostgreSQL a
    statement timeout, so that no request or job waits on a runaway query for ever."""
    options: dict = {**ENGINE_OPTIONS, **config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
    timeout = int(config.get("DATABASE_STATEMENT_TIMEOUT") or 0)
    if config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") and timeout > 0:
        connect_args = dict(options.get("connect_args", {}))
        connect_args.setdefault("options", f"-c statement_timeout={timeout}")
        options["connect_args"] = connect_args
    return options


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


def _store_options(uri: str) -> dict:
    if uri.startswith(("redis://", "rediss://", "redis+")):
        return {"socket_timeout": 1, "socket_connect_timeout": 1}
    return {}


def from_environment(instance_path: str) -> dict:
    """Build the configuration mapping from environment variables."""
    production = os.environ.get("FLASK_ENV", "").strip() == "production"
    mail_server = os.environ.get("MAIL_SERVER", "").strip() or None
    key = secret_key(instance_path, production)
    url = database_url(instance_path)

    def sandbox_secret(name: str) -> str:
        """A secret from the environment; in development this installation's own."""
        value = os.environ.get(name, "").strip()
        return value or ("" if production or not key else development_secret(key, name))

    return {
        "PRODUCTION": production,
        "SECRET_KEY": key,
        "SQLALCHEMY_DATABASE_URI": url,
        # Milliseconds a PostgreSQL statement may run before it is cancelled (0: no limit).
        "DATABASE_STATEMENT_TIMEOUT": _int("DATABASE_STATEMENT_TIMEOUT", 30_000),
        "SQLALCHEMY_ENGINE_OPTIONS": dict(ENGINE_OPTIONS),  # completed by `engine_options`
        # Unset in production is refused (`problems`); in development, the local server.
        "BASE_URL": os.environ.get("BASE_URL", "" if production else "http://127.0.0.1:5000")
        .strip()
        .rstrip("/"),
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
        # How long a worker owns a message it took; one that died is retried after it.
        "MAIL_LEASE_SECONDS": _int("MAIL_LEASE_SECONDS", 300),
        # Background tasks (services/tasks.py): how often an idle worker looks for work,
        # how long a worker owns a task between two steps (one step may wait on an
        # outside service), how many times a task is taken up again after its worker
        # died, and how many days an export's file is kept.
        "TASK_WORKER_INTERVAL": _int("TASK_WORKER_INTERVAL", 1),
        "TASK_LEASE_SECONDS": _int("TASK_LEASE_SECONDS", 300),
        "TASK_MAX_ATTEMPTS": _int("TASK_MAX_ATTEMPTS", 3),
        "TASK_FILE_DAYS": _int("TASK_FILE_DAYS", 7),
        "BABEL_DEFAULT_LOCALE": os.environ.get("DEFAULT_LANGUAGE", "fi"),
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("DEFAULT_TIMEZONE", "Europe/Helsinki"),
        "LANGUAGES": LANGUAGES,
        # How long another process's change may take to show on a cached page (fragments.py).
        "PAGE_CACHE_SECONDS": _int("PAGE_CACHE_SECONDS", 10),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # A throttle store that stops answering is waited for a second at most; meanwhile
        # each process counts on its own (and /readyz says so), rather than failing pages.
        "RATELIMIT_STORAGE_OPTIONS": _store_options(
            os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
        ),
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_KEY_PREFIX": os.environ.get("RATELIMIT_KEY_PREFIX", "portal"),
        # Failed logins allowed: per address and account, per account from anywhere
        # (password guessing from many addresses), per address for any account (spraying).
        "LOGIN_THROTTLE": os.environ.get("LOGIN_THROTTLE", "5 per 15 minutes"),
        "LOGIN_THROTTLE_ACCOUNT": os.environ.get("LOGIN_THROTTLE_ACCOUNT", "20 per hour"),
        "LOGIN_THROTTLE_ADDRESS": os.environ.get("LOGIN_THROTTLE_ADDRESS", "30 per 15 minutes"),
        "PASSWORD_RESET_THROTTLE": os.environ.get("PASSWORD_RESET_THROTTLE", "10 per hour"),
        # Wrong second-factor codes allowed per account (and per address and account).
        "TWO_FACTOR_THROTTLE": os.environ.get("TWO_FACTOR_THROTTLE", "5 per 15 minutes"),
        # Staff and admins must log in with a second factor (always on in production).
        "TWO_FACTOR_REQUIRED": production or _bool(os.environ.get("TWO_FACTOR_REQUIRED")),
        # Whether `flask jobs run` delivers the mail outbox too (when no mail worker runs).
        "JOBS_DELIVER_MAIL": _bool(os.environ.get("JOBS_DELIVER_MAIL")),
        "JOBS_RUN_TASKS": _bool(os.environ.get("JOBS_RUN_TASKS")),
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
        "PUNCHOUT_SANDBOX_SECRET": sandbox_secret("PUNCHOUT_SANDBOX_SECRET"),
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
        # Replies by email: the address they reach (a ticket's mails carry it, with the
        # ticket number as a plus address, as Reply-To); the days a resolved ticket
        # reopens when its customer writes; the mailbox read by IMAP over TLS (unset: the
        # pipe command `flask support receive` only).
        "SUPPORT_REPLY_ADDRESS": os.environ.get("SUPPORT_REPLY_ADDRESS", "tuki@example.com").strip()
        or None,
        "SUPPORT_REOPEN_DAYS": _int("SUPPORT_REOPEN_DAYS", 14),
        "SUPPORT_IMAP_HOST": os.environ.get("SUPPORT_IMAP_HOST", "").strip(),
        "SUPPORT_IMAP_PORT": _int("SUPPORT_IMAP_PORT", 993),
        "SUPPORT_IMAP_USER": os.environ.get("SUPPORT_IMAP_USER", "").strip(),
        "SUPPORT_IMAP_PASSWORD": os.environ.get("SUPPORT_IMAP_PASSWORD", ""),
        "SUPPORT_IMAP_FOLDER": os.environ.get("SUPPORT_IMAP_FOLDER", "INBOX").strip() or "INBOX",
        # A CA file for the IMAP server's certificate (empty: the system's trusted CAs).
        "SUPPORT_IMAP_CA_FILE": os.environ.get("SUPPORT_IMAP_CA_FILE", "").strip(),
        # The helpdesk's service hours (weekdays 10-15 in Helsinki, Finnish public holidays
        # off), the targets of each type and urgency in service hours over the defaults
        # (services.support_sla), and how near its due time a ticket is marked "due soon".
        "SUPPORT_SERVICE_HOURS": os.environ.get("SUPPORT_SERVICE_HOURS", "10:00-15:00").strip(),
        "SUPPORT_SERVICE_DAYS": os.environ.get("SUPPORT_SERVICE_DAYS", "1-5").strip(),
        "SUPPORT_TIMEZONE": os.environ.get("SUPPORT_TIMEZONE", "Europe/Helsinki").strip(),
        "SUPPORT_TARGETS": os.environ.get("SUPPORT_TARGETS", "").strip(),
        "SUPPORT_DUE_SOON_MINUTES": _int("SUPPORT_DUE_SOON_MINUTES", 60),
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
        "PRINT_SERVICE_TOKEN": sandbox_secret("PRINT_SERVICE_TOKEN"),
        "EINVOICE_OPERATOR_URL": os.environ.get("EINVOICE_OPERATOR_URL", "").strip().rstrip("/"),
        "EINVOICE_OPERATOR_TOKEN": sandbox_secret("EINVOICE_OPERATOR_TOKEN"),
        "FORWARDING_TIMEOUT": _int("FORWARDING_TIMEOUT", 30),
        # Payment reminders: the fee (a consumer's is capped at 5 € by law), a business
        # payer's fee, the days a reminder gives to pay (14 at least), the days after a
        # due date before an automatic reminder, and the most reminders an invoice gets.
        "INVOICE_REMINDER_FEE": _money("INVOICE_REMINDER_FEE", "5.00"),
        "INVOICE_REMINDER_FEE_BUSINESS": _money("INVOICE_REMINDER_FEE_BUSINESS", "10.00"),
        "INVOICE_REMINDER_DAYS": _at_least("INVOICE_REMINDER_DAYS", 14, 14),
        "INVOICE_REMINDER_AFTER_DAYS": _at_least("INVOICE_REMINDER_AFTER_DAYS", 7, 1),
        "INVOICE_REMINDER_MAX": _at_least("INVOICE_REMINDER_MAX", 3, 1),
        # Payouts to the users (tilitys): the service's fee in percent of what the payer
        # paid of an invoice (VAT included, at the VAT rate given), fixed on each invoice
        # when it is first sent; the rest is paid to the user's account by payout batches.
        "INVOICE_SERVICE_FEE_PERCENT": _percent("INVOICE_SERVICE_FEE_PERCENT", "3.00"),
        "INVOICE_SERVICE_FEE_VAT_PERCENT": _percent("INVOICE_SERVICE_FEE_VAT_PERCENT", "25.50"),
        # Reference rates (korkolaki 12 §) of half-years newer than the portal's table:
        # "2027-01-01=2.0,2027-07-01=2.5".
        "INVOICE_REFERENCE_RATES": _reference_rates(),
        "INVOICE_SANDBOX": _bool(os.environ.get("INVOICE_SANDBOX"), not production),
        "INVOICE_SANDBOX_DIR": os.environ.get(
            "INVOICE_SANDBOX_DIR", str(Path(instance_path) / "sandbox")
        ),
        # The customer portal's Norwegian invoices: the seller, its organisasjonsnummer
        # (printed with MVA) and the account payers pay to with the invoice's KID.
        "PORTAL_SELLER_NAME": os.environ.get("PORTAL_SELLER_NAME", "").strip()
        or "Palveluportaali Norge AS",
        "PORTAL_SELLER_ORGANISATION_NUMBER": _norwegian(
            "PORTAL_SELLER_ORGANISATION_NUMBER",
            "123456785",
            orgnr,
            "a Norwegian organisation number (9 digits, valid control digit)",
        ),
        "PORTAL_SELLER_ADDRESS": _address_lines(
            "PORTAL_SELLER_ADDRESS", "Postboks 1234 Sentrum; 0106 Oslo"
        ),
        "PORTAL_SELLER_ACCOUNT": _norwegian(
            "PORTAL_SELLER_ACCOUNT",
            "86011117947",
            kontonr,
            "a Norwegian account number (11 digits, valid control digit)",
        ),
        # The KID's control digit and length, as agreed with the bank (0: no fixed length).
        "PORTAL_KID_ALGORITHM": _choice("PORTAL_KID_ALGORITHM", "mod10", ("mod10", "mod11")),
        "PORTAL_KID_LENGTH": _kid_length(),
        # Online payment through the payment service's channel interface. Empty
        # PAYMENT_SERVICE_URL means the local sandbox, mounted unless in production.
        "PAYMENT_SERVICE_URL": os.environ.get("PAYMENT_SERVICE_URL", "").strip(),
        "PAYMENT_CHANNEL_ID": os.environ.get("PAYMENT_CHANNEL_ID", "123").strip(),
        "PAYMENT_CHANNEL_SECRET": sandbox_secret("PAYMENT_CHANNEL_SECRET"),
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
        # Merchant IDs (kauppiastunnus): the service's (its invoices), the institute's (courses).
        "PAYMENT_MERCHANT_ID": os.environ.get("PAYMENT_MERCHANT_ID", "13466").strip(),
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
        # The sandbox's wait before a delayed notify (the real service's: a banking day).
        "PAYMENT_SANDBOX_NOTIFY_DELAY": _int("PAYMENT_SANDBOX_NOTIFY_DELAY", 60),
        # The merchants who accepted the channel, as the sandbox knows them (with the two).
        "PAYMENT_SANDBOX_MERCHANTS": os.environ.get("PAYMENT_SANDBOX_MERCHANTS", "13466,13467"),
        # Logs: "json" (one JSON object a line; the default in production) or "text".
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json" if production else "text").strip(),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").strip().upper(),
        "LOG_REQUESTS": _bool(os.environ.get("LOG_REQUESTS"), production),
        "SESSION_COOKIE_SECURE": _bool(os.environ.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_SECURE": _bool(os.environ.get("SESSION_COOKIE_SECURE"), production),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
    }


class ConfigurationError(SystemExit):
    """The configuration is unsafe for production: the process stops with the report."""


def configuration_report(problems: list[str]) -> str:
    """The report a refused start prints: every problem, one a line."""
    lines = [
        f"The portal refuses to start in production (FLASK_ENV=production): {len(problems)} "
        "setting(s) to fix:"
    ]
    lines += [f"  - {problem}" for problem in problems]
    return "\n".join(lines)
