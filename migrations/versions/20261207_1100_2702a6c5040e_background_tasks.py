"""Background tasks: long work done by a worker after the click (forwarding, bulk
actions, exports, bank-file imports), with its progress and the records it touches;
and a course's cancellation.

Revision ID: 2702a6c5040e
Revises: a7d2e9c4b1f6
Create Date: 2026-12-07 11:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "2702a6c5040e"
down_revision = "a7d2e9c4b1f6"
branch_labels = None
depends_on = None

ACTIVE = sa.text("state IN ('queued', 'running')")
KEPT = sa.text("file_name IS NOT NULL OR payload IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("state", sa.Enum("queued", "running", "done", "failed", name="taskstate",
                                   native_enum=False, length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(500), nullable=False),
        sa.Column("file_name", sa.String(120), nullable=True),
        sa.Column("file_type", sa.String(100), nullable=True),
        sa.Column("file_data", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint("processed >= 0 AND total >= 0", name=op.f("ck_task_counts")),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"],
                                name=op.f("fk_task_created_by_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task")),
        sa.UniqueConstraint("created_by_id", "idempotency_key",
                            name=op.f("uq_task_created_by_id")),
    )  # fmt: skip
    op.create_index("ix_task_active", "task", ["id"], postgresql_where=ACTIVE, sqlite_where=ACTIVE)
    op.create_index("ix_task_created_by_id", "task", ["created_by_id", "id"])
    op.create_index("ix_task_kind", "task", ["kind", "id"])
    op.create_index("ix_task_active_by_user", "task", ["created_by_id"],
                    postgresql_where=ACTIVE, sqlite_where=ACTIVE)
    op.create_index("ix_task_kept_files", "task", ["finished_at"],
                    postgresql_where=KEPT, sqlite_where=KEPT)  # fmt: skip
    op.create_table(
        "task_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(40), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(60), nullable=False),
        sa.Column("state", sa.Enum("waiting", "done", "skipped", "failed", name="itemstate",
                                   native_enum=False, length=20), nullable=False),
        sa.Column("error", sa.String(500), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["task.id"],
                                name=op.f("fk_task_item_task_id_task"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_item")),
        sa.UniqueConstraint("task_id", "position", name=op.f("uq_task_item_task_id")),
    )  # fmt: skip
    op.create_index("ix_task_item_record", "task_item", ["record_type", "record_id", "task_id"])
    with op.batch_alter_table("course") as batch_op:
        batch_op.add_column(sa.Column("cancelled_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("course") as batch_op:
        batch_op.drop_column("cancelled_at")
    op.drop_index("ix_task_item_record", table_name="task_item")
    op.drop_table("task_item")
    op.drop_index("ix_task_kept_files", table_name="task")
    op.drop_index("ix_task_active_by_user", table_name="task")
    op.drop_index("ix_task_kind", table_name="task")
    op.drop_index("ix_task_created_by_id", table_name="task")
    op.drop_index("ix_task_active", table_name="task")
    op.drop_table("task")
