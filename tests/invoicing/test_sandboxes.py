"""The print service and e-invoice operator clients against their sandboxes, over real HTTP.

The sandboxes play the counterparts by their published rules, so what the clients send
is checked as the real services would check it; the tests then look at what was kept.
"""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests
from fpdf import FPDF
from lxml import etree
from pypdf import PdfReader

from models.auth import Role
from services.invoicing import einvoice_operator, finvoice, print_service
from services.invoicing.forwarding_errors import ForwardingError
from services.invoicing.print_service import Recipient
from tests.fixtures.app import free_port
from tests.fixtures.invoicing import finvoice_invoice

PRINT_TOKEN = "print-test-token"
OPERATOR_TOKEN = "operator-test-token"
RECIPIENT = Recipient("Ostaja Oy", "Ostajantie 5 B 12", "33100", "Tampere")
SENDER = ("003712345639", "003721291126")
RECEIVER = ("003712345612", "003721291126")


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config.update(
        {
            "INVOICE_SANDBOX": True,
            "PRINT_SERVICE_TOKEN": PRINT_TOKEN,
            "EINVOICE_OPERATOR_TOKEN": OPERATOR_TOKEN,
        }
    )
    return app_config


@pytest.fixture
def sandbox_dir(app) -> Path:
    return Path(app.config["INVOICE_SANDBOX_DIR"])


@pytest.fixture
def print_url(live_server: str) -> str:
    return f"{live_server}/sandbox/print"


@pytest.fixture
def operator_url(live_server: str) -> str:
    return f"{live_server}/sandbox/einvoice"


def invoice_pdf(pages: int = 2) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for page in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(text=f"Lasku 10010215, sivu {page}")
    return bytes(pdf.output())


def submit_print(pdf: bytes, base_url: str, **changes) -> str:
    values = {
        "job_name": "Lasku 10010215",
        "recipient": RECIPIENT,
        "idempotency_key": "invoice-10010215-1",
        "base_url": base_url,
        "token": PRINT_TOKEN,
        "timeout": 10,
    }
    values.update(changes)
    return print_service.submit(pdf, **values)


def kept(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


# --- The print service -------------------------------------------------------------------


def test_a_print_job_is_accepted_and_the_pdf_kept_as_sent(print_url, sandbox_dir):
    pdf = invoice_pdf(pages=2)
    job_id = submit_print(pdf, print_url)

    assert job_id.startswith("PJ-")
    stored = sandbox_dir / "print" / f"{job_id}.pdf"
    assert stored.read_bytes() == pdf
    assert len(PdfReader(io.BytesIO(stored.read_bytes())).pages) == 2
    metadata = json.loads((sandbox_dir / "print" / f"{job_id}.json").read_text())
    assert metadata["recipient"] == {
        "name": "Ostaja Oy",
        "street": "Ostajantie 5 B 12",
        "postcode": "33100",
        "city": "Tampere",
        "country": "FI",
    }
    assert metadata["options"] == {"colour": False, "duplex": True, "postage": "economy"}
    assert metadata["pages"] == 2

    state = print_service.status(job_id, base_url=print_url, token=PRINT_TOKEN, timeout=10)
    assert state["status"] == "printed" and state["pages"] == 2
    assert state["job_name"] == "Lasku 10010215"


def test_the_idempotency_key_gives_the_same_job_and_keeps_one_file(print_url, sandbox_dir):
    pdf = invoice_pdf()
    first = submit_print(pdf, print_url, idempotency_key="retry-me")
    again = submit_print(pdf, print_url, idempotency_key="retry-me")

    assert again == first
    assert [p.name for p in kept(sandbox_dir / "print", "*.pdf")] == [f"{first}.pdf"]
    other = submit_print(pdf, print_url, idempotency_key="another-key")
    assert other != first


def test_the_same_key_for_a_different_job_is_refused(print_url):
    submit_print(invoice_pdf(), print_url, idempotency_key="one-key")
    with pytest.raises(ForwardingError) as refused:
        submit_print(invoice_pdf(pages=3), print_url, idempotency_key="one-key")
    assert refused.value.status == 409
    assert "different job" in refused.value.message


def test_a_wrong_token_is_refused(print_url, sandbox_dir):
    with pytest.raises(ForwardingError) as refused:
        submit_print(invoice_pdf(), print_url, token="wrong")
    assert refused.value.status == 401
    assert refused.value.message.startswith("The print service refused the job (HTTP 401)")
    assert not refused.value.retryable
    assert kept(sandbox_dir / "print", "*.pdf") == []
    with pytest.raises(ForwardingError, match="HTTP 401"):
        print_service.status("PJ-0", base_url=print_url, token="wrong", timeout=10)


def test_a_bad_postcode_is_refused_naming_the_postcode(print_url, sandbox_dir):
    recipient = Recipient("Ostaja Oy", "Ostajantie 5", "3310", "Tampere")
    with pytest.raises(ForwardingError) as refused:
        submit_print(invoice_pdf(), print_url, recipient=recipient)
    assert refused.value.status == 422
    assert refused.value.message == (
        "The print service refused the job (HTTP 422): the postcode must be five digits"
    )
    assert kept(sandbox_dir / "print", "*") == []


@pytest.mark.parametrize(
    ("recipient", "words"),
    [
        (Recipient("", "Ostajantie 5", "33100", "Tampere"), "name is required"),
        (Recipient("Ostaja Oy", " ", "33100", "Tampere"), "street is required"),
        (Recipient("Ostaja Oy", "Storgatan 1", "111 22", "Stockholm", "XX"), "ISO 3166"),
        (Recipient("Ostaja Oy", "Storgatan 1", "111 22", "Stockholm", "se"), "ISO 3166"),
    ],
)
def test_an_incomplete_recipient_is_refused(print_url, recipient, words):
    with pytest.raises(ForwardingError, match=words):
        submit_print(invoice_pdf(), print_url, recipient=recipient)


def test_a_foreign_postcode_is_not_held_to_the_finnish_rule(print_url):
    recipient = Recipient("Köpare AB", "Storgatan 1", "111 22", "Stockholm", "SE")
    assert submit_print(invoice_pdf(), print_url, recipient=recipient).startswith("PJ-")


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (b"Lasku 10010215", "not a PDF"),
        (b"%PDF-1.4\n" + b"x" * 2000, "not a PDF"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "no pages"),
    ],
)
def test_a_document_that_is_not_a_pdf_is_refused(print_url, sandbox_dir, document, words):
    with pytest.raises(ForwardingError, match=words) as refused:
        submit_print(document, print_url)
    assert refused.value.status == 422
    assert kept(sandbox_dir / "print", "*.pdf") == []


def test_missing_parts_are_named(print_url):
    with requests.post(
        f"{print_url}/jobs",
        headers={"Authorization": f"Bearer {PRINT_TOKEN}", "Idempotency-Key": "k"},
        files={"document": ("a.pdf", invoice_pdf(), "application/pdf")},
        timeout=10,
    ) as response:
        assert response.status_code == 422
        assert response.json() == {"error": "the multipart part metadata (JSON) is missing"}
    with requests.post(
        f"{print_url}/jobs",
        headers={"Authorization": f"Bearer {PRINT_TOKEN}"},
        files={"document": ("a.pdf", invoice_pdf(), "application/pdf")},
        timeout=10,
    ) as response:
        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["error"]


def test_an_outage_is_a_retryable_error(app, print_url, operator_url):
    app.config["INVOICE_SANDBOX_OUTAGE"] = True
    with pytest.raises(ForwardingError) as failed:
        submit_print(invoice_pdf(), print_url)
    assert failed.value.status == 503 and failed.value.retryable
    assert failed.value.message == "The print service failed (HTTP 503): service unavailable"
    message = finvoice.build(einvoice())
    with pytest.raises(ForwardingError, match=r"failed \(HTTP 503\): service unavailable"):
        submit_einvoice(message, operator_url)


def test_a_closed_port_is_a_retryable_error():
    with pytest.raises(ForwardingError) as failed:
        submit_print(invoice_pdf(), f"http://127.0.0.1:{free_port()}", timeout=5)
    assert failed.value.retryable and failed.value.status is None
    assert "could not be reached" in failed.value.message


def test_a_service_that_never_answers_times_out():
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        base_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ForwardingError) as failed:
            submit_print(invoice_pdf(), base_url, timeout=0.3)
        with pytest.raises(ForwardingError, match="did not answer within 0.3 seconds"):
            submit_einvoice(finvoice.build(einvoice()), base_url, timeout=0.3)
    assert failed.value.retryable
    assert failed.value.message == "The print service did not answer within 0.3 seconds."


class _HTMLPage(BaseHTTPRequestHandler):
    """Any URL answers 200 with an HTML page: a proxy's page, not the API's JSON."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>Welcome</title><p>Hello"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_an_unreadable_answer_is_an_error():
    server = HTTPServer(("127.0.0.1", 0), _HTMLPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(ForwardingError) as failed:
            print_service.status("PJ-1", base_url=base_url, token=PRINT_TOKEN, timeout=10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert failed.value.message == (
        "The print service gave an answer that could not be read (HTTP 200)."
    )


# --- The e-invoice operator --------------------------------------------------------------


def einvoice(**changes) -> finvoice.Invoice:
    """The Finvoice tests' invoice, addressed between our sandbox parties."""
    base = finvoice_invoice()
    values = {
        "buyer": dataclasses.replace(
            base.buyer, einvoice_address=RECEIVER[0], operator=RECEIVER[1]
        ),
        "rows": base.rows[:2],
        "free_text": "",
        "message_id": "PP-10010215-1",
        "seller_einvoice": SENDER,
    }
    values.update(changes)
    return dataclasses.replace(base, **values)


def submit_einvoice(message: bytes, base_url: str, **changes) -> str:
    values = {
        "message_id": "PP-10010215-1",
        "sender": SENDER,
        "receiver": RECEIVER,
        "base_url": base_url,
        "token": OPERATOR_TOKEN,
        "timeout": 10,
    }
    values.update(changes)
    return einvoice_operator.submit(message, **values)


def post_raw(operator_url: str, body: bytes, token: str = OPERATOR_TOKEN) -> tuple[int, dict]:
    with requests.post(
        f"{operator_url}/messages",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/xml; charset=utf-8"},
        timeout=10,
    ) as response:
        return response.status_code, response.json()


def test_the_operator_accepts_a_valid_finvoice_and_keeps_it(operator_url, sandbox_dir):
    message = finvoice.build(einvoice())
    operator_id = submit_einvoice(message, operator_url)

    assert operator_id.startswith("OP-")
    stored = sandbox_dir / "einvoice" / f"{operator_id}.xml"
    assert stored.read_bytes() == message
    assert finvoice.errors(stored.read_bytes()) == []
    record = json.loads((sandbox_dir / "einvoice" / f"{operator_id}.json").read_text())
    assert record["sender_message_id"] == "PP-10010215-1"
    assert (record["from"], record["to"]) == (SENDER[0], RECEIVER[0])
    assert record["invoice_number"] == "10010215"


def test_the_frame_is_the_finvoice_transmission_frame():
    sent = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    root = etree.fromstring(
        einvoice_operator.frame(message_id="PP-1", sender=SENDER, receiver=RECEIVER, timestamp=sent)
    )
    eb = {"eb": einvoice_operator.EB, "SOAP-ENV": einvoice_operator.SOAP_ENV}
    header = root.find("SOAP-ENV:Header/eb:MessageHeader", eb)
    assert header.get(f"{{{einvoice_operator.SOAP_ENV}}}mustUnderstand") == "1"
    parties = [
        (
            party.tag.split("}")[1],
            party.findtext("eb:PartyId", namespaces=eb),
            party.findtext("eb:Role", namespaces=eb),
        )
        for party in header
        if party.tag.endswith(("}From", "}To"))
    ]
    assert parties == [
        ("From", SENDER[0], "Sender"),
        ("From", SENDER[1], "Intermediator"),
        ("To", RECEIVER[0], "Receiver"),
        ("To", RECEIVER[1], "Intermediator"),
    ]
    assert header.findtext("eb:CPAId", namespaces=eb) == "yoursandmycpa"
    assert header.findtext("eb:ConversationId", namespaces=eb) == "PP-1"
    assert header.findtext("eb:Service", namespaces=eb) == "Routing"
    assert header.findtext("eb:Action", namespaces=eb) == "ProcessInvoice"
    assert header.findtext("eb:MessageData/eb:MessageId", namespaces=eb) == "PP-1"
    assert header.findtext("eb:MessageData/eb:Timestamp", namespaces=eb) == sent.isoformat()
    reference_ = root.find("SOAP-ENV:Body/eb:Manifest/eb:Reference", eb)
    assert reference_.get(f"{{{einvoice_operator.XLINK}}}href") == "PP-1"


def test_an_invalid_finvoice_is_refused_before_sending(operator_url, sandbox_dir, monkeypatch):
    calls = []
    real_request = requests.request
    monkeypatch.setattr(
        requests,
        "request",
        lambda *a, **k: calls.append(a) or real_request(*a, **k),
    )
    message = finvoice.build(einvoice())
    broken = message.replace(b"<InvoiceNumber>", b"<InvoiceNumbr>", 1)
    broken = broken.replace(b"</InvoiceNumber>", b"</InvoiceNumbr>", 1)

    with pytest.raises(ForwardingError, match="not valid Finvoice 3.0") as refused:
        submit_einvoice(broken, operator_url)
    assert refused.value.status is None and not refused.value.retryable
    with pytest.raises(ForwardingError, match="not well-formed XML"):
        submit_einvoice(b"<Finvoice>", operator_url)
    with pytest.raises(ForwardingError, match="ToIdentifier"):
        submit_einvoice(message, operator_url, receiver=("003799999999", RECEIVER[1]))
    with pytest.raises(ForwardingError, match="MessageIdentifier"):
        submit_einvoice(message, operator_url, message_id="PP-other")
    assert calls == []
    assert kept(sandbox_dir / "einvoice", "*") == []


def test_a_frame_that_contradicts_its_message_is_refused(operator_url, sandbox_dir):
    message = finvoice.build(einvoice())
    frame = einvoice_operator.frame(message_id="PP-other", sender=SENDER, receiver=RECEIVER)
    status, answer = post_raw(operator_url, frame + message)
    assert status == 422
    assert "MessageId 'PP-other'" in answer["error"] and "MessageIdentifier" in answer["error"]

    frame = einvoice_operator.frame(
        message_id="PP-10010215-1", sender=SENDER, receiver=("003799999999", RECEIVER[1])
    )
    status, answer = post_raw(operator_url, frame + message)
    assert status == 422 and "ToIdentifier" in answer["error"]
    assert kept(sandbox_dir / "einvoice", "*.xml") == []


def test_the_operator_validates_what_it_receives(operator_url):
    message = finvoice.build(einvoice()).replace(b"<InvoiceNumber>", b"<InvoiceNumbr>", 1)
    message = message.replace(b"</InvoiceNumber>", b"</InvoiceNumbr>", 1)
    frame = einvoice_operator.frame(message_id="PP-10010215-1", sender=SENDER, receiver=RECEIVER)
    status, answer = post_raw(operator_url, frame + message)
    assert status == 422 and answer["error"].startswith("the Finvoice message is not valid")
    assert answer["errors"] and "InvoiceNumbr" in answer["errors"][0]

    assert post_raw(operator_url, frame)[1]["error"] == (
        "no Finvoice message follows the SOAP frame"
    )
    assert "must start with the SOAP frame" in post_raw(operator_url, message)[1]["error"]
    assert post_raw(operator_url, frame + message, token="wrong")[0] == 401


def test_a_repeated_message_id_gets_the_first_answer(operator_url, sandbox_dir):
    message = finvoice.build(einvoice())
    first = submit_einvoice(message, operator_url)
    again = submit_einvoice(message, operator_url)
    assert again == first
    assert [p.name for p in kept(sandbox_dir / "einvoice", "*.json")] == [f"{first}.json"]

    frame = einvoice_operator.frame(message_id="PP-10010215-1", sender=SENDER, receiver=RECEIVER)
    assert post_raw(operator_url, frame + message) == (
        200,
        {"message_id": first, "status": "accepted"},
    )


# --- Mounting and the staff pages ----------------------------------------------------------


def test_the_sandboxes_are_not_mounted_when_off(app_config):
    from app import create_app

    app_config["INVOICE_SANDBOX"] = False
    client = create_app(app_config).test_client()
    for url in ("/sandbox/print/", "/sandbox/print/jobs/PJ-1", "/sandbox/einvoice/"):
        assert client.get(url).status_code == 404
    assert client.post("/sandbox/print/jobs").status_code == 404
    assert client.post("/sandbox/einvoice/messages").status_code == 404


def test_the_staff_pages_need_staff_and_list_what_was_kept(
    client, auth, make_user, print_url, operator_url
):
    pdf = invoice_pdf()
    job_id = submit_print(pdf, print_url)
    message = finvoice.build(einvoice())
    operator_id = submit_einvoice(message, operator_url)
    pages = {
        "/sandbox/print/": job_id,
        f"/sandbox/print/jobs/{job_id}/document": None,
        "/sandbox/einvoice/": operator_id,
        f"/sandbox/einvoice/messages/{operator_id}.xml": None,
    }

    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]

    make_user("asiakas@example.com", role=Role.CUSTOMER)
    auth.login("asiakas@example.com")
    for url in pages:
        assert client.get(url).status_code == 403
    auth.logout()

    make_user("staff@example.com", role=Role.STAFF, org=None)
    auth.login("staff@example.com")
    for url, shown in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        if shown:
            html = response.get_data(as_text=True)
            assert shown in html and '<div lang="en">' in html
    page = client.get("/sandbox/print/").get_data(as_text=True)
    assert f'href="/sandbox/print/jobs/{job_id}/document"' in page
    assert '<th scope="col">Recipient</th>' in page
    document = client.get(f"/sandbox/print/jobs/{job_id}/document")
    assert document.data == pdf and document.mimetype == "application/pdf"
    assert "Lasku_10010215.pdf" in document.headers["Content-Disposition"]
    xml = client.get(f"/sandbox/einvoice/messages/{operator_id}.xml")
    assert xml.data == message and xml.mimetype == "text/plain"
    assert client.get("/sandbox/print/jobs/PJ-../document").status_code == 404
    assert client.get("/sandbox/einvoice/messages/nothing.xml").status_code == 404
