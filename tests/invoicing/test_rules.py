"""The invoice desk's rules: reference numbers, RF, the virtual barcode, the 15:00 promise
with Finnish holidays, and VAT to the cent."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from stdnum import iso11649

from services import vat, workdays
from services.invoicing import bankbarcode, reference
from services.workdays import HELSINKI

# ---------------------------------------------------------------- reference numbers


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("123", "1232"),  # the digest's example
        ("1234561", "12345614"),
        ("100102", "1001024"),
        ("86851625961989", "868516259619897"),  # the banks' barcode guide's example
        ("1001021", "10010213"),
    ],
)
def test_the_finnish_check_digit(base, expected):
    assert reference.finnish(base) == expected
    assert reference.is_valid_finnish(expected)


@pytest.mark.parametrize("bad", ["1233", "12", "", "12a2", "1" * 21, "12³2"])
def test_a_wrong_reference_is_not_valid(bad):
    assert not reference.is_valid_finnish(bad)


@pytest.mark.parametrize("base", ["12", "1" * 20, "12a", "١٢٣"])
def test_a_base_outside_3_to_19_digits_has_no_reference(base):
    with pytest.raises(reference.InvalidReference):
        reference.check_digit(base)


def test_the_rf_form_follows_iso_11649():
    # The barcode guide's version 5 example carries RF09 8685 1625 9619 897.
    assert reference.rf("868516259619897") == "RF09868516259619897"
    assert iso11649.is_valid(reference.rf("1232"))
    assert reference.finnish_of_rf("RF09 8685 1625 9619 897") == "868516259619897"
    with pytest.raises(reference.InvalidReference):
        reference.rf("1233")


def test_references_are_grouped_for_people():
    assert reference.grouped("10010200154") == "1 00102 00154"
    assert reference.grouped("RF20100102000154") == "RF20 1001 0200 0154"


# ---------------------------------------------------------------- the virtual barcode


GUIDE = ("FI79 4405 2020 0360 82", Decimal("4883.15"), date(2010, 6, 12))


def test_version_4_matches_the_banks_guide():
    iban, amount, due = GUIDE
    code = bankbarcode.virtual_barcode(iban, "86851 62596 19897", amount, due)
    assert code == "479440520200360820048831500000000868516259619897100612"


def test_version_5_matches_the_banks_guide():
    iban, amount, due = GUIDE
    code = bankbarcode.virtual_barcode(iban, "RF09 8685 1625 9619 897", amount, due)
    assert code == "579440520200360820048831509000000868516259619897100612"
    parts = bankbarcode.read_barcode(code)
    assert (parts.reference, parts.euro_amount) == ("RF09868516259619897", Decimal("4883.15"))


def test_an_amount_too_large_for_the_code_is_left_out():
    iban, _amount, due = GUIDE
    code = bankbarcode.virtual_barcode(iban, "1232", Decimal("1000000.00"), due)
    assert bankbarcode.read_barcode(code).euro_amount == 0


def test_the_code_128_bars_start_in_charset_c_and_end_with_the_stop():
    bars = bankbarcode.code128_bars("4" + "0" * 53)
    assert bars.startswith("11010011100")  # Start C
    assert bars.endswith("1100011101011")  # Stop


# ---------------------------------------------------------------- the 15:00 promise


def at(y, m, d, hh, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=HELSINKI)


@pytest.mark.parametrize(
    ("sent", "due"),
    [
        (at(2026, 11, 24, 9), date(2026, 11, 24)),  # a Tuesday morning
        (at(2026, 11, 24, 15, 0), date(2026, 11, 24)),  # by 15:00
        (at(2026, 11, 24, 15, 1), date(2026, 11, 25)),  # after it
        (at(2026, 11, 27, 16), date(2026, 11, 30)),  # Friday evening → Monday
        (at(2026, 11, 28, 10), date(2026, 11, 30)),  # Saturday
        (at(2026, 12, 4, 15, 30), date(2026, 12, 7)),  # Friday late; Sunday 6.12 is a holiday
        (at(2026, 12, 23, 16), date(2026, 12, 28)),  # Christmas Eve, Christmas, the weekend
        (at(2026, 6, 18, 16), date(2026, 6, 22)),  # Midsummer Eve and Day
        (at(2027, 1, 5, 16), date(2027, 1, 7)),  # Epiphany on Wednesday
    ],
)
def test_the_forwarding_day(sent, due):
    assert workdays.forwarding_day(sent) == due


def test_the_desk_sees_what_is_due_today_and_what_is_late():
    sent = at(2026, 11, 23, 16)  # Monday after 15 → Tuesday
    assert workdays.forwarding_state(sent, at(2026, 11, 23, 17)) == "later"
    assert workdays.forwarding_state(sent, at(2026, 11, 24, 9)) == "today"
    assert workdays.forwarding_state(sent, at(2026, 11, 25, 9)) == "late"


def test_utc_times_are_read_in_finnish_time():
    from datetime import UTC

    # 12:30 UTC in November is 14:30 in Helsinki: still the same day.
    assert workdays.forwarding_day(datetime(2026, 11, 24, 12, 30, tzinfo=UTC)) == date(2026, 11, 24)


# ---------------------------------------------------------------- VAT


def test_the_rates_in_force_come_from_the_table():
    def percents(day):
        return [r.percent for r in vat.rates_on(day)]

    assert percents(date(2026, 11, 24)) == [Decimal("25.5"), Decimal("13.5"), 10, 0]
    assert percents(date(2025, 6, 1)) == [Decimal("25.5"), 14, 10, 0]
    assert percents(date(2024, 8, 31)) == [24, 14, 10, 0]


def test_vat_is_computed_per_rate_to_the_cent():
    lines = [
        vat.Line(Decimal("3"), Decimal("19.99"), Decimal("25.5")),
        vat.Line(Decimal("1"), Decimal("0.05"), Decimal("25.5")),
        vat.Line(Decimal("2.5"), Decimal("10.01"), Decimal("13.5")),
        vat.Line(Decimal("1"), Decimal("100"), Decimal("0")),
    ]
    result = vat.totals(lines)
    assert [(r.percent, r.base, r.vat) for r in result.rows] == [
        (Decimal("25.5"), Decimal("60.02"), Decimal("15.31")),
        (Decimal("13.5"), Decimal("25.03"), Decimal("3.38")),
        (Decimal("0"), Decimal("100.00"), Decimal("0.00")),
    ]
    assert (result.net, result.vat, result.gross) == (
        Decimal("185.05"),
        Decimal("18.69"),
        Decimal("203.74"),
    )
    assert all(isinstance(value, Decimal) for value in (result.net, result.vat, result.gross))


def test_half_a_cent_rounds_up():
    # 0.125 € of VAT is 0.13 €, not the banker's 0.12 €.
    result = vat.totals([vat.Line(Decimal("1"), Decimal("0.50"), Decimal("25"))])
    assert result.vat == Decimal("0.13")
