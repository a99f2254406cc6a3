"""Times as people see them (Europe/Helsinki) and as the database keeps them (UTC)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

HELSINKI = ZoneInfo("Europe/Helsinki")


def local_to_utc(value: datetime, zone: ZoneInfo = HELSINKI) -> datetime:
    """A wall-clock time of the zone (as a form gives it) in UTC."""
    return value.replace(tzinfo=zone).astimezone(UTC)


def utc_to_local(value: datetime, zone: ZoneInfo = HELSINKI) -> datetime:
    """A stored UTC time as a naive wall-clock time of the zone (for a form's field)."""
    return value.astimezone(zone).replace(tzinfo=None)


def day_start_utc(day: date, zone: ZoneInfo = HELSINKI) -> datetime:
    """The first moment of a local day, in UTC."""
    return local_to_utc(datetime.combine(day, time.min), zone)


@contextmanager
def shown_in_zone(name: str | None):
    """Let Flask-Babel show times in this zone (a recipient's, a record's country) instead
    of the zone of whoever is looking; None changes nothing."""
    import pytz
    from flask_babel import _get_current_context

    ctx = _get_current_context()
    if name is None or ctx is None:
        yield
        return
    original = getattr(ctx, "babel_tzinfo", None)
    ctx.babel_tzinfo = pytz.timezone(name)  # Flask-Babel works with pytz zones
    try:
        yield
    finally:
        ctx.babel_tzinfo = original
