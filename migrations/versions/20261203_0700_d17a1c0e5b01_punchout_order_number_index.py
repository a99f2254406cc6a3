"""PunchOut orders looked up by their number in any letter case: the index on order_id
gives way to one on lower(order_id), which the staff look-up walks; the enrolments an
order approved are found by their billing reference through an index of their own.

Revision ID: d17a1c0e5b01
Revises: 9a4c2e7d1b30
Create Date: 2026-12-03 07:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "d17a1c0e5b01"
down_revision = "9a4c2e7d1b30"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_punchout_order_number", "punchout_order", [sa.text("lower(order_id)")])
    # Every search of the column goes through lower(): the plain index would only be written.
    op.drop_index("ix_punchout_order_order_id", table_name="punchout_order")
    op.create_index("ix_enrolment_billing_reference", "enrolment", ["billing_reference"])


def downgrade() -> None:
    op.drop_index("ix_enrolment_billing_reference", table_name="enrolment")
    op.create_index("ix_punchout_order_order_id", "punchout_order", ["order_id"])
    op.drop_index("ix_punchout_order_number", table_name="punchout_order")
