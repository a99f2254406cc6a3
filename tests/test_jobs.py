"""`flask jobs run`: which jobs are due, failures kept apart, and each job once on any
number of hosts (real processes started at the same moment, on SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from extensions import db
from models.jobs import JobRun
from models.mail import OutboxMessage
from models.training import Course, Enrolment, EnrolmentEvent, EnrolmentStatus
from models.types import utcnow
from services import jobs
from services.errors import error_summary
from tests.fixtures.app import ROOT
from tests.fixtures.training import _binding, _expired_offer_with_one_in_line

HELSINKI = ZoneInfo("Europe/Helsinki")
# The locked jobs that run in the tests' subprocesses (support-mail is off: no IMAP host).
LOCKED_JOBS = [job.name for job in jobs.JOBS if job.locked and job.name != "support-mail"]
WELCOMED = 30  # enough work that two runs started together would overlap


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=HELSINKI).astimezone(UTC)


# --- Due or not ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since_last", "due"),
    [
        (None, True),  # never run
        (timedelta(minutes=5), False),
        (timedelta(minutes=14), True),  # a cron run a moment early is on time
        (timedelta(minutes=15), True),
        (timedelta(days=3), True),
    ],
)
def test_an_interval_job_is_due_once_its_interval_has_passed(since_last, due):
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    last = None if since_last is None else now - since_last
    assert jobs.is_due(jobs.Every(timedelta(minutes=15)), last, now, HELSINKI) is due


@pytest.mark.parametrize(
    ("last", "now", "due"),
    [
        (None, local(2026, 12, 3, 3, 0), True),
        (local(2026, 12, 2, 7, 1), local(2026, 12, 3, 6, 59), False),  # before today's 07:00
        (local(2026, 12, 2, 7, 1), local(2026, 12, 3, 7, 0), True),
        (local(2026, 12, 3, 7, 0), local(2026, 12, 3, 23, 0), False),  # done today
        (local(2026, 12, 3, 6, 0), local(2026, 12, 3, 7, 5), True),  # run early by hand
        (local(2026, 12, 1, 6, 0), local(2026, 12, 2, 5, 0), True),  # yesterday's was missed
    ],
)
def test_a_daily_job_is_due_when_it_has_not_succeeded_since_its_hour(last, now, due):
    assert jobs.is_due(jobs.Daily(7), last, now, HELSINKI) is due


def test_a_daily_hour_is_local_across_a_daylight_saving_change():
    # Finland leaves summer time on 25 October 2026: 07:00 is 04:00 UTC, then 05:00 UTC.
    schedule = jobs.Daily(7)
    assert schedule.next_due(local(2026, 10, 24, 7, 0), HELSINKI) == datetime(
        2026, 10, 25, 5, 0, tzinfo=UTC
    )
    assert schedule.describe(HELSINKI) == "daily at 07:00 Europe/Helsinki"


def test_jobs_run_when_due_at_a_given_time(app):
    now = utcnow()
    with app.app_context():
        first = {o.job: o.state for o in jobs.run_due(now=now)}
        assert first == {
            "expire-offers": "ran",
            "send-welcome": "ran",
            "purge-uploads": "ran",
            "support-mail": "off",  # SUPPORT_IMAP_HOST is not set
            "support-late-summary": "ran",
            "invoice-reminders": "ran",
            "payment-sandbox-notifies": "ran",
            "purge-task-files": "ran",
            "tasks": "off",  # JOBS_RUN_TASKS is off: a task worker runs them
            "deliver-mail": "off",  # JOBS_DELIVER_MAIL is off: a mail worker delivers
        }
        later = {o.job: o.state for o in jobs.run_due(now=now + timedelta(minutes=2))}
        assert later["expire-offers"] == "skipped" and later["send-welcome"] == "skipped"
        assert later["payment-sandbox-notifies"] == "ran"
        assert jobs.run_due(now=now + timedelta(minutes=16))[0].state == "ran"
        run = db.session.get(JobRun, "expire-offers")
        assert run.succeeded_at == now + timedelta(minutes=16) and not run.failed
        assert run.outcome.startswith("0 offers")


def test_the_mail_outbox_is_a_job_when_jobs_deliver_mail(app, runner, smtp_server):
    app.config["JOBS_DELIVER_MAIL"] = True
    with app.test_request_context():
        from models.auth import User
        from services.outbox import queue_mail

        context = {"user": User(name="Maija"), "url": "http://portal.test/x", "minutes": 60}
        queue_mail("auth_password_reset", "maija@example.com", language="fi", context=context)
        db.session.commit()
    result = runner.invoke(args=["jobs", "run"])
    assert "deliver-mail: ran: 1 sent" in result.output, result.output
    assert [m["To"] for m in smtp_server.messages] == ["maija@example.com"]


def test_the_payment_sandboxs_delayed_notifies_are_a_job(app, runner, monkeypatch):
    from sandboxes.payment_service import views as payment_sandbox

    called = []
    monkeypatch.setattr(
        payment_sandbox, "deliver_due_notifies", lambda app, now: called.append(now) or 1
    )
    before = utcnow().timestamp()
    result = runner.invoke(args=["jobs", "run", "--job", "payment-sandbox-notifies"])
    assert result.output == "payment-sandbox-notifies: ran: 1 delayed notifies called.\n"
    assert len(called) == 1 and called[0] >= before


def test_without_the_payment_sandbox_its_job_is_off(app_config, request):
    app_config["PAYMENT_SANDBOX"] = False
    runner = request.getfixturevalue("app").test_cli_runner()
    listed = runner.invoke(args=["jobs", "list"]).output
    assert "off: the payment sandbox is not mounted" in listed
    ran = runner.invoke(args=["jobs", "run"]).output
    assert "payment-sandbox-notifies" not in ran and "expire-offers: ran" in ran


# --- Failures ------------------------------------------------------------------------


def test_a_failing_job_is_recorded_and_the_others_still_run(app, runner, monkeypatch):
    from services import training

    def broken(now=None):
        raise ValueError("the course calendar is unreadable")

    monkeypatch.setattr(training, "send_welcome", broken)
    result = runner.invoke(args=["jobs", "run"])
    assert result.exit_code == 1
    assert "send-welcome: failed: ValueError: the course calendar is unreadable" in result.output
    assert "expire-offers: ran" in result.output and "purge-uploads: ran" in result.output
    with app.app_context():
        run = db.session.get(JobRun, "send-welcome")
        assert run.failed and run.succeeded_at is None
        assert run.outcome == "ValueError: the course calendar is unreadable"

    monkeypatch.undo()  # mended: the failed job is tried again at the next run
    result = runner.invoke(args=["jobs", "run"])
    assert result.exit_code == 0
    assert "send-welcome: ran: 0 welcome emails queued." in result.output
    assert "expire-offers: skipped: not due" in result.output
    with app.app_context():
        run = db.session.get(JobRun, "send-welcome")
        assert not run.failed and run.succeeded_at is not None


def test_a_database_error_is_recorded_without_the_values_it_quotes(app):
    with app.app_context():
        db.session.add(JobRun(name="maija@example.com"))
        db.session.commit()
        db.session.add(JobRun(name="maija@example.com"))
        with pytest.raises(sa.exc.IntegrityError) as raised:
            db.session.commit()
        db.session.rollback()
    summary = error_summary(raised.value)
    assert summary.startswith("IntegrityError")
    assert "maija" not in summary and "INSERT" not in summary


def test_a_job_writing_links_fails_without_base_url(app, runner):
    app.config["BASE_URL"] = ""
    result = runner.invoke(args=["jobs", "run", "--job", "send-welcome"])
    assert result.exit_code == 1 and "BASE_URL is not set" in result.output


# --- The command line ----------------------------------------------------------------


def test_one_job_runs_on_demand_whether_due_or_not(app, runner):
    assert runner.invoke(args=["jobs", "run", "--job", "send-welcome"]).exit_code == 0
    again = runner.invoke(args=["jobs", "run", "--job", "send-welcome"])
    assert again.output == "send-welcome: ran: 0 welcome emails queued.\n"
    off = runner.invoke(args=["jobs", "run", "--job", "deliver-mail"])
    assert off.exit_code == 2 and "JOBS_DELIVER_MAIL is off" in off.output
    assert runner.invoke(args=["jobs", "run", "--job", "nothing"]).exit_code == 2


def test_quiet_prints_only_failures(app, runner):
    result = runner.invoke(args=["jobs", "run", "--quiet"])
    assert result.exit_code == 0 and result.output == ""


def test_the_list_shows_schedules_last_runs_and_outcomes(app, runner):
    before = runner.invoke(args=["jobs", "list"]).output
    assert "send-welcome: daily at 07:00 Europe/Helsinki" in before
    assert "expire-offers: every 15 minutes" in before
    assert "never run; due now" in before
    assert "off: JOBS_DELIVER_MAIL is off" in before
    runner.invoke(args=["jobs", "run"])
    after = runner.invoke(args=["jobs", "list"]).output
    assert "ran: 0 welcome emails queued." in after
    assert "never run" not in after.split("deliver-mail")[0]


def test_the_parts_own_commands_run_through_the_jobs(app, runner):
    assert runner.invoke(args=["training", "send-welcome"]).output == "0 welcome emails queued.\n"
    with app.app_context():
        assert db.session.get(JobRun, "send-welcome").succeeded_at is not None
        with jobs.job_lock("purge-uploads"):
            result = runner.invoke(args=["support", "purge-uploads"])
    assert result.output == "purge-uploads: skipped: running elsewhere\n"


# --- Links ---------------------------------------------------------------------------


def test_links_in_a_jobs_mail_come_from_base_url(app, runner, make_course):
    app.config["BASE_URL"] = "https://portal.example.org"
    course = make_course(starts_at=utcnow() + timedelta(days=5))
    _binding(app, course.id, 1)
    result = runner.invoke(args=["jobs", "run", "--job", "send-welcome"])
    assert "1 welcome emails queued" in result.output
    with app.app_context():
        message = db.session.scalar(sa.select(OutboxMessage))
        assert message.context["calendar_url"] == "https://portal.example.org/training/?lang=fi"


# --- Once on any number of hosts -----------------------------------------------------


def _environment(app, **extra: str) -> dict[str, str]:
    """The subprocesses' environment: the test's database and folders, nothing of ours."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "TEST_", "MAIL_", "JOBS_", "DATABASE_"))
    }
    config = app.config
    env.update(
        DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY=config["SECRET_KEY"],
        BASE_URL=config["BASE_URL"],
        SUPPORT_UPLOAD_DIR=config["SUPPORT_UPLOAD_DIR"],
        INVOICE_SANDBOX_DIR=config["INVOICE_SANDBOX_DIR"],
        PAYMENT_SANDBOX_DIR=config["PAYMENT_SANDBOX_DIR"],
        **extra,
    )
    return env


def _start_jobs(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "flask"), "--app", "app", "jobs", "run", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    return out


def test_two_hosts_running_the_jobs_at_once_do_each_thing_once(app, make_course, smtp_server):
    soon = make_course(
        title="Pian alkava", starts_at=utcnow() + timedelta(days=5), capacity=WELCOMED
    )
    _binding(app, soon.id, WELCOMED)
    full = make_course(title="Täysi kurssi", capacity=1)
    _expired_offer_with_one_in_line(app, full.id)
    env = _environment(
        app,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(smtp_server.port),
        JOBS_DELIVER_MAIL="true",  # and the outbox too, with its own claims
    )

    hosts = [_start_jobs(env), _start_jobs(env)]  # the same cron minute on two hosts
    outputs = [_finish(process) for process in hosts]

    lines = [line for output in outputs for line in output.splitlines()]
    for name in LOCKED_JOBS:
        ran = [line for line in lines if line.startswith(f"{name}: ran")]
        assert len(ran) == 1, outputs
        skipped = [line for line in lines if line.startswith(f"{name}: skipped")]
        assert len(skipped) == 1, outputs  # not due (done just now) or running elsewhere
    assert f"{WELCOMED} welcome emails queued." in "".join(outputs)
    with app.app_context():
        welcomes = db.session.scalars(
            sa.select(OutboxMessage.record_id).where(OutboxMessage.template == "training_welcome")
        ).all()
        assert sorted(welcomes) == sorted(
            str(e.id)
            for e in db.session.scalars(sa.select(Enrolment).where(Enrolment.course_id == soon.id))
        )
        line = db.session.scalars(
            sa.select(Enrolment).where(Enrolment.course_id == full.id).order_by(Enrolment.id)
        ).all()
        assert [e.status for e in line] == [EnrolmentStatus.CANCELLED, EnrolmentStatus.OFFERED]
        offered = db.session.scalars(
            sa.select(EnrolmentEvent).where(
                EnrolmentEvent.enrolment_id == line[1].id,
                EnrolmentEvent.to_status == EnrolmentStatus.OFFERED,
            )
        ).all()
        assert len(offered) == 1  # the seat was passed on once
        assert db.session.get(Course, full.id).seats_taken == 1
    # Over real SMTP, each participant got their welcome once and the next in line one offer.
    received = sorted(m["To"] for m in smtp_server.messages)
    assert received == sorted(
        [f"osallistuja{n}@example.com" for n in range(WELCOMED)] + ["osallistuja101@example.com"]
    )


def test_a_job_whose_lock_is_held_elsewhere_is_skipped_not_waited_for(app, make_course):
    course = make_course(starts_at=utcnow() + timedelta(days=5))
    _binding(app, course.id, 2)
    env = _environment(app)
    with app.app_context():
        with jobs.job_lock("send-welcome") as held:  # another host is sending them
            assert held
            output = _finish(_start_jobs(env, "--job", "send-welcome"))
            assert output == "send-welcome: skipped: running elsewhere\n"
            everything = _finish(_start_jobs(env))
            assert "send-welcome: skipped: running elsewhere" in everything
            assert "expire-offers: ran" in everything
            assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0
            db.session.rollback()
        # Released: the next run does it.
        output = _finish(_start_jobs(env))
        assert "send-welcome: ran: 2 welcome emails queued." in output
        assert "expire-offers: skipped: not due" in output


def test_a_held_lock_is_taken_by_nobody_else_and_freed_after(app):
    with app.app_context():
        with jobs.job_lock("expire-offers") as first:
            with jobs.job_lock("expire-offers") as second:
                assert first and not second
            with jobs.job_lock("send-welcome") as other:
                assert other  # one lock per job
        with jobs.job_lock("expire-offers") as again:
            assert again
    assert jobs.lock_key("expire-offers") == jobs.lock_key("expire-offers")
    assert len({jobs.lock_key(job.name) for job in jobs.JOBS}) == len(jobs.JOBS)


HOLD_LOCK = """
import time
from app import create_app
from services import jobs
with create_app().app_context(), jobs.job_lock("expire-offers") as held:
    print("held" if held else "taken", flush=True)
    time.sleep(60)
"""


def test_a_killed_process_leaves_no_lock_behind(app):
    holder = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), "-c", HOLD_LOCK],
        cwd=ROOT,
        env=_environment(app),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with app.app_context(), jobs.job_lock("expire-offers") as held:
            assert not held
    finally:
        holder.kill()  # SIGKILL: no clean-up of its own
        holder.wait(timeout=30)
        holder.stdout.close()
    # Freed with its connection (PostgreSQL: once the server has seen it close) or its
    # open file (SQLite).
    for _ in range(100):
        with app.app_context(), jobs.job_lock("expire-offers") as held:
            if held:
                break
        time.sleep(0.05)
    assert held
