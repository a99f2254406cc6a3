"""Replies by email read from the support mailbox over IMAP (the `support-mail` job).

When SUPPORT_IMAP_HOST is set, `fetch` reads the mailbox a batch at a time:

- it connects over implicit TLS (IMAPS, SUPPORT_IMAP_PORT, 993 by default) with the
  system's trusted CAs or SUPPORT_IMAP_CA_FILE, the host name checked, and a timeout on
  every network operation; it logs in with SUPPORT_IMAP_USER and SUPPORT_IMAP_PASSWORD
  inside TLS (LOGIN; AUTHENTICATE PLAIN for a password that is not ASCII, which LOGIN
  cannot carry) and selects SUPPORT_IMAP_FOLDER;
- it searches the messages not yet seen (`UNSEEN`), takes the oldest first (the lowest
  UIDs) and at most `limit` of them, and fetches each with `BODY.PEEK[]`, which does not
  set the message's \\Seen flag as `BODY[]` would;
- each message goes through `support_mail.receive` and is committed on its own (one
  transaction per message), and only then is \\Seen set on its UID. A run that stops
  between the commit and the flag (a crash, a dropped connection) leaves the message
  unseen, and the next run fetches it again: `receive` knows it by its Message-ID and
  counts it as a duplicate, so nothing lands twice. A database error on one message is
  rolled back and logged, the message stays unseen for the next run, and the others go on;
- the connection is always closed with LOGOUT. A server that cannot be reached, a
  certificate that does not verify, a refused login or a folder that cannot be selected
  raises `MailboxError` (logged at ERROR), which the job shows as its outcome.

Messages are never deleted or moved: \\Seen is the mailbox's record of what was taken, the
InboundMail rows the portal's.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

from flask import current_app
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from sqlalchemy.exc import SQLAlchemyError

from extensions import db
from services import support_mail

log = logging.getLogger(__name__)

TIMEOUT = 30.0  # seconds, of connecting and of each network operation
SEEN = b"\\Seen"


class MailboxError(RuntimeError):
    """The support mailbox could not be read: the server, its certificate, the login or
    the folder. Its message says which, without the password."""


@dataclass(frozen=True)
class FetchResult:
    """What one `fetch` did: messages taken (new), received before, and failed (left
    unseen for the next run)."""

    taken: int = 0
    duplicates: int = 0
    failed: int = 0

    @property
    def text(self) -> str:
        """The result as the job reports it."""
        text = f"{self.taken} mails taken, {self.duplicates} received before"
        if self.failed:
            text += f", {self.failed} failed (left unseen for the next run)"
        return text + "."


def fetch(limit: int = 200) -> FetchResult:
    """Take the support mailbox's unseen messages, oldest first and at most `limit`, each
    into its ticket (support_mail.receive) and committed, then flagged \\Seen. Nothing is
    done when SUPPORT_IMAP_HOST is not set. Raises MailboxError when the mailbox cannot be
    read; a message whose database work fails is left unseen and the others are taken."""
    config = current_app.config
    host = config.get("SUPPORT_IMAP_HOST", "")
    if not host:
        return FetchResult()
    port = int(config["SUPPORT_IMAP_PORT"])
    user = config["SUPPORT_IMAP_USER"]
    folder = config["SUPPORT_IMAP_FOLDER"]
    where = f"{host}:{port}"
    client = _connect(host, port, config.get("SUPPORT_IMAP_CA_FILE") or None)
    try:
        try:
            _login(client, user, config["SUPPORT_IMAP_PASSWORD"])
        except LoginError as exc:
            raise _failed(f"the IMAP server {where} refused the login of {user!r}", exc) from exc
        try:
            client.select_folder(folder)
        except IMAPClientError as exc:
            raise _failed(f"the folder {folder!r} of {where} cannot be selected", exc) from exc
        try:
            uids = sorted(client.search(["UNSEEN"]))[: max(limit, 0)]
            return _take(client, uids)
        except (IMAPClientError, OSError) as exc:
            raise _failed(f"reading the folder {folder!r} of {where} failed", exc) from exc
    except (IMAPClientError, OSError) as exc:  # the connection went away while logging in
        raise _failed(f"the IMAP server {where} closed the connection", exc) from exc
    finally:
        _logout(client)


def _connect(host: str, port: int, ca_file: str | None) -> IMAPClient:
    """A connection over TLS whose certificate is checked against the host name."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except OSError as exc:  # the CA file is missing or unreadable
        raise _failed(f"the CA file {ca_file!r} cannot be read", exc) from exc
    try:
        return IMAPClient(host, port=port, ssl=True, ssl_context=context, timeout=TIMEOUT)
    except ssl.SSLCertVerificationError as exc:
        raise _failed(
            f"the certificate of the IMAP server {host}:{port} is not trusted", exc
        ) from exc
    except (IMAPClientError, OSError) as exc:  # refused, unreachable, timed out, not TLS
        raise _failed(f"cannot connect to the IMAP server {host}:{port}", exc) from exc


def _login(client: IMAPClient, user: str, password: str) -> None:
    """LOGIN, whose arguments are ASCII only; else AUTHENTICATE PLAIN, which carries UTF-8."""
    if user.isascii() and password.isascii():
        client.login(user, password)
    else:
        client.plain_login(user, password)


def _take(client: IMAPClient, uids: list[int]) -> FetchResult:
    """Fetch, receive, commit and flag each message in turn."""
    taken = duplicates = failed = 0
    for uid in uids:
        data = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {})
        raw = data.get(b"BODY[]")
        if raw is None:  # expunged meanwhile by another client
            continue
        try:
            received = support_mail.receive(bytes(raw)[: support_mail.MAX_PIPE_BYTES], "imap")
            db.session.commit()
        except SQLAlchemyError as exc:
            db.session.rollback()
            # The type, never the text: it may quote the message's addresses.
            log.error("IMAP message %s not taken, left unseen: %s", uid, type(exc).__name__)
            failed += 1
            continue
        client.add_flags([uid], [SEEN])  # only now: a crash before leaves it for the next run
        if received.new:
            taken += 1
        else:
            duplicates += 1
    result = FetchResult(taken, duplicates, failed)
    if uids:
        log.info("support mailbox: %s", result.text)
    return result


def _failed(what: str, exc: BaseException) -> MailboxError:
    """A MailboxError saying what failed and why, logged at ERROR."""
    detail = str(exc).strip() or type(exc).__name__
    error = MailboxError(f"{what}: {detail}")
    log.error("support mailbox: %s", error)
    return error


def _logout(client: IMAPClient) -> None:
    """LOGOUT, or at least close the socket when the server no longer answers."""
    try:
        client.logout()
    except (IMAPClientError, OSError):
        try:
            client.shutdown()
        except (IMAPClientError, OSError):
            pass
