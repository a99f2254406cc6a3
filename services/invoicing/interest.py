"""Late-payment interest (viivästyskorko) under the Finnish Interest Act. Pure logic.

The rate is the reference rate of the half-year (korkolaki 12 §, the table in
`reference_rates.csv`, or `INVOICE_REFERENCE_RATES`) plus 7 percentage points for a
consumer (4 §) or 8 between businesses (4 a §). Interest runs from the day after the due
date to the day of payment, on the amount unpaid each day, at each half-year's own rate,
and counts actual days over a 365-day year. A half-year missing from the table is
counted at the last rate known before it and marked `assumed`, so staff see that the
table needs its new line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

RATES_PATH = Path(__file__).resolve().parent / "reference_rates.csv"
CONSUMER_MARGIN = Decimal("7")  # korkolaki 4 §
BUSINESS_MARGIN = Decimal("8")  # korkolaki 4 a §: between businesses
DAYS_IN_YEAR = Decimal(365)
CENT = Decimal("0.01")


class RateTableError(ValueError):
    """The table of reference rates (or the setting that adds to it) cannot be read."""


def half_year(day: date) -> date:
    """The first day of the half-year the day is in: 1 January or 1 July."""
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def parse_rates(lines: Iterable[str]) -> dict[date, Decimal]:
    """`half_year,reference_rate` lines (# comments allowed) as {first day: rate %}."""
    rates: dict[date, Decimal] = {}
    rows = csv.reader(line for line in lines if line.strip() and not line.startswith("#"))
    for row in rows:
        if row == ["half_year", "reference_rate"]:
            continue
        try:
            start, rate = date.fromisoformat(row[0].strip()), Decimal(row[1].strip())
        except (IndexError, ValueError, ArithmeticError):
            raise RateTableError(f"not a half-year and a rate: {','.join(row)!r}") from None
        if start != half_year(start) or not Decimal(-5) <= rate <= Decimal(30):
            raise RateTableError(f"not the first day of a half-year and a rate: {row!r}")
        rates[start] = rate
    return rates


def parse_setting(value: str) -> dict[date, Decimal]:
    """`INVOICE_REFERENCE_RATES`: "2026-07-01=2.5,2027-01-01=2.0" (added to the table)."""
    lines = [part.strip().replace("=", ",") for part in value.split(",") if "=" in part]
    leftover = [part for part in value.split(",") if part.strip() and "=" not in part]
    if leftover:
        raise RateTableError(f"not half-year=rate: {leftover[0].strip()!r}")
    return parse_rates(lines)


@lru_cache(maxsize=1)
def published_rates() -> Mapping[date, Decimal]:
    """The table shipped with the portal."""
    with RATES_PATH.open(encoding="utf-8") as file:
        return parse_rates(file)


@dataclass(frozen=True)
class Rates:
    """The reference rates known: the table and what the setting adds."""

    by_half_year: Mapping[date, Decimal]

    @classmethod
    def configured(cls, setting: str = "") -> Rates:
        """The shipped table with what `INVOICE_REFERENCE_RATES` adds or changes."""
        return cls({**published_rates(), **parse_setting(setting)})

    def reference(self, day: date) -> tuple[Decimal, bool]:
        """The reference rate for the day, and whether it is assumed (not in the table)."""
        start = half_year(day)
        if start in self.by_half_year:
            return self.by_half_year[start], False
        earlier = [known for known in self.by_half_year if known < start]
        if not earlier:
            raise RateTableError(f"no reference rate for {start.isoformat()} or before")
        return self.by_half_year[max(earlier)], True


@dataclass(frozen=True)
class Period:
    """Days at one balance and one rate: from `start` to `end`, both included."""

    start: date
    end: date
    balance: Decimal
    rate: Decimal  # the interest rate, % a year: reference rate + margin
    assumed: bool  # the half-year's reference rate is not in the table

    @property
    def days(self) -> int:
        """How many days the period has, both ends counted."""
        return (self.end - self.start).days + 1

    @property
    def amount(self) -> Decimal:
        """The period's interest, not yet rounded."""
        return self.balance * self.rate / 100 * self.days / DAYS_IN_YEAR


@dataclass(frozen=True)
class Interest:
    """The interest accrued, in cents, with the periods it is made of."""

    amount: Decimal
    periods: tuple[Period, ...]

    @property
    def assumed(self) -> bool:
        """Whether any period's reference rate was not in the table."""
        return any(period.assumed for period in self.periods)

    @property
    def rates(self) -> tuple[Decimal, ...]:
        """The rates applied, in order, each once."""
        return tuple(dict.fromkeys(period.rate for period in self.periods))


def late_interest(
    principal: Decimal,
    due_date: date,
    until: date,
    *,
    payments: Iterable[tuple[date, Decimal]] = (),
    business: bool,
    rates: Rates,
) -> Interest:
    """The late-payment interest on `principal` due on `due_date`, up to `until` (included).

    `payments` are (day paid, amount): what is paid on a day still bears that day's
    interest, and stops bearing it from the next.
    """
    if until <= due_date:
        return Interest(Decimal("0.00"), ())
    margin = BUSINESS_MARGIN if business else CONSUMER_MARGIN
    paid_by: dict[date, Decimal] = {}
    for day, amount in payments:
        key = max(day + timedelta(days=1), due_date + timedelta(days=1))
        paid_by[key] = paid_by.get(key, Decimal(0)) + Decimal(amount)
    first, stop = due_date + timedelta(days=1), until + timedelta(days=1)
    balance = Decimal(principal) - sum(
        (amount for day, amount in paid_by.items() if day <= first), Decimal(0)
    )
    # The days where the balance or the half-year changes cut the time into periods.
    cuts = {first, stop} | {day for day in paid_by if first < day < stop}
    year = first.year
    while date(year, 1, 1) < stop:
        cuts |= {cut for cut in (date(year, 1, 1), date(year, 7, 1)) if first < cut < stop}
        year += 1
    periods = []
    edges = sorted(cuts)
    for start, end in zip(edges, edges[1:], strict=False):
        if start != first:
            balance -= paid_by.get(start, Decimal(0))
        if balance <= 0:
            break
        reference, assumed = rates.reference(start)
        periods.append(Period(start, end - timedelta(days=1), balance, reference + margin, assumed))
    total = sum((period.amount for period in periods), Decimal(0))
    return Interest(total.quantize(CENT, rounding=ROUND_HALF_UP), tuple(periods))
