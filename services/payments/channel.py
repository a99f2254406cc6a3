"""Client side of Suomen Verkkomaksut's channel interface (kanavarajapinta, "Kanavamalli").

Pure logic, no Flask. The portal acts as a sales channel: one payment holds item lines of
several merchants, each line naming its merchant and the channel's commission class. The
payer's browser POSTs the form built here to ``PAYMENT_URL``; the payment service comes
back to the return, cancel and notify addresses with parameters checked by
``verify_return``. The receiving side, for a stand-in of the service (the sandbox):
``check_received`` checks a posted form by the same rules, ``received_items`` reads its
lines and ``items_total`` says what the payer pays (also for lines built here).

Where each rule comes from (pages of the seed document "Maksujärjestelmän
rajapintakuvaus, Kanavamalli"):

- p. 4: the channel must not send a bundle whose commissions exceed the items' sum.
- p. 5 "Lähetettävät kentät": lengths in the tables are maxima (longer is refused);
  formats N (number), F (decimal, at most two decimals, dot as separator), AN (any
  characters); charset UTF-8 or ISO-8859-1, never mixed; no value may contain "|"
  (remove or replace it; in addresses URL-encode it as %7C).
- pp. 5-6: the field tables. Their order is the order of the AUTHCODE string: CHANNEL_ID,
  ORDER_NUMBER, CURRENCY, RETURN_ADDRESS, CANCEL_ADDRESS, NOTIFY_ADDRESS, VERSION, CULTURE,
  METHOD_PRESELECT, (AUTHCODE), CONTACT_TELNO, CONTACT_CELLNO, CONTACT_EMAIL,
  CONTACT_FIRSTNAME, CONTACT_LASTNAME, CONTACT_COMPANY, CONTACT_ADDR_STREET,
  CONTACT_ADDR_ZIP, CONTACT_ADDR_CITY, CONTACT_ADDR_COUNTRY, INCLUDE_VAT, ITEMS, then per
  item X = 0, 1, ...: ITEM_TITLE[X], ITEM_NO[X], ITEM_AMOUNT[X], ITEM_PRICE[X],
  ITEM_TAX[X], ITEM_MERCHANT_ID[X], ITEM_CP[X], ITEM_DISCOUNT[X], ITEM_TYPE[X].
- pp. 7-9 "Kenttien selitteet": only EUR; VERSION is 1; cultures fi_fi, sv_se, en_us
  (default fi_fi); METHOD_PRESELECT is not in use but counts as an empty string in the
  AUTHCODE; country is a two-letter ISO code, any case; INCLUDE_VAT 1 = prices include
  VAT, 0 = VAT is added; price always positive (discounts go to ITEM_DISCOUNT, default
  0); ITEM_TYPE 1 normal (default), 2 postage, 3 handling; ITEM_CP is the commission
  class ID given by the service.
- p. 10 "Maksutiedon käsittely": returns carry ORDER_NUMBER, TIMESTAMP (UNIX seconds),
  PAID (only on success) and RETURN_AUTHCODE; the notify call carries the same.
- p. 11 "Tarkisteen laskeminen": RETURN_AUTHCODE = MD5 of ORDER_NUMBER|TIMESTAMP|PAID|
  secret, where PAID and the payment method (METHOD, "maksutapa"; in the worked example
  between PAID and the secret) are left out on failure; 32 hex digits, lower case
  replaced by upper case.
- pp. 12-15 "Testaus", "Esimerkki": the example form (field names upper case, AUTHCODE as
  its last field) and the AUTHCODE: the channel secret first, then every field in the
  documented order joined with "|", an empty string for each field not sent; MD5, upper
  case; computed in the charset in which the form is posted.

Decisions where the seed is unclear (see also the tests):

- NOTIFY_ADDRESS is required (tables p. 5 and explanations p. 7; p. 5's prose calls it
  optional but recommended) and ITEM_CP is required (explanation p. 8; table p. 6 says
  optional): both are always sent.
- Optional fields without a value are not sent and count as "" in the AUTHCODE, as in the
  example form (it leaves out METHOD_PRESELECT and CONTACT_CELLNO).
- The culture is accepted in any letter case and sent as fi_FI / sv_SE / en_US: the
  example's published AUTHCODE is reproduced only with "fi_FI".
- "|" is URL-encoded as %7C in the three addresses (as p. 5 says) and refused elsewhere.
  Control characters are refused too: browsers rewrite line breaks when posting, which
  would break the AUTHCODE.
- Lengths count characters. A zero price is accepted; a negative one is not.
- What the payer pays: each line's amount × price less its discount, plus VAT when
  INCLUDE_VAT is 0, added up unrounded and then rounded to cents, half up (the seed gives
  no rounding rule).
- Received F values are plain decimals ("10", "10.00", "-1" is "negative" rather than
  malformed); a value with trailing zeros past two decimals ("10.500") is accepted, as
  ``build_form`` accepts it.
- The commission check (p. 4) needs the channel's own commission per line (``Item.
  commission``, never sent): no line's commission may exceed the line, nor the sum of
  commissions the sum of the lines.
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from services.vat import CENT, money

PAYMENT_URL = "https://payment.verkkomaksut.fi/channel-payment"
VERSION = "1"
CURRENCY = "EUR"
CULTURES = {"fi_fi": "fi_FI", "sv_se": "sv_SE", "en_us": "en_US"}
ITEM_TYPES = (1, 2, 3)  # normal, postage, handling
CHARSETS = {"utf-8": "UTF-8", "iso8859-1": "ISO-8859-1"}

# Field specs from the seed's tables (pp. 5-6): name, maximum length, format, required.
N, F, AN = "N", "F", "AN"
HEAD_FIELDS: tuple[tuple[str, int, str, bool], ...] = (
    ("CHANNEL_ID", 11, N, True),
    ("ORDER_NUMBER", 64, AN, True),
    ("CURRENCY", 3, AN, True),
    ("RETURN_ADDRESS", 255, AN, True),
    ("CANCEL_ADDRESS", 255, AN, True),
    ("NOTIFY_ADDRESS", 255, AN, True),
    ("VERSION", 2, N, True),
    ("CULTURE", 5, AN, False),
    ("METHOD_PRESELECT", 2, AN, False),
    # AUTHCODE (32, AN, required) stands here in the table: it is not part of its own
    # string and the example form sends it last.
    ("CONTACT_TELNO", 64, AN, False),
    ("CONTACT_CELLNO", 64, AN, False),
    ("CONTACT_EMAIL", 255, AN, True),
    ("CONTACT_FIRSTNAME", 64, AN, True),
    ("CONTACT_LASTNAME", 64, AN, True),
    ("CONTACT_COMPANY", 128, AN, False),
    ("CONTACT_ADDR_STREET", 128, AN, True),
    ("CONTACT_ADDR_ZIP", 16, N, True),
    ("CONTACT_ADDR_CITY", 64, AN, True),
    ("CONTACT_ADDR_COUNTRY", 2, AN, True),
    ("INCLUDE_VAT", 1, N, True),
    ("ITEMS", 8, N, True),
)
ITEM_FIELDS: tuple[tuple[str, int, str, bool], ...] = (
    ("ITEM_TITLE", 255, AN, True),
    ("ITEM_NO", 16, AN, False),
    ("ITEM_AMOUNT", 10, F, True),
    ("ITEM_PRICE", 10, F, True),
    ("ITEM_TAX", 10, F, True),
    ("ITEM_MERCHANT_ID", 8, N, True),
    ("ITEM_CP", 10, F, True),
    ("ITEM_DISCOUNT", 10, F, False),
    ("ITEM_TYPE", 2, N, False),
)
MAX_ITEMS = 10**8 - 1  # ITEMS is N, at most 8 digits
# AUTHCODE (p. 6): in the table after METHOD_PRESELECT, but outside its own string.
AUTHCODE_FIELD = ("AUTHCODE", 32, AN, True)
ADDRESS_FIELDS = ("RETURN_ADDRESS", "CANCEL_ADDRESS", "NOTIFY_ADDRESS")
RETURN_FIELDS = ("ORDER_NUMBER", "TIMESTAMP", "PAID", "METHOD", "RETURN_AUTHCODE")

_HUNDRED = Decimal(100)

# What the item lines' numbers may be (pp. 8-9), and what is said when they are not.
_ITEM_RANGES: dict[str, tuple[Callable[[Decimal], bool], str]] = {
    "ITEM_AMOUNT": (lambda n: n > 0, "must be greater than zero"),
    "ITEM_PRICE": (lambda n: n >= 0, "must not be negative"),
    "ITEM_TAX": (lambda n: 0 <= n <= _HUNDRED, "must be a percentage from 0 to 100"),
    "ITEM_CP": (lambda n: n >= 0, "must not be negative"),
    "ITEM_DISCOUNT": (lambda n: 0 <= n <= _HUNDRED, "must be a percentage from 0 to 100"),
}
_ITEM_NAMES = frozenset(name for name, *_ in ITEM_FIELDS)
_ITEM_KEY = re.compile(r"(ITEM_[A-Z_]+)\[(0|[1-9][0-9]{0,7})\]")
_F_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # sign allowed here to say "negative"
INCLUDE_VAT_RULE = "must be 1 (prices include VAT) or 0"
ITEMS_RULE = "must have at least one item line"

Number = Decimal | int | str


class PaymentFieldError(ValueError):
    """A value the payment service would refuse; ``field`` is the form field's name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Item:
    """One item line (ITEM_*[X], p. 6). Numbers as Decimal, int or str; never float.

    ``commission`` is the channel's own commission for the line in euros by the agreed
    formula; it is not sent, only checked against the lines' sum (p. 4).
    """

    title: str
    amount: Number
    price: Number
    tax: Number
    merchant_id: str | int
    cp: Number
    no: str = ""
    discount: Number | None = None
    type: int | None = None
    commission: Number | None = None


@dataclass(frozen=True)
class Payment:
    """One payment of the channel (pp. 5-6). ``culture`` None: not sent (service default)."""

    order_number: str
    return_address: str
    cancel_address: str
    notify_address: str
    contact_email: str
    contact_firstname: str
    contact_lastname: str
    contact_addr_street: str
    contact_addr_zip: str
    contact_addr_city: str
    contact_addr_country: str
    items: Sequence[Item]
    include_vat: bool | int = True
    currency: str = CURRENCY
    culture: str | None = None
    contact_telno: str = ""
    contact_cellno: str = ""
    contact_company: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))


@dataclass(frozen=True)
class ReturnResult:
    """What a return, cancel or notify call said. Trust nothing unless ``authentic``."""

    authentic: bool
    paid: bool
    order_number: str | None = None
    timestamp: str | None = None
    paid_code: str | None = None
    method: str | None = None
    error: str | None = None


def normalise_charset(charset: str) -> str:
    """'UTF-8' or 'ISO-8859-1' (any spelling Python knows); anything else is refused."""
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        name = ""
    if name not in CHARSETS:
        raise ValueError(f"charset must be UTF-8 or ISO-8859-1, not {charset!r}")
    return CHARSETS[name]


# Typographic characters ISO-8859-1 lacks, and "|" (p. 5: remove or replace it), as the
# plain characters a reader takes for the same.
_PLAIN = str.maketrans(
    {
        "|": "/",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2026": "...",
        "\u20ac": "EUR",
        "\u2122": "(TM)",
    }
)


def clean_text(value: str, charset: str = "UTF-8") -> str:
    """A text of ours (an item's title) made fit to send (p. 5): "|" replaced, control
    characters dropped, and what the charset cannot represent replaced by its plain form
    ("–" -> "-", "€" -> "EUR"; "ő" -> "o" by its base letter) or "?". Not for what the
    payer typed: they are told instead."""
    charset = normalise_charset(charset)
    text = "".join(c for c in value.translate(_PLAIN) if unicodedata.category(c) != "Cc")
    out = []
    for char in text:
        try:
            char.encode(charset)
        except UnicodeEncodeError:
            base = unicodedata.normalize("NFKD", char)
            base = "".join(c for c in base if not unicodedata.combining(c))
            try:
                base.encode(charset)
            except UnicodeEncodeError:
                base = "?"
            char = base or "?"
        out.append(char)
    return "".join(out)


def _md5_upper(text: str, charset: str) -> str:
    return hashlib.md5(text.encode(charset), usedforsecurity=False).hexdigest().upper()


def authcode_string(fields: Mapping[str, str], secret: str) -> str:
    """The string the AUTHCODE is the MD5 of (pp. 13-15): secret, then every field.

    ``fields`` are the form's fields as posted; a field not sent counts as "". The number
    of item groups comes from ITEMS.
    """
    count = fields.get("ITEMS", "")
    if not (count.isascii() and count.isdigit()):
        raise PaymentFieldError("ITEMS", "must be the number of item lines")
    values = [secret]
    values += [fields.get(name, "") for name, *_ in HEAD_FIELDS]
    for x in range(int(count)):
        values += [fields.get(f"{name}[{x}]", "") for name, *_ in ITEM_FIELDS]
    return "|".join(values)


def form_authcode(fields: Mapping[str, str], *, secret: str, charset: str = "UTF-8") -> str:
    """AUTHCODE of a form (as built here, or as received by a stand-in for the service)."""
    return _md5_upper(authcode_string(fields, secret), normalise_charset(charset))


def _decimal(field: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise PaymentFieldError(field, "must be a number given as Decimal, int or str")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise PaymentFieldError(field, "must be a number with a dot as decimal separator") from None
    if not number.is_finite():
        raise PaymentFieldError(field, "must be a finite number")
    return number


def _format_f(field: str, number: Decimal) -> str:
    """Format F (p. 5): dot separator, at most two decimals, kept as given ("1", "10.00")."""
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        if number != number.quantize(CENT):
            raise PaymentFieldError(field, "must have at most two decimals")
        number = number.quantize(CENT)
    if number == 0:
        number = abs(number)
    return format(number, "f")


def _text(value: Any) -> Any:
    """None for "not given"; whole numbers (IDs) as their digits; anything else unchanged."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _ranged(field: str, number: Decimal) -> Decimal:
    """An item line's number, if it is in its range (pp. 8-9)."""
    allowed, message = _ITEM_RANGES[field.partition("[")[0]]
    if not allowed(number):
        raise PaymentFieldError(field, message)
    return number


def _currency(value: object) -> str:
    currency = value.strip().upper() if isinstance(value, str) else ""
    if currency != CURRENCY:
        raise PaymentFieldError("CURRENCY", "must be EUR, the only currency accepted")
    return currency


def _culture(value: object) -> str:
    culture = CULTURES.get(str(value).strip().lower(), "")
    if not culture:
        raise PaymentFieldError("CULTURE", "must be fi_FI, sv_SE or en_US")
    return culture


def _country(value: str) -> str:
    country = value.strip().upper()
    if not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise PaymentFieldError(
            "CONTACT_ADDR_COUNTRY", "must be a two-letter ISO 3166 country code"
        )
    return country


def _integer(field: str, value: object, allowed: Iterable[int] | None = None) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PaymentFieldError(field, "must be a whole number")
    if allowed is not None and value not in allowed:
        choices = ", ".join(str(v) for v in allowed)
        raise PaymentFieldError(field, f"must be one of {choices}")
    return str(value)


def _item_values(x: int, item: Item, include_vat: bool) -> tuple[dict[str, Any], Decimal]:
    """The item's fields and its line sum (amount × price, less discount, plus VAT)."""

    def name(base: str) -> str:
        return f"{base}[{x}]"

    def number(base: str, value: object) -> Decimal:
        return _ranged(name(base), _decimal(name(base), value))

    amount = number("ITEM_AMOUNT", item.amount)
    price = number("ITEM_PRICE", item.price)
    tax = number("ITEM_TAX", item.tax)
    cp = number("ITEM_CP", item.cp)
    values = {
        name("ITEM_TITLE"): item.title,
        name("ITEM_NO"): _text(item.no),
        name("ITEM_AMOUNT"): _format_f(name("ITEM_AMOUNT"), amount),
        name("ITEM_PRICE"): _format_f(name("ITEM_PRICE"), price),
        name("ITEM_TAX"): _format_f(name("ITEM_TAX"), tax),
        name("ITEM_MERCHANT_ID"): _text(item.merchant_id),
        name("ITEM_CP"): _format_f(name("ITEM_CP"), cp),
        name("ITEM_DISCOUNT"): "",
        name("ITEM_TYPE"): "",
    }
    discount = Decimal(0)
    if item.discount is not None:
        discount = number("ITEM_DISCOUNT", item.discount)
        values[name("ITEM_DISCOUNT")] = _format_f(name("ITEM_DISCOUNT"), discount)
    if item.type is not None:
        values[name("ITEM_TYPE")] = _integer(name("ITEM_TYPE"), item.type, ITEM_TYPES)
    return values, line_sum(amount, price, tax, discount, include_vat=include_vat)


def line_sum(
    amount: Decimal, price: Decimal, tax: Decimal, discount: Decimal, *, include_vat: bool
) -> Decimal:
    """An item line's sum (p. 8), unrounded: amount × price less the discount %, plus the VAT %
    when the prices exclude VAT (INCLUDE_VAT 0)."""
    line = amount * price * (1 - discount / _HUNDRED)
    if not include_vat:
        line *= 1 + tax / _HUNDRED
    return line


def items_total(items: Iterable[Item], *, include_vat: bool) -> Decimal:
    """What the payer pays for the item lines: their sums added, rounded to cents (half up).

    Raises PaymentFieldError for a line the service would refuse.
    """
    lines = (_item_values(x, item, include_vat)[1] for x, item in enumerate(items))
    return money(sum(lines, Decimal(0)))


def _check(name: str, max_length: int, kind: str, required: bool, value: Any, charset: str) -> None:
    if not isinstance(value, str):
        raise PaymentFieldError(name, "must be text")
    if not value.strip():
        if required:
            raise PaymentFieldError(name, "is required")
        if value:
            raise PaymentFieldError(name, "must not be only spaces")
        return
    if "|" in value:
        raise PaymentFieldError(name, 'must not contain the character "|"')
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise PaymentFieldError(name, "must not contain line breaks or control characters")
    if kind == N and not (value.isascii() and value.isdigit()):
        raise PaymentFieldError(name, "must contain digits only")
    if len(value) > max_length:
        raise PaymentFieldError(
            name, f"must be at most {max_length} characters long (is {len(value)})"
        )
    try:
        value.encode(charset)
    except UnicodeEncodeError:
        raise PaymentFieldError(
            name, f"contains characters that {charset} cannot represent"
        ) from None


def build_form(
    payment: Payment, *, channel_id: str, secret: str, charset: str = "UTF-8"
) -> list[tuple[str, str]]:
    """The form fields to POST to PAYMENT_URL, in the documented order, AUTHCODE last.

    ``charset`` is the one the form will be posted in (the page's charset, or the form's
    accept-charset); the AUTHCODE is computed over the values encoded in it. Raises
    PaymentFieldError for anything the service would refuse.
    """
    charset = normalise_charset(charset)
    if not isinstance(secret, str) or not secret:
        raise ValueError("the channel secret is required")
    try:
        secret.encode(charset)
    except UnicodeEncodeError:
        raise ValueError(f"the channel secret cannot be represented in {charset}") from None

    currency = _currency(payment.currency)
    culture = ""
    if payment.culture is not None and payment.culture != "":
        culture = _culture(payment.culture)
    if isinstance(payment.include_vat, bool) or payment.include_vat in (0, 1):
        include_vat = str(int(payment.include_vat))
    else:
        raise PaymentFieldError("INCLUDE_VAT", INCLUDE_VAT_RULE)
    country = payment.contact_addr_country
    if isinstance(country, str) and country.strip():
        country = _country(country)
    items = payment.items
    if not items:
        raise PaymentFieldError("ITEMS", ITEMS_RULE)
    if len(items) > MAX_ITEMS:
        raise PaymentFieldError("ITEMS", f"must have at most {MAX_ITEMS} item lines")

    def address(value: str) -> str:
        return value.replace("|", "%7C") if isinstance(value, str) else value

    fields: dict[str, Any] = {
        "CHANNEL_ID": channel_id,
        "ORDER_NUMBER": payment.order_number,
        "CURRENCY": currency,
        "RETURN_ADDRESS": address(payment.return_address),
        "CANCEL_ADDRESS": address(payment.cancel_address),
        "NOTIFY_ADDRESS": address(payment.notify_address),
        "VERSION": VERSION,
        "CULTURE": culture,
        "METHOD_PRESELECT": "",  # not in use (p. 7): never sent, "" in the AUTHCODE
        "CONTACT_TELNO": _text(payment.contact_telno),
        "CONTACT_CELLNO": _text(payment.contact_cellno),
        "CONTACT_EMAIL": payment.contact_email,
        "CONTACT_FIRSTNAME": payment.contact_firstname,
        "CONTACT_LASTNAME": payment.contact_lastname,
        "CONTACT_COMPANY": _text(payment.contact_company),
        "CONTACT_ADDR_STREET": payment.contact_addr_street,
        "CONTACT_ADDR_ZIP": payment.contact_addr_zip,
        "CONTACT_ADDR_CITY": payment.contact_addr_city,
        "CONTACT_ADDR_COUNTRY": country,
        "INCLUDE_VAT": include_vat,
        "ITEMS": str(len(items)),
    }
    for spec in HEAD_FIELDS:
        _check(*spec, fields[spec[0]], charset)

    total = Decimal(0)
    commissions = Decimal(0)
    for x, item in enumerate(items):
        if not isinstance(item, Item):
            raise PaymentFieldError(f"ITEM_TITLE[{x}]", "must be an item line")
        values, line = _item_values(x, item, include_vat == "1")
        for name, max_length, kind, required in ITEM_FIELDS:
            key = f"{name}[{x}]"
            _check(key, max_length, kind, required, values[key], charset)
        fields.update(values)
        total += line
        if item.commission is not None:
            commission = _decimal(f"ITEM_CP[{x}]", item.commission)
            if commission < 0:
                raise PaymentFieldError(f"ITEM_CP[{x}]", "the commission must not be negative")
            if commission > line:
                raise PaymentFieldError(
                    f"ITEM_CP[{x}]", "the commission must not exceed the line's sum"
                )
            commissions += commission
    if commissions > total:
        raise PaymentFieldError("ITEM_CP", "the commissions must not exceed the items' sum")

    form = [(name, value) for name, value in fields.items() if value != ""]
    form.append(("AUTHCODE", form_authcode(fields, secret=secret, charset=charset)))
    return form


# --- The receiving side: what the payment service checks in a posted form ------------


def _collect(errors: list[PaymentFieldError], check: Callable[..., object], *args: Any) -> bool:
    """Run one check, keeping its refusal in ``errors``; True when it passed."""
    try:
        check(*args)
    except PaymentFieldError as exc:
        errors.append(exc)
        return False
    return True


def _received_version(value: str) -> None:
    if value != VERSION:
        raise PaymentFieldError("VERSION", f"must be {VERSION}, the channel interface's version")


def _received_include_vat(value: str) -> None:
    if value not in ("0", "1"):
        raise PaymentFieldError("INCLUDE_VAT", INCLUDE_VAT_RULE)


def _received_items(value: str) -> None:
    if int(value) < 1:
        raise PaymentFieldError("ITEMS", ITEMS_RULE)


# Value rules of head fields beyond length and format (pp. 7-8), once the value is there.
_RECEIVED_HEAD_RULES: dict[str, Callable[[str], object]] = {
    "CURRENCY": _currency,
    "VERSION": _received_version,
    "CULTURE": _culture,
    "CONTACT_ADDR_COUNTRY": _country,
    "INCLUDE_VAT": _received_include_vat,
    "ITEMS": _received_items,
}


def _received_number(field: str, value: str) -> Decimal:
    """A received F value (p. 5): digits with a dot, in its range, at most two decimals."""
    if not _F_TEXT.fullmatch(value):
        raise PaymentFieldError(field, "must be a number with a dot as decimal separator")
    number = _ranged(field, Decimal(value))
    _format_f(field, number)
    return number


def _item_indexes(fields: Mapping[str, str]) -> set[int]:
    """The X of every item line of which at least one ITEM_*[X] field was sent."""
    indexes = set()
    for key in fields:
        match = _ITEM_KEY.fullmatch(key)
        if match and match[1] in _ITEM_NAMES:
            indexes.add(int(match[2]))
    return indexes


def check_received(fields: Mapping[str, str], *, charset: str = "UTF-8") -> list[PaymentFieldError]:
    """Every problem the payment service finds in a received form (pp. 5-9), in field order.

    ``fields`` are the posted fields by their upper-case names, decoded in ``charset``, the
    charset the form came in. The rules are the ones ``build_form`` keeps: required fields,
    maximum lengths, formats N, F (a dot, at most two decimals) and AN, no "|" or control
    characters, EUR in any case, VERSION 1, the cultures in any case, a two-letter country,
    INCLUDE_VAT 0 or 1, ITEMS matching the item lines sent (numbered from 0), ITEM_TYPE 1-3,
    a price of at least 0, an amount above 0, VAT and discount from 0 to 100.

    Left to the caller, who knows the channel: that CHANNEL_ID is its own, the AUTHCODE
    (``form_authcode`` with the channel's secret), the commission classes of ITEM_CP and
    that the order is not paid already.
    """
    charset = normalise_charset(charset)
    errors: list[PaymentFieldError] = []
    items_ok = True
    for spec in (*HEAD_FIELDS, AUTHCODE_FIELD):
        name = spec[0]
        value = fields.get(name, "")
        passed = _collect(errors, _check, *spec, value, charset)
        if passed and value and name in _RECEIVED_HEAD_RULES:
            passed = _collect(errors, _RECEIVED_HEAD_RULES[name], value)
        if name == "ITEMS":
            items_ok = passed

    indexes = _item_indexes(fields)
    if items_ok:
        count = int(fields["ITEMS"])
        # Distinct numbers, as many as ITEMS, the highest ITEMS - 1: exactly 0 to ITEMS - 1.
        if len(indexes) != count or max(indexes, default=-1) != count - 1:
            sent = ", ".join(str(x) for x in sorted(indexes)[:10]) or "none"
            if len(indexes) > 10:
                sent += ", …"
            message = f"must be the number of item lines sent, numbered from 0 (sent: {sent})"
            errors.append(PaymentFieldError("ITEMS", message))
    for x in sorted(indexes):
        for base, max_length, kind, required in ITEM_FIELDS:
            field = f"{base}[{x}]"
            value = fields.get(field, "")
            if not _collect(errors, _check, field, max_length, kind, required, value, charset):
                continue
            if value and kind == F:
                _collect(errors, _received_number, field, value)
            elif value and base == "ITEM_TYPE":
                _collect(errors, _integer, field, int(value), ITEM_TYPES)
    return errors


def received_items(fields: Mapping[str, str]) -> list[Item]:
    """The item lines of a received form that ``check_received`` passed.

    With ``items_total(..., include_vat=fields["INCLUDE_VAT"] == "1")`` they give what the
    payer pays.
    """

    def value(base: str, x: int) -> str:
        return fields.get(f"{base}[{x}]", "")

    return [
        Item(
            title=value("ITEM_TITLE", x),
            no=value("ITEM_NO", x),
            amount=value("ITEM_AMOUNT", x),
            price=value("ITEM_PRICE", x),
            tax=value("ITEM_TAX", x),
            merchant_id=value("ITEM_MERCHANT_ID", x),
            cp=value("ITEM_CP", x),
            discount=value("ITEM_DISCOUNT", x) or None,
            type=int(value("ITEM_TYPE", x)) if value("ITEM_TYPE", x) else None,
        )
        for x in range(int(fields["ITEMS"]))
    ]


def return_authcode(
    order_number: str,
    timestamp: str,
    paid: str | None,
    method: str | None,
    secret: str,
    *,
    charset: str = "UTF-8",
) -> str:
    """RETURN_AUTHCODE (p. 11): MD5 of ORDER_NUMBER|TIMESTAMP[|PAID[|METHOD]]|secret, upper case.

    On failure or cancel there is no PAID (and no METHOD): pass None for both.
    """
    if paid is None and method is not None:
        raise ValueError("a return without PAID carries no METHOD")
    values = [order_number, timestamp]
    values += [v for v in (paid, method) if v is not None]
    values.append(secret)
    return _md5_upper("|".join(values), normalise_charset(charset))


# What the portal keeps of a return: longer values are no payment of ours.
RETURN_PAID_MAX = 64
RETURN_METHOD_MAX = 8


def verify_return(
    params: Mapping[str, str], secret: str, *, charset: str = "UTF-8"
) -> ReturnResult:
    """Check the parameters of a return, cancel or notify call (pp. 10-11).

    With PAID it is a success (METHOD, when present, is part of the checksum); without
    PAID, a failure or cancel. The checksum must match exactly, in upper case as the seed
    prescribes; compared in constant time.
    """

    def refuse(error: str) -> ReturnResult:
        return ReturnResult(authentic=False, paid=False, error=error)

    for name in ("ORDER_NUMBER", "TIMESTAMP", "RETURN_AUTHCODE"):
        if not params.get(name):
            return refuse(f"{name} is missing")
    order_number = params["ORDER_NUMBER"]
    timestamp = params["TIMESTAMP"]
    received = params["RETURN_AUTHCODE"]
    paid = params.get("PAID")
    method = params.get("METHOD")
    if paid == "":
        return refuse("PAID is empty")
    if method == "" or (method is not None and paid is None):
        return refuse("METHOD is only carried with PAID")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return refuse("TIMESTAMP is not a UNIX timestamp")
    for name, value, limit in (
        ("ORDER_NUMBER", order_number, 64),
        ("PAID", paid, RETURN_PAID_MAX),
        ("METHOD", method, RETURN_METHOD_MAX),
    ):
        if value is not None and len(value) > limit:
            return refuse(f"{name} is longer than {limit} characters")
        # The checksum joins the values with '|': one carrying it could pass for two
        # (PAID=P%7C1 without METHOD signs as PAID=P&METHOD=1). No field may hold it.
        if value is not None and "|" in value:
            return refuse(f"{name} contains '|'")
    expected = return_authcode(order_number, timestamp, paid, method, secret, charset=charset)
    if not hmac.compare_digest(expected.encode(), received.encode("utf-8", "replace")):
        return refuse("RETURN_AUTHCODE does not match")
    return ReturnResult(
        authentic=True,
        paid=paid is not None,
        order_number=order_number,
        timestamp=timestamp,
        paid_code=paid,
        method=method,
    )
