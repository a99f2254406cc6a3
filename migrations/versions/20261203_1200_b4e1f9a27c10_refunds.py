"""Refunds owed: a course fee paid online for an enrolment that was cancelled is owed
back to its payer until staff record the refund; a course may set a refund deadline.

Revision ID: b4e1f9a27c10
Revises: f38c3e2a7d03
Create Date: 2026-12-03 12:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "b4e1f9a27c10"
down_revision = "f38c3e2a7d03"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("course") as batch:
        batch.add_column(sa.Column("refund_deadline", UTCDateTime(), nullable=True))
    op.create_table(
        "refund",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "payment_id",
            sa.Integer(),
            sa.ForeignKey(
                "online_payment.id", name="fk_refund_payment_id_online_payment", ondelete="RESTRICT"
            ),
            nullable=False,
        ),
        sa.Column(
            "enrolment_id",
            sa.Integer(),
            sa.ForeignKey(
                "enrolment.id", name="fk_refund_enrolment_id_enrolment", ondelete="RESTRICT"
            ),
            nullable=True,
        ),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("cause", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("refunded_at", UTCDateTime(), nullable=True),
        sa.Column(
            "refunded_by_id",
            sa.Integer(),
            sa.ForeignKey("user.id", name="fk_refund_refunded_by_id_user", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("refunded_by_email", sa.String(254), nullable=True),
        sa.Column("reference", sa.String(100), nullable=True),
        sa.UniqueConstraint("payment_id", name="uq_refund_payment_id"),
    )
    op.create_index("ix_refund_enrolment_id", "refund", ["enrolment_id"])
    op.create_index("ix_refund_state_created", "refund", ["state", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_refund_state_created", table_name="refund")
    op.drop_index("ix_refund_enrolment_id", table_name="refund")
    op.drop_table("refund")
    with op.batch_alter_table("course") as batch:
        batch.drop_column("refund_deadline")
