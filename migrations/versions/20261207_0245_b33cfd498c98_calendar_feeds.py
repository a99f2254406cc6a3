"""Calendar feeds: the secret, revocable addresses of a participant's or a staff
member's courses as a calendar to subscribe to (only the token's SHA-256 is kept).

Revision ID: b33cfd498c98
Revises: e5b1c7d9a3f2
Create Date: 2026-12-07 02:45:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "b33cfd498c98"
down_revision = "e5b1c7d9a3f2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.Enum("participant", "staff", name="calendarfeedkind",
                                  native_enum=False, length=20), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "(kind = 'participant' AND email IS NOT NULL)"
            " OR (kind = 'staff' AND user_id IS NOT NULL)",
            name=op.f("ck_calendar_feed_owner_of_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_calendar_feed_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feed")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_token_hash")),
    )  # fmt: skip
    op.create_index("ix_calendar_feed_email", "calendar_feed", ["email"])
    op.create_index("ix_calendar_feed_user_id", "calendar_feed", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_calendar_feed_user_id", table_name="calendar_feed")
    op.drop_index("ix_calendar_feed_email", table_name="calendar_feed")
    op.drop_table("calendar_feed")
