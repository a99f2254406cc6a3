"""Client side of Suomen Verkkomaksut's channel interface (kanavarajapinta, "Kanavamalli").

Pure logic, no Flask. The portal acts as a sales channel: one payment holds item lines of
several merchants, each line naming its merchant and the channel's commission class. The
payer's browser POSTs the form built here to ``PAYMENT_URL``; the payment service comes
back to the return, cancel and notify addresses with parameters checked by
``verify_return``.

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
- The commission check (p. 4) needs the channel's own commission per line (``Item.
  commission``, never sent): the sum of commissions may not exceed the sum of the lines.
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

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
ADDRESS_FIELDS = ("RETURN_ADDRESS", "CANCEL_ADDRESS", "NOTIFY_ADDRESS")
RETURN_FIELDS = ("ORDER_NUMBER", "TIMESTAMP", "PAID", "METHOD", "RETURN_AUTHCODE")

_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")

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
        if number != number.quantize(_CENT):
            raise PaymentFieldError(field, "must have at most two decimals")
        number = number.quantize(_CENT)
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

    amount = _decimal(name("ITEM_AMOUNT"), item.amount)
    if amount <= 0:
        raise PaymentFieldError(name("ITEM_AMOUNT"), "must be greater than zero")
    price = _decimal(name("ITEM_PRICE"), item.price)
    if price < 0:
        raise PaymentFieldError(name("ITEM_PRICE"), "must not be negative")
    tax = _decimal(name("ITEM_TAX"), item.tax)
    if not 0 <= tax <= _HUNDRED:
        raise PaymentFieldError(name("ITEM_TAX"), "must be a percentage from 0 to 100")
    cp = _decimal(name("ITEM_CP"), item.cp)
    if cp < 0:
        raise PaymentFieldError(name("ITEM_CP"), "must not be negative")
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
        discount = _decimal(name("ITEM_DISCOUNT"), item.discount)
        if not 0 <= discount <= _HUNDRED:
            raise PaymentFieldError(name("ITEM_DISCOUNT"), "must be a percentage from 0 to 100")
        values[name("ITEM_DISCOUNT")] = _format_f(name("ITEM_DISCOUNT"), discount)
    if item.type is not None:
        values[name("ITEM_TYPE")] = _integer(name("ITEM_TYPE"), item.type, ITEM_TYPES)
    line = amount * price * (1 - discount / _HUNDRED)
    if not include_vat:
        line *= 1 + tax / _HUNDRED
    return values, line


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

    currency = payment.currency.strip().upper() if isinstance(payment.currency, str) else ""
    if currency != CURRENCY:
        raise PaymentFieldError("CURRENCY", "must be EUR, the only currency accepted")
    culture = ""
    if payment.culture is not None and payment.culture != "":
        culture = CULTURES.get(str(payment.culture).strip().lower(), "")
        if not culture:
            raise PaymentFieldError("CULTURE", "must be fi_FI, sv_SE or en_US")
    if isinstance(payment.include_vat, bool) or payment.include_vat in (0, 1):
        include_vat = str(int(payment.include_vat))
    else:
        raise PaymentFieldError("INCLUDE_VAT", "must be 1 (prices include VAT) or 0")
    country = payment.contact_addr_country
    if isinstance(country, str) and country.strip():
        country = country.strip().upper()
        if not (len(country) == 2 and country.isascii() and country.isalpha()):
            raise PaymentFieldError(
                "CONTACT_ADDR_COUNTRY", "must be a two-letter ISO 3166 country code"
            )
    items = payment.items
    if not items:
        raise PaymentFieldError("ITEMS", "must have at least one item line")
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
            commissions += commission
    if commissions > total:
        raise PaymentFieldError("ITEM_CP", "the commissions must not exceed the items' sum")

    form = [(name, value) for name, value in fields.items() if value != ""]
    form.append(("AUTHCODE", form_authcode(fields, secret=secret, charset=charset)))
    return form


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
    if not (timestamp.isascii() and timestamp.isdigit()):
        return refuse("TIMESTAMP is not a UNIX timestamp")
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
