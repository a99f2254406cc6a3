"""The helpdesk's promises for a ticket: by when its first response and its resolution are
due, by its type and urgency, counted in service hours (services.service_hours: weekdays
10:00–15:00 Helsinki time, one service day being 5 hours).

The defaults may be overridden by the config's SUPPORT_TARGETS, comma-separated items
`type/urgency=first/resolution` in service hours, with `*` for every type or urgency:

    SUPPORT_TARGETS = "toimintahairio/nopeampi=0.5/4, */nopeampi=1/5"

A more specific item wins whatever the order: type/urgency over type/* over */urgency
over */*. While a ticket waits for the customer its clock stops: paused_minutes keeps the
service minutes it had left, resumed_due gives the new due time when it goes on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from models.support import TicketType, Urgency
from services.service_hours import add_minutes, from_config, minutes_between, service_time

DEFAULT_DUE_SOON_MINUTES = 60
_MINUTE = timedelta(minutes=1)

_ITEM = re.compile(
    r"\s*(?P<type>[^\s/=]+)\s*/\s*(?P<urgency>[^\s/=]+)\s*"
    r"=\s*(?P<first>\d+(?:\.\d+)?)\s*/\s*(?P<resolution>\d+(?:\.\d+)?)\s*"
)


@dataclass(frozen=True)
class Target:
    """How many service minutes a ticket may wait for its first response, and for its
    resolution, from its arrival."""

    first_response: int
    resolution: int


@dataclass(frozen=True)
class Due:
    """The moments (aware, UTC) by which a ticket's first response and its resolution are
    due."""

    first_response: datetime
    resolution: datetime


# In service hours (NORMAL, FASTER) × (first response, resolution); the types not named
# are general enquiries.
_GENERAL = ((5, 25), (2, 10))
_DEFAULT_HOURS: dict[TicketType, tuple[tuple[int, int], tuple[int, int]]] = {
    TicketType.MALFUNCTION: ((3, 15), (1, 5)),
    TicketType.PHONE_SUPPORT: ((2, 10), (1, 5)),
    TicketType.DEVELOPMENT_IDEA: ((10, 100), (5, 50)),
    TicketType.QUALITY_FEEDBACK: ((10, 100), (5, 50)),
}
_FASTER = {Urgency.FASTER}  # any other urgency has the normal targets

DEFAULT_TARGETS: dict[tuple[TicketType, Urgency], Target] = {
    (ticket_type, urgency): Target(
        *(hours * 60 for hours in _DEFAULT_HOURS.get(ticket_type, _GENERAL)[urgency in _FASTER])
    )
    for ticket_type in TicketType
    for urgency in Urgency
}


@lru_cache(maxsize=16)
def targets_from_config(value: str) -> dict[tuple[TicketType, Urgency], Target]:
    """The targets of every (type, urgency): the defaults, overridden by the items of a
    SUPPORT_TARGETS string (see the module's docstring; empty for the defaults). A
    malformed item raises ValueError naming it. The dict is shared: do not change it."""
    given: dict[tuple[TicketType | None, Urgency | None], Target] = {}
    for raw in (value or "").split(","):
        item = raw.strip()
        if not item:
            continue
        match = _ITEM.fullmatch(item)
        if not match:
            raise ValueError(
                f"SUPPORT_TARGETS item {item!r} must look like 'type/urgency=first/resolution' "
                "in service hours, e.g. 'toimintahairio/nopeampi=0.5/4'"
            )
        key = (
            _member(TicketType, match["type"], item),
            _member(Urgency, match["urgency"], item),
        )
        target = Target(_minutes(match["first"], item), _minutes(match["resolution"], item))
        if target.resolution < target.first_response:
            raise ValueError(
                f"SUPPORT_TARGETS item {item!r}: the resolution must not be due before the "
                "first response"
            )
        if key in given:
            raise ValueError(f"SUPPORT_TARGETS item {item!r} sets its targets a second time")
        given[key] = target
    targets = dict(DEFAULT_TARGETS)
    for ticket_type, urgency in targets:
        for key in ((ticket_type, urgency), (ticket_type, None), (None, urgency), (None, None)):
            if key in given:
                targets[ticket_type, urgency] = given[key]
                break
    return targets


def _member(
    enum: type[TicketType] | type[Urgency], name: str, item: str
) -> TicketType | Urgency | None:
    if name == "*":
        return None
    try:
        return enum(name.lower())
    except ValueError:
        known = ", ".join(member.value for member in enum)
        raise ValueError(
            f"SUPPORT_TARGETS item {item!r}: {name!r} is not one of * or {known}"
        ) from None


def _minutes(hours: str, item: str) -> int:
    minutes = int((Decimal(hours) * 60).to_integral_value(ROUND_HALF_UP))
    if minutes < 1:
        raise ValueError(f"SUPPORT_TARGETS item {item!r}: a target must be at least a minute")
    return minutes


def _targets(config: Mapping) -> dict[tuple[TicketType, Urgency], Target]:
    value = config.get("SUPPORT_TARGETS")
    if value is not None and not isinstance(value, str):
        raise ValueError(f"SUPPORT_TARGETS must be a string of items, not {value!r}")
    return targets_from_config((value or "").strip())


def target_for(config: Mapping, type: TicketType, urgency: Urgency) -> Target:
    """The targets, in service minutes, for a ticket of the type and urgency."""
    return _targets(config)[type, urgency]


def due_times(config: Mapping, type: TicketType, urgency: Urgency, received: datetime) -> Due:
    """When a ticket of the type and urgency that arrived at `received` (aware) has its
    first response and its resolution due, in service hours."""
    hours = from_config(config)
    target = target_for(config, type, urgency)
    return Due(
        first_response=add_minutes(hours, received, target.first_response),
        resolution=add_minutes(hours, received, target.resolution),
    )


def _due_soon_minutes(config: Mapping) -> int:
    value = config.get("SUPPORT_DUE_SOON_MINUTES")
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_DUE_SOON_MINUTES
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        minutes = -1
    if minutes < 0 or isinstance(value, bool):
        raise ValueError(f"SUPPORT_DUE_SOON_MINUTES must be whole minutes >= 0, not {value!r}")
    return minutes


def due_state(config: Mapping, due: datetime, now: datetime) -> str:
    """ "late" when `due` has come (due <= now), "soon" when at most
    SUPPORT_DUE_SOON_MINUTES (default 60) service minutes are left, "ok" otherwise."""
    if due <= now:
        return "late"
    left = minutes_between(from_config(config), now, due)
    return "soon" if left <= _due_soon_minutes(config) else "ok"


def paused_minutes(config: Mapping, due: datetime, now: datetime) -> int:
    """The service minutes left until `due` at `now`, kept while the ticket waits for the
    customer: 0 when it is late, and a part of a minute left counts as a minute."""
    if due <= now:
        return 0
    left = service_time(from_config(config), now, due)
    return -(-left // _MINUTE)


def resumed_due(config: Mapping, minutes: int, now: datetime) -> datetime:
    """The new due time (UTC) of a ticket whose clock goes on at `now` with `minutes`
    service minutes left (as paused_minutes kept them)."""
    return add_minutes(from_config(config), now, minutes)
