"""KID (kundeidentifikasjon), the Norwegian payment reference: its check digit by MOD10 (Luhn)
or MOD11, as the banks' OCR agreement gives them, and the KID of an invoice number by
the configured algorithm and length. Pure arithmetic on the configuration: the invoice
model gives each new invoice its KID with it."""

from __future__ import annotations

import re
from collections.abc import Mapping

from flask import current_app, has_app_context
from stdnum import luhn

ALGORITHMS = ("mod10", "mod11")


DEFAULT_ALGORITHM = "mod10"


DEFAULT_LENGTH = 11  # 2017-118350 and its control digit
# A KID is 2 to 25 characters (the payment systems' field); 0: as long as the number.
MIN_LENGTH, MAX_LENGTH = 2, 25


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
    """The KID check digit of `base` by the algorithm, mod10 or mod11."""
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


_MOD11_WEIGHTS = (2, 3, 4, 5, 6, 7)
