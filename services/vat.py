"""Finnish VAT rates as data, and invoice totals in exact decimal arithmetic.

A rate is in force from a date (and until the next change of the same kind); an invoice
uses the rates in force on its date. Each line is rounded to cents (half up); the VAT of
each rate is computed on the sum of its lines, as the Finnish Tax Administration shows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Rate:
    """A VAT rate of one kind and the days it is in force."""

    kind: str  # general | reduced | reduced_low | zero
    percent: Decimal
    valid_from: date
    valid_to: date | None = None  # the last day, None while in force


RATES = (
    Rate("general", Decimal("24"), date(2013, 1, 1), date(2024, 8, 31)),
    Rate("general", Decimal("25.5"), date(2024, 9, 1)),
    Rate("reduced", Decimal("14"), date(2013, 1, 1), date(2025, 12, 31)),
    Rate("reduced", Decimal("13.5"), date(2026, 1, 1)),
    Rate("reduced_low", Decimal("10"), date(2013, 1, 1)),
    Rate("zero", Decimal("0"), date(2000, 1, 1)),
)


def rates_on(day: date) -> list[Rate]:
    """The rates in force on the day, the highest first."""
    valid = [r for r in RATES if r.valid_from <= day and (r.valid_to is None or day <= r.valid_to)]
    return sorted(valid, key=lambda r: r.percent, reverse=True)


def money(value: Decimal) -> Decimal:
    """The amount rounded to the cent, half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Line:
    """An invoice line as the totals need it: quantity, price without VAT and VAT rate."""

    quantity: Decimal
    unit_price: Decimal  # VAT excluded
    vat_percent: Decimal

    @property
    def net(self) -> Decimal:
        """The line's amount without VAT, to the cent."""
        return money(self.quantity * self.unit_price)


@dataclass(frozen=True)
class VatRow:
    """One VAT rate's row of the breakdown: the base and its VAT."""

    percent: Decimal
    base: Decimal
    vat: Decimal


@dataclass(frozen=True)
class Totals:
    """An invoice's VAT breakdown per rate and its net, VAT and gross totals."""

    rows: list[VatRow]
    net: Decimal
    vat: Decimal
    gross: Decimal


def totals(lines: Iterable[Line]) -> Totals:
    """The VAT breakdown per rate and the invoice's totals, to the cent."""
    bases: dict[Decimal, Decimal] = {}
    for line in lines:
        bases[line.vat_percent] = bases.get(line.vat_percent, Decimal("0")) + line.net
    rows = [
        VatRow(percent, base, money(base * percent / Decimal(100)))
        for percent, base in sorted(bases.items(), reverse=True)
    ]
    net = sum((row.base for row in rows), Decimal("0.00"))
    vat = sum((row.vat for row in rows), Decimal("0.00"))
    return Totals(rows, net, vat, net + vat)
