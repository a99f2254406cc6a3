"""Background tasks: long work (forwarding to an outside service, bulk actions, big
exports, bank-file imports) that a worker does after the click, with its progress, its
outcome, and the records it touches (services/tasks.py runs them)."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.types import UTCDateTime, partial_index, sql_list, utcnow, value_enum


class TaskState(enum.StrEnum):
    """Where a task is: queued, running (a worker holds its lease), done or failed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


ACTIVE = (TaskState.QUEUED, TaskState.RUNNING)
FINISHED = (TaskState.DONE, TaskState.FAILED)


class ItemState(enum.StrEnum):
    """One record's part of a task: waiting, done, skipped (someone handled it
    meanwhile: nothing was done twice) or failed with its reason."""

    WAITING = "waiting"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


class Task(db.Model):
    """One click's long work. Its key is the form's idempotency key: the same click sent
    twice (a double click, a reload of the POST) finds this task instead of a second."""

    __tablename__ = "task"
    __table_args__ = (
        sa.UniqueConstraint("created_by_id", "idempotency_key"),
        # The worker's queue: only the tasks not yet finished, the oldest first.
        partial_index("ix_task_active", "id", where=sql_list("state", ACTIVE)),
        sa.Index("ix_task_created_by_id", "created_by_id", "id"),
        # A user's tasks not yet finished (at most five), counted at each click.
        partial_index("ix_task_active_by_user", "created_by_id", where=sql_list("state", ACTIVE)),
        # What the purge job forgets: files and uploads kept, by when they finished.
        partial_index(
            "ix_task_kept_files",
            "finished_at",
            where="file_name IS NOT NULL OR payload IS NOT NULL",
        ),
        sa.Index("ix_task_kind", "kind", "id"),  # a part's recent tasks (the bank files)
        sa.CheckConstraint("processed >= 0 AND total >= 0", name="counts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    state: Mapped[TaskState] = mapped_column(value_enum(TaskState), default=TaskState.QUEUED)
    idempotency_key: Mapped[str] = mapped_column(sa.String(64))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    # The creator's language: the worker writes the outcome and any file in it.
    language: Mapped[str] = mapped_column(sa.String(5), default="fi")
    # What the task works on: its records' ids, an export's list and filters.
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # An upload to work on (a bank file): read by the worker only.
    payload: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The running worker's lease: past it, the worker is taken to have died.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    # What came of it, for the page to say in the reader's language (counts, numbers).
    result: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # Why it failed: a message in the creator's language, never a stack trace.
    error: Mapped[str] = mapped_column(sa.String(500), default="")
    # A file it made (an export), kept TASK_FILE_DAYS days.
    file_name: Mapped[str | None] = mapped_column(sa.String(120))
    file_type: Mapped[str | None] = mapped_column(sa.String(100))
    file_data: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)

    created_by = relationship("User", lazy="joined")
    items: Mapped[list[TaskItem]] = relationship(
        back_populates="task", order_by="TaskItem.position", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.processed * 100 // self.total)

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.kind} {self.state}>"


class TaskItem(db.Model):
    """A record a task works on, and how its part went: what makes a task visible on
    the record's own page and lets the failed parts be tried again."""

    __tablename__ = "task_item"
    __table_args__ = (
        sa.UniqueConstraint("task_id", "position"),
        sa.Index("ix_task_item_record", "record_type", "record_id", "task_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("task.id", ondelete="CASCADE"))
    position: Mapped[int]
    record_type: Mapped[str] = mapped_column(sa.String(40))
    record_id: Mapped[int]
    label: Mapped[str] = mapped_column(sa.String(60))  # the record's number, as shown
    state: Mapped[ItemState] = mapped_column(value_enum(ItemState), default=ItemState.WAITING)
    error: Mapped[str] = mapped_column(sa.String(500), default="")

    task: Mapped[Task] = relationship(back_populates="items")

    def __repr__(self) -> str:
        return f"<TaskItem {self.task_id}/{self.position} {self.state}>"
