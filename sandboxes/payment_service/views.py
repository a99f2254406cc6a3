"""The local payment service: Suomen Verkkomaksut's channel payments, by the seed's rules.

The real service is out of reach in development and tests, so this sandbox plays the
service that issued the portal's channel (PAYMENT_CHANNEL_ID, its secret
PAYMENT_CHANNEL_SECRET, its charset PAYMENT_CHARSET, its commission classes
PAYMENT_COMMISSION_CLASSES). It checks a posted form as strictly as the service would
(services.payments.channel.check_received, the AUTHCODE, the channel, the commission
classes, an order paid already), refuses it on a page that lists every problem, and
keeps what it accepts as JSON files under PAYMENT_SANDBOX_DIR. Mounted only when
PAYMENT_SANDBOX is on (never in production by default).

URLs, all under /sandbox/payment:

- ``POST /channel-payment``: the payer's browser posts the form of
  ``payment_channel.build_form`` here (field names in any case). CSRF-exempt: it comes
  from another site and is authenticated by its AUTHCODE. Refused: 400 and a page naming
  each field and its problem, nothing kept. Accepted: 303 to the bank page.
- ``GET /pay/<token>``: the bank page, the whole page in the CULTURE's language (fi_fi,
  sv_se, en_us in any letter case; default fi), whatever the portal's language is.
- ``POST /pay/<token>``: fields ``method`` (a bank's METHOD code of the service's table,
  services.payments.methods: 1 Nordea, 2 Osuuspankki, 3 Danske Bank, 5 Ålandsbanken,
  6 Handelsbanken, 10 S-Pankki, 50 Aktia, 51 POP Pankki, 52 Säästöpankki, 61 Oma
  Säästöpankki) and ``notify`` (``now``, the default: the notify is called just before
  the return; ``delayed``: after PAYMENT_SANDBOX_NOTIFY_DELAY seconds, as when the payer
  does not come back from the bank; ``twice``: called two times). Answers 303 to
  RETURN_ADDRESS with ORDER_NUMBER, TIMESTAMP, PAID, METHOD and RETURN_AUTHCODE;
  NOTIFY_ADDRESS gets the same parameters by GET, server to server. Paying again answers
  the same; a cancelled payment or an order paid by another payment answers 409.
- ``POST /cancel/<token>``: no fields. 303 to CANCEL_ADDRESS with ORDER_NUMBER,
  TIMESTAMP and RETURN_AUTHCODE (no PAID, no METHOD); again: the same; after paying: 409.
- ``GET /``: the payments kept, for staff; ``POST /notify/<token>`` (staff) calls a
  paid payment's NOTIFY_ADDRESS again now.
- ``GET /merchant/<merchant_id>``: the merchant panel of one merchant (staff): of the paid
  payments, only the lines that merchant sells, as the seed says (p. 4). The merchants
  are the service's customers who accepted the channel: PAYMENT_SANDBOX_MERCHANTS, with
  PAYMENT_MERCHANT_ID and PAYMENT_COURSE_MERCHANT_ID; a line of any other is refused.

The bank page's forms carry the portal's usual csrf_token (the sandbox is served by the
portal itself, so the payer's browser has its session).

Functions for the portal's tests (and a console):

- ``deliver_due_notifies(app, now=None) -> int``: call the delayed notifies due at
  ``now`` (UNIX seconds; default the present), return how many were called. A timer
  does it at the due time, and every hit of a sandbox page does it too, so a delayed
  notify survives a restart.
- ``send_notify(app, token) -> dict | None``: call a paid payment's notify now (as the
  overview's button); the attempt recorded, or None when the payment is not paid.
- ``transactions(app, order_number=None) -> list[dict]``: the payments kept, newest
  first (``token``, ``state`` open/paid/cancelled, ``order_number``, ``total``,
  ``paid``, ``method``, ``timestamp``, ``notifies``: each attempt's ``at``, ``kind``,
  ``url``, ``status`` and ``error``; ``notify_due``: a UNIX time or None; ``fields``).

Where the seed is unclear:

- The charset (p. 13: the service detects it from what it receives): a charset given in
  the Content-Type is used; otherwise a form of plain ASCII is read in the channel's
  charset, one that is valid UTF-8 as UTF-8, anything else as ISO-8859-1. The AUTHCODE is
  checked in that charset; RETURN_AUTHCODE is computed in the channel's.
- The AUTHCODE is compared without regard to letter case: the seed's own example form
  posts it in lower case (p. 13).
- The addresses must be absolute http or https addresses: the service sends the payer
  and its notify there.
- A field sent twice (in any case) is refused: which one counts would be a guess.
- ORDER_NUMBER identifies each payment (p. 10): an order paid once cannot be posted or
  paid again; an unpaid one may be tried again (a new payment each time).
- PAID is 16 hexadecimal digits, unique; TIMESTAMP the UNIX time of paying or cancelling.
- A notify is delivered when the shop answers 2xx; redirects are not followed. Attempts
  that fail are kept and can be repeated from the overview; they are not retried alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from babel.numbers import format_currency, format_decimal
from flask import (
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import force_locale
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice
from wtforms.validators import InputRequired

import security
from access import staff_required
from blueprints.shared import Routes
from extensions import csrf
from services.files import claim, write_atomically
from services.payments import channel as payment_channel
from services.payments import methods as payment_methods
from services.payments.channel import PaymentFieldError

try:  # one change of state at a time across processes too (POSIX)
    import fcntl
except ImportError:  # pragma: no cover - Windows: across threads only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

routes = Routes()

TOKEN = re.compile(r"[0-9a-f]{32}")
MAX_FIELDS = 10_000
MAX_LISTED = 200
NOTIFY_TIMEOUT = (3.05, 10)  # connect, read (seconds)
NOTIFY_MODES = ("now", "delayed", "twice")
# The banks' payment method codes (METHOD); names are the banks' own in every language.
BANKS = {code: str(payment_methods.METHODS[code]) for code in payment_methods.BANKS}
# CULTURE (any letter case) -> the page's language, a portal language: the whole page,
# its frame included, is rendered in it (force_locale), as the service shows its own.
LANGUAGES = {"fi_fi": "fi", "sv_se": "sv", "en_us": "en"}
LOCALES = {"fi": "fi_FI", "sv": "sv_SE", "en": "en_US"}
# The bank page is the service's, in the CULTURE's language (p. 7), not the portal's.
TEXTS = {
    "fi": {
        "title": "Verkkomaksu",
        "note": "Suomen Verkkomaksujen testipalvelu: rahaa ei siirry.",
        "order": "Tilausnumero",
        "total": "Maksettava yhteensä",
        "items": "Tilauksen tuotteet",
        "item": "Tuote",
        "amount": "Määrä",
        "price": "Hinta",
        "discount": "Alennus",
        "vat": "ALV",
        "merchant": "Kauppias",
        "vat_included": "Hinnat sisältävät arvonlisäveron.",
        "vat_added": "Hintoihin lisätään arvonlisävero.",
        "bank": "Valitse pankki",
        "no_bank": "Valitse pankki, jolla maksat.",
        "notify": "Testaajalle: maksun vahvistus kauppaan (NOTIFY_ADDRESS)",
        "now": "heti, ennen paluuta kauppaan",
        "delayed": "{delay} sekunnin kuluttua, kuin maksaja ei palaisi pankista",
        "twice": "kahdesti",
        "pay": "Maksa",
        "cancel_heading": "Etkö halua maksaa?",
        "cancel": "Peruuta maksu",
        "paid": "Tämä maksu on jo maksettu.",
        "cancelled": "Tämä maksu on peruutettu.",
        "order_paid": "Tilaus on jo maksettu toisella maksulla.",
        "back": "Palaa kauppaan",
    },
    "sv": {
        "title": "Nätbetalning",
        "note": "Suomen Verkkomaksuts testtjänst: inga pengar överförs.",
        "order": "Ordernummer",
        "total": "Att betala totalt",
        "items": "Beställningens produkter",
        "item": "Produkt",
        "amount": "Antal",
        "price": "Pris",
        "discount": "Rabatt",
        "vat": "Moms",
        "merchant": "Handlare",
        "vat_included": "Priserna inkluderar moms.",
        "vat_added": "Moms läggs till priserna.",
        "bank": "Välj bank",
        "no_bank": "Välj banken du betalar med.",
        "notify": "För testare: bekräftelsen till butiken (NOTIFY_ADDRESS)",
        "now": "genast, före återgången till butiken",
        "delayed": "efter {delay} sekunder, som när betalaren inte återvänder från banken",
        "twice": "två gånger",
        "pay": "Betala",
        "cancel_heading": "Vill du inte betala?",
        "cancel": "Avbryt betalningen",
        "paid": "Denna betalning är redan betald.",
        "cancelled": "Denna betalning har avbrutits.",
        "order_paid": "Beställningen har redan betalats med en annan betalning.",
        "back": "Tillbaka till butiken",
    },
    "en": {
        "title": "Online payment",
        "note": "Suomen Verkkomaksut's test service: no money moves.",
        "order": "Order number",
        "total": "Total to pay",
        "items": "Items of the order",
        "item": "Item",
        "amount": "Quantity",
        "price": "Price",
        "discount": "Discount",
        "vat": "VAT",
        "merchant": "Merchant",
        "vat_included": "The prices include VAT.",
        "vat_added": "VAT is added to the prices.",
        "bank": "Choose your bank",
        "no_bank": "Choose the bank you pay with.",
        "notify": "For testers: the confirmation to the shop (NOTIFY_ADDRESS)",
        "now": "at once, before the return to the shop",
        "delayed": "after {delay} seconds, as when the payer does not come back from the bank",
        "twice": "twice",
        "pay": "Pay",
        "cancel_heading": "Not paying after all?",
        "cancel": "Cancel the payment",
        "paid": "This payment has already been paid.",
        "cancelled": "This payment has been cancelled.",
        "order_paid": "The order has already been paid with another payment.",
        "back": "Back to the shop",
    },
}


class PayForm(FlaskForm):
    """The bank page's Pay form (a third party's form: its names are the service's)."""

    method = RadioField(
        choices=[SelectChoice(code, name) for code, name in BANKS.items()],
        validators=[InputRequired()],
    )
    notify = RadioField(choices=[SelectChoice(mode, mode) for mode in NOTIFY_MODES], default="now")


class Closed(Exception):
    """The payment cannot do this: it is ``paid``, ``cancelled``, or its order was paid
    by another payment (``order_paid``)."""

    def __init__(self, reason: str, transaction: dict) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transaction = transaction


@dataclass(frozen=True)
class _Service:
    """The sandbox's settings, read from the app once (a timer has no app context)."""

    folder: Path
    channel_id: str
    secret: str
    charset: str
    classes: dict[str, str]
    notify_delay: float
    merchants: frozenset[str]  # its customers who accepted the channel (p. 4)


def _service(app: Flask | None = None) -> _Service:
    config = (app or current_app).config
    return _Service(
        folder=Path(config["PAYMENT_SANDBOX_DIR"]),
        channel_id=str(config["PAYMENT_CHANNEL_ID"]),
        secret=config["PAYMENT_CHANNEL_SECRET"] or "",
        charset=payment_channel.normalise_charset(config["PAYMENT_CHARSET"]),
        classes=dict(config["PAYMENT_COMMISSION_CLASSES"]),
        notify_delay=float(config["PAYMENT_SANDBOX_NOTIFY_DELAY"]),
        merchants=frozenset(
            part.strip()
            for part in (
                config.get("PAYMENT_SANDBOX_MERCHANTS", ""),
                config.get("PAYMENT_MERCHANT_ID", ""),
                config.get("PAYMENT_COURSE_MERCHANT_ID", ""),
            )
            for part in str(part).split(",")
            if part.strip()
        ),
    )


# --- State on disk ----------------------------------------------------------------------

_LOCK = threading.Lock()


@contextmanager
def _locked(service: _Service) -> Iterator[None]:
    """One change of the sandbox's state at a time (threads, and processes on POSIX)."""
    service.folder.mkdir(parents=True, exist_ok=True)
    with _LOCK, open(service.folder / ".lock", "ab") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _path(service: _Service, token: str) -> Path:
    return service.folder / "transactions" / f"{token}.json"


def _load(service: _Service, token: str) -> dict | None:
    if not TOKEN.fullmatch(token):
        return None
    try:
        return json.loads(_path(service, token).read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _save(service: _Service, transaction: dict) -> None:
    data = json.dumps(transaction, ensure_ascii=False, indent=2).encode("utf-8")
    write_atomically(_path(service, transaction["token"]), data)


def _order_path(service: _Service, order_number: str) -> Path:
    """Where the payment that paid the order is named (ORDER_NUMBER identifies a payment)."""
    key = f"{service.channel_id}\n{order_number}".encode()
    return service.folder / "orders" / hashlib.sha256(key).hexdigest()


def _due_path(service: _Service, token: str) -> Path:
    return service.folder / "due" / token


def _all(service: _Service) -> list[dict]:
    folder = service.folder / "transactions"
    found = []
    for path in folder.glob("*.json") if folder.is_dir() else ():
        if TOKEN.fullmatch(path.stem):
            transaction = _load(service, path.stem)
            if transaction is not None:
                found.append(transaction)
    found.sort(key=lambda t: (t["received"], t["token"]), reverse=True)
    return found


# --- Receiving the channel form ---------------------------------------------------------


class FormRefused(Exception):
    """The body is no form the service can read at all."""


def _detect(raw: list[tuple[bytes, bytes]], channel_charset: str) -> str:
    """The charset of a form that did not name one (p. 13: the service detects it)."""
    parts = [part for pair in raw for part in pair]
    if all(part.isascii() for part in parts):
        return channel_charset
    try:
        for part in parts:
            part.decode("utf-8")
    except UnicodeDecodeError:
        return "ISO-8859-1"
    return "UTF-8"


def _read_form(
    body: bytes, declared: str | None, channel_charset: str
) -> tuple[dict[str, str], str, list[PaymentFieldError]]:
    """The posted fields by upper-case name, the charset they came in, and names sent twice."""
    try:
        # Latin-1 maps each byte to one character: the bytes come back exactly.
        pairs = parse_qsl(
            body.decode("latin-1"),
            keep_blank_values=True,
            encoding="latin-1",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError:
        raise FormRefused(f"the form has more than {MAX_FIELDS} fields") from None
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]
    if declared:
        try:
            charset = payment_channel.normalise_charset(declared)
        except ValueError:
            raise FormRefused(
                f"the charset {declared[:40]!r} is not supported: send UTF-8 or ISO-8859-1"
            ) from None
    else:
        charset = _detect(raw, channel_charset)
    try:
        decoded = [(name.decode(charset), value.decode(charset)) for name, value in raw]
    except UnicodeDecodeError:
        raise FormRefused(f"the form is not valid {charset}") from None
    fields: dict[str, str] = {}
    twice: dict[str, PaymentFieldError] = {}
    for name, value in decoded:
        key = name.upper()
        if key in fields and key not in twice:
            twice[key] = PaymentFieldError(key, "was sent more than once")
        fields[key] = value
    return fields, charset, list(twice.values())


def _is_web_address(address: str) -> bool:
    try:
        parts = urlsplit(address)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not any(ch.isspace() for ch in address)
    )


def _commission_class(service: _Service, value: str) -> str | None:
    """The channel's commission class that ITEM_CP names ("1" and "1.00" alike), or None."""
    for key in service.classes:
        try:
            if Decimal(key) == Decimal(value):
                return key
        except ArithmeticError:
            if key == value:
                return key
    return None


def _problems(
    service: _Service, fields: Mapping[str, str], charset: str
) -> list[PaymentFieldError]:
    """Everything the service refuses in the form: its fields, then what only it knows."""
    errors = payment_channel.check_received(fields, charset=charset)
    failed = {error.field for error in errors}
    if "CHANNEL_ID" not in failed and fields["CHANNEL_ID"] != service.channel_id:
        errors.append(PaymentFieldError("CHANNEL_ID", "is not a channel of this service"))
    for name in payment_channel.ADDRESS_FIELDS:
        if name not in failed and not _is_web_address(fields[name]):
            errors.append(PaymentFieldError(name, "must be an absolute http or https address"))
    if "ITEMS" not in failed:
        known = ", ".join(service.classes) or "none"
        for x in range(int(fields["ITEMS"])):
            name = f"ITEM_CP[{x}]"
            if name not in failed and _commission_class(service, fields[name]) is None:
                errors.append(
                    PaymentFieldError(
                        name, f"is not a commission class of this channel (classes: {known})"
                    )
                )
            name = f"ITEM_MERCHANT_ID[{x}]"
            if name not in failed and fields[name] not in service.merchants:
                errors.append(
                    PaymentFieldError(
                        name,
                        "is not a merchant of this service who has accepted the channel "
                        f"(merchants: {', '.join(sorted(service.merchants)) or 'none'})",
                    )
                )
        if "AUTHCODE" not in failed:
            if not service.secret:
                errors.append(
                    PaymentFieldError("AUTHCODE", "cannot be checked: no PAYMENT_CHANNEL_SECRET")
                )
            else:
                expected = payment_channel.form_authcode(
                    fields, secret=service.secret, charset=charset
                )
                given = fields["AUTHCODE"].upper().encode("utf-8")
                if not hmac.compare_digest(expected.encode(), given):
                    errors.append(
                        PaymentFieldError(
                            "AUTHCODE",
                            f"does not match the fields (MD5 in {charset} with the channel's "
                            "secret, the fields in the documented order)",
                        )
                    )
    if "ORDER_NUMBER" not in failed and _order_path(service, fields["ORDER_NUMBER"]).exists():
        errors.append(PaymentFieldError("ORDER_NUMBER", "this order has already been paid"))
    return errors


def _receive(service: _Service, fields: Mapping[str, str], charset: str) -> dict:
    """Keep an accepted form as a new payment, open for paying or cancelling."""
    include_vat = fields["INCLUDE_VAT"] == "1"
    items = payment_channel.received_items(fields)
    culture = fields.get("CULTURE", "").lower()
    transaction = {
        "token": secrets.token_hex(16),
        "state": "open",
        "received": time.time(),
        "received_at": _now(),
        "charset": charset,
        "order_number": fields["ORDER_NUMBER"],
        "language": LANGUAGES.get(culture, "fi"),
        "return_address": fields["RETURN_ADDRESS"],
        "cancel_address": fields["CANCEL_ADDRESS"],
        "notify_address": fields["NOTIFY_ADDRESS"],
        "include_vat": include_vat,
        "lines": [
            {
                "title": item.title,
                "no": item.no,
                "amount": item.amount,
                "price": item.price,
                "tax": item.tax,
                "discount": item.discount or "0",
                "merchant_id": item.merchant_id,
                "cp": item.cp,
                "type": item.type or 1,
            }
            for item in items
        ],
        "total": str(payment_channel.items_total(items, include_vat=include_vat)),
        "fields": dict(fields),
        "paid": None,
        "timestamp": None,
        "method": None,
        "return_authcode": None,
        "closed_at": None,
        "notify_mode": None,
        "notify_due": None,
        "notifies": [],
    }
    with _locked(service):
        _save(service, transaction)
    return transaction


# --- Paying, cancelling, notifying ------------------------------------------------------


def _new_paid_code(service: _Service, token: str) -> str:
    while True:
        code = secrets.token_hex(8).upper()
        if claim(service.folder / "paid" / code, token) == token:
            return code


def _pay(service: _Service, token: str, method: str, mode: str, now: float) -> tuple[dict, bool]:
    """Pay the payment once; (the payment, whether this call paid it). Raises Closed."""
    with _locked(service):
        transaction = _load(service, token)
        if transaction is None:
            raise LookupError(token)
        if transaction["state"] == "paid":
            return transaction, False
        if transaction["state"] == "cancelled":
            raise Closed("cancelled", transaction)
        order = _order_path(service, transaction["order_number"])
        if order.exists():
            raise Closed("order_paid", transaction)
        paid = _new_paid_code(service, token)
        timestamp = str(int(now))
        transaction.update(
            state="paid",
            paid=paid,
            timestamp=timestamp,
            method=method,
            return_authcode=payment_channel.return_authcode(
                transaction["order_number"],
                timestamp,
                paid,
                method,
                service.secret,
                charset=service.charset,
            ),
            closed_at=_now(),
            notify_mode=mode,
        )
        if mode == "delayed":
            transaction["notify_due"] = now + service.notify_delay
            write_atomically(_due_path(service, token), repr(transaction["notify_due"]).encode())
        write_atomically(order, token.encode())
        _save(service, transaction)
    if mode == "delayed":
        _schedule(service, transaction["notify_due"], service.notify_delay)
    else:
        for _ in range(2 if mode == "twice" else 1):
            _send_notify(service, token, mode)
    return transaction, True


def _cancel(service: _Service, token: str, now: float) -> dict:
    """Cancel the payment once; the same answer again. Raises Closed when it was paid."""
    with _locked(service):
        transaction = _load(service, token)
        if transaction is None:
            raise LookupError(token)
        if transaction["state"] == "paid":
            raise Closed("paid", transaction)
        if transaction["state"] == "open":
            timestamp = str(int(now))
            transaction.update(
                state="cancelled",
                timestamp=timestamp,
                return_authcode=payment_channel.return_authcode(
                    transaction["order_number"],
                    timestamp,
                    None,
                    None,
                    service.secret,
                    charset=service.charset,
                ),
                closed_at=_now(),
            )
            _save(service, transaction)
    return transaction


def _answer(transaction: dict) -> list[tuple[str, str]]:
    """The GET parameters of the return, cancel and notify calls (p. 10)."""
    params = [
        ("ORDER_NUMBER", transaction["order_number"]),
        ("TIMESTAMP", transaction["timestamp"]),
    ]
    if transaction["state"] == "paid":
        params += [("PAID", transaction["paid"]), ("METHOD", transaction["method"])]
    params.append(("RETURN_AUTHCODE", transaction["return_authcode"]))
    return params


def _address_with(address: str, params: list[tuple[str, str]], charset: str) -> str:
    """The address with the parameters added to its query ("&" when it has one already)."""
    base, hash_mark, fragment = address.partition("#")
    separator = "" if base.endswith(("?", "&")) else "&" if "?" in base else "?"
    return base + separator + urlencode(params, encoding=charset) + hash_mark + fragment


def _answer_url(service: _Service, transaction: dict) -> str:
    """Where the payer's browser goes back to: RETURN_ADDRESS when paid, else CANCEL_ADDRESS."""
    address = transaction["return_address" if transaction["state"] == "paid" else "cancel_address"]
    return _address_with(address, _answer(transaction), service.charset)


def _send_notify(service: _Service, token: str, kind: str) -> dict | None:
    """Call the paid payment's NOTIFY_ADDRESS once and record the attempt."""
    transaction = _load(service, token)
    if transaction is None or transaction["state"] != "paid":
        return None
    url = _address_with(transaction["notify_address"], _answer(transaction), service.charset)
    attempt: dict[str, Any] = {
        "at": _now(),
        "kind": kind,
        "url": url,
        "status": None,
        "error": None,
    }
    import requests  # slow to import, and only the sandbox's notifies need it

    try:
        response = requests.get(url, timeout=NOTIFY_TIMEOUT, allow_redirects=False)
    except (requests.RequestException, ValueError) as exc:  # ValueError: e.g. a bad IDN
        attempt["error"] = f"{type(exc).__name__}: {exc}"[:500]
    else:
        response.close()
        attempt["status"] = response.status_code
        if not 200 <= response.status_code < 300:
            attempt["error"] = f"the shop answered HTTP {response.status_code}"
    with _locked(service):
        transaction = _load(service, token) or transaction
        transaction["notifies"].append(attempt)
        if kind in ("delayed", "resend"):
            transaction["notify_due"] = None
        _save(service, transaction)
    return attempt


def _take_due(service: _Service, token: str) -> bool:
    """Take a scheduled notify for sending; False when another has taken it."""
    try:
        _due_path(service, token).unlink()
    except FileNotFoundError:
        return False
    return True


def _deliver_due(service: _Service, now: float) -> int:
    folder = service.folder / "due"
    sent = 0
    for path in sorted(folder.iterdir()) if folder.is_dir() else ():
        if not TOKEN.fullmatch(path.name):
            continue  # a file being written
        try:
            due = float(path.read_text())
        except (OSError, ValueError):
            continue
        if due <= now and _take_due(service, path.name):
            if _send_notify(service, path.name, "delayed") is not None:
                sent += 1
    return sent


def _schedule(service: _Service, due: float, delay: float) -> None:
    """Call the delayed notify at its time (the due file keeps it over a restart)."""

    def deliver() -> None:
        try:
            _deliver_due(service, max(time.time(), due))
        except Exception:  # a timer thread has nobody to tell but the log
            log.exception("the payment sandbox could not deliver a delayed notify")

    timer = threading.Timer(delay, deliver)
    timer.daemon = True
    timer.start()


# --- Public helpers ---------------------------------------------------------------------


def deliver_due_notifies(app: Flask, now: float | None = None) -> int:
    """Call the delayed notifies due at `now` (UNIX seconds, default now); how many were."""
    return _deliver_due(_service(app), time.time() if now is None else now)


def send_notify(app: Flask, token: str) -> dict | None:
    """Call a paid payment's notify now (a scheduled one is then not sent); the attempt."""
    service = _service(app)
    transaction = _load(service, token)
    if transaction is None or transaction["state"] != "paid":
        return None
    _take_due(service, token)
    return _send_notify(service, token, "resend")


def transactions(app: Flask, order_number: str | None = None) -> list[dict]:
    """The payments kept, newest first; only those of `order_number` when given."""
    found = _all(_service(app))
    if order_number is not None:
        found = [t for t in found if t["order_number"] == order_number]
    return found


# --- Pages ------------------------------------------------------------------------------


@routes.url_value_preprocessor
def _keep_raw_body(endpoint: str | None, values: dict | None) -> None:
    # The portal's before_request hooks read request.form, which decodes the body as UTF-8
    # and consumes it; the channel form is read from its bytes, in its own charset.
    # URL value preprocessors run before every before_request hook.
    if endpoint == "payment_sandbox.channel_payment":
        request.get_data(cache=True)


@routes.before_request
def _deliver_due_now() -> None:
    """Delayed notifies that fell due while nobody was here (or the process restarted)."""
    _deliver_due(_service(), time.time())


def _money(amount: object, language: str) -> str:
    return format_currency(Decimal(str(amount)), "EUR", locale=LOCALES[language])


def _number(value: object, language: str) -> str:
    return format_decimal(Decimal(str(value)), locale=LOCALES[language])


def _delay_text(service: _Service) -> str:
    delay = service.notify_delay
    return str(int(delay)) if delay == int(delay) else str(delay)


def _render_in(language: str, template: str, **context: Any) -> str:
    """Render a page of the service in its own language, not the portal's: the frame's
    strings, the html lang and the numbers too."""
    with force_locale(language):
        return render_template(template, **context)


def _closed_page(service: _Service, transaction: dict, reason: str, status: int):
    language = transaction["language"]
    return (
        _render_in(
            language,
            "sandbox/payment_closed.html",
            t=TEXTS[language],
            transaction=transaction,
            reason=reason,
            back=_answer_url(service, transaction) if reason != "order_paid" else None,
        ),
        status,
    )


def _bank_page(service: _Service, transaction: dict, form: PayForm, error: str | None = None):
    language = transaction["language"]
    texts = TEXTS[language]
    lines = [
        line
        | {
            "amount_shown": _number(line["amount"], language),
            "price_shown": _money(line["price"], language),
            "tax_shown": _number(line["tax"], language),
            "discount_shown": _number(line["discount"], language),
        }
        for line in transaction["lines"]
    ]
    notify_labels = {
        "now": texts["now"],
        "delayed": texts["delayed"].format(delay=_delay_text(service)),
        "twice": texts["twice"],
    }
    html = _render_in(
        language,
        "sandbox/payment_bank.html",
        t=texts,
        transaction=transaction,
        lines=lines,
        total=_money(transaction["total"], language),
        banks=BANKS,
        chosen=form.method.data,
        notify=form.notify.data or "now",
        notify_labels=notify_labels,
        error=error,
    )
    response = current_app.make_response((html, 400 if error else 200))
    security.allow_form_targets(transaction["return_address"], transaction["cancel_address"])
    return response


def _transaction_or_404(service: _Service, token: str) -> dict:
    transaction = _load(service, token)
    if transaction is None:
        abort(404)
    return transaction


@routes.post("/channel-payment")
@csrf.exempt  # posted from the shop's page on another site; authenticated by its AUTHCODE
def channel_payment() -> ResponseReturnValue:
    """Receive a channel payment form; refuse it with every problem, or open a payment."""
    service = _service()
    fields: dict[str, str] = {}
    charset = None
    try:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise FormRefused("the form must be posted as application/x-www-form-urlencoded")
        fields, charset, errors = _read_form(
            request.get_data(cache=True), request.mimetype_params.get("charset"), service.charset
        )
    except FormRefused as exc:
        errors = [PaymentFieldError("", str(exc))]
    else:
        errors += _problems(service, fields, charset)
    if errors:
        # The service's error page speaks English (the problems are a developer's).
        page = _render_in("en", "sandbox/payment_refused.html", errors=errors, charset=charset)
        return page, 400
    transaction = _receive(service, fields, charset)
    return redirect(url_for(".bank", token=transaction["token"]), 303)


@routes.get("/pay/<token>")
def bank(token: str) -> ResponseReturnValue:
    """Show the bank page: the order, its total, the banks, Pay and Cancel."""
    service = _service()
    transaction = _transaction_or_404(service, token)
    if transaction["state"] != "open":
        return _closed_page(service, transaction, transaction["state"], 200)
    return _bank_page(service, transaction, PayForm())


@routes.post("/pay/<token>")
def pay(token: str) -> ResponseReturnValue:
    """Pay at the chosen bank: call the shop's notify, then send the payer back."""
    service = _service()
    transaction = _transaction_or_404(service, token)
    if transaction["state"] == "paid":  # paid already: the same answer, nothing paid twice
        return redirect(_answer_url(service, transaction), 303)
    form = PayForm()
    if transaction["state"] == "open" and not form.validate():
        return _bank_page(service, transaction, form, TEXTS[transaction["language"]]["no_bank"])
    try:
        transaction, _ = _pay(service, token, form.method.data, form.notify.data, time.time())
    except Closed as exc:
        return _closed_page(service, exc.transaction, exc.reason, 409)
    return redirect(_answer_url(service, transaction), 303)


@routes.post("/cancel/<token>")
def cancel(token: str) -> ResponseReturnValue:
    """Cancel the payment and send the payer back to the shop's cancel address."""
    service = _service()
    _transaction_or_404(service, token)
    try:
        transaction = _cancel(service, token, time.time())
    except Closed as exc:
        return _closed_page(service, exc.transaction, exc.reason, 409)
    return redirect(_answer_url(service, transaction), 303)


@routes.get("/")
@staff_required
def index() -> ResponseReturnValue:
    """The payments the sandbox received, the newest first."""
    service = _service()
    shown = _all(service)[:MAX_LISTED]
    for transaction in shown:
        transaction["bank"] = payment_methods.method_name(transaction["method"])
        due = transaction["notify_due"]
        transaction["due_at"] = (
            datetime.fromtimestamp(due, UTC).isoformat(timespec="seconds") if due else None
        )
    return render_template(
        "sandbox/payment_index.html", transactions=shown, merchants=sorted(service.merchants)
    )


@routes.get("/merchant/<merchant_id>")
@staff_required
def merchant(merchant_id: str) -> ResponseReturnValue:
    """The merchant panel of one merchant: of the payments through the channel, only the
    lines that merchant sells (p. 4), the newest payment first."""
    service = _service()
    if merchant_id not in service.merchants:
        abort(404)
    shown = []
    for transaction in _all(service):
        lines = [line for line in transaction["lines"] if line["merchant_id"] == merchant_id]
        if lines and transaction["state"] == "paid":
            shown.append({**transaction, "lines": lines})
        if len(shown) == MAX_LISTED:
            break
    return render_template(
        "sandbox/payment_merchant.html",
        merchant_id=merchant_id,
        merchants=sorted(service.merchants),
        transactions=shown,
    )


@routes.post("/notify/<token>")
@staff_required
def notify(token: str) -> ResponseReturnValue:
    """Call a paid payment's notify address again now."""
    service = _service()
    transaction = _transaction_or_404(service, token)
    attempt = send_notify(current_app._get_current_object(), token)
    order = transaction["order_number"]
    if attempt is None:
        flash(f"Order {order} is not paid: there is nothing to notify.", "error")
    elif attempt["error"]:
        flash(f"The notify of order {order} failed: {attempt['error']}", "error")
    else:
        flash(f"The notify of order {order} was delivered (HTTP {attempt['status']}).", "success")
    return redirect(url_for(".index"), 303)


# --- Registration -----------------------------------------------------------------------
