"""The local print service and e-invoice operator: the other side of invoice forwarding.

The real counterparts (Posti's print service, the Verkkolasku operator) are out of reach
in development and tests, so these sandboxes play them over real HTTP by their published
rules (the protocols are described in services/invoicing/print_service.py and
services/invoicing/einvoice_operator.py): they check what arrives as strictly as the real ones
would, refuse it in the same way, and keep what they accept on disk under
INVOICE_SANDBOX_DIR, where staff can look at it on two pages.

Mounted only when INVOICE_SANDBOX is on (never in production by default). The APIs are
server-to-server, authenticated by their bearer tokens, so they are exempt from CSRF.
INVOICE_SANDBOX_OUTAGE makes both APIs answer 503, to try what the desk does then.
The pages are a third party's: plain English, not translated.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from functools import cache
from typing import Any

from flask import (
    Response,
    abort,
    jsonify,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue

from access import staff_required
from blueprints.shared import Routes
from extensions import csrf
from sandboxes import records
from services.files import claim as _claim
from services.files import write_atomically as _write

routes = Routes()


MAX_PDF_BYTES = 10 * 1024 * 1024
JOB_ID = re.compile(r"PJ-[0-9A-F]{20}")
PAGE_OBJECT = re.compile(rb"/Type\s*/Page\b")
FINNISH_POSTCODE = re.compile(r"[0-9]{5}")
POSTAGE = ("economy", "priority")
# CLDR's two-letter regions that are no country one posts to (unions, pseudo-locales, unknown).
NOT_COUNTRIES = {"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"}
DEFAULT_OPTIONS = {"colour": False, "duplex": True, "postage": "economy"}
ADDRESS_LIMITS = {"name": 100, "street": 100, "postcode": 16, "city": 60}


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


@routes.post("/jobs")
@csrf.exempt  # a server-to-server API, authenticated by its bearer token
def submit_job() -> ResponseReturnValue:
    """Accept a print job: a PDF and its recipient (see services/invoicing/print_service.py)."""
    refused = records.refusal("PRINT_SERVICE_TOKEN")
    if refused:
        return refused
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 255:
        return records.error(400, "the Idempotency-Key header is required (at most 255 characters)")
    document = request.files.get("document")
    if document is None:
        return records.error(422, "the multipart part document (the PDF) is missing")
    if document.mimetype != "application/pdf":
        return records.error(422, "the document part must have the type application/pdf")
    if "metadata" in request.files:
        raw_metadata = request.files["metadata"].read()
    elif "metadata" in request.form:
        raw_metadata = request.form["metadata"].encode()
    else:
        return records.error(422, "the multipart part metadata (JSON) is missing")
    try:
        metadata = json.loads(raw_metadata)
    except ValueError:
        return records.error(422, "the metadata is not JSON")
    problem = _metadata_problem(metadata)
    if problem:
        return records.error(422, problem)
    pdf = document.read(MAX_PDF_BYTES + 1)
    problem = _document_problem(pdf)
    if problem:
        return records.error(422, problem)

    canonical = json.dumps(metadata, sort_keys=True, ensure_ascii=False).encode()
    fingerprint = hashlib.sha256(hashlib.sha256(pdf).digest() + canonical).hexdigest()
    key_path = records.key_path("print", key)
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
        "received_at": records.now(),
        "size": len(pdf),
        "fingerprint": fingerprint,
    }
    folder = records.folder("print")
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
    first = records.find("print", JOB_ID, first_id)
    if first is None:
        return records.error(409, "this Idempotency-Key is being used by another request; retry")
    if first["fingerprint"] != fingerprint:
        return records.error(409, "this Idempotency-Key was already used for a different job")
    response = jsonify(_job_answer(first))
    response.status_code = 200
    return response


@routes.get("/jobs/<job_id>")
def job_status(job_id: str) -> ResponseReturnValue:
    """A job's state: the sandbox prints at once, so an accepted job is soon printed."""
    refused = records.refusal("PRINT_SERVICE_TOKEN")
    if refused:
        return refused
    job = records.find("print", JOB_ID, job_id)
    if job is None:
        return records.error(404, "no such job")
    shown = {k: job[k] for k in ("job_id", "pages", "job_name", "recipient", "options")}
    return jsonify(shown | {"status": "printed", "received_at": job["received_at"]})


@routes.get("/")
@staff_required
def print_jobs() -> ResponseReturnValue:
    """The jobs the sandbox printed, the newest first."""
    return render_template("sandbox/print.html", jobs=records.listed("print"))


@routes.get("/jobs/<job_id>/document")
@staff_required
def print_document(job_id: str) -> ResponseReturnValue:
    """The PDF of a job, as the service received it."""
    job = records.find("print", JOB_ID, job_id)
    if job is None:
        abort(404)
    pdf = (records.folder("print") / f"{job_id}.pdf").read_bytes()
    name = re.sub(r"[^\w.-]+", "_", job["job_name"], flags=re.ASCII).strip("_") or job_id
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response


# --- The e-invoice operator ------------------------------------------------------------
