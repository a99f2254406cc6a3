"""Replies by email (issue 20): what comes back to the support address goes into its ticket,
through the pipe command `flask support receive`, as a mail server delivering to a program
hands it over. The messages are real ones (tests/fixtures/inbound: Outlook in Finnish, Gmail
in English, an out-of-office reply, a Postfix bounce) or built with the standard library.
The IMAP way in is tested against a real server in tests/support/test_imap.py.
"""

from __future__ import annotations

import io
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from extensions import db
from models.mail import MailStatus, OutboxMessage
from models.support import EntryKind, InboundMail, InboundState, Ticket, TicketStatus
from services import support
from tests.fixtures import support as support_fixtures
from tests.fixtures.support import contact_data

applications = support_fixtures.applications
INBOUND = Path(__file__).resolve().parent.parent / "fixtures" / "inbound"
CUSTOMER = "maija@example.com"


@pytest.fixture
def ticket(app, client, make_user, auth, applications) -> str:
    """A ticket sent through the form by Maija of Testivirasto: its number."""
    make_user(CUSTOMER, org="Testivirasto")
    auth.login(CUSTOMER)
    response = client.post("/support/new", data=contact_data(applications, email=CUSTOMER))
    assert response.status_code in (302, 303)
    with app.app_context():
        return db.session.scalars(sa.select(Ticket.number)).one()


def fixture(name: str, number: str, sender: str = CUSTOMER, **values: str) -> bytes:
    text = (INBOUND / name).read_text("utf-8")
    for key, value in {"NUMBER": number, "SENDER": sender, **values}.items():
        text = text.replace("{" + key + "}", value)
    return text.encode("utf-8")


def message(number: str, body: str, *, sender: str = CUSTOMER, **headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = f"tuki+{number}@example.com"
    mail["Subject"] = f"Re: [{number}] Reply from customer service"
    mail["Message-ID"] = headers.pop("message_id", f"<{abs(hash(body))}@example.com>")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail


def receive(runner, raw: bytes) -> str:
    result = runner.invoke(args=["support", "receive"], input=raw)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def entries(app, number: str) -> list[tuple[str, str]]:
    with app.app_context():
        ticket = support.by_number(number)
        return [(e.kind.value, e.body) for e in ticket.entries if e.kind == EntryKind.CUSTOMER]


def inbound(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(InboundMail).order_by(InboundMail.id))
        return [(row.state.value, row.reason) for row in rows]


# ---------------------------------------------------------------- the reply address


def test_every_mail_of_a_ticket_has_a_reply_address_with_its_number(app, ticket):
    with app.app_context():
        [mail] = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.template == "support_confirmation")
        ).all()
        assert mail.reply_to == f"tuki+{ticket}@example.com"
        assert ticket in mail.subject


# ---------------------------------------------------------------- replies


def test_an_outlook_reply_in_finnish_lands_without_its_quoted_history(app, runner, ticket):
    out = receive(runner, fixture("outlook_fi.eml", ticket))
    assert out.startswith(f"added {ticket}")
    [_first, (kind, body)] = entries(app, ticket)
    assert body.startswith("Kiitos, raportti latautuu nyt.")
    assert "näkyykö korjaus myös vanhoissa kursseissa?" in body
    assert "Lähettäjä" not in body and "korjasimme" not in body


def test_a_gmail_reply_lands_without_the_quote_and_announces_itself(app, runner, ticket):
    receive(runner, fixture("gmail_en.eml", ticket))
    [_first, (_kind, body)] = entries(app, ticket)
    assert body == "It works now, thank you – the old courses too."
    with app.app_context():
        notices = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.template == "support_staff_notice")
        ).all()
        assert len(notices) == 2  # the new ticket, then the reply by mail


def test_a_reply_with_an_image_keeps_it_cleaned_as_the_form_does(app, runner, ticket):
    mail = message(ticket, "Kuvakaappaus liitteenä.")
    picture = io.BytesIO()
    Image.new("RGB", (60, 40), (10, 120, 200)).save(picture, "PNG")
    mail.add_attachment(picture.getvalue(), maintype="image", subtype="png", filename="ruutu.png")
    mail.add_attachment(b"not an image", maintype="image", subtype="png", filename="rikki.png")
    receive(runner, mail.as_bytes())
    with app.app_context():
        entry = support.by_number(ticket).entries[-1]
        assert [(a.filename, a.width, a.height) for a in entry.attachments] == [
            ("ruutu.png", 60, 40)
        ]
        assert "rikki.png" in entry.body  # why the other was not kept, in the entry


def test_the_same_message_delivered_twice_lands_once(app, runner, ticket):
    raw = fixture("gmail_en.eml", ticket)
    receive(runner, raw)
    assert receive(runner, raw).endswith("(received before)")
    assert len(entries(app, ticket)) == 2


def test_a_colleague_of_the_customer_may_reply(app, runner, ticket, make_user):
    make_user("kollega@example.com", org="Testivirasto")
    receive(runner, message(ticket, "Minä hoidan tämän.", sender="Kollega@Example.com").as_bytes())
    assert entries(app, ticket)[-1][1] == "Minä hoidan tämän."


# ---------------------------------------------------------------- what never goes in


def test_a_stranger_s_mail_waits_for_staff_and_not_in_the_ticket(app, runner, ticket):
    out = receive(runner, message(ticket, "Huijaus", sender="someone@elsewhere.example").as_bytes())
    assert out.startswith(f"review {ticket}")
    assert len(entries(app, ticket)) == 1
    with app.app_context():
        waiting = db.session.scalars(sa.select(InboundMail)).one()
        assert waiting.state == InboundState.REVIEW and b"Huijaus" in waiting.raw


def test_an_out_of_office_reply_is_ignored_and_answered_by_nothing(app, runner, ticket):
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
    out = receive(runner, fixture("out_of_office.eml", ticket))
    assert out.startswith("ignored") and "Auto-Submitted" in out
    assert len(entries(app, ticket)) == 1
    with app.app_context():
        after = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
    assert after == before  # no mail answers a machine


@pytest.mark.parametrize(
    "headers",
    [{"Precedence": "bulk"}, {"List_Id": "<lista.example.com>"}, {"X_Autoreply": "yes"}],
    ids=["precedence", "list", "x-autoreply"],
)
def test_mailing_lists_and_autoresponders_are_ignored(app, runner, ticket, headers):
    receive(runner, message(ticket, "Automaatti", **headers).as_bytes())
    assert inbound(app)[0][0] == "ignored"
    assert len(entries(app, ticket)) == 1


def test_a_bounce_marks_the_portal_s_mail_failed_on_the_ticket(app, runner, ticket):
    with app.app_context():
        mail = db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.template == "support_confirmation")
        ).one()
        mail_id, header = mail.id, mail.message_id_header
    raw = fixture("bounce_postfix.eml", ticket, OUTBOX_MESSAGE_ID=header)
    assert receive(runner, raw).startswith("bounce")
    with app.app_context():
        mail = db.session.get(OutboxMessage, mail_id)
        assert mail.status == MailStatus.FAILED
        assert "5.1.1" in mail.last_error and "User" in mail.last_error
    assert len(entries(app, ticket)) == 1


def test_a_message_that_names_no_ticket_is_ignored(app, runner, ticket):
    mail = message(ticket, "Hei")
    mail.replace_header("To", "tuki@example.com")
    mail.replace_header("Subject", "Kysymys")
    assert receive(runner, mail.as_bytes()).startswith("ignored -: no ticket named")


def test_a_malformed_message_is_kept_aside_and_the_next_one_goes_in(app, runner, ticket):
    broken = b"From: \xff\xfe\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\x00"
    out = receive(runner, broken)
    assert out.split()[0] in ("malformed", "ignored")
    receive(runner, fixture("gmail_en.eml", ticket))
    assert len(entries(app, ticket)) == 2


# ---------------------------------------------------------------- resolved tickets


def _resolve(app, number: str, days_ago: int) -> None:
    with app.app_context():
        ticket = support.by_number(number)
        ticket.status = TicketStatus.RESOLVED
        ticket.resolved_at = support.utcnow() - timedelta(days=days_ago)
        db.session.commit()


def test_a_reply_to_a_resolved_ticket_reopens_it_within_the_window(app, runner, ticket):
    _resolve(app, ticket, days_ago=app.config["SUPPORT_REOPEN_DAYS"] - 1)
    receive(runner, fixture("gmail_en.eml", ticket))
    with app.app_context():
        reopened = support.by_number(ticket)
        assert reopened.status == TicketStatus.IN_PROGRESS
        assert reopened.entries[-1].body.startswith("It works now")


def test_a_reply_after_the_window_opens_a_new_ticket_that_follows_up(app, runner, ticket):
    _resolve(app, ticket, days_ago=app.config["SUPPORT_REOPEN_DAYS"] + 1)
    out = receive(runner, fixture("gmail_en.eml", ticket))
    with app.app_context():
        old = support.by_number(ticket)
        assert old.status == TicketStatus.RESOLVED
        follow = db.session.scalars(sa.select(Ticket).where(Ticket.follows_id == old.id)).one()
        assert follow.message.startswith("It works now") and follow.email == CUSTOMER
        assert out.startswith(f"added {follow.number}: a follow-up of {ticket}")
        confirmations = db.session.scalars(
            sa.select(OutboxMessage.reply_to).where(
                OutboxMessage.template == "support_confirmation"
            )
        ).all()
        assert f"tuki+{follow.number}@example.com" in confirmations


# ---------------------------------------------------------------- the staff's review


@pytest.fixture
def staff(app, make_user):
    from models.auth import Role
    from tests.fixtures.users import PASSWORD

    make_user(
        "kaisa@example.com", role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa", language="en"
    )
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.post("/auth/login", data={"email": "kaisa@example.com", "password": PASSWORD})
    return client


def _waiting_id(app) -> int:
    with app.app_context():
        return db.session.scalars(sa.select(InboundMail.id)).one()


def test_staff_read_a_stranger_s_mail_and_add_it_to_its_ticket(app, runner, ticket, staff):
    stranger = "assistentti@elsewhere.example"
    receive(runner, message(ticket, "Maijan puolesta: toimii.", sender=stranger).as_bytes())
    listed = staff.get("/staff/support/inbound").get_data(as_text=True)
    assert stranger in listed and ticket in listed
    mail_id = _waiting_id(app)
    shown = staff.get(f"/staff/support/inbound/{mail_id}").get_data(as_text=True)
    assert "Maijan puolesta: toimii." in shown
    response = staff.post(f"/staff/support/inbound/{mail_id}/add")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/support/tickets/{ticket}"
    assert entries(app, ticket)[-1][1] == "Maijan puolesta: toimii."
    assert inbound(app) == [("added", "added by staff")]
    # Twice: nothing more.
    again = staff.post(f"/staff/support/inbound/{mail_id}/add")
    assert again.status_code == 303 and len(entries(app, ticket)) == 2
    assert "No mail waits for review." in staff.get("/staff/support/inbound").get_data(as_text=True)


def test_staff_throw_a_mail_away(app, runner, ticket, staff, client):
    receive(runner, message(ticket, "Mainos", sender="spam@elsewhere.example").as_bytes())
    mail_id = _waiting_id(app)
    # The customer (logged in on `client`) may not review mail.
    assert client.get("/staff/support/inbound").status_code in (302, 403)
    assert client.post(f"/staff/support/inbound/{mail_id}/discard").status_code in (302, 403)
    assert staff.post(f"/staff/support/inbound/{mail_id}/discard").status_code == 303
    assert inbound(app)[0][0] == "discarded"
    assert len(entries(app, ticket)) == 1
