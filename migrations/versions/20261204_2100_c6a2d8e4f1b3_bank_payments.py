"""Incoming bank payments: the bank's reports imported (camt.054, camt.053) and each
payment in them, unique by the bank's reference, matched to an invoice or left to staff.

Revision ID: c6a2d8e4f1b3
Revises: b4e1f9a27c10
Create Date: 2026-12-04 21:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "c6a2d8e4f1b3"
down_revision = "b4e1f9a27c10"
branch_labels = None
depends_on = None

# As models.invoicing.TO_CHECK, written out: a migration keeps what it made.
TO_CHECK = "state = 'unmatched' OR (overpaid > 0 AND handled_at IS NULL)"


def upgrade() -> None:
    op.create_table(
        "bank_file",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("message_id", sa.String(35), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("account", sa.String(34), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column(
            "imported_by_id",
            sa.Integer(),
            sa.ForeignKey("user.id", name="fk_bank_file_imported_by_id_user", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("unmatched", sa.Integer(), nullable=False),
        sa.Column("repeated", sa.Integer(), nullable=False),
    )
    op.create_table(
        "bank_payment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_reference", sa.String(35), nullable=False),
        sa.Column(
            "file_id",
            sa.Integer(),
            sa.ForeignKey("bank_file.id", name="fk_bank_payment_file_id_bank_file", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(35), nullable=False),
        sa.Column("payer_name", sa.String(140), nullable=False),
        sa.Column(
            "state",
            sa.Enum("matched", "unmatched", "allocated", "returned", name="bankpaymentstate", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column(
            "invoice_id",
            sa.Integer(),
            sa.ForeignKey("sales_invoice.id", name="fk_bank_payment_invoice_id_sales_invoice", ondelete="RESTRICT"),
            nullable=True,
        ),
        sa.Column("overpaid", sa.Numeric(12, 2), nullable=False),
        sa.Column("handled_at", UTCDateTime(), nullable=True),
        sa.Column(
            "handled_by_id",
            sa.Integer(),
            sa.ForeignKey("user.id", name="fk_bank_payment_handled_by_id_user", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("note", sa.String(200), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_bank_payment_amount_positive")),
        sa.UniqueConstraint("bank_reference", name="uq_bank_payment_bank_reference"),
    )
    op.create_index("ix_bank_payment_file_id", "bank_payment", ["file_id"])
    op.create_index("ix_bank_payment_invoice_id", "bank_payment", ["invoice_id"])
    op.create_index(
        "ix_bank_payment_to_check",
        "bank_payment",
        ["id"],
        postgresql_where=sa.text(TO_CHECK),
        sqlite_where=sa.text(TO_CHECK),
    )


def downgrade() -> None:
    op.drop_index("ix_bank_payment_to_check", table_name="bank_payment")
    op.drop_index("ix_bank_payment_invoice_id", table_name="bank_payment")
    op.drop_index("ix_bank_payment_file_id", table_name="bank_payment")
    op.drop_table("bank_payment")
    op.drop_table("bank_file")
