"""Course organisers: the sellers of course fees, each registered with the payment service
as a merchant of the channel (its merchant ID and commission class are the ITEM_MERCHANT_ID
and ITEM_CP of its courses' payment lines). A course without one is the training
institute's own, sold under PAYMENT_COURSE_MERCHANT_ID.

Staff add and change organisers (blueprints/training/staff.py); each addition and change
is recorded in the audit log, since the merchant ID says whom a course's fees are paid to.
`create()` and `update()` add to the session: the caller commits.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from extensions import db
from models.audit import AuditAction
from models.training import CourseOrganiser
from paging import Page, paginate
from services import audit

RECORD_TYPE = "course_organiser"  # an organiser in the audit log
PER_PAGE = 25  # organisers on a page of the staff's list
MAX_CHOICES = 200  # organisers offered in a course's select, the first by name

MERCHANT_ID_TAKEN = _l("Another organiser has this merchant ID already.")


class OrganiserError(ValueError):
    """An organiser that cannot be saved; `message` says why in the reader's language and
    `field` names the form field it is about."""

    def __init__(self, message, field: str = "merchant_id") -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field


def ordering() -> tuple[sa.ColumnElement, ...]:
    """The organisers' order, by name: the order of ix_course_organiser_name."""
    return (CourseOrganiser.name, CourseOrganiser.id)


def page(per_page: int = PER_PAGE) -> Page:
    """One page of the organisers by name, from the cursor in the query arguments."""
    return paginate(sa.select(CourseOrganiser), ordering(), per_page=per_page)


def choices(include_id: int | None = None) -> list[CourseOrganiser]:
    """The organisers a course's select offers: the first MAX_CHOICES by name, and the
    organiser `include_id` too (a course's own), wherever it comes in the order."""
    stmt = sa.select(CourseOrganiser).order_by(*ordering()).limit(MAX_CHOICES)
    found = list(db.session.scalars(stmt))
    if include_id is not None and all(o.id != include_id for o in found):
        own = db.session.get(CourseOrganiser, include_id)
        if own is not None:
            found.append(own)
    return found


def merchant_id_taken(merchant_id: str, except_id: int | None = None) -> bool:
    """Whether an organiser (other than `except_id`) has the merchant ID already."""
    stmt = sa.select(CourseOrganiser.id).where(CourseOrganiser.merchant_id == merchant_id)
    if except_id is not None:
        stmt = stmt.where(CourseOrganiser.id != except_id)
    return db.session.scalar(stmt.limit(1)) is not None


def _check_free(merchant_id: str, except_id: int | None = None) -> None:
    if merchant_id_taken(merchant_id, except_id):
        raise OrganiserError(MERCHANT_ID_TAKEN)


def create(name: str, merchant_id: str, commission_class: str) -> CourseOrganiser:
    """Add an organiser and record it in the audit log; the caller commits.

    Raises OrganiserError when another organiser has the merchant ID, also one that took
    it at the same instant (the unique constraint, met in a savepoint: the caller's
    transaction goes on)."""
    _check_free(merchant_id)
    organiser = CourseOrganiser(
        name=name, merchant_id=merchant_id, commission_class=commission_class
    )
    try:
        with db.session.begin_nested():
            db.session.add(organiser)
    except IntegrityError as exc:
        raise OrganiserError(MERCHANT_ID_TAKEN) from exc
    audit.record(
        AuditAction.COURSE_ORGANISER_ADDED,
        RECORD_TYPE,
        organiser.id,
        f"merchant ID {merchant_id}, commission class {commission_class}",
    )
    return organiser


def update(
    organiser: CourseOrganiser, name: str, merchant_id: str, commission_class: str
) -> list[str]:
    """Change an organiser and record the change in the audit log; the caller commits.

    Returns what changed (nothing changed, nothing is recorded). Raises OrganiserError
    when another organiser has the merchant ID; the organiser is then left as it was."""
    if merchant_id != organiser.merchant_id:
        _check_free(merchant_id, organiser.id)
    changes = []
    if name != organiser.name:
        changes.append("name changed")
    if merchant_id != organiser.merchant_id:
        changes.append(f"merchant ID: {organiser.merchant_id} -> {merchant_id}")
    if commission_class != organiser.commission_class:
        changes.append(f"commission class: {organiser.commission_class} -> {commission_class}")
    if not changes:
        return []
    try:
        with db.session.begin_nested():
            organiser.name = name
            organiser.merchant_id = merchant_id
            organiser.commission_class = commission_class
    except IntegrityError as exc:  # the savepoint's rollback expired the changes
        raise OrganiserError(MERCHANT_ID_TAKEN) from exc
    audit.record(
        AuditAction.COURSE_ORGANISER_CHANGED, RECORD_TYPE, organiser.id, "; ".join(changes)
    )
    return changes
