"""Service-hours arithmetic: how much of the helpdesk's open time lies between two moments,
and when a number of open minutes have passed.

The helpdesk serves on weekdays 10:00–15:00 Helsinki time, Finnish public holidays
excluded (services.workdays); the hours, the days and the zone come from the config:

    SUPPORT_SERVICE_HOURS = "10:00-15:00"   (also "10-15", "10.00–15.00")
    SUPPORT_SERVICE_DAYS  = "1-5"           (ISO weekdays, 1 = Monday: "1-5", "1,2,3,4,5")
    SUPPORT_TIMEZONE      = "Europe/Helsinki"

Each service day is open over [opens, closes) of its local wall clock: a ticket that
arrives at 15:00 sharp has arrived after closing. A service minute is a minute of real time
inside those windows, so a window that spans a change of daylight saving time (not the
default one) is an hour shorter or longer that day. The windows are worked out day by day
in the zone and whole calendar years are summed once and cached, so spans of years cost no
more than two years' days.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.workdays import is_holiday

DEFAULT_HOURS = "10:00-15:00"
DEFAULT_DAYS = "1-5"
DEFAULT_TIMEZONE = "Europe/Helsinki"

_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_NOTHING = timedelta(0)
# add_minutes walks the rest of the first year and the last year day by day, and skips
# the whole years between: never more days than these.
_MAX_DAYS_WALKED = 2 * 366 + 2

_CLOCK = r"(\d{1,2})(?:[:.](\d{2}))?"
_HOURS_FORMAT = re.compile(rf"\s*{_CLOCK}\s*[-–]\s*{_CLOCK}\s*")
_DAYS_ITEM = re.compile(r"\s*(\d)\s*(?:[-–]\s*(\d)\s*)?")


@dataclass(frozen=True)
class ServiceHours:
    """When the helpdesk serves: from `opens` to `closes` (naive wall-clock times of
    `zone`) on the ISO weekdays of `days` (1 = Monday … 7 = Sunday) that are not Finnish
    public holidays."""

    opens: time
    closes: time
    days: frozenset[int]
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("service hours are wall-clock times of the zone: give naive times")
        if not self.opens < self.closes:
            raise ValueError(
                f"service hours must close after they open, not {self.opens:%H:%M}-"
                f"{self.closes:%H:%M}"
            )
        if not self.days:
            raise ValueError("service hours need at least one service day")
        if not self.days <= frozenset(range(1, 8)):
            raise ValueError(f"service days are ISO weekdays 1-7, not {sorted(self.days)}")

    def is_service_day(self, day: date) -> bool:
        """Whether the helpdesk serves on the (local) day: one of its weekdays, not a
        Finnish public holiday."""
        return day.isoweekday() in self.days and not is_holiday(day)


def from_config(config: Mapping) -> ServiceHours:
    """The service hours the config sets (SUPPORT_SERVICE_HOURS, SUPPORT_SERVICE_DAYS,
    SUPPORT_TIMEZONE; a missing or empty key takes its default). A malformed value raises
    ValueError naming its key. Parsed once per distinct set of values."""
    hours = _setting(config, "SUPPORT_SERVICE_HOURS", DEFAULT_HOURS)
    days = config.get("SUPPORT_SERVICE_DAYS")
    if days is not None and not isinstance(days, str) and isinstance(days, Iterable):
        days = ",".join(str(day) for day in days)  # (1, 2, 3, 4, 5) from a Python config
    days = _setting({"SUPPORT_SERVICE_DAYS": days}, "SUPPORT_SERVICE_DAYS", DEFAULT_DAYS)
    zone = _setting(config, "SUPPORT_TIMEZONE", DEFAULT_TIMEZONE)
    return _parse(hours, days, zone)


def _setting(config: Mapping, key: str, default: str) -> str:
    value = config.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string like {default!r}, not {value!r}")
    return value.strip()


@lru_cache(maxsize=32)
def _parse(hours: str, days: str, zone: str) -> ServiceHours:
    match = _HOURS_FORMAT.fullmatch(hours)
    if not match:
        raise ValueError(f"SUPPORT_SERVICE_HOURS must look like '10:00-15:00', not {hours!r}")
    opens = _clock(match.group(1), match.group(2), hours)
    closes = _clock(match.group(3), match.group(4), hours)
    if not opens < closes:
        raise ValueError(f"SUPPORT_SERVICE_HOURS must close after it opens, not {hours!r}")
    try:
        zone_info = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"SUPPORT_TIMEZONE must be an IANA time zone like 'Europe/Helsinki', not {zone!r}"
        ) from error
    return ServiceHours(opens, closes, _weekdays(days), zone_info)


def _clock(hour: str, minute: str | None, hours: str) -> time:
    h, m = int(hour), int(minute or 0)
    if h > 23 or m > 59:
        raise ValueError(f"SUPPORT_SERVICE_HOURS has an impossible time of day: {hours!r}")
    return time(h, m)


def _weekdays(days: str) -> frozenset[int]:
    found: set[int] = set()
    for item in days.split(","):
        if not item.strip():
            continue
        match = _DAYS_ITEM.fullmatch(item)
        if not match:
            raise ValueError(
                f"SUPPORT_SERVICE_DAYS must list ISO weekdays like '1-5' or '1,2,3,4,5', "
                f"not {days!r} ({item.strip()!r})"
            )
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if not 1 <= first <= last <= 7:
            raise ValueError(
                f"SUPPORT_SERVICE_DAYS: {item.strip()!r} is not a range of weekdays 1-7 "
                f"(1 = Monday), in {days!r}"
            )
        found.update(range(first, last + 1))
    if not found:
        raise ValueError(f"SUPPORT_SERVICE_DAYS must name at least one weekday, not {days!r}")
    return frozenset(found)


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {moment!r}")
    return moment.astimezone(UTC)


def _compute_window(hours: ServiceHours, day: date) -> tuple[datetime, datetime] | None:
    """The day's open time as UTC moments [opens, closes), None when it is closed."""
    if not hours.is_service_day(day):
        return None
    opens = datetime.combine(day, hours.opens, tzinfo=hours.zone).astimezone(UTC)
    closes = datetime.combine(day, hours.closes, tzinfo=hours.zone).astimezone(UTC)
    return (opens, closes) if opens < closes else None


_window = lru_cache(maxsize=4096)(_compute_window)


@lru_cache(maxsize=256)
def _year_time(hours: ServiceHours, year: int) -> timedelta:
    """All the open time of a calendar year (of local days)."""
    total = _NOTHING
    for day in _days(date(year, 1, 1), date(year, 12, 31)):
        window = _compute_window(hours, day)
        if window:
            total += window[1] - window[0]
    return total


def _days(first: date, last: date) -> Iterable[date]:
    for ordinal in range(first.toordinal(), last.toordinal() + 1):
        yield date.fromordinal(ordinal)


def is_open(hours: ServiceHours, moment: datetime) -> bool:
    """Whether the helpdesk serves at the (aware) moment."""
    moment = _aware(moment, "moment")
    window = _window(hours, moment.astimezone(hours.zone).date())
    return bool(window) and window[0] <= moment < window[1]


def add_minutes(hours: ServiceHours, start: datetime, minutes: int) -> datetime:
    """The (aware, UTC) moment by which `minutes` service minutes have passed since the
    aware `start`: closed time does not count. With 0 minutes, the first open moment at or
    after `start`. A span that ends exactly at closing ends there (14:00 + 60 min is
    15:00), one more minute runs over to the next service day."""
    if minutes < 0:
        raise ValueError(f"minutes must not be negative, not {minutes!r}")
    cursor = _aware(start, "start")
    remaining = timedelta(minutes=minutes)
    first_day = day = cursor.astimezone(hours.zone).date()
    try:
        for _ in range(_MAX_DAYS_WALKED):
            if day != first_day and (day.month, day.day) == (1, 1):
                while remaining > _year_time(hours, day.year):
                    remaining -= _year_time(hours, day.year)
                    day = date(day.year + 1, 1, 1)
            window = _window(hours, day)
            if window:
                begin, end = max(window[0], cursor), window[1]
                if begin < end:
                    if remaining <= end - begin:
                        return begin + remaining
                    remaining -= end - begin
            day += _DAY
    except (OverflowError, ValueError) as error:
        raise ValueError(f"{minutes} service minutes from {start} run past the calendar") from error
    raise AssertionError("unreachable: a year with enough open time was reached")


def next_open(hours: ServiceHours, moment: datetime) -> datetime:
    """The first moment at or after the aware `moment` when the helpdesk serves (UTC)."""
    return add_minutes(hours, moment, 0)


def service_time(hours: ServiceHours, start: datetime, end: datetime) -> timedelta:
    """The open time within [start, end) (aware moments), exactly; nothing when `end` is
    not after `start`."""
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        return _NOTHING
    first = start.astimezone(hours.zone).date()
    last = end.astimezone(hours.zone).date()
    if last.year - first.year <= 1:
        return _walk(hours, start, end, first, last)
    # The local days of the years between lie wholly inside the span.
    return (
        _walk(hours, start, end, first, date(first.year, 12, 31))
        + sum((_year_time(hours, year) for year in range(first.year + 1, last.year)), _NOTHING)
        + _walk(hours, start, end, date(last.year, 1, 1), last)
    )


def _walk(
    hours: ServiceHours, start: datetime, end: datetime, first: date, last: date
) -> timedelta:
    total = _NOTHING
    for day in _days(first, last):
        window = _window(hours, day)
        if window:
            begin, finish = max(window[0], start), min(window[1], end)
            if begin < finish:
                total += finish - begin
    return total


def minutes_between(hours: ServiceHours, start: datetime, end: datetime) -> int:
    """The whole service minutes within [start, end) (aware moments); 0 when `end` is not
    after `start`. minutes_between(hours, start, add_minutes(hours, start, n)) is n."""
    return service_time(hours, start, end) // _MINUTE
