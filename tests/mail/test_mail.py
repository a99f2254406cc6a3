"""The mail outbox: queued in the caller's transaction, delivered by SMTP with retries."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from markupsafe import Markup

from extensions import db
from models.auth import Role, User
from models.mail import MailStatus, OutboxMessage
from models.training import Enrolment
from models.types import utcnow
from services.outbox import Attachment, backoff, failed_mail_for, queue_mail
from tests.fixtures.mail import _message, _queue, deliver_mail
from tests.fixtures.users import PASSWORD


def _all(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def test_a_message_is_saved_with_the_transaction_that_makes_it(app):
    with app.test_request_context():
        queue_mail(
            "auth_password_reset",
            "a@example.com",
            language="fi",
            context={"user": User(name="A"), "url": "u", "minutes": 60},
        )
        db.session.rollback()  # the submission failed: its mail must vanish with it
    assert _all(app) == []
    _queue(app)
    assert len(_all(app)) == 1


def test_the_message_is_rendered_in_the_recipients_language(app):
    with app.test_request_context():
        message = queue_mail(
            "auth_password_reset",
            "a@example.com",
            language="sv",
            context={"user": User(name="Anna"), "url": "http://u", "minutes": 60},
        )
        assert "Anna" in message.body_text and "http://u" in message.body_text
        assert message.body_html.startswith("<!doctype html>")
        assert 'lang="sv"' in message.body_html
        assert message.subject == "Skapa ett nytt lösenord"


def test_delivery_through_smtp(app, smtp_server):
    [message_id] = _queue(
        app,
        record=("user", 7),
        attachments=[Attachment("lasku.pdf", "application/pdf", b"%PDF-1.4 test")],
    )
    report = deliver_mail(app)
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    [received] = smtp_server.messages
    assert received["To"] == "person0@example.com"
    assert received["From"] == "Palveluportaali <noreply@example.com>"
    assert received["Message-ID"] == _message(app, message_id).message_id_header
    assert "Person 0" in smtp_server.text_of(received)
    assert received.get_body(preferencelist=("html",)) is not None
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "lasku.pdf"
    assert attachment.get_content() == b"%PDF-1.4 test"

    saved = _message(app, message_id)
    assert saved.status == MailStatus.SENT and saved.attempts == 1 and saved.sent_at
    # Nothing is due any more: a second round sends nothing again.
    assert deliver_mail(app).handled == 0
    assert len(smtp_server.messages) == 1


def test_without_a_mail_server_messages_are_captured(app):
    [message_id] = _queue(app)
    report = deliver_mail(app)
    assert report.captured == 1
    assert _message(app, message_id).status == MailStatus.CAPTURED


def test_smtp_failure_is_retried_with_exponential_backoff(app, app_config, smtp_server):
    smtp_server.stop()
    [message_id] = _queue(app)
    now = utcnow()
    assert deliver_mail(app, now=now).retrying == 1
    first = _message(app, message_id)
    assert first.status == MailStatus.QUEUED and first.attempts == 1
    assert "ConnectionRefusedError" in first.last_error
    assert first.next_attempt_at == pytest.approx(
        now + timedelta(seconds=60), abs=timedelta(seconds=1)
    )

    # Not due yet: nothing happens.
    assert deliver_mail(app, now=now + timedelta(seconds=30)).handled == 0

    later = now + timedelta(seconds=61)
    assert deliver_mail(app, now=later).retrying == 1
    second = _message(app, message_id)
    assert second.attempts == 2
    assert second.next_attempt_at == pytest.approx(
        later + timedelta(seconds=120), abs=timedelta(seconds=1)
    )


def test_backoff_doubles_and_is_capped():
    assert [backoff(n, 60).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert backoff(30, 60) == timedelta(hours=6)


def test_a_message_fails_for_good_after_the_last_attempt(app, app_config, smtp_server):
    smtp_server.stop()
    [message_id] = _queue(app, record=("enrolment", 42))
    now = utcnow()
    for _attempt in range(app.config["MAIL_MAX_ATTEMPTS"]):
        deliver_mail(app, now=now)
        now += timedelta(days=1)
    failed = _message(app, message_id)
    assert failed.status == MailStatus.FAILED
    assert failed.attempts == app.config["MAIL_MAX_ATTEMPTS"]
    assert deliver_mail(app, now=now + timedelta(days=30)).handled == 0
    with app.app_context():
        assert [m.id for m in failed_mail_for("enrolment", 42)] == [message_id]
        assert failed_mail_for("enrolment", 43) == []


def test_an_smtp_outage_loses_nothing_and_sends_each_once(app, smtp_server):
    smtp_server.stop()
    ids = _queue(app, 3)
    now = utcnow()
    assert deliver_mail(app, now=now).retrying == 3
    assert deliver_mail(app, now=now + timedelta(seconds=61)).retrying == 3

    smtp_server.start()
    later = now + timedelta(hours=1)
    assert deliver_mail(app, now=later).sent == 3
    assert deliver_mail(app, now=later + timedelta(hours=1)).handled == 0
    assert sorted(m["To"] for m in smtp_server.messages) == [
        "person0@example.com",
        "person1@example.com",
        "person2@example.com",
    ]
    assert all(_message(app, i).status == MailStatus.SENT for i in ids)


def test_smtp_server_refusing_a_recipient_is_retried(app, smtp_server):
    async def refuse(server, session, envelope):
        return "451 Try again later"

    original = smtp_server.handler.handle_DATA
    smtp_server.handler.handle_DATA = refuse
    [message_id] = _queue(app)
    assert deliver_mail(app).retrying == 1
    assert "451" in _message(app, message_id).last_error
    smtp_server.handler.handle_DATA = original
    assert deliver_mail(app, now=utcnow() + timedelta(minutes=5)).sent == 1


def test_a_claimed_message_is_not_sent_by_another_worker(app, smtp_server):
    from services.outbox import _claim

    [message_id] = _queue(app)
    with app.app_context():
        assert _claim(message_id, utcnow(), count_attempt=True) is not None
        assert _claim(message_id, utcnow(), count_attempt=True) is None  # a second worker
    assert deliver_mail(app).handled == 0
    # A worker that died keeps it only until its lease runs out.
    assert deliver_mail(app, now=utcnow() + timedelta(minutes=6)).sent == 1
    assert len(smtp_server.messages) == 1


def test_a_worker_whose_lease_ran_out_does_not_overwrite_the_outcome(app, smtp_server):
    from services.outbox import _claim, _finish

    [message_id] = _queue(app)
    with app.app_context():
        stale_lease = _claim(message_id, utcnow(), count_attempt=True)
    # The first worker hangs past its lease; a second one sends the message.
    assert deliver_mail(app, now=utcnow() + timedelta(minutes=6)).sent == 1
    with app.app_context():
        _finish(message_id, stale_lease, MailStatus.QUEUED, last_error="late news")
    sent = _message(app, message_id)
    assert sent.status == MailStatus.SENT and sent.last_error is None


def test_a_message_that_keeps_crashing_workers_fails_in_the_end(app, app_config, smtp_server):
    from services.outbox import _claim

    [message_id] = _queue(app)
    now = utcnow()
    with app.app_context():
        for _attempt in range(app.config["MAIL_MAX_ATTEMPTS"]):
            assert _claim(message_id, now, count_attempt=True)  # the worker dies each time
            now += timedelta(minutes=6)
    assert deliver_mail(app, now=now).failed == 1
    assert _message(app, message_id).status == MailStatus.FAILED
    assert smtp_server.messages == []


def test_retry_leaves_a_message_being_sent_alone(app, smtp_server):
    from services.outbox import _claim, retry

    [message_id] = _queue(app)
    with app.app_context():
        assert _claim(message_id, utcnow(), count_attempt=True)
        assert retry(message_id) is False
        db.session.commit()
    assert _message(app, message_id).status == MailStatus.SENDING


def test_mail_deliver_command(app, runner):
    _queue(app, 2)
    result = runner.invoke(args=["mail", "deliver"])
    assert result.exit_code == 0
    assert "2 captured" in result.output


def test_mail_worker_command_delivers(app, app_config, smtp_server, monkeypatch):
    import services.outbox as outbox_module

    _queue(app)
    real = outbox_module.run_worker
    monkeypatch.setattr(
        outbox_module,
        "run_worker",
        lambda interval, stop: real(0.01, stop_after=0.05, stop=stop),
    )
    result = app.test_cli_runner().invoke(args=["mail", "worker", "--interval", "0.01"])
    assert result.exit_code == 0, result.output
    assert len(smtp_server.messages) == 1
    assert result.output.splitlines()[-1] == "Mail worker stopped."


# The worker as a process, with real signals: tests/mail/test_worker.py.


def test_the_lease_comes_from_the_configuration(app, app_config, smtp_server):
    from services.outbox import _claim

    app.config["MAIL_LEASE_SECONDS"] = 40
    [message_id] = _queue(app)
    before = utcnow()
    with app.app_context():
        lease = _claim(message_id, before, count_attempt=True)
    assert before + timedelta(seconds=40) <= lease <= utcnow() + timedelta(seconds=40)
    assert _message(app, message_id).locked_until == lease
    assert deliver_mail(app, now=lease - timedelta(seconds=1)).handled == 0
    assert deliver_mail(app, now=lease + timedelta(seconds=1)).sent == 1


@pytest.mark.parametrize(("lease", "warned"), [(300, False), (299, True), (60, True)])
def test_the_worker_warns_of_a_lease_not_well_above_the_timeout(app, caplog, lease, warned):
    import threading

    from services.outbox import run_worker

    app.config.update(MAIL_LEASE_SECONDS=lease, MAIL_TIMEOUT=30)
    stop = threading.Event()
    stop.set()
    with app.app_context(), caplog.at_level("WARNING", logger="services.outbox"):
        run_worker(1, stop=stop)
    assert ("MAIL_LEASE_SECONDS" in caplog.text) is warned


def test_a_stop_during_a_delivery_finishes_it_and_claims_no_other(app, smtp_server):
    import threading

    stop = threading.Event()
    original = smtp_server.handler.handle_DATA

    async def stop_while_sending(server, session, envelope):
        stop.set()  # SIGTERM arrives while the server has the message
        return await original(server, session, envelope)

    smtp_server.handler.handle_DATA = stop_while_sending
    first, *rest = _queue(app, 3)
    with app.app_context():
        from services.outbox import deliver_due

        report = deliver_due(stop=stop)
    assert report.sent == 1 and len(smtp_server.messages) == 1
    assert _message(app, first).status == MailStatus.SENT
    assert [(_message(app, i).status, _message(app, i).attempts) for i in rest] == [
        (MailStatus.QUEUED, 0)
    ] * 2


def test_a_stop_while_the_worker_waits_ends_the_wait(app):
    import threading

    from services.outbox import StopSignal, run_worker

    stop = StopSignal()
    rounds = []

    def run():
        with app.app_context():
            run_worker(3600, stop=stop)  # an hour between rounds
        rounds.append("returned")

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    stop.set("test")
    worker.join(timeout=30)  # a worker sleeping through the hour would still be in it
    assert rounds == ["returned"] and stop.reason == "test"
    stop.close()


def test_a_message_the_server_took_is_recorded_as_sent_whatever_follows(
    app, app_config, smtp_server
):
    """The record follows the server's reply with nothing in between: Flask-Mail's
    Connection.send reconnects there after MAIL_MAX_EMAILS messages, and a failure to
    would have been recorded as a failed delivery of a message that went out (and sent
    it again)."""
    from app import create_app

    worker_app = create_app({**app_config, "MAIL_MAX_EMAILS": 1})
    original = smtp_server.handler.handle_DATA

    async def take_and_stop_listening(server, session, envelope):
        smtp_server._controller.server.close()  # no connection after this one
        return await original(server, session, envelope)

    smtp_server.handler.handle_DATA = take_and_stop_listening
    [message_id] = _queue(app)
    report = deliver_mail(worker_app)
    with worker_app.app_context():
        db.engine.dispose()
    assert (report.sent, report.retrying) == (1, 0)
    assert _message(app, message_id).status == MailStatus.SENT
    assert len(smtp_server.messages) == 1


@pytest.fixture
def staff_client(client, auth, make_user):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    return client


def test_staff_read_captured_mail_in_full(app, staff_client):
    [message_id] = _queue(app)
    deliver_mail(app)
    listing = staff_client.get("/staff/mail").get_data(as_text=True)
    assert "person0@example.com" in listing
    detail = staff_client.get(f"/staff/mail/{message_id}").get_data(as_text=True)
    assert "Person 0" in detail and "http://x/y" in detail
    html = staff_client.get(f"/staff/mail/{message_id}/html")
    assert html.mimetype == "text/html" and b"Person 0" in html.data
    assert "default-src 'none'" in html.headers["Content-Security-Policy"]


def test_staff_filter_the_outbox_by_status(app, staff_client, smtp_server):
    smtp_server.stop()
    _queue(app)
    deliver_mail(app)
    assert "person0@example.com" in staff_client.get("/staff/mail?status=queued").get_data(
        as_text=True
    )
    assert "person0@example.com" not in staff_client.get("/staff/mail?status=sent").get_data(
        as_text=True
    )


def test_staff_retry_a_failed_message(app, staff_client, smtp_server):
    smtp_server.stop()
    [message_id] = _queue(app)
    now = utcnow()
    for _ in range(app.config["MAIL_MAX_ATTEMPTS"]):
        deliver_mail(app, now=now)
        now += timedelta(days=1)
    assert _message(app, message_id).status == MailStatus.FAILED

    response = staff_client.post(f"/staff/mail/{message_id}/retry")
    assert response.status_code == 303
    retried = _message(app, message_id)
    assert (retried.status, retried.attempts) == (MailStatus.QUEUED, 0)
    smtp_server.start()
    assert deliver_mail(app).sent == 1
    assert len(smtp_server.messages) == 1


def test_staff_download_an_attachment(app, staff_client):
    [message_id] = _queue(app, attachments=[Attachment("a.pdf", "application/pdf", b"%PDF-x")])
    with app.app_context():
        attachment_id = db.session.get(OutboxMessage, message_id).attachments[0].id
    response = staff_client.get(f"/staff/mail/{message_id}/attachments/{attachment_id}")
    assert response.data == b"%PDF-x"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert staff_client.get(f"/staff/mail/{message_id}/attachments/999").status_code == 404


def test_two_workers_at_once_send_each_message_exactly_once(app, app_config, smtp_server):
    """Two worker processes (separate apps, separate connections) racing on one outbox."""
    import threading

    from app import create_app

    ids = _queue(app, 12)
    workers = [create_app(app_config) for _ in range(2)]
    barrier = threading.Barrier(2)
    reports = []

    def work(worker_app):
        barrier.wait()
        reports.append(deliver_mail(worker_app))

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for worker_app in workers:
        with worker_app.app_context():
            db.engine.dispose()

    assert sum(r.sent for r in reports) == 12
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(
        f"person{i}@example.com" for i in range(12)
    )
    assert all(_message(app, i).status == MailStatus.SENT for i in ids)


def test_a_failed_mail_shows_on_the_record_it_belongs_to(app, client, auth, make_user, smtp_server):
    """Staff see on the organisation page that a user's mail never arrived."""
    customer = make_user("kunde@example.com", org="Demokunde_Test", name="Test Bruker")
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    smtp_server.stop()
    [message_id] = _queue(app, record=("user", customer.id))
    now = utcnow()
    page = f"/auth/organisations/{customer.organisation_id}"
    auth.login("staff@example.com")
    assert f"/staff/mail/{message_id}" not in client.get(page).get_data(as_text=True)
    for _attempt in range(app.config["MAIL_MAX_ATTEMPTS"]):
        deliver_mail(app, now=now)
        now += timedelta(days=1)
    text = client.get(page).get_data(as_text=True)
    assert f"/staff/mail/{message_id}" in text and "ConnectionRefusedError" in text


def test_staff_cannot_read_a_reset_link_that_was_really_sent(
    app, client, auth, make_user, smtp_server
):
    """With a real mail server, a password-reset link is for its recipient only."""
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    make_user("admin@example.com", role=Role.ADMIN, org=None, name="Admin")
    client.post("/auth/reset", data={"email": "admin@example.com"})
    deliver_mail(app)
    auth.login("staff@example.com")
    with app.app_context():
        message_id = db.session.scalar(sa.select(OutboxMessage.id))
    text = client.get(f"/staff/mail/{message_id}").get_data(as_text=True)
    assert "/auth/reset/" not in text
    assert client.get(f"/staff/mail/{message_id}/html").status_code == 404
    assert "/auth/reset/" in smtp_server.text_of(smtp_server.messages[0])


@pytest.mark.parametrize(("role", "visible"), [(Role.STAFF, False), (Role.ADMIN, True)])
def test_captured_password_links_are_for_admins_only(app, client, auth, make_user, role, visible):
    make_user("person@example.com", role=role, org=None, name="Person")
    make_user("admin2@example.com", role=Role.ADMIN, org=None, name="Admin")
    client.post("/auth/reset", data={"email": "admin2@example.com"})
    deliver_mail(app)
    auth.login("person@example.com")
    with app.app_context():
        message_id = db.session.scalar(sa.select(OutboxMessage.id))
    text = client.get(f"/staff/mail/{message_id}").get_data(as_text=True)
    assert ("/auth/reset/" in text) is visible
    assert (client.get(f"/staff/mail/{message_id}/html").status_code == 200) is visible


# --- Messages the worker writes -------------------------------------------------------


def _enrol_in(client, make_course, language: str, **extra) -> int:
    """An enrolment sent in the language; returns its course's id."""
    course = make_course(title="Julkiset hankinnat", price=0)
    response = client.post(
        f"/training/courses/{course.id}/enrol",
        data={
            "first_name": "Maija",
            "last_name": "Meikäläinen",
            "email": "maija@example.com",
            "organisation": "Testivirasto",
            "phone": "040 1234567",
            **extra,
        },
        headers={"Accept-Language": language},
    )
    assert response.status_code == 303
    return course.id


def test_the_worker_writes_a_queued_mail_in_its_language_zone_and_address(
    app, client, make_course, smtp_server
):
    app.config["BASE_URL"] = "https://portal.example.org"
    _enrol_in(client, make_course, "sv")
    [queued] = _all(app)
    assert queued.subject.startswith("Bekräftelse") and queued.body_text == ""
    assert (queued.language, queued.timezone) == ("sv", "Europe/Helsinki")
    assert deliver_mail(app).sent == 1
    [sent] = _all(app)
    assert sent.context is None  # forgotten once written
    text = smtp_server.text_of(smtp_server.messages[0])
    assert "Hej Maija," in text and "Meikäläinen" in text
    assert "https://portal.example.org/training/" in text  # links to the public address
    with app.test_request_context(headers={"Accept-Language": "sv"}):
        from flask_babel import format_time

        from services.timezones import shown_in_zone

        course = db.session.scalars(sa.select(Enrolment)).one().course
        with shown_in_zone("Europe/Helsinki"):
            start = format_time(course.starts_at, "short")
    assert start in text  # the course's own time, whoever enrolled
    assert sent.body_html.startswith("<!doctype html>") and 'lang="sv"' in sent.body_html


def test_a_queued_mail_keeps_only_what_it_shows(app, client, make_course):
    _enrol_in(client, make_course, "fi", diet="Gluteeniton", message="Tulen myöhässä")
    [queued] = _all(app)
    enrolment = queued.context["enrolment"]
    assert enrolment["phone"] == "+358 40 1234567" and enrolment["status"] == "sitova"
    for private in ("diet", "accessibility", "message", "job_title", "language"):
        assert private not in enrolment
    assert "Gluteeniton" not in str(queued.context) and "myöhässä" not in str(queued.context)


def test_a_mail_that_cannot_be_written_fails_like_a_delivery(app, client, make_course):
    from services.outbox import failed_mail_for

    _enrol_in(client, make_course, "fi")
    with app.app_context():
        message = db.session.scalar(sa.select(OutboxMessage))
        message.template = "no_such_mail"  # say, a template removed by an upgrade
        db.session.commit()
        message_id, enrolment_id = message.id, message.record_id
    now = utcnow()
    report = deliver_mail(app, now=now)
    assert (report.captured, report.retrying) == (0, 1)
    retrying = _message(app, message_id)
    assert retrying.status == MailStatus.QUEUED and retrying.attempts == 1
    assert "MailNotWritten: TemplateNotFound" in retrying.last_error
    for _attempt in range(app.config["MAIL_MAX_ATTEMPTS"]):
        now += timedelta(days=1)
        deliver_mail(app, now=now)
    assert _message(app, message_id).status == MailStatus.FAILED
    with app.app_context():
        assert [m.id for m in failed_mail_for("enrolment", enrolment_id)] == [message_id]


def test_staff_read_a_mail_the_worker_has_not_written_yet(app, client, make_course, make_user):
    _enrol_in(client, make_course, "fi")
    [queued] = _all(app)
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    client.post("/auth/login", data={"email": "staff@example.com", "password": PASSWORD})
    detail = client.get(f"/staff/mail/{queued.id}").get_data(as_text=True)
    assert "Hei Maija," in detail and "Julkiset hankinnat" in detail
    assert b"Hei Maija," in client.get(f"/staff/mail/{queued.id}/html").data
    assert _message(app, queued.id).body_text == ""  # read, not written


@pytest.mark.parametrize("value", [User(name="A"), Markup("<b>x</b>"), {1: "a"}, object()])
def test_a_context_for_the_worker_is_plain_data(app, value):
    with app.test_request_context(), pytest.raises(TypeError):
        queue_mail(
            "training_waiting",
            "a@example.com",
            language="fi",
            context={"enrolment": value},
            render_in_worker=True,
        )


def test_plain_data_comes_back_as_it_went(app):
    from decimal import Decimal

    from services.outbox import dump_context, load_context

    value = {
        "when": utcnow(),
        "day": utcnow().date(),
        "price": Decimal("290.50"),
        "list": [1, 2.5, True, None, "text"],
        "status": MailStatus.SENT,
    }
    stored = dump_context(value)
    assert json.loads(json.dumps(stored)) == stored
    assert load_context(stored) == {**value, "status": "sent"}
