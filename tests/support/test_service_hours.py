"""Service hours (weekdays 10:00–15:00 Helsinki time, Finnish holidays excluded) and the
helpdesk's response and resolution targets counted in them. Plain dicts stand for the
config: no app is needed."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from models.support import TicketType, Urgency
from services.service_hours import (
    ServiceHours,
    add_minutes,
    from_config,
    is_open,
    minutes_between,
    next_open,
    service_time,
)
from services.support_sla import (
    DEFAULT_TARGETS,
    Due,
    Target,
    due_state,
    due_times,
    paused_minutes,
    resumed_due,
    target_for,
    targets_from_config,
)
from services.workdays import is_holiday

ROOT = Path(__file__).resolve().parents[2]
HELSINKI = ZoneInfo("Europe/Helsinki")
DESK = from_config({})
MINUTE = timedelta(minutes=1)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0):
    """A Helsinki wall-clock moment, aware."""
    return datetime(year, month, day, hour, minute, second, tzinfo=HELSINKI)


def brute_minutes(hours: ServiceHours, start: datetime, end: datetime) -> int:
    """The open minutes of [start, end) counted one real minute at a time, by the local
    wall clock of each minute: a reference that shares no arithmetic with the module."""
    count = 0
    moment = start.astimezone(UTC)
    while moment < end:
        local = moment.astimezone(hours.zone)
        if (
            local.isoweekday() in hours.days
            and not is_holiday(local.date())
            and hours.opens <= local.time() < hours.closes
        ):
            count += 1
        moment += MINUTE
    return count


# --- the holidays -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 12, 24),
        date(2025, 12, 25),
        date(2025, 12, 26),
        date(2026, 1, 1),
        date(2026, 1, 6),
        date(2026, 6, 19),  # Midsummer Eve
        date(2026, 12, 6),
        date(2027, 3, 26),  # Good Friday
        date(2027, 3, 29),  # Easter Monday
    ],
)
def test_finnish_public_holidays_are_holidays(day: date):
    assert is_holiday(day)
    assert not DESK.is_service_day(day)


def test_ordinary_days_are_not_holidays():
    assert not is_holiday(date(2026, 3, 25))
    assert DESK.is_service_day(date(2026, 3, 25))  # a Wednesday
    assert not DESK.is_service_day(date(2026, 3, 28))  # a Saturday
    assert not DESK.is_service_day(date(2026, 3, 29))  # a Sunday


def test_a_weekend_service_day_still_keeps_the_holidays():
    weekends = from_config({"SUPPORT_SERVICE_DAYS": "6-7"})
    assert weekends.is_service_day(date(2026, 6, 13))
    assert not weekends.is_service_day(date(2026, 6, 20))  # Midsummer Day, a Saturday
    assert not weekends.is_service_day(date(2026, 6, 17))  # a Wednesday


# --- add_minutes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        # Within the day, and up to closing exactly.
        (at(2026, 3, 25, 11, 0), 60, at(2026, 3, 25, 12, 0)),
        (at(2026, 3, 25, 14, 0), 60, at(2026, 3, 25, 15, 0)),
        # Over the 15:00 close to the next service day.
        (at(2026, 3, 25, 14, 50), 20, at(2026, 3, 26, 10, 10)),
        (at(2026, 3, 25, 14, 0), 61, at(2026, 3, 26, 10, 1)),
        # Before opening: counted from 10:00.
        (at(2026, 3, 25, 8, 0), 60, at(2026, 3, 25, 11, 0)),
        (at(2026, 3, 25, 0, 0), 300, at(2026, 3, 25, 15, 0)),
        # Exactly at 15:00 the desk is closed.
        (at(2026, 3, 25, 15, 0), 60, at(2026, 3, 26, 11, 0)),
        (at(2026, 3, 25, 23, 59), 1, at(2026, 3, 26, 10, 1)),
        # Over the weekend.
        (at(2026, 3, 20, 14, 30), 60, at(2026, 3, 23, 10, 30)),
        (at(2026, 3, 20, 16, 0), 60, at(2026, 3, 23, 11, 0)),
        (at(2026, 3, 21, 12, 0), 60, at(2026, 3, 23, 11, 0)),
        # Christmas 2025: Wednesday to Friday.
        (at(2025, 12, 23, 14, 30), 60, at(2025, 12, 29, 10, 30)),
        # New Year's Day 2026, a Thursday; Epiphany, a Tuesday.
        (at(2025, 12, 31, 14, 30), 60, at(2026, 1, 2, 10, 30)),
        (at(2026, 1, 5, 14, 30), 60, at(2026, 1, 7, 10, 30)),
        # Midsummer Eve 2026, a Friday.
        (at(2026, 6, 18, 14, 30), 60, at(2026, 6, 22, 10, 30)),
        # Christmas 2026: Thursday and Friday, the 26th a Saturday.
        (at(2026, 12, 23, 14, 30), 60, at(2026, 12, 28, 10, 30)),
        # Independence Day 2026 is a Sunday: nothing more is lost.
        (at(2026, 12, 4, 14, 30), 60, at(2026, 12, 7, 10, 30)),
        # Easter 2027: Good Friday to Easter Monday, summer time beginning between.
        (at(2027, 3, 25, 14, 30), 60, at(2027, 3, 30, 10, 30)),
        # Several service days.
        (at(2026, 3, 23, 10, 0), 1500, at(2026, 3, 27, 15, 0)),
        (at(2026, 3, 23, 10, 0), 1501, at(2026, 3, 30, 10, 1)),
    ],
)
def test_add_minutes_counts_only_service_time(start: datetime, minutes: int, due: datetime):
    found = add_minutes(DESK, start, minutes)
    assert found == due
    assert found.tzinfo is UTC
    assert found.astimezone(HELSINKI).replace(tzinfo=None) == due.replace(tzinfo=None)


def test_friday_afternoon_to_monday_across_the_start_of_summer_time():
    # The last Sunday of March 2026 is the 29th: Friday is UTC+2, Monday UTC+3.
    due = add_minutes(DESK, at(2026, 3, 27, 14, 30), 60)
    assert due == datetime(2026, 3, 30, 7, 30, tzinfo=UTC)
    assert due.astimezone(HELSINKI) == at(2026, 3, 30, 10, 30)
    assert due.astimezone(HELSINKI).utcoffset() == timedelta(hours=3)


def test_friday_afternoon_to_monday_across_the_end_of_summer_time():
    # The last Sunday of October 2026 is the 25th: Friday is UTC+3, Monday UTC+2.
    due = add_minutes(DESK, at(2026, 10, 23, 14, 30), 60)
    assert due == datetime(2026, 10, 26, 8, 30, tzinfo=UTC)
    assert due.astimezone(HELSINKI).utcoffset() == timedelta(hours=2)


def test_a_dst_week_has_its_full_service_time():
    assert minutes_between(DESK, at(2026, 3, 23), at(2026, 3, 30)) == 5 * 300
    assert minutes_between(DESK, at(2026, 3, 27), at(2026, 4, 1)) == 3 * 300
    assert minutes_between(DESK, at(2026, 10, 19), at(2026, 10, 26)) == 5 * 300
    assert minutes_between(DESK, at(2026, 10, 23), at(2026, 10, 28)) == 3 * 300


def test_service_hours_spanning_the_clock_change_count_real_minutes():
    # Sundays 00:00-06:00: the night summer time begins is an hour shorter, the night it
    # ends an hour longer.
    nights = from_config({"SUPPORT_SERVICE_HOURS": "00:00-06:00", "SUPPORT_SERVICE_DAYS": "7"})
    assert minutes_between(nights, at(2026, 3, 28), at(2026, 3, 30)) == 300
    assert minutes_between(nights, at(2026, 10, 24), at(2026, 10, 26)) == 420
    assert minutes_between(nights, at(2026, 10, 17), at(2026, 10, 19)) == 360
    assert add_minutes(nights, at(2026, 3, 28, 12), 300) == at(2026, 3, 29, 6)
    assert add_minutes(nights, at(2026, 10, 24, 12), 420) == at(2026, 10, 25, 6)
    assert add_minutes(nights, at(2026, 10, 24, 12), 421) == at(2026, 11, 1, 0, 1)
    for start, end in [
        (at(2026, 3, 28, 23), at(2026, 3, 29, 7)),
        (at(2026, 10, 24, 23), at(2026, 10, 25, 7)),
    ]:
        assert minutes_between(nights, start, end) == brute_minutes(nights, start, end)


def test_zero_minutes_is_the_next_open_moment():
    assert add_minutes(DESK, at(2026, 3, 25, 11, 17), 0) == at(2026, 3, 25, 11, 17)
    assert add_minutes(DESK, at(2026, 3, 25, 10, 0), 0) == at(2026, 3, 25, 10, 0)
    assert add_minutes(DESK, at(2026, 3, 25, 8, 0), 0) == at(2026, 3, 25, 10, 0)
    assert add_minutes(DESK, at(2026, 3, 25, 15, 0), 0) == at(2026, 3, 26, 10, 0)
    assert add_minutes(DESK, at(2026, 3, 27, 14, 59), 0) == at(2026, 3, 27, 14, 59)
    assert next_open(DESK, at(2026, 3, 27, 15, 0)) == at(2026, 3, 30, 10, 0)
    assert next_open(DESK, at(2025, 12, 23, 16, 0)) == at(2025, 12, 29, 10, 0)


def test_is_open_between_opening_and_closing():
    assert not is_open(DESK, at(2026, 3, 25, 9, 59, 59))
    assert is_open(DESK, at(2026, 3, 25, 10, 0))
    assert is_open(DESK, at(2026, 3, 25, 14, 59, 59))
    assert not is_open(DESK, at(2026, 3, 25, 15, 0))
    assert not is_open(DESK, at(2026, 3, 28, 12, 0))
    assert not is_open(DESK, at(2025, 12, 24, 12, 0))


def test_seconds_are_kept():
    start = at(2026, 3, 25, 14, 30, 15)
    assert add_minutes(DESK, start, 30) == at(2026, 3, 26, 10, 0, 15)
    assert minutes_between(DESK, start, at(2026, 3, 26, 10, 0, 14)) == 29
    assert minutes_between(DESK, start, at(2026, 3, 26, 10, 0, 15)) == 30
    assert service_time(DESK, start, at(2026, 3, 26, 10, 0, 14)) == timedelta(
        minutes=29, seconds=59
    )


def test_any_zone_of_the_start_gives_the_same_moment():
    start = at(2026, 3, 27, 14, 30)
    for zone in (UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")):
        assert add_minutes(DESK, start.astimezone(zone), 60) == at(2026, 3, 30, 10, 30)


def test_naive_moments_and_negative_minutes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        add_minutes(DESK, datetime(2026, 3, 25, 12), 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        minutes_between(DESK, at(2026, 3, 25), datetime(2026, 3, 26))
    with pytest.raises(ValueError, match="negative"):
        add_minutes(DESK, at(2026, 3, 25, 12), -1)


def test_a_span_past_the_calendar_is_refused():
    with pytest.raises(ValueError, match="past the calendar"):
        add_minutes(DESK, at(9999, 12, 30, 12), 600)


# --- minutes_between ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        (at(2026, 3, 25, 11), at(2026, 3, 25, 12), 60),
        (at(2026, 3, 25, 8), at(2026, 3, 25, 18), 300),
        (at(2026, 3, 25, 15), at(2026, 3, 26, 10), 0),
        (at(2026, 3, 25, 14, 50), at(2026, 3, 26, 10, 10), 20),
        (at(2026, 3, 20, 14, 30), at(2026, 3, 23, 10, 30), 60),
        (at(2025, 12, 23, 14, 30), at(2025, 12, 29, 10, 30), 60),
        (at(2026, 3, 25, 12), at(2026, 3, 25, 12), 0),
        (at(2026, 3, 25, 12), at(2026, 3, 25, 11), 0),
    ],
)
def test_minutes_between(start: datetime, end: datetime, minutes: int):
    assert minutes_between(DESK, start, end) == minutes


def test_a_year_of_service_days():
    # 2026 has 261 weekdays, 9 of them holidays (1 and 6 Jan, Good Friday, Easter Monday,
    # May Day, Ascension Day, Midsummer Eve, 24 and 25 Dec).
    assert minutes_between(DESK, at(2026, 1, 1), at(2027, 1, 1)) == 252 * 300


def test_minutes_between_agrees_with_a_minute_by_minute_count():
    # Around Easter 2027, when summer time also begins.
    for start, end in [
        (at(2027, 3, 24, 9, 13), at(2027, 3, 31, 10, 7)),
        (at(2027, 3, 25, 14, 59), at(2027, 3, 30, 10, 1)),
        (at(2027, 3, 26, 0, 0), at(2027, 3, 29, 23, 59)),
        (at(2025, 12, 22, 12, 34), at(2025, 12, 30, 11, 11)),
    ]:
        assert minutes_between(DESK, start, end) == brute_minutes(DESK, start, end)


def test_minutes_between_and_add_minutes_agree_over_many_starts():
    # Starts every 37 minutes over Easter 2027 and the start of summer time.
    starts = [at(2027, 3, 19, 7, 0) + n * timedelta(minutes=37) for n in range(0, 600)]
    for start in starts:
        for minutes in (0, 1, 29, 60, 299, 300, 301, 1500):
            due = add_minutes(DESK, start, minutes)
            assert due >= start
            assert minutes_between(DESK, start, due) == minutes, (start, minutes)
            if minutes:
                # No earlier moment has as many minutes.
                assert minutes_between(DESK, start, due - MINUTE) == minutes - 1
                assert is_open(DESK, due - MINUTE)
            else:
                assert is_open(DESK, due)
                assert minutes_between(DESK, start, due + MINUTE) == 1


def test_add_minutes_back_to_an_open_end():
    start = at(2027, 3, 20, 12, 0)
    for n in range(0, 400):
        end = at(2027, 3, 22, 10, 0) + n * timedelta(minutes=53)
        if is_open(DESK, end):
            assert add_minutes(DESK, start, minutes_between(DESK, start, end)) == end


def test_a_whole_year_of_minutes_ends_at_its_last_closing():
    # From New Year's Eve after closing, 2026's service time ends on Thursday 31 Dec 15:00,
    # not at the next opening (Monday 4 Jan 2027, New Year's Day being a Friday).
    start = at(2025, 12, 31, 16, 0)
    assert add_minutes(DESK, start, 252 * 300) == at(2026, 12, 31, 15, 0)
    assert add_minutes(DESK, start, 252 * 300 + 1) == at(2027, 1, 4, 10, 1)
    assert add_minutes(DESK, start, 3 * 252 * 300) > at(2028, 12, 1)


def test_spans_of_years_are_exact_and_quick():
    start, end = at(2001, 5, 17, 12, 34), at(2040, 2, 13, 11, 17)
    total = minutes_between(DESK, start, end)
    # Additive over year boundaries, which the whole-year sums skip.
    middle = [at(year, 1, 1) for year in range(2002, 2041)]
    pieces = [start, *middle, end]
    assert total == sum(minutes_between(DESK, a, b) for a, b in itertools.pairwise(pieces))
    assert 38 * 250 * 300 < total < 39 * 255 * 300
    assert is_open(DESK, end)
    assert add_minutes(DESK, start, total) == end
    assert add_minutes(DESK, start, total + 1) == end + MINUTE


def test_add_minutes_with_many_years_lands_on_the_same_moment_as_walking():
    start = at(2025, 6, 15, 12, 0)
    due = add_minutes(DESK, start, 5 * 252 * 300)
    assert minutes_between(DESK, start, due) == 5 * 252 * 300
    # Walking a year at a time gets to the same moment.
    moment = start
    for year in range(2025, 2030):
        moment = add_minutes(DESK, moment, minutes_between(DESK, moment, at(year + 1, 1, 1)))
    assert add_minutes(DESK, moment, 5 * 252 * 300 - minutes_between(DESK, start, moment)) == due


# --- the config ---------------------------------------------------------------------------


def test_the_defaults():
    assert DESK == ServiceHours(
        opens=time(10), closes=time(15), days=frozenset(range(1, 6)), zone=HELSINKI
    )
    assert (
        from_config(
            {"SUPPORT_SERVICE_HOURS": "", "SUPPORT_SERVICE_DAYS": None, "SUPPORT_TIMEZONE": " "}
        )
        == DESK
    )
    assert from_config({}) is from_config({})  # parsed once


@pytest.mark.parametrize(
    ("value", "opens", "closes"),
    [
        ("10:00-15:00", time(10), time(15)),
        (" 9:30 - 17:45 ", time(9, 30), time(17, 45)),
        ("8-16", time(8), time(16)),
        ("08.00–16.00", time(8), time(16)),
        ("00:00-23:59", time(0), time(23, 59)),
    ],
)
def test_service_hours_from_the_config(value: str, opens: time, closes: time):
    hours = from_config({"SUPPORT_SERVICE_HOURS": value})
    assert (hours.opens, hours.closes) == (opens, closes)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("15:00-10:00", "close after it opens"),
        ("10:00-10:00", "close after it opens"),
        ("10:00", "must look like"),
        ("ten to three", "must look like"),
        ("10:00-24:00", "impossible time"),
        ("10:60-15:00", "impossible time"),
        ("10:00-15:00-16:00", "must look like"),
    ],
)
def test_malformed_service_hours(value: str, message: str):
    with pytest.raises(ValueError, match=f"SUPPORT_SERVICE_HOURS.*{message}"):
        from_config({"SUPPORT_SERVICE_HOURS": value})


@pytest.mark.parametrize(
    ("value", "days"),
    [
        ("1-5", {1, 2, 3, 4, 5}),
        ("1,2,3,4,5", {1, 2, 3, 4, 5}),
        (" 1 , 3-4 ,7", {1, 3, 4, 7}),
        ("6-7", {6, 7}),
        ("3", {3}),
        ("1-3,2-4", {1, 2, 3, 4}),
        ((1, 2, 3), {1, 2, 3}),
    ],
)
def test_service_days_from_the_config(value, days: set[int]):
    assert from_config({"SUPPORT_SERVICE_DAYS": value}).days == days


@pytest.mark.parametrize("value", ["0-5", "5-1", "8", "1-8", "mon-fri", ",", "1;2", "1-"])
def test_malformed_service_days(value: str):
    with pytest.raises(ValueError, match="SUPPORT_SERVICE_DAYS"):
        from_config({"SUPPORT_SERVICE_DAYS": value})


def test_the_time_zone_from_the_config():
    stockholm = from_config({"SUPPORT_TIMEZONE": "Europe/Stockholm"})
    assert stockholm.zone == ZoneInfo("Europe/Stockholm")
    # 10:30 in Helsinki is 09:30 in Stockholm: the desk opens at 11:00 Helsinki time.
    assert next_open(stockholm, at(2026, 3, 25, 10, 30)) == at(2026, 3, 25, 11, 0)
    assert add_minutes(stockholm, at(2026, 3, 25, 15, 30), 30) == at(2026, 3, 25, 16, 0)
    for value in ("Mars/Olympus_Mons", "../etc/passwd"):
        with pytest.raises(ValueError, match="SUPPORT_TIMEZONE"):
            from_config({"SUPPORT_TIMEZONE": value})


def test_non_string_settings_are_refused():
    with pytest.raises(ValueError, match="SUPPORT_SERVICE_HOURS must be a string"):
        from_config({"SUPPORT_SERVICE_HOURS": (10, 15)})
    with pytest.raises(ValueError, match="SUPPORT_TIMEZONE must be a string"):
        from_config({"SUPPORT_TIMEZONE": HELSINKI})


def test_service_hours_made_directly_are_checked():
    with pytest.raises(ValueError, match="at least one"):
        ServiceHours(time(10), time(15), frozenset(), HELSINKI)
    with pytest.raises(ValueError, match="close after"):
        ServiceHours(time(15), time(10), frozenset({1}), HELSINKI)
    with pytest.raises(ValueError, match="ISO weekdays"):
        ServiceHours(time(10), time(15), frozenset({0, 1}), HELSINKI)
    with pytest.raises(ValueError, match="naive"):
        ServiceHours(time(10, tzinfo=UTC), time(15), frozenset({1}), HELSINKI)


# --- the targets --------------------------------------------------------------------------


def test_every_type_and_urgency_has_default_targets():
    assert set(DEFAULT_TARGETS) == {(t, u) for t in TicketType for u in Urgency}
    for target in DEFAULT_TARGETS.values():
        assert 0 < target.first_response <= target.resolution


@pytest.mark.parametrize(
    ("ticket_type", "urgency", "hours"),
    [
        (TicketType.SUPPORT_REQUEST, Urgency.NORMAL, (5, 25)),
        (TicketType.SUPPORT_REQUEST, Urgency.FASTER, (2, 10)),
        (TicketType.BILLING, Urgency.NORMAL, (5, 25)),
        (TicketType.CONTRACT_CHANGE, Urgency.FASTER, (2, 10)),
        (TicketType.MALFUNCTION, Urgency.NORMAL, (3, 15)),
        (TicketType.MALFUNCTION, Urgency.FASTER, (1, 5)),
        (TicketType.PHONE_SUPPORT, Urgency.NORMAL, (2, 10)),
        (TicketType.PHONE_SUPPORT, Urgency.FASTER, (1, 5)),
        (TicketType.DEVELOPMENT_IDEA, Urgency.NORMAL, (10, 100)),
        (TicketType.DEVELOPMENT_IDEA, Urgency.FASTER, (5, 50)),
        (TicketType.QUALITY_FEEDBACK, Urgency.NORMAL, (10, 100)),
        (TicketType.QUALITY_FEEDBACK, Urgency.FASTER, (5, 50)),
    ],
)
def test_the_default_targets(ticket_type: TicketType, urgency: Urgency, hours):
    first, resolution = hours
    assert DEFAULT_TARGETS[ticket_type, urgency] == Target(first * 60, resolution * 60)
    assert target_for({}, ticket_type, urgency) == Target(first * 60, resolution * 60)


def test_no_targets_in_the_config_are_the_defaults():
    assert targets_from_config("") == DEFAULT_TARGETS
    assert targets_from_config(" , ") == DEFAULT_TARGETS
    assert target_for({"SUPPORT_TARGETS": None}, TicketType.OTHER, Urgency.NORMAL) == Target(
        300, 1500
    )


def test_one_target_overridden_in_decimal_hours():
    targets = targets_from_config("toimintahairio/nopeampi=0.5/4")
    assert targets[TicketType.MALFUNCTION, Urgency.FASTER] == Target(30, 240)
    changed = {key for key in targets if targets[key] != DEFAULT_TARGETS[key]}
    assert changed == {(TicketType.MALFUNCTION, Urgency.FASTER)}
    config = {"SUPPORT_TARGETS": " toimintahairio / nopeampi = 0.25 / 1.75 "}
    assert target_for(config, TicketType.MALFUNCTION, Urgency.FASTER) == Target(15, 105)
    assert targets_from_config("Toimintahairio/NOPEAMPI=1/2")[
        TicketType.MALFUNCTION, Urgency.FASTER
    ] == Target(60, 120)


def test_wildcards_and_the_more_specific_item_wins_in_any_order():
    items = [
        "*/*=1/2",
        "toimintahairio/*=3/4",
        "*/nopeampi=5/6",
        "toimintahairio/nopeampi=7/8",
    ]
    for order in (items, items[::-1], [items[2], items[0], items[3], items[1]]):
        targets = targets_from_config(",".join(order))
        assert targets[TicketType.MALFUNCTION, Urgency.FASTER] == Target(420, 480)
        assert targets[TicketType.MALFUNCTION, Urgency.NORMAL] == Target(180, 240)
        assert targets[TicketType.BILLING, Urgency.FASTER] == Target(300, 360)
        assert targets[TicketType.BILLING, Urgency.NORMAL] == Target(60, 120)


def test_a_type_wildcard_alone_covers_every_type():
    targets = targets_from_config("*/normaali=8/40")
    for ticket_type in TicketType:
        assert targets[ticket_type, Urgency.NORMAL] == Target(480, 2400)
        assert targets[ticket_type, Urgency.FASTER] == DEFAULT_TARGETS[ticket_type, Urgency.FASTER]


def test_the_type_is_more_specific_than_the_urgency():
    for value in ("*/nopeampi=5/6,toimintahairio/*=3/4", "toimintahairio/*=3/4,*/nopeampi=5/6"):
        assert targets_from_config(value)[TicketType.MALFUNCTION, Urgency.FASTER] == Target(
            180, 240
        )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("kahvi/normaali=1/2", "not one of"),
        ("toimintahairio/heti=1/2", "not one of"),
        ("toimintahairio=1/2", "must look like"),
        ("toimintahairio/normaali=1", "must look like"),
        ("toimintahairio/normaali=-1/2", "must look like"),
        ("toimintahairio/normaali=1e2/2e2", "must look like"),
        ("toimintahairio/normaali=nan/nan", "must look like"),
        ("toimintahairio/normaali=1;5/2", "must look like"),
        ("toimintahairio/normaali=4/2", "resolution must not be due before"),
        ("toimintahairio/normaali=0/2", "at least a minute"),
        ("toimintahairio/normaali=0.001/2", "at least a minute"),
    ],
)
def test_malformed_targets_name_the_item(item: str, message: str):
    with pytest.raises(ValueError, match=message) as raised:
        targets_from_config(f"*/*=1/5, {item} , */nopeampi=1/2")
    assert str(raised.value).startswith(f"SUPPORT_TARGETS item {item!r}")


def test_a_decimal_comma_splits_the_item():
    with pytest.raises(ValueError, match=re.escape("item 'toimintahairio/normaali=1'")):
        targets_from_config("toimintahairio/normaali=1,5/2")


def test_a_target_given_twice_is_refused():
    with pytest.raises(ValueError, match="second time"):
        targets_from_config("*/*=1/2,*/*=3/4")


def test_targets_of_a_config_are_parsed_once_and_must_be_a_string():
    assert targets_from_config("*/*=1/2") is targets_from_config("*/*=1/2")
    with pytest.raises(ValueError, match="SUPPORT_TARGETS must be a string"):
        target_for({"SUPPORT_TARGETS": {"*/*": (1, 2)}}, TicketType.OTHER, Urgency.NORMAL)


# --- due times, states, the paused clock --------------------------------------------------


def test_due_times_of_a_malfunction_in_a_hurry_on_a_friday_afternoon():
    due = due_times({}, TicketType.MALFUNCTION, Urgency.FASTER, at(2026, 3, 20, 14, 30))
    assert due == Due(first_response=at(2026, 3, 23, 10, 30), resolution=at(2026, 3, 23, 14, 30))


def test_due_times_of_a_support_request_before_christmas():
    due = due_times({}, TicketType.SUPPORT_REQUEST, Urgency.NORMAL, at(2025, 12, 23, 9, 0))
    # 5 h from 10:00 is the day's closing; 25 h runs over Christmas and New Year's Day.
    assert due.first_response == at(2025, 12, 23, 15, 0)
    assert due.resolution == at(2026, 1, 2, 15, 0)


def test_due_times_follow_the_configured_targets_and_hours():
    config = {
        "SUPPORT_TARGETS": "puhelintukipyynto/*=0.5/1",
        "SUPPORT_SERVICE_HOURS": "08:00-16:00",
    }
    due = due_times(config, TicketType.PHONE_SUPPORT, Urgency.NORMAL, at(2026, 3, 25, 15, 45))
    assert due == Due(at(2026, 3, 26, 8, 15), at(2026, 3, 26, 8, 45))


def test_due_state_late_soon_ok():
    due = at(2026, 3, 23, 10, 30)  # a Monday
    assert due_state({}, due, due) == "late"
    assert due_state({}, due, due + timedelta(seconds=1)) == "late"
    assert due_state({}, due, at(2026, 3, 24, 12)) == "late"
    assert due_state({}, due, due - MINUTE) == "soon"
    # Over the weekend only the service minutes count: 10 on Friday and 30 on Monday.
    assert due_state({}, due, at(2026, 3, 20, 14, 50)) == "soon"
    # 60 minutes left is still soon, 61 is not.
    assert due_state({}, due, at(2026, 3, 20, 14, 30)) == "soon"
    assert due_state({}, due, at(2026, 3, 20, 14, 29)) == "ok"
    assert due_state({}, due, at(2026, 3, 18, 12)) == "ok"


def test_due_soon_minutes_from_the_config():
    due = at(2026, 3, 25, 12, 0)
    now = at(2026, 3, 25, 11, 40)
    assert due_state({}, due, now) == "soon"
    assert due_state({"SUPPORT_DUE_SOON_MINUTES": 15}, due, now) == "ok"
    assert due_state({"SUPPORT_DUE_SOON_MINUTES": "20"}, due, now) == "soon"
    assert due_state({"SUPPORT_DUE_SOON_MINUTES": 0}, due, due - MINUTE) == "ok"
    assert due_state({"SUPPORT_DUE_SOON_MINUTES": ""}, due, now) == "soon"
    for value in ("soon", -5, "1.5", True):
        with pytest.raises(ValueError, match="SUPPORT_DUE_SOON_MINUTES"):
            due_state({"SUPPORT_DUE_SOON_MINUTES": value}, due, now)


def test_pause_and_resume_keep_the_service_minutes_left():
    due = at(2026, 3, 23, 10, 30)  # Monday
    paused_at = at(2026, 3, 20, 14, 0)  # the Friday before
    left = paused_minutes({}, due, paused_at)
    assert left == 90
    # The customer answers on Tuesday at 14:00: an hour that day, half an hour on Wednesday.
    assert resumed_due({}, left, at(2026, 3, 24, 14, 0)) == at(2026, 3, 25, 10, 30)
    # Resumed at once, nothing changes.
    assert resumed_due({}, left, paused_at) == due
    # Resumed outside service hours: counted from the next opening.
    assert resumed_due({}, left, at(2026, 3, 28, 12, 0)) == at(2026, 3, 30, 11, 30)


def test_a_late_ticket_pauses_with_nothing_left():
    due = at(2026, 3, 23, 10, 30)
    assert paused_minutes({}, due, due) == 0
    assert paused_minutes({}, due, at(2026, 3, 24, 12)) == 0
    # With nothing left it is due as soon as the desk is open again.
    assert resumed_due({}, 0, at(2026, 3, 27, 16, 0)) == at(2026, 3, 30, 10, 0)
    assert due_state({}, resumed_due({}, 0, at(2026, 3, 30, 11)), at(2026, 3, 30, 11)) == "late"


def test_a_part_of_a_minute_left_is_kept_as_a_minute():
    due = at(2026, 3, 23, 10, 30)
    assert paused_minutes({}, due, due - timedelta(seconds=30)) == 1
    assert paused_minutes({}, due, due - timedelta(minutes=2)) == 2
    # Due outside service hours, with no service time left before it: nothing to keep.
    assert paused_minutes({}, at(2026, 3, 21, 12), at(2026, 3, 20, 16)) == 0


def test_the_modules_import_holidays_lazily():
    # Its calendars take a tenth of a second to import: not at start-up.
    code = "import sys, services.support_sla; print('holidays' in sys.modules)"
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "False"
