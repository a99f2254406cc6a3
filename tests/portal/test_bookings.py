"""The customer portal over HTTP: bookings, employees placed on their times, and the
self-declarations that only health personnel read."""

from __future__ import annotations

import html as html_module
import re
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from babel.dates import format_datetime

from extensions import db
from models.auth import Role
from models.mail import OutboxMessage
from models.portal import Booking, Placement
from services import portal
from services.timezones import local_to_utc
from tests.fixtures import portal as portal_fixtures
from tests.fixtures.app import run_together
from tests.fixtures.mail import deliver_mail
from tests.fixtures.portal import (
    COMPANY,
    CUSTOMER,
    NURSE,
    OSLO,
    Company,
    add_booking,
    add_employee,
    add_order,
    count,
    field_error,
    get,
    get_order_id,
    location,
    login,
    place,
    place_directly,
    select_options,
    slots_of,
    table_row,
    text,
    utc,
)

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The portal's world (tests/fixtures/portal.py).
company = portal_fixtures.company
customer = portal_fixtures.customer
health = portal_fixtures.health
open_booking = portal_fixtures.open_booking
staff = portal_fixtures.staff


# ================================================================= 4. bookings


def local_input(value: datetime) -> str:
    """A datetime-local field's text for an Oslo wall-clock time."""
    return value.strftime("%Y-%m-%dT%H:%M")


def staff_create_booking(staff, company: Company, *, deadline: datetime, **values) -> int:
    data = {
        "organisation": COMPANY,
        "order_number": "",
        "title": "Helsekontroll",
        "place": "Helsestasjonen, Storgata 10, 0155 Oslo",
        "what_to_bring": "Legitimasjon og briller. Kom fastende.",
        "deadline": local_input(deadline),
        **values,
    }
    response = staff.post("/staff/portal/bookings/new", data=data)
    assert response.status_code == 302, text(response)
    return int(location(response).rsplit("/", 1)[1])


def staff_add_slot(staff, booking_id: int, starts: datetime, minutes=45, capacity=2):
    return staff.post(
        f"/staff/portal/bookings/{booking_id}",
        data={
            "starts_at": local_input(starts),
            "ends_at": local_input(starts + timedelta(minutes=minutes)),
            "capacity": str(capacity),
        },
    )


def placements_of(app, booking_id: int, active_only: bool = True) -> list[Placement]:
    with app.app_context():
        stmt = sa.select(Placement).where(Placement.booking_id == booking_id)
        if active_only:
            stmt = stmt.where(Placement.removed_at.is_(None))
        rows = db.session.scalars(stmt.order_by(Placement.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def next_week_at(hour: int) -> datetime:
    """A naive Oslo wall-clock time a week ahead."""
    return datetime.combine(portal.today() + timedelta(days=7), time(hour))


def test_a_placed_employee_gets_the_details_and_answers_the_self_declaration(
    app, smtp_server, customer, staff, health, company, client
):
    deadline = next_week_at(16) - timedelta(days=2)
    booking_id = staff_create_booking(staff, company, deadline=deadline)
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert booking.deadline == local_to_utc(deadline, OSLO)
        assert booking.organisation_id == company.id
    assert staff_add_slot(staff, booking_id, next_week_at(9)).status_code == 302
    assert staff_add_slot(staff, booking_id, next_week_at(10), capacity=1).status_code == 302
    first, second = slots_of(app, booking_id)
    assert (first.capacity, first.taken, second.capacity) == (2, 0, 1)
    assert first.starts_at == local_to_utc(next_week_at(9), OSLO)

    employee_id = add_employee(app, company.id, "Per", "Olsen", "per.olsen@firma.no")
    booking_page = text(customer.get(f"/portal/bookings/{booking_id}"))
    assert "Helsekontroll" in booking_page and "Storgata 10" in booking_page
    assert f'href="/portal/bookings/{booking_id}"' in text(customer.get("/portal/"))
    response = place(customer, booking_id, employee_id, first.id)
    assert location(response) == f"/portal/bookings/{booking_id}"
    assert slots_of(app, booking_id)[0].taken == 1
    assert "Per Olsen" in text(customer.get(f"/portal/bookings/{booking_id}"))

    deliver_mail(app)
    [mail] = smtp_server.messages
    assert mail["To"] == "per.olsen@firma.no"
    body = smtp_server.text_of(mail)
    assert "Helsekontroll" in body
    assert "09:00" in body or "09.00" in body  # Norwegian time, as staff typed it
    assert "Storgata 10, 0155 Oslo" in body
    assert "Legitimasjon og briller. Kom fastende." in body
    link = re.search(r"http://portal\.test/portal/egenerklaering/([^\s?]+)", body)
    assert link, body
    token = link.group(1)

    # The link works without logging in, in the language of the employee's browser.
    norwegian = client.get(f"/portal/egenerklaering/{token}", headers={"Accept-Language": "nb"})
    assert norwegian.status_code == 200 and '<html lang="nb">' in text(norwegian)
    english = {"Accept-Language": "en"}
    form = client.get(f"/portal/egenerklaering/{token}", headers=english)
    assert form.status_code == 200
    assert "Do you use medicines regularly?" in text(form) and "Per" in text(form)
    incomplete = client.post(
        f"/portal/egenerklaering/{token}", data={"illness": "yes"}, headers=english
    )
    assert incomplete.status_code == 400
    assert field_error(text(incomplete), "medication") == "Answer yes or no."
    answers = {
        "illness": "yes",
        "medication": "no",
        "noise": "yes",
        "chemicals": "no",
        "talk": "no",
        "other": "Allergisk mot lateks.",
    }
    assert {key for key, _label in portal.DECLARATION_QUESTIONS} == set(answers) - {"other"}
    done = client.post(f"/portal/egenerklaering/{token}", data=answers)
    assert done.status_code == 200
    [placement] = placements_of(app, booking_id)
    assert placement.declaration == answers and placement.declared_at is not None
    assert placement.employee_id == employee_id and placement.placed_by == CUSTOMER
    assert "answered" in table_row(text(customer.get(f"/portal/bookings/{booking_id}")), "Per")

    staff_page = text(health.get(f"/staff/portal/bookings/{booking_id}"))
    for key, question in portal.DECLARATION_QUESTIONS:
        shown = "Yes" if answers[key] == "yes" else "No"
        assert f"{question} <strong>{shown}</strong>" in html_module.unescape(staff_page), key
    assert "Allergisk mot lateks." in staff_page
    assert client.get("/portal/egenerklaering/" + "x" * 43).status_code == 404
    assert client.post("/portal/egenerklaering/wrong", data=answers).status_code == 404
    assert client.get(f"/portal/egenerklaering/{token[:-1]}").status_code == 404


def answered_booking(app, company: Company) -> tuple[int, int, int]:
    """A booking with two employees placed, one of whom has answered the self-declaration:
    (booking id, the answered placement's id, the other's)."""
    booking_id, [slot_id] = add_booking(app, company.id, capacities=(2,))
    answered = place_directly(
        app, slot_id, add_employee(app, company.id, "Per", "Olsen", "per.olsen@firma.no")
    )
    unanswered = place_directly(
        app, slot_id, add_employee(app, company.id, "Kari", "Dahl", "kari.dahl@firma.no")
    )
    with app.app_context():
        answers = {key: "yes" for key, _label in portal.DECLARATION_QUESTIONS}
        answers["other"] = "Allergisk mot lateks."
        portal.save_declaration(db.session.get(Placement, answered), answers)
        db.session.commit()
    return booking_id, answered, unanswered


def health_openings(app) -> list[tuple[str, str]]:
    """The audit log's openings of self-declarations: (record id, who)."""
    from models.audit import AuditAction, AuditEvent

    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                sa.select(AuditEvent.record_id, AuditEvent.actor_email)
                .where(AuditEvent.action == AuditAction.HEALTH_OPENED.value)
                .order_by(AuditEvent.id)
            )
        ]


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
def test_only_health_personnel_read_the_self_declarations_answers(
    app, make_user, company, health, role
):
    """Customer service, the account manager and even admins see that a declaration was
    sent and when; only health personnel see the answers, and each opening is logged."""
    booking_id, answered, _unanswered = answered_booking(app, company)
    url = f"/staff/portal/bookings/{booking_id}"
    make_user("kollega@example.com", role=role, org=None, name="Kollega", language="en")
    colleague = login(app, "kollega@example.com")
    page = text(colleague.get(url))
    assert "Allergisk" not in page and "<strong>Yes</strong>" not in page
    for _key, question in portal.DECLARATION_QUESTIONS:
        assert html_module.escape(str(question)) not in page
    with app.app_context():
        declared_at = db.session.get(Placement, answered).declared_at
    sent = format_datetime(declared_at, "short", tzinfo=OSLO, locale="en")
    assert f"Sent {sent}" in table_row(page, "Per Olsen")  # Norwegian time
    assert "not answered yet" in table_row(page, "Kari Dahl")
    assert health_openings(app) == []  # nothing was shown, nothing is recorded

    page = text(health.get(url))
    assert "Allergisk mot lateks." in page and "Sent" in table_row(page, "Per Olsen")
    for _key, question in portal.DECLARATION_QUESTIONS:
        assert f"{html_module.escape(str(question))} <strong>Yes</strong>" in page
    assert health_openings(app) == [(str(answered), NURSE)]


def test_staff_check_the_booking_and_its_times(app, staff, company):
    response = staff.post("/staff/portal/bookings/new", data={"organisation": COMPANY})
    assert response.status_code == 200 and field_error(text(response), "title")
    wrong_order = staff.post(
        "/staff/portal/bookings/new",
        data={
            "organisation": COMPANY,
            "order_number": "300099",
            "title": "X",
            "place": "Oslo",
            "deadline": local_input(next_week_at(12)),
        },
    )
    assert field_error(text(wrong_order), "order_number") == (
        "The company has no order with this number."
    )
    assert count(app, Booking) == 0
    booking_id = staff_create_booking(staff, company, deadline=next_week_at(12))
    backwards = staff_add_slot(staff, booking_id, next_week_at(9), minutes=-30)
    assert backwards.status_code == 400
    assert field_error(text(backwards), "ends_at") == "The end must be after the start."
    empty = staff_add_slot(staff, booking_id, next_week_at(9), capacity=0)
    assert empty.status_code == 400 and field_error(text(empty), "capacity")
    assert slots_of(app, booking_id) == []


def test_a_booking_may_belong_to_an_order(app, customer, staff, company):
    add_order(app, company.id, 300070, at=utc(2024, 5, 1))
    booking_id = staff_create_booking(
        staff, company, deadline=next_week_at(12), order_number="300070"
    )
    assert get(app, Booking, booking_id).order_id == get_order_id(app, 300070)
    assert f'href="/portal/bookings/{booking_id}"' in text(customer.get("/portal/orders/300070"))


def test_a_full_slot_refuses_more(app, customer, open_booking):
    booking_id, [small, _big], [first, second, _third] = open_booking
    assert place(customer, booking_id, first, small).status_code == 302
    response = place(customer, booking_id, second, small)
    assert response.status_code == 400
    assert field_error(text(response), "slot") == "That time just filled up: choose another."
    assert slots_of(app, booking_id)[0].taken == 1
    assert [p.employee_id for p in placements_of(app, booking_id)] == [first]
    full = re.search(
        rf'<option[^>]*value="{small}"[^>]*>', text(customer.get(f"/portal/bookings/{booking_id}"))
    ).group(0)
    assert "disabled" in full


def test_an_employee_is_placed_once_per_booking(app, customer, open_booking):
    booking_id, [small, big], [first, _second, _third] = open_booking
    assert place(customer, booking_id, first, big).status_code == 302
    for slot in (big, small):
        response = place(customer, booking_id, first, slot)
        assert response.status_code == 400
        assert field_error(text(response), "employee") is not None
    assert len(placements_of(app, booking_id)) == 1
    assert [s.taken for s in slots_of(app, booking_id)] == [0, 1]


def test_a_large_company_searches_the_employee_to_place(app, customer, open_booking, monkeypatch):
    from blueprints.portal import bookings

    monkeypatch.setattr(bookings, "PLACE_CHOICES", 2)
    booking_id, [_small, big], [first, second, third] = open_booking
    page = text(customer.get(f"/portal/bookings/{booking_id}"))
    offered = [key for key in select_options(page, "employee") if key]
    assert offered == [str(first), str(second)] and 'name="q"' in page
    found = text(customer.get(f"/portal/bookings/{booking_id}?q=ansatt2"))
    assert [key for key in select_options(found, "employee") if key] == [str(third)]
    # One not offered on the first list can still be placed: the form takes the posted one.
    assert place(customer, booking_id, third, big).status_code == 302
    assert [p.employee_id for p in placements_of(app, booking_id)] == [third]


def test_the_place_form_needs_an_employee_and_a_time(app, customer, open_booking):
    booking_id, [small, _big], [first, *_] = open_booking
    response = customer.post(f"/portal/bookings/{booking_id}/place", data={})
    assert response.status_code == 400
    assert field_error(text(response), "employee") and field_error(text(response), "slot")
    assert place(customer, booking_id, first, 999999).status_code == 400
    assert placements_of(app, booking_id) == []


def test_removal_before_the_deadline_frees_the_place(app, customer, open_booking, client):
    booking_id, [small, _big], [first, second, _third] = open_booking
    place(customer, booking_id, first, small)
    [placement] = placements_of(app, booking_id)
    token_mail = get_placed_mail(app, first)
    token = re.search(r"/portal/egenerklaering/([^\s?]+)", token_mail).group(1)
    response = customer.post(f"/portal/placements/{placement.id}/remove")
    assert location(response) == f"/portal/bookings/{booking_id}"
    assert slots_of(app, booking_id)[0].taken == 0
    assert placements_of(app, booking_id) == []
    assert get(app, Placement, placement.id).removed_at is not None
    assert client.get(f"/portal/egenerklaering/{token}").status_code == 404
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).where(OutboxMessage.template == "portal_booking_removed")
            )
            == 1
        )
    # The freed place can be taken, by the same employee too.
    assert place(customer, booking_id, second, small).status_code == 302
    customer.post(f"/portal/placements/{placements_of(app, booking_id)[0].id}/remove")
    assert place(customer, booking_id, first, small).status_code == 302
    assert slots_of(app, booking_id)[0].taken == 1
    # Removing twice changes nothing.
    customer.post(f"/portal/placements/{placement.id}/remove")
    assert slots_of(app, booking_id)[0].taken == 1


def get_placed_mail(app, employee_id: int) -> str:
    with app.app_context():
        placement_ids = db.session.scalars(
            sa.select(Placement.id).where(Placement.employee_id == employee_id)
        ).all()
        message = db.session.scalar(
            sa.select(OutboxMessage)
            .where(
                OutboxMessage.template == "portal_booking_placed",
                OutboxMessage.record_id.in_([str(i) for i in placement_ids]),
            )
            .order_by(OutboxMessage.id.desc())
        )
        return message.body_text


def test_after_the_deadline_only_staff_change_the_placements(app, customer, staff, open_booking):
    booking_id, [small, big], [first, second, _third] = open_booking
    place(customer, booking_id, first, big)
    [placement] = placements_of(app, booking_id)
    with app.app_context():
        db.session.get(Booking, booking_id).deadline = datetime.now(UTC) - timedelta(minutes=1)
        db.session.commit()

    page = text(customer.get(f"/portal/bookings/{booking_id}"))
    assert "The deadline has passed" in page and 'id="employee"' not in page
    refused = place(customer, booking_id, second, big)
    assert refused.status_code == 400
    assert "The deadline has passed" in text(refused)
    customer.post(f"/portal/placements/{placement.id}/remove")
    assert [p.id for p in placements_of(app, booking_id)] == [placement.id]
    assert slots_of(app, booking_id)[1].taken == 1

    response = staff.post(f"/staff/portal/placements/{placement.id}/remove")
    assert location(response) == f"/staff/portal/bookings/{booking_id}"
    assert placements_of(app, booking_id) == []
    assert slots_of(app, booking_id)[1].taken == 0


def test_staff_mark_attendance(app, staff, customer, open_booking):
    booking_id, [small, big], [first, second, _third] = open_booking
    place(customer, booking_id, first, big)
    place(customer, booking_id, second, big)
    one, two = placements_of(app, booking_id)
    staff.post(f"/staff/portal/placements/{one.id}/attended", data={"attended": "yes"})
    staff.post(f"/staff/portal/placements/{two.id}/attended", data={"attended": "no"})
    assert get(app, Placement, one.id).attended is True
    assert get(app, Placement, two.id).attended is False
    assert customer.post(f"/staff/portal/placements/{one.id}/attended").status_code == 403


def test_two_simultaneous_placements_never_overfill_a_slot(app, app_config, company):
    from app import create_app

    booking_id, [slot_id] = add_booking(app, company.id, capacities=(1,))
    employees = [add_employee(app, company.id, f"Samtidig{n}", "Test") for n in range(2)]
    apps = [create_app(app_config) for _ in employees]
    clients = [login(worker_app, CUSTOMER) for worker_app in apps]
    statuses: list[int] = []

    def attempt(worker_app, n):
        statuses.append(place(clients[n], booking_id, employees[n], slot_id).status_code)

    run_together(attempt, apps)
    assert sorted(statuses) == [302, 400]
    assert slots_of(app, booking_id)[0].taken == 1
    assert len(placements_of(app, booking_id)) == 1


def test_one_employee_placed_twice_at_once_is_placed_once(app, app_config, company):
    """Into two slots of one booking at the same instant: one wins, the other is refused
    (no error page), and no place is lost."""
    from app import create_app

    booking_id, slots = add_booking(app, company.id, capacities=(1, 1))
    employee_id = add_employee(app, company.id, "Samme", "Test")
    apps = [create_app(app_config) for _ in slots]
    clients = [login(worker_app, CUSTOMER) for worker_app in apps]
    statuses: list[int] = []

    def attempt(worker_app, n):
        statuses.append(place(clients[n], booking_id, employee_id, slots[n]).status_code)

    run_together(attempt, apps)
    assert sorted(statuses)[0] == 302 and sorted(statuses)[1] in (400, 409)
    assert len(placements_of(app, booking_id)) == 1
    assert sum(s.taken for s in slots_of(app, booking_id)) == 1


def test_the_customer_sees_the_times_in_norwegian_time(app, customer, staff, company):
    booking_id = staff_create_booking(staff, company, deadline=next_week_at(16) - timedelta(days=2))
    staff_add_slot(staff, booking_id, next_week_at(9))
    html = text(customer.get(f"/portal/bookings/{booking_id}"))
    assert re.search(r"9:00\W*AM\W9:45\W*AM", html)
    assert re.search(r"Changes until</dt><dd>[^<]*4:00\W*PM", html)


def test_staff_see_a_bookings_times_as_they_typed_them(app, staff, company):
    booking_id = staff_create_booking(staff, company, deadline=next_week_at(16) - timedelta(days=2))
    staff_add_slot(staff, booking_id, next_week_at(9))
    html = text(staff.get(f"/staff/portal/bookings/{booking_id}"))
    heading = re.search(r"<h2>([^<]*places taken[^<]*)</h2>", html).group(1)
    assert re.search(r"9:00\W*AM\W9:45\W*AM", heading), heading
    assert re.search(r"Changes until</dt><dd>[^<]*4:00\W*PM", html)
