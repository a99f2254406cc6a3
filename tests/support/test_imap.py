"""Replies by email read over IMAP (services.support_imap), against a real IMAP server
over TLS: CI's Dovecot (TEST_IMAP_HOST, TEST_IMAP_PORT, TEST_IMAP_USER,
TEST_IMAP_PASSWORD, TEST_IMAP_CA_FILE), its mailbox emptied before each test and filled
with real messages by APPEND."""

from __future__ import annotations

import os
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid

import pytest
import sqlalchemy as sa
from imapclient import IMAPClient

from extensions import db
from models.support import (
    Application,
    EntryKind,
    InboundMail,
    InboundState,
    Ticket,
    TicketEntry,
    TicketType,
)
from services import support, support_imap
from tests.fixtures import support as support_fixtures
from tests.fixtures.app import IN_CI

applications = support_fixtures.applications

CUSTOMER = "maija@example.com"
IMAP = {
    "host": os.environ.get("TEST_IMAP_HOST", "").strip(),
    "port": int(os.environ.get("TEST_IMAP_PORT", "").strip() or 993),
    "user": os.environ.get("TEST_IMAP_USER", "").strip(),
    "password": os.environ.get("TEST_IMAP_PASSWORD", ""),
    "ca_file": os.environ.get("TEST_IMAP_CA_FILE", "").strip(),
}


def _connect() -> IMAPClient:
    context = ssl.create_default_context(cafile=IMAP["ca_file"] or None)
    client = IMAPClient(IMAP["host"], port=IMAP["port"], ssl_context=context, timeout=10)
    client.login(IMAP["user"], IMAP["password"])
    return client


@pytest.fixture
def mailbox(app):
    """The test mailbox's INBOX, emptied, and the app set to read it."""
    if not IMAP["host"]:
        message = "TEST_IMAP_HOST is not set (an IMAP server over TLS for tests; CI starts one)"
        if IN_CI:
            pytest.fail(message + ": IMAP tests may not skip in CI")
        pytest.skip(message)
    client = _connect()
    client.select_folder("INBOX")
    uids = client.search(["ALL"])
    if uids:
        client.delete_messages(uids)
        client.expunge()
    app.config.update(
        SUPPORT_IMAP_HOST=IMAP["host"],
        SUPPORT_IMAP_PORT=IMAP["port"],
        SUPPORT_IMAP_USER=IMAP["user"],
        SUPPORT_IMAP_PASSWORD=IMAP["password"],
        SUPPORT_IMAP_FOLDER="INBOX",
        SUPPORT_IMAP_CA_FILE=IMAP["ca_file"],
    )
    yield client
    client.logout()


@pytest.fixture
def ticket(app, make_user, applications) -> str:
    """A ticket of a customer of Testivirasto; its number."""
    user = make_user(CUSTOMER, org="Testivirasto")
    with app.app_context():
        contact = support.Contact(
            type=TicketType.MALFUNCTION,
            urgency=support.Urgency.NORMAL,
            email=user.email,
            application=db.session.get(Application, applications["training"][0]),
            sub_application=None,
            target_reference=None,
            message="Raportti ei lataudu.",
        )
        number = support.create_ticket(db.session.merge(user), contact, [], "fi").number
        db.session.commit()
        return number


def reply(number: str, text: str, sender: str = CUSTOMER) -> bytes:
    """A reply to the ticket's mail as a mail program sends it (CRLF line ends)."""
    message = EmailMessage()
    message["From"] = f"Maija Meikäläinen <{sender}>"
    message["To"] = f"tuki+{number}@example.com"
    message["Subject"] = f"Re: Tukipyyntö {number}"
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="virasto.example.com")
    message.set_content(text + "\n")
    return message.as_bytes(policy=SMTP)


def append(mailbox: IMAPClient, *messages: bytes) -> list[int]:
    """Put the messages in the INBOX, unseen; their UIDs."""
    for raw in messages:
        mailbox.append("INBOX", raw)
    return sorted(mailbox.search(["ALL"]))


def seen(mailbox: IMAPClient, uids: list[int]) -> list[bool]:
    flags = mailbox.get_flags(uids)
    return [b"\\Seen" in flags[uid] for uid in uids]


def customer_entries(number: str) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(TicketEntry.body)
            .join(Ticket)
            .where(Ticket.number == number, TicketEntry.kind == EntryKind.CUSTOMER)
            .order_by(TicketEntry.id)
        )
    )


def states() -> list[InboundState]:
    return list(db.session.scalars(sa.select(InboundMail.state).order_by(InboundMail.id)))


def test_a_reply_is_added_to_its_ticket_and_flagged_seen(app, mailbox, ticket):
    uids = append(mailbox, reply(ticket, "Raportti latautuu nyt, kiitos."))
    assert seen(mailbox, uids) == [False]
    with app.app_context():
        assert support_imap.fetch() == support_imap.FetchResult(taken=1)
        assert customer_entries(ticket) == [
            "Raportti ei lataudu.",
            "Raportti latautuu nyt, kiitos.",
        ]
        mail = db.session.scalar(sa.select(InboundMail))
        assert (mail.state, mail.source, mail.ticket.number) == (
            InboundState.ADDED,
            "imap",
            ticket,
        )
    assert seen(mailbox, uids) == [True]
    with app.app_context():
        assert support_imap.fetch() == support_imap.FetchResult()  # nothing unseen is left


def test_the_same_message_delivered_twice_lands_once(app, mailbox, ticket):
    raw = reply(ticket, "Sama viesti kahdesti.")
    uids = append(mailbox, raw, raw)
    with app.app_context():
        assert support_imap.fetch() == support_imap.FetchResult(taken=1, duplicates=1)
        assert customer_entries(ticket)[1:] == ["Sama viesti kahdesti."]
        assert states() == [InboundState.ADDED]
    assert seen(mailbox, uids) == [True, True]


def test_unreadable_mail_or_a_stranger_does_not_stop_the_next(app, mailbox, ticket):
    unreadable = reply(ticket, "Outo merkistö.").replace(b'charset="utf-8"', b'charset="x-none"')
    stranger = reply(ticket, "Minäkin haluan.", sender="vieras@muualla.example.com")
    uids = append(mailbox, unreadable, stranger, reply(ticket, "Tämä menee perille."))
    with app.app_context():
        assert support_imap.fetch() == support_imap.FetchResult(taken=3)
        assert states() == [InboundState.MALFORMED, InboundState.REVIEW, InboundState.ADDED]
        assert customer_entries(ticket)[1:] == ["Tämä menee perille."]
    assert seen(mailbox, uids) == [True, True, True]


def test_a_database_error_leaves_the_message_unseen_for_the_next_run(
    app, mailbox, ticket, monkeypatch
):
    uids = append(mailbox, reply(ticket, "Ensimmäinen."), reply(ticket, "Toinen."))
    receive = support_imap.support_mail.receive
    calls = []

    def failing_once(raw: bytes, source: str):
        calls.append(source)
        if len(calls) == 1:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        return receive(raw, source)

    monkeypatch.setattr(support_imap.support_mail, "receive", failing_once)
    with app.app_context():
        assert support_imap.fetch() == support_imap.FetchResult(taken=1, failed=1)
        assert customer_entries(ticket)[1:] == ["Toinen."]
    assert seen(mailbox, uids) == [False, True]
    with app.app_context():  # the next run takes it
        assert support_imap.fetch() == support_imap.FetchResult(taken=1)
        assert customer_entries(ticket)[1:] == ["Toinen.", "Ensimmäinen."]
    assert seen(mailbox, uids) == [True, True]


def test_at_most_the_limit_is_taken_oldest_first(app, mailbox, ticket):
    uids = append(mailbox, *(reply(ticket, f"Viesti {n}.") for n in range(3)))
    with app.app_context():
        assert support_imap.fetch(limit=2) == support_imap.FetchResult(taken=2)
        assert customer_entries(ticket)[1:] == ["Viesti 0.", "Viesti 1."]
    assert seen(mailbox, uids) == [True, True, False]


def test_the_command_runs_the_job(app, mailbox, ticket, runner):
    append(mailbox, reply(ticket, "Komennolla."))
    result = runner.invoke(args=["support", "fetch-mail"])
    assert result.exit_code == 0, result.output
    assert result.output == "1 mails taken, 0 received before.\n"


@pytest.mark.parametrize("password", ["wrong password", "väärä salasana"])  # LOGIN, PLAIN
def test_a_wrong_password_is_a_clear_mailbox_error(app, mailbox, caplog, password):
    app.config["SUPPORT_IMAP_PASSWORD"] = password
    with app.app_context(), pytest.raises(support_imap.MailboxError) as raised:
        support_imap.fetch()
    message = str(raised.value)
    assert f"refused the login of {IMAP['user']!r}" in message
    assert IMAP["host"] in message and password not in message
    assert any(r.levelname == "ERROR" and "refused the login" in r.message for r in caplog.records)


def test_an_untrusted_certificate_is_a_mailbox_error(app, mailbox):
    app.config["SUPPORT_IMAP_CA_FILE"] = ""  # the system's CAs do not know the test server's
    with app.app_context(), pytest.raises(support_imap.MailboxError, match="not trusted"):
        support_imap.fetch()


def test_without_an_imap_host_the_job_is_off(app, runner):
    app.config["SUPPORT_IMAP_HOST"] = ""
    result = runner.invoke(args=["support", "fetch-mail"])
    assert result.exit_code == 2 and "SUPPORT_IMAP_HOST is not set" in result.output
    with app.app_context():
        assert support_imap.fetch() == support_imap.FetchResult()
