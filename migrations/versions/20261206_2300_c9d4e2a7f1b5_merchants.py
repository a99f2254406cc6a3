"""Merchants that match who sells: course organisers registered with the payment service
(their merchant ID and commission class, a course's organiser), the item each line of an
online payment pays (a payment may pay several invoices or course fees), and one refund an
enrolment of a payment.

Revision ID: c9d4e2a7f1b5
Revises: b2f4c8e1d3a7
Create Date: 2026-12-06 23:00:00

"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "c9d4e2a7f1b5"
down_revision = "b2f4c8e1d3a7"
branch_labels = None
depends_on = None


@contextmanager
def _batch(table: str) -> Iterator[object]:
    """A batch of changes to `table`; on SQLite the table is copied, and its neighbours'
    expression indexes, which SQLAlchemy cannot reflect (and need not), are passed over."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        with op.batch_alter_table(table) as batch:
            yield batch


def upgrade() -> None:
    op.create_table(
        "course_organiser",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("merchant_id", sa.String(8), nullable=False),
        sa.Column("commission_class", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_organiser")),
        sa.UniqueConstraint("merchant_id", name=op.f("uq_course_organiser_merchant_id")),
    )
    op.create_index("ix_course_organiser_name", "course_organiser", ["name", "id"])
    with _batch("course") as batch:
        batch.add_column(sa.Column("organiser_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_course_organiser_id_course_organiser"),
            "course_organiser",
            ["organiser_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch.create_index(batch.f("ix_course_organiser_id"), ["organiser_id"])
    with _batch("online_payment_line") as batch:
        batch.add_column(sa.Column("sales_invoice_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("enrolment_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_online_payment_line_sales_invoice_id_sales_invoice"),
            "sales_invoice",
            ["sales_invoice_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch.create_foreign_key(
            batch.f("fk_online_payment_line_enrolment_id_enrolment"),
            "enrolment",
            ["enrolment_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch.create_index(batch.f("ix_online_payment_line_sales_invoice_id"), ["sales_invoice_id"])
        batch.create_index(batch.f("ix_online_payment_line_enrolment_id"), ["enrolment_id"])
    op.create_index("ix_sales_invoice_payer_email", "sales_invoice", ["payer_email", "id"])
    # The lines of the payments made so far pay what their payment paid.
    for column in ("sales_invoice_id", "enrolment_id"):
        op.execute(
            f"UPDATE online_payment_line SET {column} = (SELECT p.{column} FROM online_payment p"
            " WHERE p.id = online_payment_line.payment_id)"
        )
    with _batch("refund") as batch:
        batch.drop_constraint("uq_refund_payment_id", type_="unique")
        batch.create_unique_constraint(
            "uq_refund_payment_enrolment", ["payment_id", "enrolment_id"]
        )
        batch.create_index(batch.f("ix_refund_payment_id"), ["payment_id"])


def downgrade() -> None:
    op.drop_index("ix_sales_invoice_payer_email", table_name="sales_invoice")
    with _batch("refund") as batch:
        batch.drop_index(batch.f("ix_refund_payment_id"))
        batch.drop_constraint("uq_refund_payment_enrolment", type_="unique")
        batch.create_unique_constraint("uq_refund_payment_id", ["payment_id"])
    with _batch("online_payment_line") as batch:
        batch.drop_index(batch.f("ix_online_payment_line_enrolment_id"))
        batch.drop_index(batch.f("ix_online_payment_line_sales_invoice_id"))
        batch.drop_constraint(
            batch.f("fk_online_payment_line_enrolment_id_enrolment"), type_="foreignkey"
        )
        batch.drop_constraint(
            batch.f("fk_online_payment_line_sales_invoice_id_sales_invoice"), type_="foreignkey"
        )
        batch.drop_column("enrolment_id")
        batch.drop_column("sales_invoice_id")
    with _batch("course") as batch:
        batch.drop_index(batch.f("ix_course_organiser_id"))
        batch.drop_constraint(batch.f("fk_course_organiser_id_course_organiser"), type_="foreignkey")
        batch.drop_column("organiser_id")
    op.drop_index("ix_course_organiser_name", table_name="course_organiser")
    op.drop_table("course_organiser")
