"""Indexes for bounded lists: every list walks an index in its own order (keyset pages),
ending in the id; the desk's queue, the forwarded invoices, the unpaid customer invoices
and the payments needing action as partial indexes; PAID ids in any letter case.

Revision ID: 3c5e0a9d2b71
Revises: f5c749adc872
Create Date: 2026-12-02 17:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "3c5e0a9d2b71"
down_revision = "f5c749adc872"
branch_labels = None
depends_on = None

DESK = "status IN ('lahettamaton', 'valityksessa')"
FORWARDED = "status IN ('valitetty')"
OPEN_TICKETS = "status IN ('uusi', 'kasittelyssa', 'odottaa')"

# (index, table, columns before this revision or None, columns after, partial condition)
CHANGES: list[tuple[str, str, list[str] | None, list[str], str | None]] = [
    ("ix_sales_invoice_status_sent", "sales_invoice", ["status", "sent_at"], [], None),
    ("ix_sales_invoice_desk", "sales_invoice", None, ["sent_at", "id"], DESK),
    (
        "ix_sales_invoice_forwarded",
        "sales_invoice",
        None,
        ["forwarded_at", "id"],
        FORWARDED,
    ),
    # No index leads with the status: SQLite, without statistics, would take it for any
    # status condition and sort every match; each status list has its partial index.
    ("ix_sales_invoice_status_due", "sales_invoice", ["status", "due_date"], [], None),
    ("ix_sales_invoice_open", "sales_invoice", None, ["due_date", "id"], "status IN ('avoin')"),
    ("ix_sales_invoice_correction", "sales_invoice", None, ["id"], "status IN ('korjattava')"),
    (
        "ix_sales_invoice_user_created",
        "sales_invoice",
        ["user_id", "created_at"],
        ["user_id", "created_at", "id"],
        None,
    ),
    ("ix_sales_invoice_user_number", "sales_invoice", ["user_number"], ["user_number", "id"], None),
    (
        "ix_sales_invoice_payer_search",
        "sales_invoice",
        ["payer_search"],
        ["payer_search", "id"],
        None,
    ),
    ("ix_course_starts_at", "course", ["starts_at"], ["starts_at", "id"], None),
    (
        "ix_online_payment_state_created",
        "online_payment",
        ["state", "created_at"],
        ["state", "created_at", "id"],
        None,
    ),
    ("ix_online_payment_created", "online_payment", None, ["created_at", "id"], None),
    ("ix_online_payment_problem", "online_payment", None, ["id"], "problem IS NOT NULL"),
    ("ix_outbox_message_status_id", "outbox_message", None, ["status", "id"], None),
    ("ix_ticket_queue", "ticket", ["status", "urgency", "created_at"], [], None),
    ("ix_ticket_urgency", "ticket", None, ["urgency", "created_at", "id"], None),
    ("ix_ticket_open", "ticket", None, ["urgency", "created_at", "id"], OPEN_TICKETS),
    (
        "ix_ticket_organisation",
        "ticket",
        ["organisation_id", "created_at"],
        ["organisation_id", "created_at", "id"],
        None,
    ),
    (
        "ix_portal_order_organisation",
        "portal_order",
        ["organisation_id", "ordered_at"],
        ["organisation_id", "ordered_at", "id"],
        None,
    ),
    (
        "ix_portal_order_organisation_number",
        "portal_order",
        None,
        ["organisation_id", "number"],
        None,
    ),
    ("ix_portal_order_ordered", "portal_order", None, ["ordered_at", "id"], None),
    (
        "ix_employee_organisation",
        "employee",
        ["organisation_id", "last_name", "first_name"],
        ["organisation_id", "last_name", "first_name", "id"],
        None,
    ),
    (
        "ix_customer_invoice_organisation",
        "customer_invoice",
        ["organisation_id", "invoice_date"],
        ["organisation_id", "invoice_date", "id"],
        None,
    ),
    ("ix_customer_invoice_due", "customer_invoice", None, ["due_date", "id"], None),
    (
        "ix_customer_invoice_unpaid",
        "customer_invoice",
        None,
        ["organisation_id", "invoice_date", "id"],
        "outstanding > 0",
    ),
    ("ix_booking_deadline", "booking", None, ["deadline", "id"], None),
    (
        "ix_booking_organisation_deadline",
        "booking",
        None,
        ["organisation_id", "deadline", "id"],
        None,
    ),
    ("ix_user_name", "user", None, ["name", "id"], None),
    ("ix_enrolment_course_created", "enrolment", None, ["course_id", "created_at", "id"], None),
]


def _create(name: str, table: str, columns: list[str], where: str | None) -> None:
    partial = {}
    if where:
        partial = {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}
    op.create_index(name, table, columns, unique=False, **partial)


def upgrade() -> None:
    for name, table, before, after, where in CHANGES:
        if before is not None:
            op.drop_index(name, table_name=table)
        if after:
            _create(name, table, after, where)
    op.create_index(
        "ix_online_payment_paid_code_upper", "online_payment", [sa.text("upper(paid_code)")]
    )
    op.create_index(
        "ix_online_payment_line_merchant",
        "online_payment_line",
        ["merchant_user_id", sa.text("payment_id DESC"), "position", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_online_payment_line_merchant", table_name="online_payment_line")
    op.drop_index("ix_online_payment_paid_code_upper", table_name="online_payment")
    for name, table, before, after, _where in reversed(CHANGES):
        if after:
            op.drop_index(name, table_name=table)
        if before is not None:
            _create(name, table, before, None)
