"""The invoice desk's promise: sent by 15:00 on a weekday, forwarded the same day; later,
or on a weekend or a Finnish public holiday, on the next working day.

Holidays come from the maintained `holidays` package (Christmas Eve and Midsummer Eve
included, as Finnish offices keep them).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    import holidays

HELSINKI = ZoneInfo("Europe/Helsinki")
CUTOFF = time(15, 0)


@lru_cache(maxsize=16)
def _holidays(year: int) -> holidays.HolidayBase:
    import holidays  # its calendars take a tenth of a second to import: on first use

    return holidays.Finland(years=year)


def is_holiday(day: date) -> bool:
    """Whether the day is a Finnish public holiday (Christmas and Midsummer Eve included)."""
    return day in _holidays(day.year)


def is_working_day(day: date) -> bool:
    """Whether the day is a weekday and not a Finnish public holiday."""
    return day.weekday() < 5 and not is_holiday(day)


def next_working_day(day: date) -> date:
    """The first working day after `day`."""
    day += timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def forwarding_day(sent_at: datetime) -> date:
    """The day by which an invoice sent at `sent_at` (aware) is to be forwarded."""
    local = sent_at.astimezone(HELSINKI)
    if is_working_day(local.date()) and local.time() <= CUTOFF:
        return local.date()
    return next_working_day(local.date())


def forwarding_state(sent_at: datetime, now: datetime) -> str:
    """ "today" when due today, "late" when its day has passed, "later" otherwise."""
    due = forwarding_day(sent_at)
    today = now.astimezone(HELSINKI).date()
    if due < today:
        return "late"
    return "today" if due == today else "later"


def desk_cutoffs(now: datetime) -> tuple[datetime, datetime]:
    """(late_until, today_until): an invoice sent by `late_until` is late at `now`, one sent
    after it and by `today_until` is due today, anything sent later is for a later day.

    The forwarding day is the first working day whose 15:00 is not before the sending, so
    it grows with the sending time and each state is a range of sending times.
    """
    today = now.astimezone(HELSINKI).date()
    previous = today - timedelta(days=1)
    while not is_working_day(previous):
        previous -= timedelta(days=1)
    late_until = day_end(previous)
    return late_until, day_end(today) if is_working_day(today) else late_until


def day_end(day: date) -> datetime:
    """The moment the day's promise ends (15:00 in Helsinki)."""
    return datetime.combine(day, CUTOFF, tzinfo=HELSINKI)
