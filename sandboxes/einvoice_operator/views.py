"""The e-invoice operator sandbox: receives Finvoice messages in their SOAP frame (ebXML
message header) over real HTTP, as an operator does, under /sandbox/einvoice."""

from __future__ import annotations

import json
import re
import secrets

from flask import (
    Response,
    abort,
    jsonify,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from lxml import etree

from access import staff_required
from blueprints.shared import Routes
from extensions import csrf
from sandboxes import records
from services.files import claim as _claim
from services.files import write_atomically as _write
from services.invoicing import einvoice_operator, finvoice

routes = Routes()


OPERATOR_ID = re.compile(r"OP-[0-9A-F]{20}")


# The end of the SOAP frame, whatever prefix the sender gave the envelope's namespace.
FRAME_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?Envelope\s*>")


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


@routes.post("/messages")
@csrf.exempt  # a server-to-server API, authenticated by its bearer token
def receive_message() -> ResponseReturnValue:
    """Receive a Finvoice in its SOAP frame (see services/invoicing/einvoice_operator.py)."""
    refused = records.refusal("EINVOICE_OPERATOR_TOKEN")
    if refused:
        return refused
    body = request.get_data(cache=False)
    try:
        frame, message = _split(body)
        framed = _read_frame(frame)
        key = records.key_path("einvoice", f"{framed['from']}\n{framed['message_id']}")
        if key.exists():  # the same message again: the first answer, nothing delivered twice
            first = records.find("einvoice", OPERATOR_ID, key.read_text().strip())
            if first is not None:
                return jsonify(_message_answer(first)), 200
        root = _read_message(message, framed)
    except Refused as exc:
        return records.error(422, exc.text, errors=exc.errors)

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
        "received_at": records.now(),
    }
    folder = records.folder("einvoice")
    _write(folder / f"{operator_id}.xml", message)
    _write(folder / f"{operator_id}.frame.xml", frame)
    _write(folder / f"{operator_id}.json", json.dumps(record, ensure_ascii=False).encode())
    winner = _claim(key, operator_id)
    if winner == operator_id:
        return jsonify(_message_answer(record)), 201
    for suffix in (".xml", ".frame.xml", ".json"):
        (folder / f"{operator_id}{suffix}").unlink(missing_ok=True)
    first = records.find("einvoice", OPERATOR_ID, winner)
    if first is None:
        return records.error(409, "this MessageId is being received in another request; retry")
    return jsonify(_message_answer(first)), 200


def _message_answer(record: dict) -> dict:
    return {"message_id": record["message_id"], "status": "accepted"}


@routes.get("/")
@staff_required
def operator_messages() -> ResponseReturnValue:
    """The messages the operator received, the newest first."""
    return render_template("sandbox/einvoice.html", messages=records.listed("einvoice"))


@routes.get("/messages/<message_id>.xml")
@staff_required
def operator_message(message_id: str) -> ResponseReturnValue:
    """A received Finvoice as it arrived (shown as text: never rendered as a page)."""
    if records.find("einvoice", OPERATOR_ID, message_id) is None:
        abort(404)
    xml = (records.folder("einvoice") / f"{message_id}.xml").read_bytes()
    return Response(xml, mimetype="text/plain", content_type="text/plain; charset=utf-8")
