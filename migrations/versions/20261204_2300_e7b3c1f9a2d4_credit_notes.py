"""Credit notes (hyvityslasku): a sales invoice may be a credit note of another, its
lines crediting that invoice's lines; an invoice keeps what was credited of it, and a
credit note what of it is owed back to the payer until staff return it.

Revision ID: e7b3c1f9a2d4
Revises: a7e3b9d52c14
Create Date: 2026-12-04 23:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "e7b3c1f9a2d4"
down_revision = "a7e3b9d52c14"
branch_labels = None
depends_on = None

# As models.invoicing.OWED_BACK, written out: a migration keeps what it made.
OWED_BACK = "refund_due > 0 AND refund_returned_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("sales_invoice") as batch:
        batch.add_column(
            sa.Column(
                "kind",
                sa.Enum("invoice", "credit_note", name="invoicekind", native_enum=False, length=20),
                nullable=False,
                server_default="invoice",
            )
        )
        batch.add_column(sa.Column("credit_of_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("credited", sa.Numeric(12, 2), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("refund_due", sa.Numeric(12, 2), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("refund_returned_at", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("refund_note", sa.String(200), nullable=False, server_default="")
        )
        batch.create_foreign_key(
            "fk_sales_invoice_credit_of_id_sales_invoice",
            "sales_invoice",
            ["credit_of_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch.create_check_constraint(
            op.f("ck_sales_invoice_credited_not_negative"), "credited >= 0"
        )
        batch.create_check_constraint(
            op.f("ck_sales_invoice_refund_due_not_negative"), "refund_due >= 0"
        )
    op.create_index("ix_sales_invoice_credit_of_id", "sales_invoice", ["credit_of_id"])
    op.create_index(
        "ix_sales_invoice_owed_back",
        "sales_invoice",
        ["id"],
        postgresql_where=sa.text(OWED_BACK),
        sqlite_where=sa.text(OWED_BACK),
    )
    with op.batch_alter_table("sales_invoice_line") as batch:
        batch.add_column(sa.Column("credit_of_line_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_sales_invoice_line_credit_of_line_id_sales_invoice_line",
            "sales_invoice_line",
            ["credit_of_line_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    op.create_index(
        "ix_sales_invoice_line_credit_of_line_id", "sales_invoice_line", ["credit_of_line_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_sales_invoice_line_credit_of_line_id", table_name="sales_invoice_line")
    with op.batch_alter_table("sales_invoice_line") as batch:
        batch.drop_constraint(
            "fk_sales_invoice_line_credit_of_line_id_sales_invoice_line", type_="foreignkey"
        )
        batch.drop_column("credit_of_line_id")
    op.drop_index("ix_sales_invoice_owed_back", table_name="sales_invoice")
    op.drop_index("ix_sales_invoice_credit_of_id", table_name="sales_invoice")
    with op.batch_alter_table("sales_invoice") as batch:
        batch.drop_constraint(
            op.f("ck_sales_invoice_refund_due_not_negative"), type_="check"
        )
        batch.drop_constraint(op.f("ck_sales_invoice_credited_not_negative"), type_="check")
        batch.drop_constraint("fk_sales_invoice_credit_of_id_sales_invoice", type_="foreignkey")
        for column in ("refund_note", "refund_returned_at", "refund_due", "credited"):
            batch.drop_column(column)
        batch.drop_column("credit_of_id")
        batch.drop_column("kind")
