"""Cancelling a course in the background: closed for good at once, then each enrolment
and place in line cancelled and its participant told by the task, the waiting list
first; the task's page shows how far it is, and a second click cancels nothing twice."""

from __future__ import annotations

import sqlalchemy as sa

from extensions import db
from forms.tasks import new_key
from models.mail import OutboxMessage
from models.tasks import Task, TaskState
from models.training import Enrolment, EnrolmentStatus
from tests.fixtures import training_staff as training_staff_fixtures
from tests.fixtures.tasks import run_tasks
from tests.fixtures.training_staff import EN, _course

enrol = training_staff_fixtures.enrol
make_course_id = training_staff_fixtures.make_course_id
staff = training_staff_fixtures.staff


def statuses(app, course_id: int) -> list[EnrolmentStatus]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(Enrolment.status)
                .where(Enrolment.course_id == course_id)
                .order_by(Enrolment.id)
            )
        )


def cancellation_mails(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboxMessage.recipients, OutboxMessage.template).order_by(OutboxMessage.id)
        )
        return [(r[0][0], r[1]) for r in rows if r[1] in ("training_cancelled", "training_offer")]


def test_staff_cancel_a_course_and_every_participant_is_told(
    app, client, staff, make_course_id, enrol
):
    course_id = make_course_id("Peruttava kurssi", capacity=2)
    enrol(course_id, "Aino", "A", "aino@example.com")
    enrol(course_id, "Bertta", "B", "bertta@example.com")
    enrol(course_id, "Celsius", "C", "celsius@example.com", waiting_list=True)
    text = client.get(f"/staff/training/courses/{course_id}", headers=EN).get_data(as_text=True)
    assert "Cancel the course and tell the participants" in text

    refused = client.post(
        f"/staff/training/courses/{course_id}/cancel", data={"key": new_key(), "reason": " "}
    )
    assert refused.status_code == 303 and _course(app, course_id).cancelled_at is None

    key = new_key()
    form = {"key": key, "reason": "Kouluttaja sairastui."}
    response = client.post(f"/staff/training/courses/{course_id}/cancel", data=form)
    assert response.status_code == 303 and "/tasks/" in response.location
    course = _course(app, course_id)
    assert course.cancelled_at is not None and course.is_open is False  # closed at once
    page = client.get(response.location, headers=EN).get_data(as_text=True)
    assert "0 of 3 handled" in page and 'badge--task-queued">Queued</span>' in page

    assert run_tasks(app) == 1
    assert statuses(app, course_id) == [EnrolmentStatus.CANCELLED] * 3
    # Everyone told once, the queue first; no freed seat offered to anyone.
    assert cancellation_mails(app) == [
        ("celsius@example.com", "training_cancelled"),
        ("aino@example.com", "training_cancelled"),
        ("bertta@example.com", "training_cancelled"),
    ]
    with app.app_context():
        task = db.session.scalars(sa.select(Task)).one()
        assert (task.state, task.processed, task.total) == (TaskState.DONE, 3, 3)
    page = client.get(response.location, headers=EN).get_data(as_text=True)
    assert "3 of 3 handled" in page and 'badge--task-done">Done</span>' in page

    # The same click again, or a new one, cancels nothing twice; it cannot be reopened.
    again = client.post(f"/staff/training/courses/{course_id}/cancel", data=form)
    assert again.location == response.location
    other = client.post(
        f"/staff/training/courses/{course_id}/cancel", data={"key": new_key(), "reason": "x"}
    )
    assert other.location == response.location
    assert run_tasks(app) == 0 and len(cancellation_mails(app)) == 3
    client.post(f"/staff/training/courses/{course_id}/close")
    assert _course(app, course_id).is_open is False
    page = client.get(f"/staff/training/courses/{course_id}", headers=EN).get_data(as_text=True)
    assert "cancelled on" in page and "Cancel the course and tell" not in page
    assert "Open for enrolment" not in page
