"""Reasons and actors the portal writes itself, kept as codes and shown in the reader's
language.

A reason a person types (a staff member's cancellation reason) is kept as typed. A reason
the portal writes (an order deleted through PunchOut, a course fee not paid in time) is
kept as a code with its parameters, `{"reason": "punchout_deleted", "order": "HANDI-1"}`,
and put into words only when it is shown: in the participant's language in mail, in the
staff member's on the page. Actors are kept the same way: "participant", "system" and
"payment service" are codes; anything else is a name or an address, shown as it is.
"""

from __future__ import annotations

import json

from flask_babel import lazy_gettext as _l

REASONS = {
    "punchout_deleted": _l("The order %(order)s was deleted in the buyer's system."),
    "punchout_withdrawn": _l("Withdrawn from the cart."),
    "fee_not_paid": _l("The course fee was not paid online by the deadline."),
    "no_seat_came_free": _l("The course started and no seat came free."),
    "offer_expired": _l("The offered seat was not taken in time."),
    # Why a course fee is owed back.
    "enrolment_cancelled": _l("The enrolment was cancelled."),
    "paid_after_cancel": _l("The fee was paid after the enrolment had been cancelled."),
    "paid_twice": _l("The fee had already been paid by another payment."),
}

PARTICIPANT = "participant"  # the actor of what a participant does with the service code
PAYMENT_SERVICE = "payment service"  # the actor of a course fee paid online
SYSTEM = "system"  # the actor of what the portal does by itself (offers expiring)

ACTORS = {
    "participant": _l("the participant"),
    "system": _l("the portal"),
    "payment service": _l("the payment service"),
}


def coded(reason: str, **parameters: str) -> str:
    """The stored form of a reason the portal writes: a code and its parameters."""
    if reason not in REASONS:
        raise KeyError(reason)
    return json.dumps({"reason": reason, **parameters}, ensure_ascii=False, sort_keys=True)


def decode(stored: str | None) -> tuple[str, dict[str, str]] | None:
    """The code and parameters of a stored reason, or None for text a person wrote."""
    if not stored or not stored.startswith('{"'):
        return None
    try:
        value = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("reason") not in REASONS:
        return None
    parameters = {str(k): str(v) for k, v in value.items() if k != "reason"}
    return value["reason"], parameters


def describe(stored: str | None) -> str:
    """A stored reason in the current language (a person's text as they wrote it)."""
    found = decode(stored)
    if found is None:
        return stored or ""
    code, parameters = found
    text = str(REASONS[code])
    try:
        return text % parameters if parameters else text
    except (KeyError, ValueError, TypeError):  # a parameter missing from an old row
        return text


def actor(stored: str | None) -> str:
    """Who did it, in the current language when the portal or a service did it."""
    if stored in ACTORS:
        return str(ACTORS[stored])
    return stored or ""
