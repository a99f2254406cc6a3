"""Payouts to the invoicing users (tilitys): each invoice's service fee and what the
payout batches have paid of it, the users' payout accounts, and the batches with their
payouts and lines.

Revision ID: b2f4c8e1d3a7
Revises: e7b3c1f9a2d4
Create Date: 2026-12-05 16:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "b2f4c8e1d3a7"
down_revision = "e7b3c1f9a2d4"
branch_labels = None
depends_on = None

# As models.invoicing.PAYOUT_PENDING, written out: a migration keeps what it made.
PAYOUT_PENDING = "payout_due <> 0"
MONEY = ("payout_base", "payout_fee", "paid_out", "payout_due")


def upgrade() -> None:
    with op.batch_alter_table("sales_invoice") as batch:
        batch.add_column(sa.Column("fee_percent", sa.Numeric(5, 2), nullable=True))
        for column in MONEY:
            batch.add_column(
                sa.Column(column, sa.Numeric(12, 2), nullable=False, server_default="0")
            )
        batch.add_column(
            sa.Column("payout_count", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_index(
        "ix_sales_invoice_payout_due",
        "sales_invoice",
        ["user_id", "id"],
        postgresql_where=sa.text(PAYOUT_PENDING),
        sqlite_where=sa.text(PAYOUT_PENDING),
    )
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("payout_iban", sa.String(34), nullable=False, server_default=""))
        batch.add_column(sa.Column("payout_name", sa.String(70), nullable=False, server_default=""))
    op.create_table(
        "payout_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("execution_date", sa.Date(), nullable=False),
        sa.Column("payouts_count", sa.Integer(), nullable=False),
        sa.Column("total", sa.Numeric(14, 2), nullable=False),
        sa.Column("fees", sa.Numeric(14, 2), nullable=False),
        sa.Column("pain001", sa.LargeBinary(), nullable=False),
        sa.Column("form_key", sa.String(32), nullable=True),
        sa.Column("downloaded_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_payout_batch_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_batch")),
        sa.UniqueConstraint("number", name=op.f("uq_payout_batch_number")),
        sa.UniqueConstraint("form_key", name=op.f("uq_payout_batch_form_key")),
    )
    op.create_table(
        "payout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("iban", sa.String(34), nullable=False),
        sa.Column("account_name", sa.String(70), nullable=False),
        sa.Column("base", sa.Numeric(12, 2), nullable=False),
        sa.Column("fee", sa.Numeric(12, 2), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("end_to_end_id", sa.String(35), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payout_amount_positive")),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["payout_batch.id"],
            name=op.f("fk_payout_batch_id_payout_batch"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_payout_user_id_user"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout")),
        sa.UniqueConstraint("batch_id", "user_id", name="uq_payout_batch_user"),
    )
    op.create_index("ix_payout_user", "payout", ["user_id", "id"])
    op.create_table(
        "payout_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payout_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("base", sa.Numeric(12, 2), nullable=False),
        sa.Column("fee", sa.Numeric(12, 2), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.ForeignKeyConstraint(
            ["payout_id"],
            ["payout.id"],
            name=op.f("fk_payout_line_payout_id_payout"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["sales_invoice.id"],
            name=op.f("fk_payout_line_invoice_id_sales_invoice"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_line")),
        sa.UniqueConstraint("invoice_id", "sequence", name="uq_payout_line_invoice_sequence"),
    )
    op.create_index("ix_payout_line_payout", "payout_line", ["payout_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_payout_line_payout", table_name="payout_line")
    op.drop_table("payout_line")
    op.drop_index("ix_payout_user", table_name="payout")
    op.drop_table("payout")
    op.drop_table("payout_batch")
    with op.batch_alter_table("user") as batch:
        batch.drop_column("payout_name")
        batch.drop_column("payout_iban")
    op.drop_index("ix_sales_invoice_payout_due", table_name="sales_invoice")
    with op.batch_alter_table("sales_invoice") as batch:
        batch.drop_column("payout_count")
        for column in reversed(MONEY):
            batch.drop_column(column)
        batch.drop_column("fee_percent")
