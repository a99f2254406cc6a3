"""The scheduled jobs: what each does, when it is due, and a lock so it runs once.

`flask jobs run` is started from cron (or a systemd timer) every minute on every host.
Each job is due from its last success (`JobRun.succeeded_at`) and its schedule: an
interval, or daily at a local hour of BABEL_DEFAULT_TIMEZONE. A due job takes its lock
without waiting: on PostgreSQL a session-level advisory lock on a connection of its own,
freed with that connection if the process is killed; on SQLite (one host by definition)
an exclusive `flock` on a file beside the database, in the instance folder by default.
It then checks again that it is still due (another host may have just finished it),
runs, and records how it went. A job whose lock is taken is skipped: another host is
doing that work now.

The jobs themselves are also safe to run twice (claims and compare-and-set updates), so
the lock is what keeps the work, the mail and the log lines to one host, not what keeps
the data right.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask, current_app

from extensions import db
from models.jobs import JobRun
from models.types import utcnow
from services import tasks
from services.errors import OUTCOME_LENGTH, error_summary

log = logging.getLogger(__name__)

RAN, SKIPPED, FAILED, OFF = "ran", "skipped", "failed", "off"
NOT_DUE = "not due"
RUNNING_ELSEWHERE = "running elsewhere"
LOCK_NAMESPACE = "portal.jobs:"  # keeps our advisory lock keys apart from anyone else's


# --- Schedules -----------------------------------------------------------------------


@dataclass(frozen=True)
class Every:
    """Due once `interval` has passed since the last success."""

    interval: timedelta

    def next_due(self, last: datetime, zone: ZoneInfo) -> datetime:
        """When the job is due after its last success: an interval later, less a slack."""
        # A cron run that starts a second earlier than the last one must not wait a whole
        # interval more: a tenth of the interval (at most a minute) counts as on time.
        slack = min(self.interval / 10, timedelta(minutes=1))
        return last + self.interval - slack

    def describe(self, zone: ZoneInfo) -> str:
        """The interval as `flask jobs list` shows it."""
        minutes = int(self.interval.total_seconds() // 60)
        if minutes == 0:
            return "at every run"
        return "every minute" if minutes == 1 else f"every {minutes} minutes"


@dataclass(frozen=True)
class Daily:
    """Due at a local time every day: when it has not succeeded since that time today
    (or since yesterday's, before today's has come)."""

    hour: int
    minute: int = 0

    def next_due(self, last: datetime, zone: ZoneInfo) -> datetime:
        """The first local time of day after the last success."""
        day = last.astimezone(zone).date()
        at = datetime.combine(day, time(self.hour, self.minute), tzinfo=zone).astimezone(UTC)
        if at <= last:
            # The next day's wall-clock time, whatever the daylight-saving change between.
            at = datetime.combine(
                day + timedelta(days=1), time(self.hour, self.minute), tzinfo=zone
            ).astimezone(UTC)
        return at

    def describe(self, zone: ZoneInfo) -> str:
        """The local time of day as `flask jobs list` shows it."""
        return f"daily at {self.hour:02d}:{self.minute:02d} {zone.key}"


Schedule = Every | Daily


def is_due(
    schedule: Schedule, last_success: datetime | None, now: datetime, zone: ZoneInfo
) -> bool:
    """Whether a job last done at `last_success` (None: never) is due at `now`."""
    return last_success is None or now >= schedule.next_due(last_success, zone)


# --- The jobs ------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A scheduled job: its name, schedule and work, why it may be off, and whether it locks."""

    name: str
    schedule: Schedule
    run: Callable[[datetime], str]  # does the work as of the given moment; what it did
    description: str
    # Why the job is off in this configuration, or None when it is on.
    off_reason: Callable[[Flask], str | None] = lambda app: None
    # False when the job's own row claims keep it to one worker (the outbox): any number
    # may then run at once, as mail workers do.
    locked: bool = True
    writes_links: bool = False  # it queues mail with links built from BASE_URL


def _expire_offers(now: datetime) -> str:
    from services import training

    expired = training.expire_offers(now=now)
    closed = training.close_waiting_lists(now=now)
    db.session.commit()
    return f"{expired} offers or unpaid seats expired, {closed} waiting-list places closed."


def _send_welcome(now: datetime) -> str:
    from services import training

    return f"{training.send_welcome(now=now)} welcome emails queued."


def _purge_uploads(now: datetime) -> str:
    from services import support

    return f"{support.purge_uploads(now=now)} unsent images removed."


def _support_mail(now: datetime) -> str:
    from services import support_imap

    return support_imap.fetch().text


def _support_mail_off(app: Flask) -> str | None:
    if not app.config.get("SUPPORT_IMAP_HOST"):
        return "SUPPORT_IMAP_HOST is not set: replies by email come by `flask support receive`"
    return None


def _late_summary(now: datetime) -> str:
    from services import support_desk

    return support_desk.late_summary(now)


def _send_reminders(now: datetime) -> str:
    from services.invoicing import reminders

    return reminders.run_job()


def _sandbox_notifies(now: datetime) -> str:
    app = current_app._get_current_object()
    sandbox = app.extensions["payment_sandbox"]  # sandboxes.payment_service, when mounted
    called = sandbox.deliver_due_notifies(app, now=now.timestamp())
    return f"{called} delayed notifies called."


def _sandbox_off(app: Flask) -> str | None:
    if "payment_sandbox" not in app.extensions:
        return "the payment sandbox is not mounted (PAYMENT_SANDBOX)"
    return None


def _deliver_mail(now: datetime) -> str:
    from services import outbox

    sent = captured = retrying = failed = 0
    limit = 100
    while True:  # all that is due, a batch at a time
        report = outbox.deliver_due(limit=limit)  # its claims use the clock, not `now`
        sent, captured = sent + report.sent, captured + report.captured
        retrying, failed = retrying + report.retrying, failed + report.failed
        if report.handled < limit:
            break
    return f"{sent} sent, {captured} captured, {retrying} to retry, {failed} failed for good."


def _mail_off(app: Flask) -> str | None:
    if not app.config.get("JOBS_DELIVER_MAIL"):
        return "JOBS_DELIVER_MAIL is off: a mail worker delivers the outbox"
    return None


# In the order they run: mail delivery last, so that mail the others queue leaves at once.
JOBS: tuple[Job, ...] = (
    Job(
        "expire-offers",
        Every(timedelta(minutes=15)),
        _expire_offers,
        "waiting-list offers and course-fee payment holds that ran out; the seats go to "
        "the next in line",
        writes_links=True,
    ),
    Job(
        "send-welcome",
        Daily(7),
        _send_welcome,
        "welcome mail for courses starting within 14 days, once per enrolment",
        writes_links=True,
    ),
    Job(
        "purge-uploads",
        Daily(3, 30),
        _purge_uploads,
        "screenshots uploaded with a contact form that was never sent",
    ),
    Job(
        "support-mail",
        Every(timedelta(minutes=1)),
        _support_mail,
        "replies by email read from the support mailbox by IMAP into their tickets",
        off_reason=_support_mail_off,
        writes_links=True,  # the customer's mail notifies staff, a follow-up confirms
    ),
    Job(
        "support-late-summary",
        Daily(8),
        _late_summary,
        "each team's morning summary of the open tickets whose answer is late, on service days",
        writes_links=True,
    ),
    Job(
        "invoice-reminders",
        Daily(8),
        _send_reminders,
        "payment reminders of overdue invoices whose users chose automatic reminders",
        writes_links=True,
    ),
    Job(
        "payment-sandbox-notifies",
        Every(timedelta(minutes=1)),
        _sandbox_notifies,
        "the payment sandbox's delayed notifies that are due",
        off_reason=_sandbox_off,
    ),
    Job(
        "purge-task-files",
        Daily(3, 45),
        tasks.purge_job,
        "the files of background exports older than TASK_FILE_DAYS",
    ),
    Job(
        "tasks",
        Every(timedelta(0)),
        tasks.run_job,
        "background tasks queued by clicks (forwarding, bulk actions, exports, bank "
        "files), when no task worker runs",
        off_reason=tasks.job_off,
        locked=False,  # each task's claim keeps it to one worker
        writes_links=True,
    ),
    Job(
        "deliver-mail",
        # At every run: what the jobs before it queued, on whichever host, goes at once.
        Every(timedelta(0)),
        _deliver_mail,
        "the mail outbox, when no mail worker runs",
        off_reason=_mail_off,
        locked=False,
    ),
)
BY_NAME = {job.name: job for job in JOBS}


def local_zone() -> ZoneInfo:
    """The zone of the daily jobs' hours (BABEL_DEFAULT_TIMEZONE)."""
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


# --- Locks ---------------------------------------------------------------------------


def lock_key(name: str) -> int:
    """The job's PostgreSQL advisory lock key: a stable signed 64-bit number."""
    digest = hashlib.blake2b((LOCK_NAMESPACE + name).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_path(name: str) -> Path:
    """The job's lock file on SQLite: beside the database file (by default in the
    instance folder), so that each database has its own locks (a test run's beside
    development's), and in the instance folder for a database in memory."""
    database = db.engine.url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).resolve()
        return path.parent / f"{path.name}.job-{name}.lock"
    return Path(current_app.instance_path) / f"memory.job-{name}.lock"


@contextmanager
def job_lock(name: str) -> Iterator[bool]:
    """Hold the job's lock for the block if nobody else holds it; yields whether it does."""
    lock = _advisory_lock if db.engine.dialect.name == "postgresql" else _file_lock
    with lock(name) as held:
        yield held


@contextmanager
def _advisory_lock(name: str) -> Iterator[bool]:
    key = lock_key(name)
    # A connection of its own, outside the job's transactions: the lock lives as long as
    # this session, so a killed process's lock goes with its connection. Autocommit, so
    # that it does not sit "idle in transaction" while the job runs.
    connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        statement = sa.text("SELECT pg_try_advisory_lock(CAST(:key AS bigint))")
        held = bool(connection.scalar(statement, {"key": key}))
    except BaseException:
        connection.close()
        raise
    try:
        yield held
    finally:
        if held:
            try:
                unlock = sa.text("SELECT pg_advisory_unlock(CAST(:key AS bigint))")
                connection.scalar(unlock, {"key": key})
            except sa.exc.SQLAlchemyError:
                # Never back into the pool with the lock held: closing it frees the lock.
                connection.invalidate()
        connection.close()


@contextmanager
def _file_lock(name: str) -> Iterator[bool]:
    import fcntl  # POSIX: the deployments we support

    # The file stays: unlinking it could let two processes lock two different files.
    with open(lock_path(name), "a") as handle:  # the lock goes with the file's last descriptor
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = False
        else:
            held = True
        try:
            yield held
        finally:
            if held:
                fcntl.flock(handle, fcntl.LOCK_UN)


# --- Running -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What became of one job in one run: ran, skipped, failed or off, and why."""

    job: str
    state: str
    text: str

    @property
    def line(self) -> str:
        """The outcome as one line of the run's output."""
        return f"{self.job}: {self.state}: {self.text}"


def last_runs() -> dict[str, JobRun]:
    """Each job's run record, by job name."""
    return {run.name: run for run in db.session.scalars(sa.select(JobRun))}


def _last_success(name: str) -> datetime | None:
    # A column, not the row: always read afresh, never from the session's identity map.
    return db.session.scalar(sa.select(JobRun.succeeded_at).where(JobRun.name == name))


def _due(job: Job, now: datetime) -> bool:
    return is_due(job.schedule, _last_success(job.name), now, local_zone())


def _record(name: str, **values) -> None:
    """Write the job's row (made if it is missing, whoever makes it first) and commit."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(
        insert(JobRun)
        .values(name=name, failed=False)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    db.session.execute(sa.update(JobRun).where(JobRun.name == name).values(**values))
    db.session.commit()


def run_job(job: Job, now: datetime | None = None, *, force: bool = False) -> Outcome:
    """Run one job if it is due (or `force`d) and its lock is free; how it went."""
    app = current_app._get_current_object()
    off = job.off_reason(app)
    if off:
        return Outcome(job.name, OFF, off)
    if not force and not _due(job, now or utcnow()):
        return Outcome(job.name, SKIPPED, NOT_DUE)
    db.session.rollback()  # no transaction of ours stays open while the lock is waited on
    with job_lock(job.name) if job.locked else nullcontext(True) as held:
        if not held:
            return Outcome(job.name, SKIPPED, RUNNING_ELSEWHERE)
        started = now or utcnow()
        if not force and not _due(job, started):
            return Outcome(job.name, SKIPPED, NOT_DUE)  # another host has just done it
        _record(job.name, started_at=started)
        try:
            if job.writes_links and not app.config.get("BASE_URL"):
                raise RuntimeError("BASE_URL is not set: links in its mail would lead nowhere")
            text = job.run(started)
        except Exception as error:
            db.session.rollback()
            summary = error_summary(error)
            # The frames, never the exception's text (it may quote personal data).
            frames = "".join(traceback.format_tb(error.__traceback__))
            log.error("job %s failed: %s\n%s", job.name, summary, frames)
            _record(job.name, finished_at=utcnow(), outcome=summary, failed=True)
            return Outcome(job.name, FAILED, summary)
        # Due is counted from when the work began: what came in meanwhile is the next run's.
        _record(
            job.name,
            finished_at=utcnow(),
            succeeded_at=started,
            outcome=text[:OUTCOME_LENGTH],
            failed=False,
        )
        log.info("job %s ran: %s", job.name, text)
        return Outcome(job.name, RAN, text)


def run_due(now: datetime | None = None, only: str | None = None) -> list[Outcome]:
    """Run every job that is due, one after another (or only the one named, due or not);
    a job that fails is reported and the others still run."""
    outcomes = []
    for job in JOBS if only is None else (BY_NAME[only],):
        try:
            outcomes.append(run_job(job, now, force=only is not None))
        except Exception as error:  # the database went away while recording, say
            db.session.rollback()
            summary = error_summary(error)
            log.error("job %s failed: %s", job.name, summary)
            outcomes.append(Outcome(job.name, FAILED, summary))
    return outcomes


@dataclass(frozen=True)
class Status:
    """A job as `flask jobs list` shows it."""

    job: Job
    schedule: str
    last: JobRun | None
    next_due: datetime | None  # None: due now
    off: str | None


def statuses() -> list[Status]:
    """Every job as `flask jobs list` shows it, with when it is next due."""
    runs = last_runs()
    app = current_app._get_current_object()
    found = []
    for job in JOBS:
        last = runs.get(job.name)
        succeeded = last.succeeded_at if last else None
        next_due = job.schedule.next_due(succeeded, local_zone()) if succeeded else None
        found.append(
            Status(job, job.schedule.describe(local_zone()), last, next_due, job.off_reason(app))
        )
    return found
