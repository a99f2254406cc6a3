"""Forwarding and reminding in the background (services/tasks.py, services/invoicing/
bulk.py): a forward by post or e-invoice is queued as a task whose state the invoice's
page shows; a double click sends once; the selected invoices go in one task with its
progress; a failure stays on the invoice and on the task, and a retry sends only what
failed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from extensions import db
from forms.tasks import new_key
from models.invoicing import InvoiceStatus, SalesInvoice
from models.tasks import ItemState, Task, TaskState
from models.types import utcnow
from services import tasks
from services.invoicing import print_service
from tests.fixtures import invoicing as invoicing_fixtures
from tests.fixtures.invoicing import (
    forward,
    helsinki_today,
    invoice_id,
    invoice_row,
    mails,
    page,
    print_jobs,
    sent_invoice,
)
from tests.fixtures.tasks import run_tasks

app_config = invoicing_fixtures.app_config
staff = invoicing_fixtures.staff
tiina = invoicing_fixtures.tiina


def all_tasks(app: Flask) -> list[Task]:
    with app.app_context():
        found = db.session.scalars(sa.select(Task).order_by(Task.id)).unique().all()
        for task in found:
            for item in task.items:
                db.session.expunge(item)
            db.session.expunge(task)
        return found


def post_forward(staff, number: str, key: str, finalise: bool = True):
    data = {"finalise": "1" if finalise else "0", "key": key}
    return staff.post(f"/staff/invoices/{number}/forward", data=data)


def test_a_posted_invoice_is_forwarded_in_the_background_and_a_double_click_sends_once(
    app, live_server, tiina, staff
):
    number = sent_invoice(tiina, app, "posti")
    key = new_key()
    first = post_forward(staff, number, key)
    second = post_forward(staff, number, key)  # the same click again, before the worker
    assert first.status_code == second.status_code == 302
    [task] = all_tasks(app)
    assert (task.kind, task.state, task.total) == ("invoice-forward", TaskState.QUEUED, 1)
    # Nothing has gone yet: the page says it is queued, and refreshes while it is.
    text = page(staff.get(f"/staff/invoices/{number}"))
    assert 'badge--task-queued">Queued</span>' in text
    assert 'data-task-refresh="on"' in text and "reload the page" in text
    assert print_jobs(app) == []
    assert invoice_row(app, number).status == InvoiceStatus.SUBMITTED

    assert run_tasks(app) == 1
    [task] = all_tasks(app)
    assert (task.state, task.processed, task.failed_count) == (TaskState.DONE, 1, 0)
    assert [item.state for item in task.items] == [ItemState.DONE]
    assert len(print_jobs(app)) == 1
    assert invoice_row(app, number).status == InvoiceStatus.OPEN
    assert len(mails(app, "invoicing_forwarded")) == 1
    # A third click from the page as it was (another key) finds it forwarded.
    third = post_forward(staff, number, new_key())
    assert "nothing was done twice" in page(staff.get(third.location))
    assert run_tasks(app) == 0 and len(print_jobs(app)) == 1
    text = page(staff.get(f"/tasks/{task.id}"))
    assert 'badge--task-done">Done</span>' in text and 'data-task-refresh="off"' in text


def test_the_selected_invoices_go_in_one_task_with_its_progress(app, live_server, tiina, staff):
    numbers = [sent_invoice(tiina, app, "posti", payer_name=f"Maksaja {n}") for n in range(3)]
    seen: list[tuple[int, int]] = []
    real_exchange = print_service.exchange

    def watching(*args, **kwargs):
        # What the task's page would show while the print service is called.
        with app.app_context():
            task = db.session.scalars(sa.select(Task)).one()
            seen.append((task.processed, task.total))
        return real_exchange(*args, **kwargs)

    key = new_key()
    form = {"key": key, "invoice": [str(invoice_id(app, n)) for n in numbers]}
    response = staff.post("/staff/invoices/forward-selected", data=form)
    assert response.status_code == 303
    [task] = all_tasks(app)
    assert response.location.endswith(f"/tasks/{task.id}")
    assert [item.label for item in task.items] == numbers
    text = page(staff.get(response.location))
    assert "0 of 3 handled" in text and '<progress max="3" value="0"' in text

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(print_service, "exchange", watching)
        run_tasks(app)
    assert seen == [(0, 3), (1, 3), (2, 3)]  # each step recorded as it went
    text = page(staff.get(response.location))
    assert "3 of 3 handled" in text and 'badge--task-done">Done</span>' in text
    assert len(print_jobs(app)) == 3
    assert {invoice_row(app, n).status for n in numbers} == {InvoiceStatus.OPEN}
    # The same form sent again queues nothing more.
    again = staff.post("/staff/invoices/forward-selected", data=form)
    assert again.location.endswith(f"/tasks/{task.id}") and len(all_tasks(app)) == 1


def test_a_failure_shows_on_the_invoice_and_the_task_and_a_retry_sends_only_what_failed(
    app, live_server, tiina, staff, monkeypatch
):
    numbers = [sent_invoice(tiina, app, "posti", payer_name=f"Maksaja {n}") for n in range(2)]
    failing = invoice_id(app, numbers[1])
    real_exchange = print_service.exchange

    def second_down(*args, **kwargs):
        from services.invoicing.forwarding_errors import ForwardingError

        with app.app_context():
            waiting = db.session.scalars(
                sa.select(SalesInvoice.id).where(SalesInvoice.status == InvoiceStatus.FORWARDING)
            ).all()
        if failing in waiting:
            raise ForwardingError("The print service did not answer within 30 seconds.")
        return real_exchange(*args, **kwargs)

    monkeypatch.setattr(print_service, "exchange", second_down)
    form = {"key": new_key(), "invoice": [str(invoice_id(app, n)) for n in numbers]}
    response = staff.post("/staff/invoices/forward-selected", data=form)
    run_tasks(app)
    [task] = all_tasks(app)
    assert (task.state, task.processed, task.failed_count) == (TaskState.FAILED, 2, 1)
    assert "1 of 2 failed" in task.error
    assert [item.state for item in task.items] == [ItemState.DONE, ItemState.FAILED]
    assert "did not answer" in task.items[1].error
    text = page(staff.get(response.location))
    assert 'badge--task-failed">Failed</span>' in text and "Try again" in text
    # On the invoice's own page: the task's failure and the invoice's, back on the desk.
    text = page(staff.get(f"/staff/invoices/{numbers[1]}"))
    assert 'badge--task-failed">Failed</span>' in text and "did not answer" in text
    assert "Forwarding failed: the invoice was not sent" in text
    assert invoice_row(app, numbers[1]).status == InvoiceStatus.SUBMITTED

    monkeypatch.setattr(print_service, "exchange", real_exchange)  # the service is back
    retried = staff.post(f"/tasks/{task.id}/retry", data={"key": new_key()})
    assert retried.status_code == 303
    again = staff.post(f"/tasks/{task.id}/retry", data={"key": new_key()})
    assert "nothing was queued twice" in page(staff.get(again.location))
    run_tasks(app)
    [task] = all_tasks(app)
    assert (task.state, task.processed, task.failed_count, task.error) == (
        TaskState.DONE,
        2,
        0,
        "",
    )
    assert len(print_jobs(app)) == 2  # the first invoice was not printed again
    assert {invoice_row(app, n).status for n in numbers} == {InvoiceStatus.OPEN}


def test_a_task_whose_worker_died_is_taken_up_again_and_given_up_after_its_attempts(
    app, live_server, tiina, staff
):
    number = sent_invoice(tiina, app, "posti")
    post_forward(staff, number, new_key())
    with app.app_context():
        claimed = tasks.claim_next()
        assert claimed is not None and tasks.claim_next() is None  # one worker has it
        # The worker dies: its lease runs out, and another takes the task over.
        db.session.execute(sa.update(Task).values(locked_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        task_id, lease = tasks.claim_next()
        assert tasks.run_claimed(task_id, lease) == TaskState.DONE
        # The first worker, back from the dead, cannot record anything over it.
        assert not tasks.Progress(*claimed).finish(TaskState.FAILED)
    [task] = all_tasks(app)
    assert (task.state, task.attempts) == (TaskState.DONE, 2)
    assert len(print_jobs(app)) == 1

    other = sent_invoice(tiina, app, "posti", payer_name="Toinen Maksaja")
    post_forward(staff, other, new_key())
    with app.app_context():
        for _attempt in range(app.config["TASK_MAX_ATTEMPTS"] + 1):
            assert tasks.claim_next() is not None  # each worker dies at once
            db.session.execute(
                sa.update(Task)
                .where(Task.state == TaskState.RUNNING)
                .values(locked_until=utcnow() - timedelta(seconds=1))
            )
            db.session.commit()
        task_id, lease = tasks.claim_next()
        assert tasks.run_claimed(task_id, lease) == TaskState.FAILED
    task = all_tasks(app)[-1]
    assert "too many times" in task.error and len(print_jobs(app)) == 1


def test_the_selected_receivables_are_reminded_in_the_background(app, tiina, staff):
    numbers = [invoicing_fixtures.open_invoice(app, tiina, staff) for _n in range(2)]
    with app.app_context():
        db.session.execute(
            sa.update(SalesInvoice)
            .where(SalesInvoice.number == numbers[0])
            .values(due_date=helsinki_today() - timedelta(days=15))
        )
        db.session.commit()
    text = page(staff.get("/staff/invoices/receivables"))
    assert re.search(r'name="invoice" value="\d+"', text) and "Send reminders to the" in text
    form = {"key": new_key(), "invoice": [str(invoice_id(app, n)) for n in numbers]}
    response = staff.post("/staff/invoices/receivables/reminders", data=form)
    assert response.status_code == 303
    run_tasks(app)
    [task] = all_tasks(app)
    assert task.kind == "invoice-reminders" and task.state == TaskState.DONE
    # The overdue one is reminded; the other is not due yet, and the task says why.
    assert [item.state for item in task.items] == [ItemState.DONE, ItemState.SKIPPED]
    assert "The next reminder can be sent from" in task.items[1].error
    assert len(mails(app, "invoicing_reminder")) == 1
    assert invoice_row(app, numbers[0]).reminder_count == 1


def test_no_selection_and_a_foreign_id_queue_nothing(app, tiina, staff):
    number = sent_invoice(tiina, app, "sahkoposti")
    forward(staff, number)  # no longer on the desk
    form = {"key": new_key(), "invoice": [str(invoice_id(app, number)), "999999", "x'1"]}
    response = staff.post("/staff/invoices/forward-selected", data=form)
    assert "Tick the invoices to forward first." in page(staff.get(response.location))
    assert staff.post("/staff/invoices/forward-selected", data={}).status_code == 400
    assert all_tasks(app) == []


def test_a_customer_sees_no_staff_task(app, live_server, tiina, staff):
    number = sent_invoice(tiina, app, "posti")
    post_forward(staff, number, new_key())
    [task] = all_tasks(app)
    assert tiina.get(f"/tasks/{task.id}").status_code == 404
    assert tiina.post(f"/tasks/{task.id}/retry", data={"key": new_key()}).status_code == 404
    assert tiina.post("/staff/invoices/forward-selected", data={}).status_code in (302, 403)
    assert f'href="/tasks/{task.id}"' not in page(tiina.get("/tasks/"))


@pytest.mark.parametrize(
    ("back", "expected"),
    [
        ("/staff/invoices/?after=3", "/staff/invoices/?after=3"),  # the page it came from
        ("//evil.example/", None),
        ("/\\evil.example/", None),
        ("https://evil.example/", None),
        ("http://[", None),
    ],
)
def test_a_retry_returns_only_to_a_page_of_the_portal(app, tiina, staff, back, expected):
    number = sent_invoice(tiina, app, "posti")
    post_forward(staff, number, new_key())
    with app.app_context():
        task = db.session.scalars(sa.select(Task)).one()
        task.state = TaskState.FAILED
        db.session.commit()
        task_id = task.id
    response = staff.post(f"/tasks/{task_id}/retry", data={"key": new_key(), "next": back})
    assert response.status_code == 303
    assert response.location == (expected or f"/tasks/{task_id}")


def test_an_id_no_database_holds_is_no_error(app, staff):
    form = {"key": new_key(), "invoice": ["99999999999999", "0"]}
    for path in ("/staff/invoices/forward-selected", "/staff/invoices/receivables/reminders"):
        assert staff.post(path, data=form | {"key": new_key()}).status_code == 303
    assert all_tasks(app) == []


def test_the_uploads_and_files_of_old_tasks_are_forgotten(app, live_server, tiina, staff):
    number = sent_invoice(tiina, app, "posti")
    post_forward(staff, number, new_key())
    with app.app_context():
        task = db.session.scalars(sa.select(Task)).one()
        task.state, task.payload, task.file_name, task.file_data = (
            TaskState.FAILED,
            b"<Document/>",
            "x.csv",
            b"a;b",
        )
        task.finished_at = utcnow() - timedelta(days=app.config["TASK_FILE_DAYS"] + 1)
        db.session.commit()
        assert tasks.purge_files() == 1 and tasks.purge_files() == 0
        db.session.expire_all()
        task = db.session.scalars(sa.select(Task)).one()
        assert (task.payload, task.file_name, task.file_data) == (None, None, None)
