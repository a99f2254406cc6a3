"""Background tasks: the long work a click starts, done by a worker, with its progress.

A click enqueues a task (`enqueue`) under the form's idempotency key, in the request's
transaction, and the page shows the task's state: queued, running, done, or failed with
its reason. The same key sent again (a double click, a reloaded POST) finds the first
task: nothing is queued or sent twice.

A worker (`flask tasks worker`, or the `tasks` job of `flask jobs run`) claims the oldest
queued task with a lease (compare-and-set, so one worker has it), runs its kind's work,
and renews the lease at each step of progress. A worker that dies leaves its lease to run
out; another then takes the task over, and its work goes on from the records not yet
done (each kind's work is safe to repeat: an invoice forwarded already is skipped).

A task that works on records has one item per record: the record's page shows the
task, and a retry does again only the items that failed.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from extensions import db
from models.tasks import ACTIVE, ItemState, Task, TaskItem, TaskState
from models.types import UTCDateTime, one_of, utcnow
from services.errors import error_summary

log = logging.getLogger(__name__)

ERROR_LENGTH = 500  # Task.error, TaskItem.error
MAX_ITEMS = 500  # records one click may work on
MAX_ACTIVE_PER_USER = 5  # tasks a user may have queued or running at once
QUEUE_SCAN = 50  # active tasks the worker looks at per claim


@dataclass(frozen=True)
class Kind:
    """A kind of task: what its page calls it, where its work is, and who sees it."""

    label: Any  # a lazy string
    work: str  # "module:function", the function(task, progress) -> result dict
    staff_only: bool = True  # any staff member may follow it; else only its creator

    def function(self) -> Callable[[Task, Progress], dict | None]:
        """The kind's work, imported when a task of it first runs."""
        module, name = self.work.split(":")
        return getattr(importlib.import_module(module), name)


# Every kind of background task, and where its work is done.
KINDS: dict[str, Kind] = {
    "invoice-forward": Kind(_l("Forwarding invoices"), "services.invoicing.bulk:forward_invoices"),
    "invoice-reminders": Kind(_l("Sending reminders"), "services.invoicing.bulk:send_reminders"),
    "bank-import": Kind(_l("Importing a bank file"), "services.invoicing.bank:import_task"),
    "course-cancel": Kind(_l("Cancelling a course"), "services.training:cancel_course_task"),
    "export": Kind(_l("Preparing an export"), "services.exports:export_task", staff_only=False),
}


class TaskError(Exception):
    """A task that fails for a reason its creator should read (in their language)."""


class LeaseLost(Exception):
    """Another worker took the task over: this one stops working on it."""


class TooManyTasks(Exception):
    """The user has MAX_ACTIVE_PER_USER tasks waiting or running already."""


# --- Enqueueing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """A record a task works on: its type and id, and its number as the page shows it."""

    type: str
    id: int
    label: str


def enqueue(
    kind: str,
    key: str,
    actor,
    *,
    records: Sequence[Record] = (),
    params: dict | None = None,
    payload: bytes | None = None,
    total: int | None = None,
    language: str | None = None,
    capped: bool = True,
) -> tuple[Task, bool]:
    """Queue a task for the actor's click with idempotency key `key`: the task, and
    whether it is new (False: the same click came before, and its task is returned).

    The caller commits, in the same transaction as whatever else the click records.
    `capped`: False for the work a record itself needs done (a credit note's sending),
    which is never refused for the user's other tasks."""
    assert kind in KINDS, kind
    existing = by_key(actor, key)
    if existing is not None:
        return existing, False
    if capped and _active_count(actor) >= MAX_ACTIVE_PER_USER:
        raise TooManyTasks
    records = list(records)[:MAX_ITEMS]
    task = Task(
        kind=kind,
        idempotency_key=key,
        created_by_id=actor.id,
        language=language or _language(),
        params=params or {},
        payload=payload,
        total=len(records) if total is None else total,
        items=[
            TaskItem(position=n, record_type=r.type, record_id=r.id, label=r.label[:60])
            for n, r in enumerate(records)
        ],
    )
    try:
        with db.session.begin_nested():
            db.session.add(task)
    except IntegrityError:  # the same click, sent at the same moment on another process
        existing = by_key(actor, key)
        if existing is None:
            raise
        return existing, False
    return task, True


def _active_count(user) -> int:
    """The user's tasks waiting or running, counted up to MAX_ACTIVE_PER_USER."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(
            sa.select(Task.id)
            .where(Task.created_by_id == user.id, one_of(Task.state, ACTIVE))
            .limit(MAX_ACTIVE_PER_USER)
            .subquery()
        )
    )


def by_key(user, key: str) -> Task | None:
    """The task the user's click with this idempotency key queued, if it did."""
    return db.session.scalar(
        sa.select(Task).where(Task.created_by_id == user.id, Task.idempotency_key == key)
    )


def _language() -> str:
    from flask_babel import get_locale

    locale = get_locale()
    return str(locale) if locale else current_app.config["BABEL_DEFAULT_LOCALE"]


def for_record(record_type: str, record_id: int, limit: int = 3) -> list[tuple[Task, TaskItem]]:
    """The latest tasks that worked on a record, newest first, with the record's item."""
    rows = db.session.execute(
        sa.select(Task, TaskItem)
        .join(TaskItem, TaskItem.task_id == Task.id)
        .where(TaskItem.record_type == record_type, TaskItem.record_id == record_id)
        .order_by(TaskItem.task_id.desc())
        .limit(limit)
    )
    return [(task, item) for task, item in rows]


def can_see(task: Task, user) -> bool:
    """Its creator sees a task; staff see the staff's tasks (not another's export)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if KINDS[task.kind].staff_only or task.params.get("staff"):
        # Staff work: for staff only, its creator too (one who is staff no longer loses it).
        if not user.is_staff:
            return False
        return task.created_by_id == user.id or KINDS[task.kind].staff_only
    return task.created_by_id == user.id


# --- Claiming and running ------------------------------------------------------------


def lease_length() -> timedelta:
    """How long a worker owns a task between two steps of progress."""
    return timedelta(seconds=current_app.config["TASK_LEASE_SECONDS"])


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        Task.state == TaskState.QUEUED,
        sa.and_(Task.state == TaskState.RUNNING, Task.locked_until < now),
    )


def claim_next(now: datetime | None = None) -> tuple[int, datetime] | None:
    """Take the oldest queued task (or one whose worker died): its id and lease."""
    now = now or utcnow()
    candidates = db.session.scalars(
        sa.select(Task.id).where(one_of(Task.state, ACTIVE)).order_by(Task.id).limit(QUEUE_SCAN)
    ).all()
    for task_id in candidates:
        lease = now + lease_length()
        result = db.session.execute(
            sa.update(Task)
            .where(Task.id == task_id, _claimable(now))
            .values(
                state=TaskState.RUNNING,
                locked_until=lease,
                attempts=Task.attempts + 1,
                started_at=sa.func.coalesce(Task.started_at, sa.literal(now, UTCDateTime)),
            )
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        if result.rowcount == 1:
            return task_id, lease
    return None


class Progress:
    """The running worker's hold on its task: each step records how far it is and
    renews the lease, and finds out whether another worker took the task over."""

    def __init__(self, task_id: int, lease: datetime) -> None:
        self.task_id = task_id
        self.lease = lease

    def _update(self, **values) -> bool:
        """Write to the task if this worker still holds it; whether it did (uncommitted)."""
        result = db.session.execute(
            sa.update(Task)
            .where(
                Task.id == self.task_id,
                Task.state == TaskState.RUNNING,
                Task.locked_until == self.lease,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    def step(self, processed: int | None = None, failed: int | None = None, **values) -> None:
        """Record progress (committed at once, with whatever the step did) and renew."""
        if processed is not None:
            values["processed"] = processed
        if failed is not None:
            values["failed_count"] = failed
        lease = max(utcnow() + lease_length(), self.lease)
        if not self._update(locked_until=lease, **values):
            db.session.rollback()
            raise LeaseLost
        db.session.commit()
        self.lease = lease

    def finish(self, state: TaskState, **values) -> bool:
        """Record the outcome, if this worker still holds the task."""
        held = self._update(state=state, locked_until=None, finished_at=utcnow(), **values)
        db.session.commit()
        return held


def run_claimed(task_id: int, lease: datetime) -> TaskState | None:
    """Do the claimed task's work and record how it went; its state, None if lost."""
    progress = Progress(task_id, lease)
    task = db.session.get(Task, task_id)
    if task.attempts > current_app.config["TASK_MAX_ATTEMPTS"]:
        with force_locale(task.language):
            reason = str(_l("The task stopped while running, too many times."))
        progress.finish(TaskState.FAILED, error=reason)
        return TaskState.FAILED
    kind = KINDS[task.kind]
    try:
        with force_locale(task.language):
            result = kind.function()(task, progress) or {}
            db.session.refresh(task)
            failed = task.failed_count
            error = failure_text(failed, task.total) if failed else ""
    except LeaseLost:
        log.warning("task %s: another worker took it over", task_id)
        return None
    except TaskError as exc:
        db.session.rollback()
        done = progress.finish(TaskState.FAILED, error=str(exc)[:ERROR_LENGTH])
        return TaskState.FAILED if done else None
    except Exception as exc:
        db.session.rollback()
        _log_failure(f"task {task_id} ({task.kind})", exc)
        with force_locale(task.language):
            reason = str(_l("The task failed on an unexpected error; it can be tried again."))
        done = progress.finish(TaskState.FAILED, error=reason)
        return TaskState.FAILED if done else None
    state = TaskState.FAILED if failed else TaskState.DONE
    values: dict[str, Any] = {"error": error[:ERROR_LENGTH], "result": result}
    done = progress.finish(state, **values)
    log.info("task %s (%s): %s", task_id, task.kind, state)
    return state if done else None


def _log_failure(what: str, exc: Exception) -> None:
    """Log an unexpected error of a task: its kind and frames, never the exception's text
    (it may quote personal data)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("%s failed: %s\n%s", what, error_summary(exc), frames)


def failure_text(failed: int, total: int) -> str:
    """Why a task that worked on records failed, in the current language."""
    from flask_babel import ngettext

    return ngettext(
        "%(num)s of %(total)s failed; the reason is on each. Try them again.",
        "%(num)s of %(total)s failed; the reason is on each. Try them again.",
        failed,
        total=total,
    )


def run_pending(
    limit: int | None = None, stop: threading.Event | None = None, until: float | None = None
) -> int:
    """Run queued tasks one after another until none is left (or `limit`, a stop, or the
    monotonic time `until`); how many were run."""
    ran = 0
    while limit is None or ran < limit:
        if stop is not None and stop.is_set():
            break
        if until is not None and time.monotonic() >= until:
            break
        claimed = claim_next()
        if claimed is None:
            break
        run_claimed(*claimed)
        ran += 1
    return ran


def run_worker(interval: float, stop) -> None:
    """Run tasks as they come, every `interval` seconds, until `stop` is set."""
    while not stop.is_set():
        try:
            run_pending(stop=stop)
        except sa.exc.SQLAlchemyError:
            db.session.rollback()
            log.exception("task worker: database error, will try again")
        finally:
            db.session.remove()
        stop.wait(interval)


# --- Work on records -----------------------------------------------------------------


Outcome = tuple[ItemState, str]


def each_item(
    task: Task, progress: Progress, handle: Callable[[TaskItem], Outcome]
) -> dict[str, int]:
    """Do `handle` on each of the task's items not yet done, recording each outcome with
    the progress. An unexpected error fails that item and the rest go on."""
    items = list(task.items)
    counts = {state.value: 0 for state in ItemState}
    for item in items:
        counts[item.state.value] += 1
    item_ids = [(item.id, item.state) for item in items]
    for item_id, state in item_ids:
        if state != ItemState.WAITING:
            continue
        item = db.session.get(TaskItem, item_id)
        try:
            outcome, error = handle(item)
        except LeaseLost:
            raise
        except Exception as exc:
            db.session.rollback()
            _log_failure(f"task {task.id} item {item_id}", exc)
            outcome, error = ItemState.FAILED, str(_l("An unexpected error; try it again."))
        item = db.session.get(TaskItem, item_id)
        item.state, item.error = outcome, error[:ERROR_LENGTH]
        counts[ItemState.WAITING.value] -= 1
        counts[outcome.value] += 1
        progress.step(
            processed=len(items) - counts[ItemState.WAITING.value],
            failed=counts[ItemState.FAILED.value],
        )
    del counts[ItemState.WAITING.value]
    return counts


# --- Retrying ------------------------------------------------------------------------


def retry(task: Task) -> bool:
    """Queue a failed task again: its failed items (or all of it) are tried once more.
    False when it is not failed any more (another click retried it)."""
    result = db.session.execute(
        sa.update(Task)
        .where(Task.id == task.id, Task.state == TaskState.FAILED)
        .values(
            state=TaskState.QUEUED,
            error="",
            attempts=0,
            failed_count=0,
            finished_at=None,
            # Work on records counts its items; other work (a course's enrolments) keeps
            # its count, and goes on from where it stopped.
            processed=sa.case(
                (
                    Task.total == len(task.items),
                    sa.select(sa.func.count())
                    .where(
                        TaskItem.task_id == task.id,
                        TaskItem.state.in_([ItemState.DONE, ItemState.SKIPPED]),
                    )
                    .scalar_subquery(),
                ),
                else_=Task.processed,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    db.session.execute(
        sa.update(TaskItem)
        .where(TaskItem.task_id == task.id, TaskItem.state == ItemState.FAILED)
        .values(state=ItemState.WAITING, error="")
        .execution_options(synchronize_session=False)
    )
    db.session.expire(task)
    return True


# --- As scheduled jobs (services/jobs.py) --------------------------------------------

JOB_SECONDS = 50  # how long one run of the `tasks` job takes up new tasks


def run_job(now: datetime) -> str:
    """The `tasks` job: queued tasks run within the minute until cron's next run (a
    task's own lease covers a longer one)."""
    return f"{run_pending(until=time.monotonic() + JOB_SECONDS)} background tasks run."


def job_off(app) -> str | None:
    """Why the `tasks` job is off: a task worker runs the tasks, unless JOBS_RUN_TASKS."""
    if not app.config.get("JOBS_RUN_TASKS"):
        return "JOBS_RUN_TASKS is off: a task worker runs the background tasks"
    return None


def purge_job(now: datetime) -> str:
    """The `purge-task-files` job."""
    return f"{purge_files(now)} exports' files removed."


# --- Housekeeping --------------------------------------------------------------------


def purge_files(now: datetime | None = None, batch: int = 100) -> int:
    """Forget the files and uploads of tasks finished more than TASK_FILE_DAYS days ago
    (an export's file, a bank file that failed): they may hold personal data."""
    cutoff = (now or utcnow()) - timedelta(days=current_app.config["TASK_FILE_DAYS"])
    kept = sa.or_(Task.file_name.is_not(None), Task.payload.is_not(None))
    purged = 0
    while True:
        ids = db.session.scalars(
            sa.select(Task.id).where(kept, Task.finished_at < cutoff).limit(batch)
        ).all()
        if not ids:
            return purged
        db.session.execute(
            sa.update(Task)
            .where(Task.id.in_(ids))
            .values(file_name=None, file_type=None, file_data=None, payload=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        purged += len(ids)
