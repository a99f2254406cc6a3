"""The helpdesk around the tickets: the teams a new ticket goes to and who is told of it,
giving a ticket to a colleague or a team, the queue's scopes and due times, the clock that
stops while a ticket waits for the customer, copies to the customer's colleagues, merging
a duplicate, internal notes kept from the customer, the morning summary of late tickets,
and the staff's pages of the teams."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, format_datetime, gettext

from extensions import db
from models.auth import Role, User
from models.mail import OutboxMessage
from models.support import (
    Application,
    EntryKind,
    InboundMail,
    InboundState,
    Team,
    TeamKind,
    TicketStatus,
    TicketType,
    Urgency,
)
from models.types import utcnow
from services import accounts, outbox, service_hours, support, support_desk, support_sla
from tests.fixtures import support as support_fixtures
from tests.fixtures.support import contact_data
from tests.fixtures.users import login

applications = support_fixtures.applications

HELSINKI = ZoneInfo("Europe/Helsinki")
CUSTOMER = "maija@example.com"  # Testivirasto
COLLEAGUE = "kalle.kollega@example.com"  # Testivirasto too
OUTSIDER = "olli@example.com"  # Toinen Oy
KAISA = "kaisa@example.com"  # staff, Finnish
PEKKA = "pekka@example.com"  # staff, English
SUPPORT_ADDRESS = "tuki-tiimi@example.com"


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Helsinki wall-clock moment, aware."""
    return datetime(year, month, day, hour, minute, tzinfo=HELSINKI)


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def customer(make_user, auth, applications):
    """Maija of Testivirasto, logged in on `client`."""
    user = make_user(CUSTOMER, org="Testivirasto", name="Maija Meikäläinen")
    auth.login(CUSTOMER)
    return user


@pytest.fixture
def colleague(make_user):
    return make_user(COLLEAGUE, org="Testivirasto", name="Kalle Kollega")


@pytest.fixture
def outsider(make_user):
    return make_user(OUTSIDER, org="Toinen Oy", name="Olli Ulkopuolinen")


@pytest.fixture
def kaisa(make_user):
    return make_user(KAISA, role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa Käsittelijä")


@pytest.fixture
def pekka(make_user):
    return make_user(
        PEKKA, role=Role.STAFF, org="Palveluportaali Oy", name="Pekka Ylläpitäjä", language="en"
    )


@pytest.fixture
def staff_client(app, kaisa, applications):
    """Kaisa, logged in: the staff pages in Finnish."""
    return login(app, KAISA)


@pytest.fixture(autouse=True)
def _support_address(app):
    app.config["SUPPORT_TEAM_EMAIL"] = SUPPORT_ADDRESS


def send(client, applications, part: str = "training", **overrides) -> str:
    """A contact sent through the form; its ticket number."""
    app_id, sub_id = applications[part]
    data = contact_data(
        applications, application=str(app_id), sub_application=str(sub_id), **overrides
    )
    response = client.post("/support/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return re.fullmatch(r"/support/tickets/([^/]+)/sent", response.headers["Location"]).group(1)


def create(
    app,
    applications,
    part: str = "training",
    *,
    email: str = CUSTOMER,
    type: TicketType = TicketType.SUPPORT_REQUEST,
    urgency: Urgency = Urgency.NORMAL,
    message: str = "viesti",
) -> str:
    """A ticket made by the service, as the form makes it; its number."""
    with app.test_request_context():
        user = accounts.user_by_email(email)
        contact = support.Contact(
            type=type,
            urgency=urgency,
            email=user.email,
            application=db.session.get(Application, applications[part][0]),
            sub_application=None,
            target_reference=None,
            message=message,
        )
        number = support.create_ticket(user, contact, [], "fi").number
        db.session.commit()
        return number


def row(app, number: str) -> SimpleNamespace:
    """What a ticket holds, read fresh."""
    with app.app_context():
        t = support.by_number(number)
        return SimpleNamespace(
            id=t.id,
            status=t.status,
            type=t.type,
            urgency=t.urgency,
            assignee_id=t.assignee_id,
            team_id=t.team_id,
            created_at=t.created_at,
            first_response_due=t.first_response_due,
            first_response_at=t.first_response_at,
            resolution_due=t.resolution_due,
            due_at=t.due_at,
            paused_minutes=t.paused_minutes,
            merged_into_id=t.merged_into_id,
            entries=[(e.kind, e.body) for e in t.entries],
            cc=[u.email for u in t.cc_users],
        )


def update(app, number: str, **values) -> None:
    with app.app_context():
        ticket = support.by_number(number)
        for name, value in values.items():
            setattr(ticket, name, value)
        db.session.commit()


def mails(app, template: str | None = None) -> list[SimpleNamespace]:
    """The outbox's messages, with their bodies as the mail worker writes them."""
    with app.test_request_context():
        stmt = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        if template:
            stmt = stmt.where(OutboxMessage.template == template)
        found = []
        for m in db.session.scalars(stmt):
            text, body_html = outbox.bodies(m)
            found.append(
                SimpleNamespace(
                    template=m.template,
                    recipients=list(m.recipients),
                    language=m.language,
                    subject=m.subject,
                    text=text,
                    html=body_html or "",
                    context=outbox.load_context(m.context) if m.context else None,
                )
            )
        return found


def team_id(app, part: str | None = None) -> int:
    """The maintenance team of the application of a part, or the customer service."""
    with app.app_context():
        if part is None:
            stmt = sa.select(Team.id).where(Team.kind == TeamKind.CUSTOMER_SERVICE)
        else:
            stmt = (
                sa.select(Team.id)
                .join(Application, Team.application_id == Application.id)
                .where(Application.part == part)
            )
        return db.session.scalars(stmt).one()


def set_team(app, team: int, members: tuple = (), **values) -> None:
    """Give a team its members (users or addresses) and other fields."""
    with app.app_context():
        row_ = db.session.get(Team, team)
        row_.members = [
            db.session.scalars(sa.select(User).where(User.email == getattr(m, "email", m))).one()
            for m in members
        ]
        for name, value in values.items():
            setattr(row_, name, value)
        db.session.commit()


def finnish(app, text: str, **values) -> str:
    """A message as the Finnish pages and mails say it (English while untranslated)."""
    with app.test_request_context(), force_locale("fi"):
        return gettext(text, **values)


def shown_time(app, moment: datetime, language: str = "fi") -> str:
    with app.test_request_context(), force_locale(language):
        return format_datetime(moment, "short")


def errors(page: str, field_id: str) -> list[str]:
    """The error summary's items of a field, as read."""
    return [html.unescape(e) for e in re.findall(rf'<a href="#{field_id}">([^<]*)</a>', page)]


def table_row(page: str, number: str) -> str:
    """The queue's row of a ticket."""
    for found in re.findall(r"<tr>.*?</tr>", page, re.S):
        if f">{number}</a>" in found:
            return found
    raise AssertionError(f"{number} is not in the queue")


def queue_numbers(client, numbers, **query) -> set[str]:
    response = client.get("/staff/support/", query_string=query)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    return {n for n in numbers if f">{n}</a>" in page}


def mail_to(number: str, body: str, sender: str) -> bytes:
    """A reply by email to the ticket's address, as a mail program sends it."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = f"tuki+{number}@example.com"
    mail["Subject"] = f"Re: [{number}] Vastaus"
    mail["Message-ID"] = f"<{abs(hash((number, body)))}@example.com>"
    mail.set_content(body)
    return mail.as_bytes()


def receive(runner, raw: bytes) -> str:
    result = runner.invoke(args=["support", "receive"], input=raw)
    assert result.exit_code == 0, result.output
    return result.output.strip()


# ---------------------------------------------------------------- teams and new tickets


def test_the_defaults_are_a_customer_service_and_a_maintenance_team_per_application(
    app, applications
):
    with app.app_context():
        support.ensure_default_applications()  # again: safe to rerun
        db.session.commit()
        teams = list(db.session.scalars(sa.select(Team)))
        application_ids = set(db.session.scalars(sa.select(Application.id)))
        training = db.session.get(Application, applications["training"][0])
        names = {t.application_id: t.names for t in teams}
    service = [t for t in teams if t.kind == TeamKind.CUSTOMER_SERVICE]
    assert len(service) == 1 and service[0].application_id is None
    assert service[0].names["fi"] == "Asiakaspalvelu" and service[0].active
    maintenance = [t for t in teams if t.kind == TeamKind.MAINTENANCE]
    assert sorted(t.application_id for t in maintenance) == sorted(application_ids)
    assert len(maintenance) == len(application_ids) == 6
    assert names[training.id]["fi"] == "Sovellusylläpito: Koulutuskalenteri"
    assert names[training.id]["en"] == "Application maintenance: Training calendar"


def test_a_new_ticket_goes_to_its_application_s_team_or_else_to_customer_service(
    app, client, customer, applications
):
    training = send(client, applications, "training")
    invoices = send(client, applications, "invoices")
    assert row(app, training).team_id == team_id(app, "training")
    assert row(app, invoices).team_id == team_id(app, "invoices")
    set_team(app, team_id(app, "training"), active=False)
    later = send(client, applications, "training")
    assert row(app, later).team_id == team_id(app, None)
    assert row(app, invoices).team_id == team_id(app, "invoices")  # the others keep theirs


def test_the_team_s_members_are_told_of_a_new_ticket_each_in_their_language(
    app, client, customer, applications, kaisa, pekka
):
    set_team(app, team_id(app, "training"), members=(kaisa, pekka))
    number = send(client, applications, "training")
    notices = mails(app, "support_staff_notice")
    assert sorted((m.recipients, m.language) for m in notices) == [([KAISA], "fi"), ([PEKKA], "en")]
    for notice in notices:
        assert number in notice.subject and number in notice.text
        assert f"/staff/support/tickets/{number}?lang={notice.language}" in notice.text
        assert "Raportti ei lataudu" in notice.text
    assert not [m for m in notices if SUPPORT_ADDRESS in m.recipients or CUSTOMER in m.recipients]


def test_the_team_s_address_is_told_when_it_has_one(app, client, customer, applications, kaisa):
    set_team(app, team_id(app, "training"), members=(kaisa,), email="koulutus@example.com")
    number = send(client, applications, "training")
    [notice] = mails(app, "support_staff_notice")
    assert notice.recipients == ["koulutus@example.com"] and number in notice.subject


def test_the_support_address_is_told_when_the_team_has_neither(app, client, customer, applications):
    number = send(client, applications, "training")
    [notice] = mails(app, "support_staff_notice")
    assert notice.recipients == [SUPPORT_ADDRESS] and number in notice.subject


# ---------------------------------------------------------------- giving a ticket


def test_staff_give_a_ticket_to_a_colleague_who_is_told(
    app, client, customer, applications, staff_client, pekka
):
    number = send(client, applications, "training")
    assert row(app, number).status == TicketStatus.NEW
    response = staff_client.post(
        f"/staff/support/tickets/{number}/give", data={"give-assignee": f"user:{pekka.id}"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/support/tickets/{number}"
    ticket = row(app, number)
    assert ticket.assignee_id == pekka.id
    assert ticket.status == TicketStatus.IN_PROGRESS  # a new ticket given is worked on
    assert ticket.team_id == team_id(app, "training")  # the colleague's, its team stays
    assert (EntryKind.ASSIGNED, "Pekka Ylläpitäjä") in ticket.entries
    [mail] = mails(app, "support_assigned")
    assert mail.recipients == [PEKKA] and mail.language == "en"
    assert number in mail.subject
    assert "Kaisa Käsittelijä" in mail.text and number in mail.text
    assert f"/staff/support/tickets/{number}?lang=en" in mail.text
    page = staff_client.get(f"/staff/support/tickets/{number}").get_data(as_text=True)
    [event] = re.findall(r'thread__entry--assigned".*?</li>', page, re.S)
    assert "Kaisa Käsittelijä" in event and "Pekka Ylläpitäjä" in event
    # Pekka finds it among his own.
    assert queue_numbers(login(app, PEKKA), [number], scope="mine") == {number}


def test_giving_to_a_team_clears_the_handler_and_tells_the_team(
    app, client, customer, applications, staff_client, kaisa, pekka
):
    number = send(client, applications, "training")
    staff_client.post(
        f"/staff/support/tickets/{number}/give", data={"give-assignee": f"user:{pekka.id}"}
    )
    invoices = team_id(app, "invoices")
    set_team(app, invoices, members=(kaisa,), email="laskutus@example.com")
    response = staff_client.post(
        f"/staff/support/tickets/{number}/give", data={"give-assignee": f"team:{invoices}"}
    )
    assert response.status_code == 302
    ticket = row(app, number)
    assert (ticket.assignee_id, ticket.team_id) == (None, invoices)
    assert ticket.status == TicketStatus.IN_PROGRESS
    assert (EntryKind.ASSIGNED, "Sovellusylläpito: Laskutus") in ticket.entries
    assert [m.recipients for m in mails(app, "support_assigned")] == [
        [PEKKA],
        ["laskutus@example.com"],
    ]
    assert queue_numbers(staff_client, [number], scope="team") == {number}  # Kaisa's team's


def test_giving_a_ticket_to_oneself_sends_no_mail(
    app, client, customer, applications, staff_client, kaisa
):
    number = send(client, applications, "training")
    response = staff_client.post(
        f"/staff/support/tickets/{number}/give", data={"give-assignee": f"user:{kaisa.id}"}
    )
    assert response.status_code == 302
    assert row(app, number).assignee_id == kaisa.id
    assert mails(app, "support_assigned") == []


@pytest.mark.parametrize(
    "choice", ["customer", "unknown team", "inactive team", "junk", "no number", "nothing"]
)
def test_an_invalid_assignee_is_refused_and_changes_nothing(
    app, client, customer, applications, staff_client, choice
):
    number = send(client, applications, "training")
    portal = team_id(app, "portal")
    set_team(app, portal, active=False)
    value = {
        "customer": f"user:{customer.id}",
        "unknown team": "team:999",
        "inactive team": f"team:{portal}",
        "junk": "<script>x</script>",
        "no number": "user:",
        "nothing": "",
    }[choice]
    before, outbox_before = row(app, number), len(mails(app))
    response = staff_client.post(
        f"/staff/support/tickets/{number}/give", data={"give-assignee": value}
    )
    assert response.status_code == 400
    assert errors(response.get_data(as_text=True), "give-assignee")
    assert row(app, number) == before
    assert len(mails(app)) == outbox_before


def test_giving_needs_the_csrf_token(app, client, customer, applications, staff_client, pekka):
    number = send(client, applications, "training")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = staff_client.post(
            f"/staff/support/tickets/{number}/give", data={"give-assignee": f"user:{pekka.id}"}
        )
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == 400
    assert row(app, number).assignee_id is None
    assert mails(app, "support_assigned") == []


# ---------------------------------------------------------------- the queue


def test_the_queue_s_scopes_for_two_staff_in_different_teams(
    app, customer, applications, kaisa, pekka, make_user
):
    set_team(app, team_id(app, "training"), members=(kaisa,))
    set_team(app, team_id(app, "invoices"), members=(pekka,))
    set_team(app, team_id(app, "portal"), active=False)
    training = create(app, applications, "training")
    invoices = create(app, applications, "invoices")
    training_pekka = create(app, applications, "training")
    invoices_kaisa = create(app, applications, "invoices")
    service = create(app, applications, "portal")  # to the customer service
    everything = [training, invoices, training_pekka, invoices_kaisa, service]
    with app.test_request_context():
        for number, email in ((training_pekka, PEKKA), (invoices_kaisa, KAISA)):
            support.assign_to(support.by_number(number), accounts.user_by_email(email))
        db.session.commit()
    assert row(app, service).team_id == team_id(app, None)

    as_kaisa = login(app, KAISA)
    assert queue_numbers(as_kaisa, everything) == {training, invoices_kaisa}
    assert queue_numbers(as_kaisa, everything, scope="next") == {training, invoices_kaisa}
    assert queue_numbers(as_kaisa, everything, scope="mine") == {invoices_kaisa}
    assert queue_numbers(as_kaisa, everything, scope="team") == {training, training_pekka}
    assert queue_numbers(as_kaisa, everything, scope="unassigned") == {training, invoices, service}
    assert queue_numbers(as_kaisa, everything, scope="all") == set(everything)

    as_pekka = login(app, PEKKA)
    assert queue_numbers(as_pekka, everything) == {invoices, training_pekka}
    assert queue_numbers(as_pekka, everything, scope="mine") == {training_pekka}
    assert queue_numbers(as_pekka, everything, scope="team") == {invoices, invoices_kaisa}
    assert queue_numbers(as_pekka, everything, scope="unassigned") == {training, invoices, service}

    # A staff member of no team sees, next, their own and every team's unassigned ones.
    make_user("liisa@example.com", role=Role.STAFF, org="Palveluportaali Oy", name="Liisa")
    as_liisa = login(app, "liisa@example.com")
    assert queue_numbers(as_liisa, everything) == {training, invoices, service}
    assert queue_numbers(as_liisa, everything, scope="team") == set()
    assert queue_numbers(as_liisa, everything, scope="nonsense") == {training, invoices, service}


def test_the_queue_is_sorted_by_when_the_answer_is_due(
    app, client, customer, applications, staff_client
):
    idea = send(
        client, applications, type="kehitysidea", urgency="normaali", message="Idea: vienti"
    )
    fault = send(
        client, applications, type="toimintahairio", urgency="nopeampi", message="Kaatuu aina"
    )
    assert row(app, fault).due_at < row(app, idea).due_at
    assert row(app, idea).created_at < row(app, fault).created_at
    for query in ({}, {"scope": "all"}):
        page = staff_client.get("/staff/support/", query_string=query).get_data(as_text=True)
        assert page.index(f">{fault}</a>") < page.index(f">{idea}</a>")


def test_a_ticket_whose_answer_was_due_is_marked_late(
    app, client, customer, applications, staff_client
):
    late = send(client, applications, message="Myöhästynyt")
    on_time = send(client, applications, message="Ajallaan")
    waiting = send(client, applications, message="Odottaa asiakasta")
    update(app, late, due_at=utcnow() - timedelta(hours=1))
    update(app, waiting, due_at=utcnow() - timedelta(hours=1), status=TicketStatus.WAITING)
    late_mark = re.compile(r'<span class="due due--late">(Late:|Myöhässä:?) ')
    page = staff_client.get("/staff/support/?status=open").get_data(as_text=True)
    assert late_mark.search(table_row(page, late))
    assert "due--late" not in table_row(page, on_time)
    assert "due--late" not in table_row(page, waiting)  # its clock is stopped
    assert 'class="due due--paused"' in table_row(page, waiting)
    assert page.index(f">{late}</a>") < page.index(f">{on_time}</a>")  # late comes first
    ticket_page = staff_client.get(f"/staff/support/tickets/{late}").get_data(as_text=True)
    assert late_mark.search(ticket_page)


# ---------------------------------------------------------------- due times


def test_a_new_ticket_s_due_times_come_from_its_targets(app, client, customer, applications):
    number = send(client, applications, type="toimintahairio", urgency="nopeampi")
    ticket = row(app, number)
    due = support_sla.due_times(app.config, ticket.type, ticket.urgency, ticket.created_at)
    assert ticket.first_response_due == due.first_response
    assert ticket.resolution_due == due.resolution
    assert ticket.due_at == ticket.first_response_due  # the first response is next
    assert (ticket.first_response_at, ticket.paused_minutes) == (None, None)
    hours = service_hours.from_config(app.config)
    target = support_sla.target_for(app.config, TicketType.MALFUNCTION, Urgency.FASTER)
    assert service_hours.minutes_between(hours, ticket.created_at, due.first_response) == (
        target.first_response
    )
    assert service_hours.minutes_between(hours, ticket.created_at, due.resolution) == (
        target.resolution
    )
    assert target.first_response < target.resolution


def test_the_confirmation_says_when_to_expect_an_answer(app, client, customer, applications):
    number = send(client, applications)
    ticket = row(app, number)
    [mail] = mails(app, "support_confirmation")
    assert mail.recipients == [CUSTOMER]
    assert mail.context["ticket"]["first_response_due"] == ticket.first_response_due
    when = shown_time(app, ticket.first_response_due)
    sentence = finnish(app, "You can expect our first answer by %(when)s.", when=when)
    assert sentence in mail.text
    assert html.escape(sentence, quote=False) in mail.html
    # The customer's page says it too, until it is answered.
    page = client.get(f"/support/tickets/{number}").get_data(as_text=True)
    assert when in page


def test_the_first_reply_is_the_first_response_and_the_resolution_is_due_next(
    app, client, customer, applications, staff_client
):
    number = send(client, applications)
    first = row(app, number)
    before = utcnow()
    staff_client.post(
        f"/staff/support/tickets/{number}/reply",
        data={"reply-message": "Katsomme asiaa.", "reply-status": "kasittelyssa"},
    )
    answered = row(app, number)
    assert before <= answered.first_response_at <= utcnow()
    assert answered.first_response_due == first.first_response_due
    assert answered.due_at == answered.resolution_due == first.resolution_due
    staff_client.post(
        f"/staff/support/tickets/{number}/reply",
        data={"reply-message": "Vielä yksi asia.", "reply-status": "kasittelyssa"},
    )
    assert row(app, number).first_response_at == answered.first_response_at


def test_waiting_stops_the_clock_and_the_customer_s_answer_starts_it_again(
    app, client, customer, applications, staff_client, monkeypatch
):
    clock = {"now": at(2026, 3, 2, 11)}  # a Monday, within the service hours
    monkeypatch.setattr(support, "utcnow", lambda: clock["now"])
    number = send(client, applications, type="toimintahairio", urgency="normaali")
    new = row(app, number)
    # A malfunction: a first response within 3 service hours, resolved within 15.
    assert new.first_response_due == at(2026, 3, 2, 14)
    assert new.resolution_due == at(2026, 3, 5, 11)  # 4 + 5 + 5 + 1 hours
    clock["now"] = at(2026, 3, 2, 12)
    staff_client.post(
        f"/staff/support/tickets/{number}/reply",
        data={"reply-message": "Mitä selainta käytät?", "reply-status": "odottaa"},
    )
    waiting = row(app, number)
    assert waiting.status == TicketStatus.WAITING
    assert waiting.first_response_at == at(2026, 3, 2, 12)
    assert waiting.paused_minutes == (3 + 5 + 5 + 1) * 60  # Monday noon to Thursday 11:00
    page = staff_client.get(f"/staff/support/tickets/{number}").get_data(as_text=True)
    assert 'class="due due--paused"' in page
    clock["now"] = at(2026, 3, 6, 10)  # Friday: the days waited are not counted
    response = client.post(f"/support/tickets/{number}", data={"message": "Firefoxia."})
    assert response.status_code == 302
    going = row(app, number)
    assert going.status == TicketStatus.IN_PROGRESS and going.paused_minutes is None
    # 840 minutes from Friday 10:00: Friday 5 h, Monday 5 h, Tuesday 4 h.
    assert going.resolution_due == going.due_at == at(2026, 3, 10, 14)


def test_waiting_before_the_first_response_keeps_its_minutes_too(
    app, client, customer, applications, staff_client, monkeypatch
):
    clock = {"now": at(2026, 3, 2, 11)}
    monkeypatch.setattr(support, "utcnow", lambda: clock["now"])
    number = send(client, applications, type="toimintahairio", urgency="normaali")
    clock["now"] = at(2026, 3, 2, 13)
    staff_client.post(f"/staff/support/tickets/{number}/status", data={"status-status": "odottaa"})
    assert row(app, number).paused_minutes == 60  # until Monday 14:00
    clock["now"] = at(2026, 3, 3, 10)
    staff_client.post(
        f"/staff/support/tickets/{number}/status", data={"status-status": "kasittelyssa"}
    )
    going = row(app, number)
    assert going.first_response_due == going.due_at == at(2026, 3, 3, 11)
    assert going.first_response_at is None and going.paused_minutes is None


# ---------------------------------------------------------------- copies


def test_a_copied_colleague_gets_the_replies_until_removed(
    app, client, customer, applications, staff_client, colleague
):
    number = send(client, applications)
    response = staff_client.post(
        f"/staff/support/tickets/{number}/copies", data={"cc-email": " Kalle.Kollega@Example.com "}
    )
    assert response.status_code == 302
    ticket = row(app, number)
    assert ticket.cc == [COLLEAGUE]
    assert (EntryKind.NOTE, finnish(app, "Copied: %(email)s", email=COLLEAGUE)) in ticket.entries
    page = staff_client.get(f"/staff/support/tickets/{number}").get_data(as_text=True)
    assert f"&lt;{COLLEAGUE}&gt;" in page
    staff_client.post(
        f"/staff/support/tickets/{number}/reply",
        data={"reply-message": "Ensimmäinen vastaus", "reply-status": "kasittelyssa"},
    )
    [first] = mails(app, "support_reply")
    assert first.recipients == [CUSTOMER, COLLEAGUE]  # one mail to both
    assert "Ensimmäinen vastaus" in first.text
    response = staff_client.post(f"/staff/support/tickets/{number}/copies/{colleague.id}/remove")
    assert response.status_code == 302
    assert row(app, number).cc == []
    staff_client.post(
        f"/staff/support/tickets/{number}/reply",
        data={"reply-message": "Toinen vastaus", "reply-status": "kasittelyssa"},
    )
    assert [m.recipients for m in mails(app, "support_reply")] == [
        [CUSTOMER, COLLEAGUE],
        [CUSTOMER],
    ]


@pytest.mark.parametrize("who", ["another organisation", "unknown", "the contact", "twice"])
def test_a_copy_that_cannot_be_made_is_refused(
    app, client, customer, applications, staff_client, colleague, outsider, who
):
    number = send(client, applications)
    if who == "twice":
        staff_client.post(f"/staff/support/tickets/{number}/copies", data={"cc-email": COLLEAGUE})
    email = {
        "another organisation": OUTSIDER,
        "unknown": "tuntematon@example.com",
        "the contact": CUSTOMER,
        "twice": COLLEAGUE,
    }[who]
    if who in ("the contact", "twice"):
        message = finnish(app, "%(email)s already gets the ticket's mail.", email=email)
    else:
        message = finnish(
            app,
            "%(email)s is not a user of %(organisation)s.",
            email=email,
            organisation="Testivirasto",
        )
    before = row(app, number)
    response = staff_client.post(
        f"/staff/support/tickets/{number}/copies", data={"cc-email": email}
    )
    assert response.status_code == 400
    [error] = errors(response.get_data(as_text=True), "cc-email")
    assert error.endswith(message)
    assert row(app, number) == before


def test_the_copied_colleague_s_email_reply_goes_into_the_ticket(
    app, client, customer, applications, staff_client, colleague, runner
):
    number = send(client, applications)
    staff_client.post(f"/staff/support/tickets/{number}/copies", data={"cc-email": COLLEAGUE})
    out = receive(runner, mail_to(number, "Minä hoidan tämän jatkossa.", COLLEAGUE))
    assert out.startswith(f"added {number}")
    assert row(app, number).entries[-1] == (EntryKind.CUSTOMER, "Minä hoidan tämän jatkossa.")
    with app.app_context():
        assert db.session.scalars(sa.select(InboundMail.state)).all() == [InboundState.ADDED]


# ---------------------------------------------------------------- merging


def test_a_duplicate_is_merged_into_the_original(
    app, client, customer, applications, staff_client, colleague, runner
):
    original = send(client, applications, message="Raportti ei lataudu.")
    as_colleague = login(app, COLLEAGUE)
    duplicate = send(as_colleague, applications, email=COLLEAGUE, message="Sama vika täällä.")
    spoken = original.lower().replace("-", " ")
    response = staff_client.post(
        f"/staff/support/tickets/{duplicate}/merge", data={"merge-into": spoken}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/support/tickets/{original}"
    into, merged = row(app, original), row(app, duplicate)
    customer_entries = [body for kind, body in into.entries if kind == EntryKind.CUSTOMER]
    assert customer_entries == ["Raportti ei lataudu.", "Sama vika täällä."]
    assert merged.merged_into_id == into.id and merged.status == TicketStatus.RESOLVED
    assert EntryKind.CUSTOMER not in [kind for kind, _ in merged.entries]
    assert COLLEAGUE in into.cc  # the duplicate's contact hears of the original from now on
    [mail] = mails(app, "support_merged")
    assert mail.recipients == [COLLEAGUE]
    assert duplicate in mail.subject and original in mail.subject
    assert f"/support/track/{original}/" in mail.text
    assert mails(app, "support_resolved") == []
    staff_page = staff_client.get(f"/staff/support/tickets/{duplicate}").get_data(as_text=True)
    assert f'href="/staff/support/tickets/{original}"' in staff_page

    # The colleague writes on the duplicate's page: it goes to the original.
    response = as_colleague.post(f"/support/tickets/{duplicate}", data={"message": "Verkosta."})
    assert response.status_code in (302, 303)
    assert response.headers["Location"] == f"/support/tickets/{original}"
    assert row(app, original).entries[-1] == (EntryKind.CUSTOMER, "Verkosta.")
    # … and by email to the duplicate's number.
    out = receive(runner, mail_to(duplicate, "Sähköpostilla.", COLLEAGUE))
    assert out.startswith(f"added {original}")
    assert row(app, original).entries[-1] == (EntryKind.CUSTOMER, "Sähköpostilla.")
    after = row(app, duplicate)
    assert after.status == TicketStatus.RESOLVED
    assert EntryKind.CUSTOMER not in [kind for kind, _ in after.entries]


@pytest.mark.parametrize("into", ["another organisation", "itself", "unknown", "merged one"])
def test_a_merge_that_cannot_be_done_changes_nothing(
    app, client, customer, applications, staff_client, outsider, into
):
    original = send(client, applications, message="Alkuperäinen")
    duplicate = send(client, applications, message="Kaksoiskappale")
    if into == "another organisation":
        target = send(login(app, OUTSIDER), applications, email=OUTSIDER, message="Toisen")
        message = finnish(app, "Only tickets of the same organisation can be merged.")
    elif into == "itself":
        target = duplicate
        message = finnish(app, "A ticket cannot be merged into itself.")
    elif into == "unknown":
        target = "T-2026-999999"
        message = finnish(app, "No ticket has the number %(number)s.", number=target)
    else:
        target = send(client, applications, message="Kolmas")
        merged = staff_client.post(
            f"/staff/support/tickets/{target}/merge", data={"merge-into": original}
        )
        assert merged.status_code == 302
        message = finnish(app, "%(number)s was merged into another ticket.", number=target)
    kept = [original, duplicate] + (
        [target] if into in ("another organisation", "merged one") else []
    )
    before = {number: row(app, number) for number in kept}
    merged_mails = len(mails(app, "support_merged"))
    response = staff_client.post(
        f"/staff/support/tickets/{duplicate}/merge", data={"merge-into": target}
    )
    assert response.status_code == 400
    [error] = errors(response.get_data(as_text=True), "merge-into")
    assert error.endswith(message)
    assert {number: row(app, number) for number in kept} == before
    assert len(mails(app, "support_merged")) == merged_mails


# ---------------------------------------------------------------- internal notes


def test_internal_notes_never_reach_the_customer(
    app, client, customer, applications, staff_client, colleague
):
    secret, moved = "SISÄINEN: asiakas on hankala", "SISÄINEN-KAKSOIS: sama asiakas"
    number = send(client, applications)
    duplicate = send(client, applications, message="Toinen viesti samasta asiasta")
    staff_client.post(f"/staff/support/tickets/{number}/note", data={"note": secret})
    staff_client.post(f"/staff/support/tickets/{duplicate}/note", data={"note": moved})
    staff_client.post(f"/staff/support/tickets/{number}/copies", data={"cc-email": COLLEAGUE})
    staff_client.post(
        f"/staff/support/tickets/{number}/reply",
        data={"reply-message": "Vastaus asiakkaalle", "reply-status": "odottaa"},
    )
    staff_client.post(f"/staff/support/tickets/{duplicate}/merge", data={"merge-into": number})
    staff_client.post(f"/staff/support/tickets/{number}/link", data={"link-email": CUSTOMER})
    staff_client.post(
        f"/staff/support/tickets/{number}/status", data={"status-status": "ratkaistu"}
    )
    staff_page = staff_client.get(f"/staff/support/tickets/{number}").get_data(as_text=True)
    assert secret in staff_page and moved in staff_page  # the staff see both notes
    with app.app_context():
        link = support.status_link(support.by_number(number)).removeprefix("http://portal.test")
    for url in (f"/support/tickets/{number}", link):
        page = client.get(url).get_data(as_text=True)
        assert "Vastaus asiakkaalle" in page and "Toinen viesti samasta asiasta" in page
        assert "SISÄINEN" not in page
    assert "SISÄINEN" not in client.get(f"/support/tickets/{duplicate}").get_data(as_text=True)
    to_customer = [m for m in mails(app) if {CUSTOMER, COLLEAGUE} & set(m.recipients)]
    templates = {m.template for m in to_customer}
    assert {"support_confirmation", "support_reply", "support_merged"} <= templates
    assert {"support_new_link", "support_resolved"} <= templates
    for mail in to_customer:
        for part in (mail.subject, mail.text, mail.html):
            assert "SISÄINEN" not in part, mail.template


# ---------------------------------------------------------------- the morning summary


@pytest.fixture
def late_world(app, customer, applications, kaisa, pekka):
    """Tickets of the training team, two of them late at NOW, and those that are not."""
    now = at(2026, 3, 3, 8)  # a Tuesday morning
    set_team(app, team_id(app, "training"), members=(kaisa, pekka))
    world = SimpleNamespace(now=now)
    world.late_new = create(app, applications, "training", message="myöhässä, uusi")
    world.late_taken = create(app, applications, "training", message="myöhässä, otettu")
    world.waiting = create(app, applications, "training", message="odottaa asiakasta")
    world.future = create(app, applications, "training", message="ajallaan")
    world.resolved = create(app, applications, "training", message="ratkaistu")
    world.other_team = create(app, applications, "invoices", message="toisen tiimin, ajallaan")
    update(app, world.late_new, due_at=now - timedelta(days=2))
    update(app, world.late_taken, due_at=now - timedelta(hours=1))
    with app.test_request_context():
        support.assign_to(support.by_number(world.late_taken), accounts.user_by_email(PEKKA))
        db.session.commit()
    update(app, world.waiting, due_at=now - timedelta(days=3), status=TicketStatus.WAITING)
    update(app, world.future, due_at=now + timedelta(hours=1))
    update(app, world.resolved, due_at=now - timedelta(days=1), status=TicketStatus.RESOLVED)
    update(app, world.other_team, due_at=now + timedelta(days=1))
    return world


def summary(app, now: datetime) -> str:
    with app.test_request_context():
        return support_desk.late_summary(now)


def test_the_morning_summary_mails_each_member_the_team_s_late_tickets(app, late_world):
    w = late_world
    assert summary(app, w.now) == "2 summaries sent"
    sent = mails(app, "support_late_summary")
    assert sorted((m.recipients, m.language) for m in sent) == [([KAISA], "fi"), ([PEKKA], "en")]
    for mail in sent:
        listed = [t["number"] for t in mail.context["tickets"]]
        assert listed == [w.late_new, w.late_taken]  # the longest late first
        assert mail.context["count"] == 2
        handlers = [t["handler"] for t in mail.context["tickets"]]
        assert handlers == [None, "Pekka Ylläpitäjä"]
        for number in (w.late_new, w.late_taken):
            assert number in mail.text and number in mail.html
        for number in (w.waiting, w.future, w.resolved, w.other_team):
            assert number not in mail.text and number not in mail.html
    [finnish_mail] = [m for m in sent if m.language == "fi"]
    assert "Sovellusylläpito: Koulutuskalenteri" in finnish_mail.subject


@pytest.mark.parametrize(
    "now",
    [at(2026, 3, 7, 8), at(2026, 3, 8, 8), at(2026, 1, 6, 8), at(2026, 12, 24, 8)],
    ids=["saturday", "sunday", "epiphany", "christmas-eve"],
)
def test_no_summary_is_sent_on_a_day_without_service(app, late_world, now):
    for number in (late_world.late_new, late_world.late_taken):
        update(app, number, due_at=now - timedelta(days=1))
    assert summary(app, now) == "not a service day"
    assert mails(app, "support_late_summary") == []


def test_late_tickets_without_a_team_go_to_the_support_address(app, customer, applications):
    number = create(app, applications, "training")
    update(app, number, team_id=None, due_at=at(2026, 3, 2, 12))
    assert summary(app, at(2026, 3, 3, 8)) == "1 summaries sent"
    [mail] = mails(app, "support_late_summary")
    assert mail.recipients == [SUPPORT_ADDRESS]
    assert [t["number"] for t in mail.context["tickets"]] == [number]


def test_late_tickets_of_a_team_taken_out_of_use_are_not_forgotten(
    app, customer, applications, kaisa
):
    training = team_id(app, "training")
    number = create(app, applications, "training")
    update(app, number, due_at=at(2026, 3, 2, 12))
    set_team(app, training, members=(kaisa,), active=False)
    summary(app, at(2026, 3, 3, 8))
    listed = {
        t["number"]: m.recipients
        for m in mails(app, "support_late_summary")
        for t in m.context["tickets"]
    }
    assert listed == {number: [SUPPORT_ADDRESS]}


# ---------------------------------------------------------------- the teams' pages


def test_staff_create_a_maintenance_team_with_members_and_an_application(
    app, client, customer, applications, staff_client, kaisa, pekka
):
    staff_client.post(
        "/staff/support/applications/new",
        data={"name_fi": "Henkilöstöhallinto", "position": "5", "active": "y"},
    )
    with app.app_context():
        hr = db.session.scalars(sa.select(Application.id).where(Application.part.is_(None))).one()
    form = staff_client.get("/staff/support/teams/new").get_data(as_text=True)
    application_select = re.search(r'<select[^>]*id="application".*?</select>', form, re.S)[0]
    assert "Henkilöstöhallinto" in application_select
    assert "Koulutuskalenteri" not in application_select  # it has its team already
    response = staff_client.post(
        "/staff/support/teams/new",
        data={
            "name_fi": "HR-ylläpito",
            "name_en": "HR maintenance",
            "kind": "sovellusyllapito",
            "application": str(hr),
            "email": "",
            "members": [str(kaisa.id), str(pekka.id)],
            "active": "y",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/support/teams"
    with app.app_context():
        team = db.session.scalars(sa.select(Team).where(Team.application_id == hr)).one()
        assert (team.kind, team.names, team.email, team.active) == (
            TeamKind.MAINTENANCE,
            {"fi": "HR-ylläpito", "en": "HR maintenance"},
            None,
            True,
        )
        assert sorted(u.email for u in team.members) == [KAISA, PEKKA]
        hr_team = team.id
    listing = staff_client.get("/staff/support/teams").get_data(as_text=True)
    assert "HR-ylläpito" in listing and "Kaisa Käsittelijä" in listing
    # The application's new tickets go to the team, whose members are told.
    response = client.post(
        "/support/new", data=contact_data(applications, application=str(hr), sub_application="")
    )
    assert response.status_code == 302
    number = response.headers["Location"].split("/")[-2]
    assert row(app, number).team_id == hr_team
    notices = mails(app, "support_staff_notice")
    assert sorted(r for m in notices for r in m.recipients) == [KAISA, PEKKA]


def test_staff_edit_a_team_and_take_it_out_of_use(
    app, client, customer, applications, staff_client, kaisa
):
    training = team_id(app, "training")
    form = staff_client.get(f"/staff/support/teams/{training}").get_data(as_text=True)
    assert 'value="Sovellusylläpito: Koulutuskalenteri"' in form
    response = staff_client.post(
        f"/staff/support/teams/{training}",
        data={
            "name_fi": "Koulutuksen ylläpito",
            "kind": "sovellusyllapito",
            "application": str(applications["training"][0]),
            "email": "koulutus@example.com",
            "members": [str(kaisa.id)],
        },  # no "active": taken out of use
    )
    assert response.status_code == 302
    with app.app_context():
        team = db.session.get(Team, training)
        assert (team.names, team.email, team.active) == (
            {"fi": "Koulutuksen ylläpito"},
            "koulutus@example.com",
            False,
        )
        assert [u.email for u in team.members] == [KAISA]
    number = send(client, applications, "training")
    assert row(app, number).team_id == team_id(app, None)


@pytest.mark.parametrize("problem", ["no application", "taken application", "customer member"])
def test_a_team_that_cannot_be_saved_is_refused(
    app, customer, applications, staff_client, kaisa, problem
):
    data = {
        "name_fi": "Uusi tiimi",
        "kind": "sovellusyllapito",
        "application": "",
        "members": [str(kaisa.id)],
        "active": "y",
    }
    field = "application"
    if problem == "taken application":
        data["application"] = str(applications["training"][0])
    elif problem == "customer member":
        staff_client.post(
            "/staff/support/applications/new", data={"name_fi": "Vapaa", "active": "y"}
        )
        with app.app_context():
            free = db.session.scalars(
                sa.select(Application.id).where(Application.part.is_(None))
            ).one()
        data["application"], data["members"] = str(free), [str(customer.id)]
        field = "members-0"
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Team))
    response = staff_client.post("/staff/support/teams/new", data=data)
    assert response.status_code in (200, 400)
    page = response.get_data(as_text=True)
    assert errors(page, field)
    if problem == "no application":
        assert errors(page, field)[0].endswith(
            finnish(app, "Choose the application the team maintains.")
        )
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Team)) == count


def test_customers_and_strangers_cannot_reach_the_helpdesk_s_staff_pages(
    app, client, customer, applications, kaisa
):
    number = send(client, applications)
    training = team_id(app, "training")
    before = row(app, number)
    gets = ["/staff/support/teams", "/staff/support/teams/new", f"/staff/support/teams/{training}"]
    posts = {
        "/staff/support/teams/new": {"name_fi": "X", "kind": "asiakaspalvelu"},
        f"/staff/support/teams/{training}": {"name_fi": "X", "kind": "asiakaspalvelu"},
        f"/staff/support/tickets/{number}/give": {"give-assignee": f"user:{kaisa.id}"},
        f"/staff/support/tickets/{number}/merge": {"merge-into": number},
        f"/staff/support/tickets/{number}/copies": {"cc-email": CUSTOMER},
        f"/staff/support/tickets/{number}/copies/{customer.id}/remove": {},
    }
    stranger = app.test_client()
    for url in gets:
        assert client.get(url).status_code == 403, url
        response = stranger.get(url)
        assert response.status_code in (302, 303) and "/auth/login" in response.headers["Location"]
    for url, data in posts.items():
        assert client.post(url, data=data).status_code == 403, url
        response = stranger.post(url, data=data)
        assert response.status_code in (302, 303) and "/auth/login" in response.headers["Location"]
    assert row(app, number) == before
    with app.app_context():
        team = db.session.get(Team, training)
        assert team.names["fi"] == "Sovellusylläpito: Koulutuskalenteri" and team.kind.value != (
            "asiakaspalvelu"
        )
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Team)) == 7
