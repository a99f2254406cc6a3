"""The e-invoice operator client (Verkkolasku): sends a Finvoice 3.0 message for delivery.

Pure: no Flask. The caller passes the operator's address, token and timeout from the
configuration (EINVOICE_OPERATOR_URL, EINVOICE_OPERATOR_TOKEN, FORWARDING_TIMEOUT).

What is sent
============

Finnish operators receive a Finvoice preceded by its SOAP transmission frame (Finance
Finland, *Finvoice Implementation Guidelines*, "Message transmission frame" and
"Description of the SOAP frame"): an ebXML 2.0 message header saying who sends to whom,
then the Finvoice itself, the two XML documents one after the other in one body::

    <SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"
        xmlns:xlink="http://www.w3.org/1999/xlink"
        xmlns:eb="http://www.oasis-open.org/committees/ebxml-msg/schema/msg-header-2_0.xsd">
      <SOAP-ENV:Header>
        <eb:MessageHeader SOAP-ENV:mustUnderstand="1" eb:version="2.0">
          <eb:From><eb:PartyId>{sender address}</eb:PartyId><eb:Role>Sender</eb:Role></eb:From>
          <eb:From><eb:PartyId>{sender operator}</eb:PartyId>
            <eb:Role>Intermediator</eb:Role></eb:From>
          <eb:To><eb:PartyId>{receiver address}</eb:PartyId><eb:Role>Receiver</eb:Role></eb:To>
          <eb:To><eb:PartyId>{receiver operator}</eb:PartyId>
            <eb:Role>Intermediator</eb:Role></eb:To>
          <eb:CPAId>yoursandmycpa</eb:CPAId>
          <eb:ConversationId>{message id}</eb:ConversationId>
          <eb:Service>Routing</eb:Service>
          <eb:Action>ProcessInvoice</eb:Action>
          <eb:MessageData>
            <eb:MessageId>{message id}</eb:MessageId>
            <eb:Timestamp>{now, ISO 8601}</eb:Timestamp>
          </eb:MessageData>
        </eb:MessageHeader>
      </SOAP-ENV:Header>
      <SOAP-ENV:Body>
        <eb:Manifest eb:id="Manifest" eb:version="2.0">
          <eb:Reference eb:id="Finvoice" xlink:href="{message id}">
            <eb:Schema eb:location="http://www.finvoice.info/finvoice.xsd" eb:version="2.0"/>
          </eb:Reference>
        </eb:Manifest>
      </SOAP-ENV:Body>
    </SOAP-ENV:Envelope>
    <?xml version="1.0" encoding="UTF-8"?>
    <Finvoice Version="3.0">…</Finvoice>

The frame's MessageId is the Finvoice's MessageIdentifier, its From and To are the
message's FromIdentifier/FromIntermediator and ToIdentifier/ToIntermediator: the operator
routes by the frame and refuses a frame that contradicts its message. CPAId is the fixed
"yoursandmycpa" of the guidelines; an Intermediator entry is left out when unknown.

The operator API
================

``POST {base_url}/messages`` with ``Content-Type: text/xml; charset=utf-8`` and
``Authorization: Bearer <token>``; the body as above. ``201`` answers
``{"message_id": "<the operator's id>", "status": "accepted"}``; the same MessageId again
answers ``200`` with the first answer (nothing is delivered twice). ``401``: a wrong token;
``422``: ``{"error": "…", "errors": [...]}`` names what is refused; ``503``: out of service.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from services.invoicing import finvoice
from services.invoicing.forwarding_errors import ForwardingError, exchange, malformed

SERVICE = "e-invoice operator"

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
EB = "http://www.oasis-open.org/committees/ebxml-msg/schema/msg-header-2_0.xsd"
XLINK = "http://www.w3.org/1999/xlink"
NSMAP = {"SOAP-ENV": SOAP_ENV, "xlink": XLINK, "eb": EB}
CPA_ID = "yoursandmycpa"
FINVOICE_SCHEMA_LOCATION = "http://www.finvoice.info/finvoice.xsd"

__all__ = ["ForwardingError", "frame", "submit"]

# Reading what we are about to send: no DTDs, no entities, nothing from the network.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _eb(parent: etree._Element, tag: str, text: str | None = None, **attributes: str):
    element = etree.SubElement(
        parent, f"{{{EB}}}{tag}", {f"{{{EB}}}{k}": v for k, v in attributes.items()}
    )
    if text is not None:
        element.text = text
    return element


def _party(header: etree._Element, tag: str, party_id: str, role: str) -> None:
    party = _eb(header, tag)
    _eb(party, "PartyId", party_id)
    _eb(party, "Role", role)


def frame(
    *,
    message_id: str,
    sender: tuple[str, str],
    receiver: tuple[str, str],
    timestamp: datetime | None = None,
) -> bytes:
    """The SOAP transmission frame of a Finvoice message (without an XML declaration).

    `sender` and `receiver` are (e-invoice address, operator code) pairs.
    """
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap=NSMAP)
    header = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Header")
    message_header = _eb(header, "MessageHeader", version="2.0")
    message_header.set(f"{{{SOAP_ENV}}}mustUnderstand", "1")
    (sender_address, sender_operator), (receiver_address, receiver_operator) = sender, receiver
    _party(message_header, "From", sender_address, "Sender")
    if sender_operator:
        _party(message_header, "From", sender_operator, "Intermediator")
    _party(message_header, "To", receiver_address, "Receiver")
    if receiver_operator:
        _party(message_header, "To", receiver_operator, "Intermediator")
    _eb(message_header, "CPAId", CPA_ID)
    _eb(message_header, "ConversationId", message_id)  # may not be empty
    _eb(message_header, "Service", "Routing")
    _eb(message_header, "Action", "ProcessInvoice")
    data = _eb(message_header, "MessageData")
    _eb(data, "MessageId", message_id)
    sent = (timestamp or datetime.now(UTC)).replace(microsecond=0)
    _eb(data, "Timestamp", sent.isoformat())
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    manifest = _eb(body, "Manifest", id="Manifest", version="2.0")
    reference = _eb(manifest, "Reference", id="Finvoice")
    reference.set(f"{{{XLINK}}}href", message_id)
    _eb(reference, "Schema", location=FINVOICE_SCHEMA_LOCATION, version="2.0")
    return etree.tostring(envelope, encoding="UTF-8", xml_declaration=False, pretty_print=True)


def _refuse(reason: str) -> ForwardingError:
    return ForwardingError(f"The e-invoice message was not sent: {reason}")


def _check(message: bytes, message_id: str, sender: tuple[str, str], receiver: tuple[str, str]):
    """Refuse what the operator would refuse: never send an invalid message."""
    try:
        root = etree.fromstring(message, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise _refuse(f"it is not well-formed XML ({exc})") from exc
    if root.getroottree().docinfo.encoding.upper() not in ("UTF-8", "UTF8"):
        raise _refuse("it must be encoded in UTF-8")
    problems = finvoice.errors(message)
    if problems:
        shown = "; ".join(problems[:3]) + (" …" if len(problems) > 3 else "")
        raise _refuse(f"it is not valid Finvoice 3.0: {shown}")
    transmission = "MessageTransmissionDetails/"
    expected = {
        "MessageIdentifier": (f"{transmission}MessageDetails/MessageIdentifier", message_id),
        "FromIdentifier": (f"{transmission}MessageSenderDetails/FromIdentifier", sender[0]),
        "FromIntermediator": (f"{transmission}MessageSenderDetails/FromIntermediator", sender[1]),
        "ToIdentifier": (f"{transmission}MessageReceiverDetails/ToIdentifier", receiver[0]),
        "ToIntermediator": (f"{transmission}MessageReceiverDetails/ToIntermediator", receiver[1]),
    }
    for name, (path, value) in expected.items():
        found = (root.findtext(path) or "").strip()
        if found != value:
            raise _refuse(f"its {name} is {found!r}, not {value!r} as the frame would say")


def submit(
    message: bytes,
    *,
    message_id: str,
    sender: tuple[str, str],
    receiver: tuple[str, str],
    base_url: str,
    token: str,
    timeout: float,
) -> str:
    """Send the Finvoice to the operator in its SOAP frame; return the operator's id.

    `sender` and `receiver` are (e-invoice address, operator code) pairs and must be the
    message's own; a message Finance Finland's schema finds invalid is never sent.
    Sending the same message id again is safe: the operator answers its first answer.
    Raises ForwardingError when the message was not accepted.
    """
    _check(message, message_id, sender, receiver)
    body = frame(message_id=message_id, sender=sender, receiver=receiver) + message
    status_code, answer = exchange(
        "POST",
        f"{base_url.rstrip('/')}/messages",
        service=SERVICE,
        action="refused the message",
        timeout=timeout,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "text/xml; charset=utf-8",
            "Accept": "application/json",
        },
        data=body,
    )
    operator_id = answer.get("message_id")
    if not isinstance(operator_id, str) or not operator_id or answer.get("status") != "accepted":
        raise malformed(SERVICE, status_code)
    return operator_id
