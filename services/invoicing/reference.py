"""Finnish payment references (viitenumero) and their international RF form (ISO 11649).

Pure logic. The Finnish check digit: the digits weighted 7, 3, 1, 7, 3, 1 … from the
right, summed; the check digit is (10 − sum mod 10) mod 10. So 123 → 1232.
"""

from __future__ import annotations

import re

from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

WEIGHTS = (7, 3, 1)
_SPACES = re.compile(r"[\s]+")


class InvalidReference(ValueError):
    """Not a reference that the banks accept."""


def check_digit(base: str) -> str:
    """The Finnish check digit of the base (3–19 digits)."""
    if not (base.isascii() and base.isdigit()) or not 3 <= len(base) <= 19:
        raise InvalidReference(base)
    total = sum(int(digit) * WEIGHTS[i % 3] for i, digit in enumerate(reversed(base)))
    return str((10 - total % 10) % 10)


def finnish(base: str) -> str:
    """The reference of a base, e.g. an invoice number: the base and its check digit."""
    return base + check_digit(base)


def is_valid_finnish(reference: str) -> bool:
    """Whether the text is a Finnish reference of 4 to 20 digits with a right check digit."""
    compact = _SPACES.sub("", reference or "")
    if not 4 <= len(compact) <= 20:
        return False
    try:
        return check_digit(compact[:-1]) == compact[-1]
    except InvalidReference:
        return False


def rf(reference: str) -> str:
    """The RF creditor reference of a Finnish reference: RF, two check digits, the reference
    (the check digits make "reference + RF + check" divisible by 97, letters as numbers)."""
    compact = _SPACES.sub("", reference)
    if not is_valid_finnish(compact):
        raise InvalidReference(reference)
    check = mod_97_10.calc_check_digits(_to_digits(compact + "RF"))
    result = f"RF{check}{compact}"
    return iso11649.validate(result)


def _to_digits(text: str) -> str:
    return "".join(str(int(ch, 36)) for ch in text)


def finnish_of_rf(rf_reference: str) -> str:
    """The Finnish reference inside an RF reference (RF + 2 digits + the reference)."""
    compact = iso11649.validate(rf_reference)
    return compact[4:].lstrip("0") or "0"


def grouped(reference: str) -> str:
    """For people: a Finnish reference in groups of five from the right (1 00102 00015 6),
    an RF reference in groups of four from the left (RF47 1001 0200 0156)."""
    compact = _SPACES.sub("", reference).upper()
    if compact.startswith("RF"):
        return iso11649.format(compact)
    head = len(compact) % 5
    groups = ([compact[:head]] if head else []) + [
        compact[i : i + 5] for i in range(head, len(compact), 5)
    ]
    return " ".join(groups)
