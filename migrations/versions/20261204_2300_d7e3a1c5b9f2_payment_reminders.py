"""Payment reminders: each reminder of an invoice with the interest and fee it claimed,
the charges they add to the receivable, the automatic reminders' schedule, and each
invoicing user's choice of manual or automatic reminders.

Revision ID: d7e3a1c5b9f2
Revises: c6a2d8e4f1b3
Create Date: 2026-12-04 23:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "d7e3a1c5b9f2"
down_revision = "c6a2d8e4f1b3"
branch_labels = None
depends_on = None

DUE = "next_reminder_on IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.add_column(
            sa.Column("invoice_reminders", sa.String(10), nullable=False, server_default="manual")
        )
        batch.add_column(
            sa.Column("invoice_reminder_limit", sa.Integer(), nullable=False, server_default="2")
        )
    with op.batch_alter_table("sales_invoice") as batch:
        batch.add_column(
            sa.Column("charges", sa.Numeric(12, 2), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("reminder_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("next_reminder_on", sa.Date(), nullable=True))
    op.create_index(
        "ix_sales_invoice_reminder_due",
        "sales_invoice",
        ["next_reminder_on", "id"],
        postgresql_where=sa.text(DUE),
        sqlite_where=sa.text(DUE),
    )
    op.create_table(
        "sales_invoice_reminder",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "invoice_id",
            sa.Integer(),
            sa.ForeignKey(
                "sales_invoice.id",
                name="fk_sales_invoice_reminder_invoice_id_sales_invoice",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column(
            "sent_by_id",
            sa.Integer(),
            sa.ForeignKey(
                "user.id", name="fk_sales_invoice_reminder_sent_by_id_user", ondelete="SET NULL"
            ),
            nullable=True,
        ),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column(
            "delivery_method",
            sa.Enum(
                "posti", "sahkoposti", "verkkolasku",
                name="deliverymethod", native_enum=False, length=20,
            ),
            nullable=False,
        ),  # fmt: skip
        sa.Column("balance", sa.Numeric(12, 2), nullable=False),
        sa.Column("interest", sa.Numeric(12, 2), nullable=False),
        sa.Column("interest_rates", sa.String(40), nullable=False),
        sa.Column("fee", sa.Numeric(12, 2), nullable=False),
        sa.Column("total", sa.Numeric(12, 2), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("receipt", sa.String(100), nullable=False),
        sa.CheckConstraint(
            "fee >= 0 AND interest >= 0",
            name=op.f("ck_sales_invoice_reminder_charges_not_negative"),
        ),
        sa.UniqueConstraint("invoice_id", "number", name="uq_sales_invoice_reminder_number"),
    )
    op.create_index(
        "ix_sales_invoice_reminder_invoice_id", "sales_invoice_reminder", ["invoice_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_sales_invoice_reminder_invoice_id", table_name="sales_invoice_reminder")
    op.drop_table("sales_invoice_reminder")
    op.drop_index("ix_sales_invoice_reminder_due", table_name="sales_invoice")
    with op.batch_alter_table("sales_invoice") as batch:
        batch.drop_column("next_reminder_on")
        batch.drop_column("reminder_count")
        batch.drop_column("charges")
    with op.batch_alter_table("user") as batch:
        batch.drop_column("invoice_reminder_limit")
        batch.drop_column("invoice_reminders")
