"""The Finnish banks' virtual barcode (virtuaaliviivakoodi) and its Code 128 bars.

Version 4 carries a Finnish reference, version 5 an RF reference (Finanssiala's
Pankkiviivakoodi guide); the `virtuaaliviivakoodi` package builds the 54 digits, and
python-barcode gives the bars of Code 128 (charset C: two digits a symbol).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from virtuaaliviivakoodi import deconstruct_virtuaaliviivakoodi, virtuaaliviivakoodi

# The largest sum the code can carry (six euro digits); a larger invoice gets zeros.
MAX_AMOUNT = Decimal("999999.99")


def virtual_barcode(iban: str, reference: str, amount: Decimal, due: date | None) -> str:
    """The 54 digits of the virtual barcode; a Finnish reference gives version 4, an RF
    reference version 5. An amount over 999 999,99 € is left for the payer to type."""
    amount = amount if Decimal("0") <= amount <= MAX_AMOUNT else Decimal("0")
    code = virtuaaliviivakoodi(iban.replace(" ", ""), reference.replace(" ", ""), amount, due)
    if len(code) != 54 or not code.isdigit():
        raise ValueError("the virtual barcode is not 54 digits")
    return code


def read_barcode(code: str):
    """The parts of a virtual barcode (for checks): version, IBAN, reference, sum, date."""
    return deconstruct_virtuaaliviivakoodi(code)


def code128_bars(code: str) -> str:
    """The modules of the barcode as "1" (bar) and "0" (space), quiet zones not included."""
    from barcode import Code128  # python-barcode is slow to import: only a PDF needs it

    symbol = Code128(code)
    return symbol.build()[0]
