"""The print service client (Posti): hands an invoice PDF over to be printed and posted.

Pure: no Flask. The caller passes the service's address, token and timeout from the
configuration (PRINT_SERVICE_URL, PRINT_SERVICE_TOKEN, FORWARDING_TIMEOUT).

The print API (as letter services such as Posti's ePDF take a finished PDF letter)
=================================================================================

Every request carries ``Authorization: Bearer <token>``. Answers are JSON; a refusal is
``{"error": "<what is wrong, in words>"}`` with a 4xx status, a failure a 5xx status.

``POST {base_url}/jobs`` — submit a print job
    Headers: ``Idempotency-Key: <key>`` (required, at most 255 characters).
    Body: ``multipart/form-data`` with two parts:

    * ``document`` — the letter, ``Content-Type: application/pdf``, filename
      ``<job_name>.pdf``: a PDF (starts ``%PDF-``, ends with ``%%EOF``) of at most 10 MB,
      printed as it is, the recipient's address in the envelope window.
    * ``metadata`` — ``Content-Type: application/json``::

        {"job_name": "Lasku 10010215",
         "recipient": {"name": "...", "street": "...", "postcode": "00100",
                       "city": "Helsinki", "country": "FI"},
         "options": {"colour": false, "duplex": true, "postage": "economy"}}

      ``name``, ``street``, ``postcode`` and ``city`` are required; a Finnish postcode is
      five digits; ``country`` is an ISO 3166 alpha-2 code. ``options`` may be left out
      (black and white, both sides, economy); ``postage`` is ``economy`` or ``priority``.

    Answers ``201 Created`` with ``{"job_id": "PJ-…", "status": "accepted", "pages": n}``.
    A repeated Idempotency-Key with the same document and metadata answers ``200`` with
    the first job's answer (nothing is printed twice); the same key with a different job
    answers ``409``. ``401``: a missing or wrong token; ``422``: the document or the
    metadata is refused (the error says which and why); ``503``: the service is down.

``GET {base_url}/jobs/<job_id>`` — a job's state
    Answers ``200`` with ``{"job_id", "status", "pages", "job_name", "recipient",
    "options", "received_at"}``; ``status`` is ``accepted`` or ``printed``. ``404``: no
    such job.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from urllib.parse import quote

from services.invoicing.forwarding_errors import ForwardingError, exchange, malformed

SERVICE = "print service"

# Invoices are letters: black and white, both sides, economy postage.
OPTIONS = {"colour": False, "duplex": True, "postage": "economy"}

__all__ = ["OPTIONS", "ForwardingError", "Recipient", "status", "submit"]


@dataclass(frozen=True)
class Recipient:
    """The postal address printed in the envelope window."""

    name: str
    street: str
    postcode: str
    city: str
    country: str = "FI"  # ISO 3166 alpha-2


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def submit(
    pdf: bytes,
    *,
    job_name: str,
    recipient: Recipient,
    idempotency_key: str,
    base_url: str,
    token: str,
    timeout: float,
) -> str:
    """Hand the PDF to the print service and return its job id.

    The idempotency key makes a retry safe: send the same key again after a timeout or a
    lost answer, and the service answers the job it already has instead of printing the
    letter twice. Raises ForwardingError when the job was not accepted.
    """
    metadata = {"job_name": job_name, "recipient": asdict(recipient), "options": OPTIONS}
    files = {
        "document": (f"{job_name}.pdf", pdf, "application/pdf"),
        "metadata": (None, json.dumps(metadata, ensure_ascii=False), "application/json"),
    }
    headers = {**_headers(token), "Idempotency-Key": idempotency_key}
    status_code, answer = exchange(
        "POST",
        f"{base_url.rstrip('/')}/jobs",
        service=SERVICE,
        action="refused the job",
        timeout=timeout,
        headers=headers,
        files=files,
    )
    job_id = answer.get("job_id")
    if not isinstance(job_id, str) or not job_id or answer.get("status") != "accepted":
        raise malformed(SERVICE, status_code)
    return job_id


def status(job_id: str, *, base_url: str, token: str, timeout: float) -> dict:
    """The print service's record of a job (its `status`: accepted, printed)."""
    status_code, answer = exchange(
        "GET",
        f"{base_url.rstrip('/')}/jobs/{quote(job_id, safe='')}",
        service=SERVICE,
        action="refused the status query",
        timeout=timeout,
        headers=_headers(token),
    )
    if answer.get("job_id") != job_id or not isinstance(answer.get("status"), str):
        raise malformed(SERVICE, status_code)
    return answer
