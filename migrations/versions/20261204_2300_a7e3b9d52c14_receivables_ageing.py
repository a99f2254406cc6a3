"""The receivables' ageing: the invoices with the payer (forwarded or open) indexed by
their user and due date, so that the ageing of every user or of one reads only them.

Revision ID: a7e3b9d52c14
Revises: d7e3a1c5b9f2
Create Date: 2026-12-04 23:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a7e3b9d52c14"
down_revision = "d7e3a1c5b9f2"
branch_labels = None
depends_on = None

# As models.invoicing.WITH_THE_PAYER, written out: a migration keeps what it made.
WITH_THE_PAYER = "status IN ('valitetty', 'avoin')"


def upgrade() -> None:
    condition = sa.text(WITH_THE_PAYER)
    op.create_index(
        "ix_sales_invoice_with_payer",
        "sales_invoice",
        ["user_id", "due_date"],
        unique=False,
        postgresql_where=condition,
        sqlite_where=condition,
    )


def downgrade() -> None:
    op.drop_index("ix_sales_invoice_with_payer", table_name="sales_invoice")
