"""The dashboards' ranges walk an index: enrolments by when they were made, invoices by
when they were sent (the desk's own index holds only those still on the desk). Both on an
expression equal to the column, so that no list ordered by the column takes them.

Revision ID: a7d2e9c4b1f6
Revises: b33cfd498c98
Create Date: 2026-12-07 03:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a7d2e9c4b1f6"
down_revision = "b33cfd498c98"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_enrolment_made", "enrolment", [sa.text("coalesce(created_at, welcome_sent_at)")]
    )
    op.create_index(
        "ix_sales_invoice_sent_day", "sales_invoice", [sa.text("coalesce(sent_at, forwarded_at)")]
    )


def downgrade() -> None:
    op.drop_index("ix_sales_invoice_sent_day", table_name="sales_invoice")
    op.drop_index("ix_enrolment_made", table_name="enrolment")
