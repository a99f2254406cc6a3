"""Logs a load balancer and an operator can read: one JSON line a request, with its id.

Every request gets an id: the proxy's `X-Request-ID` when it sends a sane one (nginx's
`$request_id`), else a new one; it is answered in the same header and is on every log
line written while the request runs, so that a user's "it failed at 10:02" finds its
lines. The request line names the route's rule (`/auth/reset/<token>`), never the path
or the query as sent: those can carry tokens, email addresses and service codes. No
client address, name or email is logged; `PersonalDataFilter` also masks email
addresses and identity numbers in any message, in case a library's error quotes one.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, g, has_request_context, request

REQUEST_ID = "X-Request-ID"
QUIET = frozenset({"health.healthz", "health.readyz", "static"})
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
log = logging.getLogger("portal.request")

# An email address; a Finnish personal identity code (hetu); an 11-digit Norwegian
# national identity number (fødselsnummer) standing alone.
_PERSONAL = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|\b\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]\b"
    r"|(?<![\d-])\d{11}(?![\d-])"
)


def mask(text: str) -> str:
    return _PERSONAL.sub("[masked]", text)


class PersonalDataFilter(logging.Filter):
    """Mask personal data in a record's message and its exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


class RequestIdFilter(logging.Filter):
    """Put the current request's id on every record written while it runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


def request_id() -> str:
    given = request.headers.get(REQUEST_ID, "")
    return given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex


class StderrHandler(logging.StreamHandler):
    """Standard error as it is when a line is written (a test or a server may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(app: Flask) -> None:
    """JSON lines (LOG_FORMAT=json, the production default) or text, with the filters."""
    if app.debug or app.testing:
        return
    handler = StderrHandler()
    if app.config["LOG_FORMAT"] == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(PersonalDataFilter())
    handler.portal = True  # type: ignore[attr-defined]  # ours, replaced by a new app
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "portal", False)] + [handler]
    root.setLevel(app.config["LOG_LEVEL"])
    log.disabled = False  # a logging.config.fileConfig() (the migrations') disables it
    app.logger.handlers.clear()  # Flask's own handler would write each line twice
    app.logger.propagate = True


def init_app(app: Flask) -> None:
    """Give each request an id, answer it, and log one line when the request ends."""

    @app.before_request
    def start() -> None:
        g.request_id = request_id()
        g.request_started = time.perf_counter()

    @app.after_request
    def answer(response):
        rid = g.get("request_id")
        if rid:
            response.headers[REQUEST_ID] = rid
        if app.config["LOG_REQUESTS"]:
            from flask_login import current_user

            started = g.get("request_started", time.perf_counter())
            user_id = getattr(current_user, "id", None) if _user_loaded() else None
            # A load balancer asks for its health every few seconds: not worth a line.
            level = logging.DEBUG if request.endpoint in QUIET else logging.INFO
            log.log(
                level,
                "request",
                extra={
                    "request_id": rid,
                    "method": request.method,
                    "route": request.url_rule.rule if request.url_rule else None,
                    "endpoint": request.endpoint,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    "user_id": user_id,
                },
            )
        return response


def _user_loaded() -> bool:
    """Whether the request loaded its user already (never load it only to log it)."""
    return g.get("_login_user") is not None
