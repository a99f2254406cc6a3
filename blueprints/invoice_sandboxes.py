"""The local print service and e-invoice operator: the other side of invoice forwarding.

The real counterparts (Posti's print service, the Verkkolasku operator) are out of reach
in development and tests, so these sandboxes play them over real HTTP by their published
rules (the protocols are described in services/print_service.py and
services/einvoice_operator.py): they check what arrives as strictly as the real ones
would, refuse it in the same way, and keep what they accept on disk under
INVOICE_SANDBOX_DIR, where staff can look at it on two pages.

Mounted only when INVOICE_SANDBOX is on (never in production by default). The APIs are
server-to-server, authenticated by their bearer tokens, so they are exempt from CSRF.
INVOICE_SANDBOX_OUTAGE makes both APIs answer 503, to try what the desk does then.
The pages are a third party's: plain English, not translated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
)
from lxml import etree

from access import staff_required
from extensions import csrf
from services import einvoice_operator, finvoice
from services.files import claim as _claim
from services.files import write_atomically as _write

print_bp = Blueprint("print_sandbox", __name__, url_prefix="/sandbox/print")
operator_bp = Blueprint("operator_sandbox", __name__, url_prefix="/sandbox/einvoice")

MAX_PDF_BYTES = 10 * 1024 * 1024
MAX_LISTED = 200
JOB_ID = re.compile(r"PJ-[0-9A-F]{20}")
OPERATOR_ID = re.compile(r"OP-[0-9A-F]{20}")
PAGE_OBJECT = re.compile(rb"/Type\s*/Page\b")
FINNISH_POSTCODE = re.compile(r"[0-9]{5}")
POSTAGE = ("economy", "priority")
# CLDR's two-letter regions that are no country one posts to (unions, pseudo-locales, unknown).
NOT_COUNTRIES = {"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"}
DEFAULT_OPTIONS = {"colour": False, "duplex": True, "postage": "economy"}
ADDRESS_LIMITS = {"name": 100, "street": 100, "postcode": 16, "city": 60}
# The end of the SOAP frame, whatever prefix the sender gave the envelope's namespace.
FRAME_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?Envelope\s*>")


# --- Shared ----------------------------------------------------------------------------


def _folder(kind: str) -> Path:
    return Path(current_app.config["INVOICE_SANDBOX_DIR"]) / kind


def _error(status: int, text: str, **extra: Any) -> Response:
    response = jsonify(error=text, **extra)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="sandbox"'
    return response


def _refusal(token_key: str) -> Response | None:
    """The answer to a request that may not reach the API (outage, token), else None."""
    if current_app.config.get("INVOICE_SANDBOX_OUTAGE"):
        return _error(503, "service unavailable")
    expected = current_app.config.get(token_key) or ""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if (
        not expected
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(given.strip().encode(), expected.encode())
    ):
        return _error(401, "missing or wrong bearer token")
    return None


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _records(kind: str) -> list[dict]:
    folder = _folder(kind)
    if not folder.is_dir():
        return []
    records = []
    for path in folder.glob("*.json"):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    records.sort(key=lambda record: record.get("received_at", ""), reverse=True)
    return records[:MAX_LISTED]


def _record(kind: str, pattern: re.Pattern, ident: str) -> dict | None:
    if not pattern.fullmatch(ident):
        return None
    path = _folder(kind) / f"{ident}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _key_path(kind: str, key: str) -> Path:
    return _folder(kind) / "keys" / hashlib.sha256(key.encode()).hexdigest()


# --- The print service -----------------------------------------------------------------


@cache
def _countries() -> frozenset[str]:
    from babel import Locale

    codes = {c for c in Locale("en").territories if re.fullmatch(r"[A-Z]{2}", c)}
    return frozenset(codes - NOT_COUNTRIES)


def _metadata_problem(metadata: Any) -> str | None:
    """What is wrong with the job's metadata, in the words the caller will see."""
    if not isinstance(metadata, dict):
        return "the metadata must be a JSON object"
    job_name = metadata.get("job_name")
    if not isinstance(job_name, str) or not job_name.strip() or len(job_name) > 100:
        return "the job_name is required (at most 100 characters)"
    recipient = metadata.get("recipient")
    if not isinstance(recipient, dict):
        return "the recipient is required"
    for field, limit in ADDRESS_LIMITS.items():
        value = recipient.get(field)
        if not isinstance(value, str) or not value.strip():
            return f"the recipient's {field} is required"
        if len(value) > limit:
            return f"the recipient's {field} is longer than {limit} characters"
    country = recipient.get("country", "FI")
    if not isinstance(country, str) or country not in _countries():
        return "the country must be an ISO 3166 alpha-2 code, such as FI"
    if country == "FI" and not FINNISH_POSTCODE.fullmatch(recipient["postcode"]):
        return "the postcode must be five digits"
    options = metadata.get("options", {})
    if not isinstance(options, dict):
        return "the options must be a JSON object"
    for flag in ("colour", "duplex"):
        if not isinstance(options.get(flag, DEFAULT_OPTIONS[flag]), bool):
            return f"the option {flag} must be true or false"
    if options.get("postage", "economy") not in POSTAGE:
        return "the postage must be economy or priority"
    return None


def _document_problem(pdf: bytes) -> str | None:
    if len(pdf) > MAX_PDF_BYTES:
        return "the document is larger than 10 MB"
    if not pdf.startswith(b"%PDF-") or b"%%EOF" not in pdf[-1024:]:
        return "the document is not a PDF"
    if not PAGE_OBJECT.search(pdf):
        return "the document has no pages"
    return None


def _job_answer(job: dict) -> dict:
    return {"job_id": job["job_id"], "status": "accepted", "pages": job["pages"]}


@print_bp.post("/jobs")
@csrf.exempt  # a server-to-server API, authenticated by its bearer token
def submit_job():
    """Accept a print job: a PDF and its recipient (see services/print_service.py)."""
    refused = _refusal("PRINT_SERVICE_TOKEN")
    if refused:
        return refused
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 255:
        return _error(400, "the Idempotency-Key header is required (at most 255 characters)")
    document = request.files.get("document")
    if document is None:
        return _error(422, "the multipart part document (the PDF) is missing")
    if document.mimetype != "application/pdf":
        return _error(422, "the document part must have the type application/pdf")
    if "metadata" in request.files:
        raw_metadata = request.files["metadata"].read()
    elif "metadata" in request.form:
        raw_metadata = request.form["metadata"].encode()
    else:
        return _error(422, "the multipart part metadata (JSON) is missing")
    try:
        metadata = json.loads(raw_metadata)
    except ValueError:
        return _error(422, "the metadata is not JSON")
    problem = _metadata_problem(metadata)
    if problem:
        return _error(422, problem)
    pdf = document.read(MAX_PDF_BYTES + 1)
    problem = _document_problem(pdf)
    if problem:
        return _error(422, problem)

    canonical = json.dumps(metadata, sort_keys=True, ensure_ascii=False).encode()
    fingerprint = hashlib.sha256(hashlib.sha256(pdf).digest() + canonical).hexdigest()
    key_path = _key_path("print", key)
    if key_path.exists():  # a retry: answer the first job, print nothing twice
        return _repeated(key_path.read_text().strip(), fingerprint)
    job_id = "PJ-" + secrets.token_hex(10).upper()
    job = {
        "job_id": job_id,
        "status": "accepted",
        "pages": len(PAGE_OBJECT.findall(pdf)),
        "job_name": metadata["job_name"],
        "recipient": {"country": "FI", **metadata["recipient"]},
        "options": DEFAULT_OPTIONS | metadata.get("options", {}),
        "received_at": _now(),
        "size": len(pdf),
        "fingerprint": fingerprint,
    }
    folder = _folder("print")
    _write(folder / f"{job_id}.pdf", pdf)
    _write(folder / f"{job_id}.json", json.dumps(job, ensure_ascii=False, indent=2).encode())
    winner = _claim(key_path, job_id)
    if winner == job_id:
        return jsonify(_job_answer(job)), 201
    # Another request with the key won meanwhile: this job is not kept, the first answered.
    (folder / f"{job_id}.pdf").unlink(missing_ok=True)
    (folder / f"{job_id}.json").unlink(missing_ok=True)
    return _repeated(winner, fingerprint)


def _repeated(first_id: str, fingerprint: str) -> Response:
    """The answer to an Idempotency-Key already used: the first job, if this is it."""
    first = _record("print", JOB_ID, first_id)
    if first is None:
        return _error(409, "this Idempotency-Key is being used by another request; retry")
    if first["fingerprint"] != fingerprint:
        return _error(409, "this Idempotency-Key was already used for a different job")
    response = jsonify(_job_answer(first))
    response.status_code = 200
    return response


@print_bp.get("/jobs/<job_id>")
def job_status(job_id: str):
    """A job's state: the sandbox prints at once, so an accepted job is soon printed."""
    refused = _refusal("PRINT_SERVICE_TOKEN")
    if refused:
        return refused
    job = _record("print", JOB_ID, job_id)
    if job is None:
        return _error(404, "no such job")
    shown = {k: job[k] for k in ("job_id", "pages", "job_name", "recipient", "options")}
    return jsonify(shown | {"status": "printed", "received_at": job["received_at"]})


@print_bp.get("/")
@staff_required
def print_jobs():
    """The jobs the sandbox printed, the newest first."""
    return render_template("sandbox/print.html", jobs=_records("print"))


@print_bp.get("/jobs/<job_id>/document")
@staff_required
def print_document(job_id: str):
    """The PDF of a job, as the service received it."""
    job = _record("print", JOB_ID, job_id)
    if job is None:
        abort(404)
    pdf = (_folder("print") / f"{job_id}.pdf").read_bytes()
    name = re.sub(r"[^\w.-]+", "_", job["job_name"], flags=re.ASCII).strip("_") or job_id
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response


# --- The e-invoice operator ------------------------------------------------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
EB = f"{{{einvoice_operator.EB}}}"
SOAP = f"{{{einvoice_operator.SOAP_ENV}}}"


class Refused(Exception):
    def __init__(self, text: str, errors: list[str] | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.errors = errors or []


def _parse(document: bytes, what: str) -> etree._Element:
    try:
        root = etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise Refused(f"the {what} is not well-formed XML: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise Refused(f"the {what} may not have a DOCTYPE")
    return root


def _split(body: bytes) -> tuple[bytes, bytes]:
    """The SOAP frame and the Finvoice that follows it in one body."""
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not re.match(rb"(<\?xml[^>]*\?>\s*)?<(?:[A-Za-z_][\w.-]*:)?Envelope[\s>]", start):
        raise Refused("the body must start with the SOAP frame (SOAP-ENV:Envelope)")
    end = FRAME_END.search(start)
    if end is None:
        raise Refused("the SOAP frame is not closed")
    message = start[end.end() :].lstrip()  # kept as it came, to its last byte
    if not message.strip():
        raise Refused("no Finvoice message follows the SOAP frame")
    return start[: end.end()], message


def _party(header: etree._Element, tag: str, role: str) -> str:
    for party in header.findall(f"{EB}{tag}"):
        if (party.findtext(f"{EB}Role") or "").strip() == role:
            return (party.findtext(f"{EB}PartyId") or "").strip()
    return ""


def _read_frame(frame: bytes) -> dict[str, str]:
    root = _parse(frame, "SOAP frame")
    if root.tag != f"{SOAP}Envelope":
        raise Refused("the SOAP frame's root must be SOAP-ENV:Envelope")
    header = root.find(f"{SOAP}Header/{EB}MessageHeader")
    if header is None:
        raise Refused("the SOAP frame has no eb:MessageHeader")
    found = {
        "from": _party(header, "From", "Sender"),
        "from_intermediator": _party(header, "From", "Intermediator"),
        "to": _party(header, "To", "Receiver"),
        "to_intermediator": _party(header, "To", "Intermediator"),
        "cpa_id": (header.findtext(f"{EB}CPAId") or "").strip(),
        "conversation_id": (header.findtext(f"{EB}ConversationId") or "").strip(),
        "service": (header.findtext(f"{EB}Service") or "").strip(),
        "action": (header.findtext(f"{EB}Action") or "").strip(),
        "message_id": (header.findtext(f"{EB}MessageData/{EB}MessageId") or "").strip(),
        "timestamp": (header.findtext(f"{EB}MessageData/{EB}Timestamp") or "").strip(),
    }
    for name, label in (
        ("from", "From PartyId (Role Sender)"),
        ("to", "To PartyId (Role Receiver)"),
        ("cpa_id", "CPAId"),
        ("conversation_id", "ConversationId"),
        ("message_id", "MessageData/MessageId"),
        ("timestamp", "MessageData/Timestamp"),
    ):
        if not found[name]:
            raise Refused(f"the SOAP frame has no {label}")
    if found["service"] != "Routing" or found["action"] != "ProcessInvoice":
        raise Refused("the SOAP frame's Service must be Routing and its Action ProcessInvoice")
    if root.find(f"{SOAP}Body/{EB}Manifest/{EB}Reference") is None:
        raise Refused("the SOAP frame has no eb:Manifest with an eb:Reference")
    return found


def _read_message(message: bytes, framed: dict[str, str]) -> etree._Element:
    root = _parse(message, "Finvoice message")
    if root.tag != "Finvoice":
        raise Refused("the message after the SOAP frame is not a Finvoice")
    details = "MessageTransmissionDetails/"
    identifier = root.findtext(f"{details}MessageDetails/MessageIdentifier") or ""
    if identifier.strip() != framed["message_id"]:
        raise Refused(
            f"the frame's MessageId {framed['message_id']!r} is not the message's "
            f"MessageIdentifier {identifier.strip()!r}"
        )
    to_identifier = root.findtext(f"{details}MessageReceiverDetails/ToIdentifier") or ""
    if to_identifier.strip() != framed["to"]:
        raise Refused(
            f"the frame's To PartyId {framed['to']!r} is not the message's "
            f"ToIdentifier {to_identifier.strip()!r}"
        )
    from_identifier = root.findtext(f"{details}MessageSenderDetails/FromIdentifier") or ""
    if from_identifier.strip() != framed["from"]:
        raise Refused(
            f"the frame's From PartyId {framed['from']!r} is not the message's "
            f"FromIdentifier {from_identifier.strip()!r}"
        )
    problems = finvoice.errors(message)
    if problems:
        raise Refused("the Finvoice message is not valid Finvoice 3.0", problems[:50])
    return root


@operator_bp.post("/messages")
@csrf.exempt  # a server-to-server API, authenticated by its bearer token
def receive_message():
    """Receive a Finvoice in its SOAP frame (see services/einvoice_operator.py)."""
    refused = _refusal("EINVOICE_OPERATOR_TOKEN")
    if refused:
        return refused
    body = request.get_data(cache=False)
    try:
        frame, message = _split(body)
        framed = _read_frame(frame)
        key = _key_path("einvoice", f"{framed['from']}\n{framed['message_id']}")
        if key.exists():  # the same message again: the first answer, nothing delivered twice
            first = _record("einvoice", OPERATOR_ID, key.read_text().strip())
            if first is not None:
                return jsonify(_message_answer(first)), 200
        root = _read_message(message, framed)
    except Refused as exc:
        return _error(422, exc.text, errors=exc.errors)

    operator_id = "OP-" + secrets.token_hex(10).upper()
    record = {
        "message_id": operator_id,
        "status": "accepted",
        "sender_message_id": framed["message_id"],
        "from": framed["from"],
        "from_intermediator": framed["from_intermediator"],
        "to": framed["to"],
        "to_intermediator": framed["to_intermediator"],
        "invoice_number": root.findtext("InvoiceDetails/InvoiceNumber") or "",
        "total": root.findtext("InvoiceDetails/InvoiceTotalVatIncludedAmount") or "",
        "buyer": root.findtext("BuyerPartyDetails/BuyerOrganisationName") or "",
        "received_at": _now(),
    }
    folder = _folder("einvoice")
    _write(folder / f"{operator_id}.xml", message)
    _write(folder / f"{operator_id}.frame.xml", frame)
    _write(folder / f"{operator_id}.json", json.dumps(record, ensure_ascii=False).encode())
    winner = _claim(key, operator_id)
    if winner == operator_id:
        return jsonify(_message_answer(record)), 201
    for suffix in (".xml", ".frame.xml", ".json"):
        (folder / f"{operator_id}{suffix}").unlink(missing_ok=True)
    first = _record("einvoice", OPERATOR_ID, winner)
    if first is None:
        return _error(409, "this MessageId is being received in another request; retry")
    return jsonify(_message_answer(first)), 200


def _message_answer(record: dict) -> dict:
    return {"message_id": record["message_id"], "status": "accepted"}


@operator_bp.get("/")
@staff_required
def operator_messages():
    """The messages the operator received, the newest first."""
    return render_template("sandbox/einvoice.html", messages=_records("einvoice"))


@operator_bp.get("/messages/<message_id>.xml")
@staff_required
def operator_message(message_id: str):
    """A received Finvoice as it arrived (shown as text: never rendered as a page)."""
    if _record("einvoice", OPERATOR_ID, message_id) is None:
        abort(404)
    xml = (_folder("einvoice") / f"{message_id}.xml").read_bytes()
    return Response(xml, mimetype="text/plain", content_type="text/plain; charset=utf-8")


# --- Registration ----------------------------------------------------------------------


def register(app: Flask) -> None:
    """Mount the sandboxes when INVOICE_SANDBOX is on."""
    if not app.config.get("INVOICE_SANDBOX"):
        return
    app.register_blueprint(print_bp)
    app.register_blueprint(operator_bp)
