"""KID (kundeidentifikasjon): the payment reference of the customer portal's invoices.

A Norwegian payer types the KID from the invoice into the bank; the bank checks its
control digit and reports the payment with it. The control digit is MOD10 (Luhn) or
MOD11, whichever the seller agreed with the bank (`PORTAL_KID_ALGORITHM`), and the
agreement may fix the length (`PORTAL_KID_LENGTH`).

Ours: the invoice number's digits, zero-padded in front to the length less one, then
the control digit. The invoice number is unique, so the KID names one invoice:
2017-118350 → 2017118350 + 3 → 20171183503 (MOD10, 11 digits).

MOD10 is python-stdnum's Luhn. MOD11 (weights 2, 3, 4, 5, 6, 7, 2, … from the right; the
control digit is 11 − the sum mod 11, 11 becomes 0) has no KID module in python-stdnum
2.2; it is the same rule as `stdnum.no.kontonr`'s, which the tests use to check ours.
When MOD11 gives 10, the control "digit" is "-", as the banks' KID specification says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context, url_for
from flask_babel import gettext as _
from stdnum import luhn

from extensions import db
from models.portal import CustomerInvoice
from services import registry

ALGORITHMS = ("mod10", "mod11")
DEFAULT_ALGORITHM = "mod10"
DEFAULT_LENGTH = 11  # 2017-118350 and its control digit
# A KID is 2 to 25 characters (the payment systems' field); 0: as long as the number.
MIN_LENGTH, MAX_LENGTH = 2, 25
_MOD11_WEIGHTS = (2, 3, 4, 5, 6, 7)
_KID = re.compile(r"[0-9]{1,24}[0-9-]")
_SPACES = re.compile(r"\s+")


class InvalidKid(ValueError):
    """No KID can be made of this, or a KID setting is not one the bank knows."""


def mod10_check_digit(base: str) -> str:
    """The Luhn control digit of the digits (as python-stdnum computes it)."""
    return luhn.calc_check_digit(base)


def mod11_check_digit(base: str) -> str:
    """The MOD11 control digit of the digits: "0"–"9", or "-" when the rest is 1."""
    total = sum(
        int(digit) * _MOD11_WEIGHTS[i % len(_MOD11_WEIGHTS)]
        for i, digit in enumerate(reversed(base))
    )
    check = 11 - total % 11
    return {10: "-", 11: "0"}.get(check, str(check))


def check_digit(base: str, algorithm: str) -> str:
    if not (base.isascii() and base.isdigit()):
        raise InvalidKid(base)
    if algorithm == "mod10":
        return mod10_check_digit(base)
    if algorithm == "mod11":
        return mod11_check_digit(base)
    raise InvalidKid(f"unknown KID algorithm {algorithm!r}")


def make(base: str, algorithm: str = DEFAULT_ALGORITHM, length: int = DEFAULT_LENGTH) -> str:
    """The KID of a base of digits: padded to `length` less one, and its control digit."""
    if length:
        if len(base) > length - 1:
            raise InvalidKid(f"{base} does not fit a KID of {length} digits")
        base = base.zfill(length - 1)
    kid = base + check_digit(base, algorithm)
    if not MIN_LENGTH <= len(kid) <= MAX_LENGTH:
        raise InvalidKid(kid)
    return kid


def compact(text: str) -> str:
    """A KID as typed or pasted, without the spaces people put in long numbers."""
    return _SPACES.sub("", text or "")


def is_valid(kid: str, algorithm: str = DEFAULT_ALGORITHM, length: int = 0) -> bool:
    """Whether the bank would accept the KID: its control digit, and its length if fixed."""
    kid = compact(kid)
    if not _KID.fullmatch(kid) or not MIN_LENGTH <= len(kid) <= MAX_LENGTH:
        return False
    if length and len(kid) != length:
        return False
    if algorithm == "mod10":
        return kid.isdigit() and luhn.is_valid(kid)
    return check_digit(kid[:-1], algorithm) == kid[-1]


def settings(config: Mapping | None = None) -> tuple[str, int]:
    """The configured algorithm and length (the defaults outside an application)."""
    if config is None:
        config = current_app.config if has_app_context() else {}
    return (
        config.get("PORTAL_KID_ALGORITHM", DEFAULT_ALGORITHM),
        int(config.get("PORTAL_KID_LENGTH", DEFAULT_LENGTH)),
    )


def for_invoice(number: str, config: Mapping | None = None) -> str:
    """The KID of an invoice number, by the configured algorithm and length."""
    digits = "".join(ch for ch in number if ch.isascii() and ch.isdigit())
    if not digits:
        raise InvalidKid(f"invoice number {number!r} has no digits for a KID")
    algorithm, length = settings(config)
    return make(digits, algorithm, length)


def number_or_kid(text: str) -> sa.ColumnElement[bool]:
    """The condition of the invoice list's search box: the invoice number, or its KID as
    printed (spaces ignored). Both columns are uniquely indexed."""
    text = text.strip()
    kid = compact(text)
    if _KID.fullmatch(kid):
        return sa.or_(CustomerInvoice.number == text, CustomerInvoice.reference == kid)
    return CustomerInvoice.number == text


def by_kid(text: str) -> CustomerInvoice | None:
    """The invoice whose KID this is (through its unique index), or None."""
    kid = compact(text)
    if not _KID.fullmatch(kid):
        return None
    return db.session.scalar(sa.select(CustomerInvoice).where(CustomerInvoice.reference == kid))


def staff_lookup(code: str) -> list[registry.LookupHit]:
    """The staff look-up: the customer invoice a pasted KID belongs to."""
    invoice = by_kid(code)
    if invoice is None or invoice.number == code.strip():  # the number's own look-up has it
        return []
    return [
        registry.LookupHit(
            _(
                "Invoice %(number)s (KID %(kid)s): %(payer)s",
                number=invoice.number,
                kid=invoice.reference,
                payer=invoice.payer,
            ),
            url_for("portal_staff.invoices", company=invoice.organisation_id),
        )
    ]


def setup_app(app: Flask) -> None:
    """Let the staff look-up find customer invoices by KID."""
    registry.register_lookup(app, staff_lookup)
