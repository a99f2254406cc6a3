"""cXML 1.2 documents of the PunchOut protocol: parsed safely and leniently, built exactly.

Pure functions over lxml: no Flask, no database. The supplier side (setup and order
requests in, setup responses and cart messages out) and the buyer side used by the
local sandbox (setup and order requests out) are both here, so both speak one dialect.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from lxml import etree

from services.safe_xml import hardened_parser

VERSION = "1.2.014"
DTD_URL = f"http://xml.cxml.org/schemas/cXML/{VERSION}/cXML.dtd"
# Any cXML 1.2.0xx DTD is accepted (buyers pin different minor versions).
_KNOWN_DTD = re.compile(r"^https?://xml\.cxml\.org/schemas/cXML/1\.2\.0\d\d/cXML\.dtd$")
MAX_BYTES = 1_000_000
UNSPSC_TRAINING = "86101700"  # Vocational training services


class CXMLError(Exception):
    """A document the protocol answers with a Status code and a text that says why."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


# --- Reading -------------------------------------------------------------------------


def parse(data: bytes) -> etree._Element:
    """Parse a cXML document: size-limited, no entities, no DTD loading, no network."""
    if len(data) > MAX_BYTES:
        raise CXMLError(400, f"The document is larger than {MAX_BYTES} bytes.")
    if b"<!ENTITY" in data.upper():
        raise CXMLError(400, "Entity declarations are not accepted.")
    parser = hardened_parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise CXMLError(400, f"The XML is malformed: {exc.msg}") from exc
    if root is None:
        raise CXMLError(400, "The document is empty.")
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None and docinfo.internalDTD.entities():
        raise CXMLError(400, "Entity declarations are not accepted.")
    if docinfo.system_url and not _KNOWN_DTD.match(docinfo.system_url):
        raise CXMLError(406, f"Unknown DTD {docinfo.system_url}: cXML 1.2 is accepted.")
    if etree.QName(root).localname != "cXML":
        raise CXMLError(400, "The root element must be cXML.")
    return root


def find(node: etree._Element, path: str) -> etree._Element | None:
    """The first element on the path below node, wherever buyers put it (order ignored)."""
    first, *rest = path.split("/")
    for candidate in node.iter(first):
        found = candidate
        for step in rest:
            found = found.find(step) if found is not None else None
        if found is not None:
            return found
    return None


def text(node: etree._Element, path: str) -> str | None:
    """The text of the first element on the path, stripped, or None when missing or empty."""
    found = find(node, path)
    if found is None:
        return None
    value = "".join(found.itertext()).strip()
    return value or None


def require(node: etree._Element, path: str) -> etree._Element:
    """The first element on the path; a 400 CXMLError when it is missing."""
    found = find(node, path)
    if found is None:
        raise CXMLError(400, f"The element {path} is missing.")
    return found


def require_text(node: etree._Element, path: str) -> str:
    """The text of the element on the path; a 400 CXMLError when missing or empty."""
    value = text(node, path)
    if value is None:
        raise CXMLError(400, f"The element {path} is missing or empty.")
    return value


@dataclass(frozen=True)
class Credential:
    """A From, To or Sender credential: its domain and identity, and the Sender's secret."""

    domain: str
    identity: str
    secret: str | None = None


def sender(root: etree._Element) -> Credential:
    """The Sender credential that authenticates the buyer."""
    credential = require(root, "Sender/Credential")
    identity = text(credential, "Identity")
    if not identity:
        raise CXMLError(400, "The element Sender/Credential/Identity is missing or empty.")
    return Credential(
        domain=(credential.get("domain") or "").strip(),
        identity=identity,
        secret=text(credential, "SharedSecret"),
    )


def credential_of(root: etree._Element, party: str) -> Credential | None:
    """The From or To credential of the header, if present."""
    credential = find(root, f"{party}/Credential")
    if credential is None:
        return None
    return Credential((credential.get("domain") or "").strip(), text(credential, "Identity") or "")


def redact(data: bytes | str) -> str:
    """The document as text with its shared secrets replaced, for the log."""
    if isinstance(data, bytes):
        # A buyer may send UTF-16; its secret must not slip through undecoded.
        utf16 = (
            data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00<" in data[:4] or b"<\x00" in data[:4]
        )
        document = data.decode("utf-16" if utf16 else "utf-8", "replace")
    else:
        document = data
    return re.sub(r"(<SharedSecret[^>]*>).*?(</SharedSecret>)", r"\1***\2", document, flags=re.S)


# --- Writing -------------------------------------------------------------------------


def payload_id() -> str:
    """A unique payloadID: time.process.random@host, as the spec recommends."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    return f"{stamp}.{os.getpid()}.{secrets.token_hex(6)}@{socket.gethostname()}"


def timestamp() -> str:
    """The current moment in UTC to the second, for a document's timestamp."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _document(lang: str = "fi") -> etree._Element:
    root = etree.Element("cXML")
    root.set("payloadID", payload_id())
    root.set("timestamp", timestamp())
    root.set("{http://www.w3.org/XML/1998/namespace}lang", lang)
    return root


def _sub(parent: etree._Element, tag: str, text_: str | None = None, **attrs) -> etree._Element:
    element = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text_ is not None:
        element.text = text_
    return element


def to_bytes(root: etree._Element) -> bytes:
    """The document as UTF-8 bytes with the XML declaration and the cXML DOCTYPE."""
    return etree.tostring(
        root,
        xml_declaration=True,
        encoding="UTF-8",
        doctype=f'<!DOCTYPE cXML SYSTEM "{DTD_URL}">',
        pretty_print=True,
    )


def _header(root, sender_: Credential, from_: Credential, to: Credential, agent: str) -> None:
    header = _sub(root, "Header")
    for tag, credential in (("From", from_), ("To", to)):
        party = _sub(header, tag)
        c = _sub(party, "Credential", domain=credential.domain)
        _sub(c, "Identity", credential.identity)
    party = _sub(header, "Sender")
    c = _sub(party, "Credential", domain=sender_.domain)
    _sub(c, "Identity", sender_.identity)
    if sender_.secret is not None:
        _sub(c, "SharedSecret", sender_.secret)
    _sub(party, "UserAgent", agent)


def response(code: int, status_text: str, body: etree._Element | None = None) -> bytes:
    """A Response with its Status (and an optional response element)."""
    root = _document()
    resp = _sub(root, "Response")
    _sub(resp, "Status", status_text, code=str(code), text=_status_name(code))
    if body is not None:
        resp.append(body)
    return to_bytes(root)


def _status_name(code: int) -> str:
    return {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        406: "Not Acceptable",
        409: "Conflict",
        450: "Not Implemented",
        500: "Internal Server Error",
    }.get(code, "Error")


def setup_response(start_url: str) -> bytes:
    """The PunchOutSetupResponse (200 OK) whose StartPage is `start_url`."""
    body = etree.Element("PunchOutSetupResponse")
    start = _sub(body, "StartPage")
    _sub(start, "URL", start_url)
    return response(200, "OK", body)


def money(amount: Decimal) -> str:
    """An amount as a Money element carries it: to the cent, with a decimal point."""
    return f"{amount.quantize(Decimal('0.01'))}"


@dataclass(frozen=True)
class CartItem:
    """One item of a cart sent back to the buyer (by default training, in EUR, one of it)."""

    supplier_part_id: str
    auxiliary_id: str
    price: Decimal
    description: str
    classification: str = UNSPSC_TRAINING
    currency: str = "EUR"
    quantity: int = 1
    unit: str = "EA"


def order_message(
    *,
    buyer_cookie: str,
    items: list[CartItem],
    supplier: Credential,
    buyer: Credential,
    operation_allowed: str = "edit",
    lang: str = "fi",
) -> bytes:
    """The PunchOutOrderMessage that carries the cart back to the buyer."""
    root = _document(lang)
    _header(root, supplier, supplier, buyer, "Palveluportaali")
    message = _sub(root, "Message")
    pom = _sub(message, "PunchOutOrderMessage")
    _sub(pom, "BuyerCookie", buyer_cookie)
    header = _sub(pom, "PunchOutOrderMessageHeader", operationAllowed=operation_allowed)
    total = sum((item.price * item.quantity for item in items), Decimal("0"))
    _sub(_sub(header, "Total"), "Money", money(total), currency="EUR")
    for item in items:
        item_in = _sub(pom, "ItemIn", quantity=str(item.quantity))
        item_id = _sub(item_in, "ItemID")
        _sub(item_id, "SupplierPartID", item.supplier_part_id)
        _sub(item_id, "SupplierPartAuxiliaryID", item.auxiliary_id)
        detail = _sub(item_in, "ItemDetail")
        _sub(_sub(detail, "UnitPrice"), "Money", money(item.price), currency=item.currency)
        description = _sub(detail, "Description", item.description)
        description.set("{http://www.w3.org/XML/1998/namespace}lang", lang)
        _sub(detail, "UnitOfMeasure", item.unit)
        _sub(detail, "Classification", item.classification, domain="UNSPSC")
    return to_bytes(root)


def form_fields(document: bytes) -> dict[str, str]:
    """The fields of the auto-posted cart form: cxml-urlencoded and cxml-base64."""
    return {
        "cxml-urlencoded": document.decode("utf-8"),
        "cxml-base64": base64.b64encode(document).decode("ascii"),
    }


# --- The buyer's side (the local sandbox plays Handi) ---------------------------------


def setup_request(
    *,
    sender_: Credential,
    buyer: Credential,
    supplier: Credential,
    buyer_cookie: str,
    browser_form_post: str,
    operation: str = "create",
) -> bytes:
    """A PunchOutSetupRequest as a buyer sends it (the sandbox's buyer side)."""
    root = _document()
    _header(root, sender_, buyer, supplier, "Handi-hiekkalaatikko")
    request = _sub(root, "Request", deploymentMode="test")
    setup = _sub(request, "PunchOutSetupRequest", operation=operation)
    _sub(setup, "BuyerCookie", buyer_cookie)
    _sub(_sub(setup, "BrowserFormPost"), "URL", browser_form_post)
    return to_bytes(root)


def order_request(
    *,
    sender_: Credential,
    buyer: Credential,
    supplier: Credential,
    order_id: str,
    items: list[tuple[str, str, Decimal, str]],
) -> bytes:
    """An OrderRequest for (supplier part id, auxiliary id, price, description) items."""
    root = _document()
    _header(root, sender_, buyer, supplier, "Handi-hiekkalaatikko")
    request = _sub(root, "Request", deploymentMode="test")
    order = _sub(request, "OrderRequest")
    header = _sub(
        order,
        "OrderRequestHeader",
        orderID=order_id,
        orderDate=timestamp(),
        type="new",
    )
    total = sum((price for _, _, price, _ in items), Decimal("0"))
    _sub(_sub(header, "Total"), "Money", money(total), currency="EUR")
    for line, (part_id, aux_id, price, description) in enumerate(items, start=1):
        item_out = _sub(order, "ItemOut", quantity="1", lineNumber=str(line))
        item_id = _sub(item_out, "ItemID")
        _sub(item_id, "SupplierPartID", part_id)
        _sub(item_id, "SupplierPartAuxiliaryID", aux_id)
        detail = _sub(item_out, "ItemDetail")
        _sub(_sub(detail, "UnitPrice"), "Money", money(price), currency="EUR")
        _sub(detail, "Description", description)
        _sub(detail, "UnitOfMeasure", "EA")
    return to_bytes(root)


def status_of(document: bytes) -> tuple[int, str]:
    """The Status code and text of a response document (for the sandbox)."""
    root = parse(document)
    status = require(root, "Response/Status")
    try:
        code = int(status.get("code", "0"))
    except ValueError as exc:
        raise CXMLError(400, "The Status code is not a number.") from exc
    return code, ("".join(status.itertext()).strip() or status.get("text", ""))
