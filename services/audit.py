"""Recording sensitive reads and changes in the audit log (models.audit), and reading it.

`record()` adds the event to the caller's session: it is committed with the change it
records, or undone with it. A read (a health self-declaration opened) commits its event
itself with `record_read()`, since a read has nothing else to commit.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import current_user

from extensions import db
from models.audit import AuditAction, AuditEvent

# The kinds of record the events name, as `record_type` holds them.
RECORD_TYPES = (
    "employee",  # a national identity number
    "placement",  # a health self-declaration: the answers are kept on the placement
    "sales_invoice",  # the invoice desk
    "customer_invoice",  # the customer portal's invoices
    "online_payment",
    "payout_batch",  # the payouts to the invoicing users
    "course_organiser",  # a merchant ID and commission class
    "user",  # a role, a second factor
    "export",  # a list downloaded as CSV or Excel: the id names the list
)


def record(
    action: AuditAction,
    record_type: str,
    record_id: object,
    summary: str = "",
    *,
    actor=None,
) -> AuditEvent:
    """Add an event by the logged-in user (or `actor`) to the session; the caller commits.

    `summary` says what happened without personal data: never a number, an answer or a
    name, only what kind of thing changed ("role: customer -> staff")."""
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    event = AuditEvent(
        action=action.value,
        record_type=record_type,
        record_id=str(record_id),
        summary=summary[:500],
        actor_id=getattr(actor, "id", None),
        actor_email=getattr(actor, "email", None),
        address=(request.remote_addr or None) if has_request_context() else None,
    )
    db.session.add(event)
    return event


def record_read(action: AuditAction, record_type: str, shown: Iterable[tuple[object, str]]) -> int:
    """Record and commit that records were read: `shown` gives each one's id and summary.

    Called once the page is rendered and before it is sent, so that no answer reaches a
    browser without its event stored (a failed commit fails the request)."""
    shown = list(shown)  # read the records before the session holds new rows
    added = [record(action, record_type, record_id, summary) for record_id, summary in shown]
    if added:
        db.session.commit()
    return len(added)


def listing(
    *,
    action: str | None = None,
    record_ref: tuple[str, str] | None = None,
    actor_id: int | None = None,
) -> tuple[sa.Select, tuple[sa.ColumnElement, ...]]:
    """The log's events narrowed by the filters given, and the order to page them in:
    the newest first.

    Each filter is an equality on the columns an index leads with, and the order names
    those columns before the id (equal on every row, they change nothing): so the page is
    read from that index in its own order (ix_audit_event_record, _actor, _action), not
    from the primary key with the rows of other records, users or events filtered out."""
    stmt = sa.select(AuditEvent)
    order: tuple[sa.ColumnElement, ...] = (AuditEvent.id.desc(),)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
        order = (AuditEvent.action.desc(), AuditEvent.id.desc())
    if actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
        order = (AuditEvent.actor_id.desc(), AuditEvent.id.desc())
    if record_ref is not None:  # the fewest rows: one record's events
        stmt = stmt.where(
            AuditEvent.record_type == record_ref[0], AuditEvent.record_id == record_ref[1]
        )
        order = (AuditEvent.record_type.desc(), AuditEvent.record_id.desc(), AuditEvent.id.desc())
    return stmt, order
