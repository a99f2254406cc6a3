"""PunchOut from procurement systems (cXML 1.2 and SAP OCI 4.0), supplier side.

Buyers authenticate with a shared secret (kept as an Argon2 hash). A setup request opens
a session whose StartPage works once and expires; the browser enrols one person, and the
cart goes back to the buyer; the buyer's OrderRequest (or, for OCI, staff entering the
order number) turns the preliminary enrolment binding with the order number as its
billing reference. Every document is logged per buyer with its secrets redacted.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cache
from urllib.parse import urlsplit

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import format_date
from sqlalchemy.orm import selectinload

from extensions import db
from models.punchout import PunchoutBuyer, PunchoutLog, PunchoutOrder, PunchoutSession
from models.training import Enrolment, EnrolmentStatus
from models.types import utcnow
from services import cxml, training

_hasher = PasswordHasher()
OCI_DOMAIN = "oci"
SESSION_HOURS = 2  # how long a started punchout may take before its cart is sent


@cache
def _dummy_hash() -> str:
    """A real hash for unknown buyers (a check costs the same), made on first use."""
    return _hasher.hash("no-buyer-has-this-secret")


class PunchoutError(ValueError):
    """Something a buyer sent that cannot be accepted; code and text go in the Status."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


# --- Buyers --------------------------------------------------------------------------


def add_buyer(name: str, domain: str, identity: str, secret: str, organisation_id=None):
    """Register a procurement system; the caller commits."""
    if len(secret) < 8:
        raise PunchoutError(400, "The shared secret must have at least 8 characters.")
    domain, identity = domain.strip().lower(), identity.strip().lower()
    exists = db.session.scalar(
        sa.select(PunchoutBuyer.id).where(
            PunchoutBuyer.domain == domain, PunchoutBuyer.identity == identity
        )
    )
    if exists:
        raise PunchoutError(409, f"A buyer with the credential {domain}/{identity} exists.")
    buyer = PunchoutBuyer(
        name=name.strip(),
        domain=domain,
        identity=identity,
        secret_hash=_hasher.hash(secret),
        organisation_id=organisation_id,
    )
    db.session.add(buyer)
    db.session.flush()
    return buyer


def authenticate(domain: str, identity: str, secret: str | None) -> PunchoutBuyer:
    """The active buyer of the credential whose secret matches; PunchoutError 401 if not."""
    buyer = db.session.scalar(
        sa.select(PunchoutBuyer).where(
            PunchoutBuyer.domain == domain.strip().lower(),
            PunchoutBuyer.identity == identity.strip().lower(),
        )
    )
    try:
        _hasher.verify(buyer.secret_hash if buyer else _dummy_hash(), secret or "")
    except (VerificationError, InvalidHashError):
        buyer = None
    if buyer is None or not buyer.active:
        raise PunchoutError(401, "The credential or the shared secret is not valid.")
    return buyer


def claimed_buyer(root) -> PunchoutBuyer | None:
    """The buyer a document claims to come from (by its Sender credential), unverified."""
    try:
        credential = cxml.sender(root)
    except cxml.CXMLError:
        return None
    return db.session.scalar(
        sa.select(PunchoutBuyer).where(
            PunchoutBuyer.domain == credential.domain.lower(),
            PunchoutBuyer.identity == credential.identity.lower(),
        )
    )


def log(buyer, kind: str, direction: str, status: int | None, summary: str, body) -> None:
    """Keep a document exchanged with a buyer (secrets redacted) for staff to read."""
    text = cxml.redact(body) if body else ""
    text = re.sub(r"(PASSWORD=)[^&\s]*", r"\1***", text, flags=re.IGNORECASE)
    db.session.add(
        PunchoutLog(
            buyer_id=buyer.id if buyer else None,
            kind=kind,
            direction=direction,
            status_code=status,
            summary=summary[:500],
            body=text[:200_000],
        )
    )


# --- Sessions ------------------------------------------------------------------------


_HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def return_origin(url: str) -> str:
    """The origin (scheme://host[:port]) of a buyer's return address; PunchoutError if the
    address is not a plain http(s) URL (it ends up in a header and a form's action)."""
    if not url or len(url) > 2000:
        raise PunchoutError(
            400, "The return address (BrowserFormPost or HOOK_URL) is missing or too long."
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise PunchoutError(
            400, "The return address (BrowserFormPost or HOOK_URL) is not a URL."
        ) from exc
    if parts.scheme not in ("http", "https") or not _HOST.match(parts.netloc or ""):
        raise PunchoutError(
            400, "The return address (BrowserFormPost or HOOK_URL) must be an http(s) URL."
        )
    return f"{parts.scheme}://{parts.netloc}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    buyer: PunchoutBuyer,
    *,
    protocol: str,
    return_url: str,
    buyer_cookie: str = "",
    operation: str = "create",
    enrolment: Enrolment | None = None,
) -> tuple[PunchoutSession, str]:
    """A new session and the one-time token of its StartPage; the caller commits."""
    return_origin(return_url)  # refuses anything but a plain http(s) address
    token = secrets.token_urlsafe(32)
    ttl = current_app.config["PUNCHOUT_START_SECONDS"]
    session = PunchoutSession(
        buyer=buyer,
        protocol=protocol,
        operation=operation,
        buyer_cookie=buyer_cookie[:500],
        return_url=return_url,
        start_token_hash=_hash(token),
        start_expires_at=utcnow() + timedelta(seconds=ttl),
        browser_key=secrets.token_urlsafe(32),
        enrolment=enrolment,
    )
    db.session.add(session)
    db.session.flush()
    return session, token


def start(token: str) -> PunchoutSession | None:
    """Use a StartPage token: once, before it expires. None when it cannot be used."""
    table = PunchoutSession.__table__
    now = utcnow()
    claimed = db.session.execute(
        sa.update(table)
        .where(
            table.c.start_token_hash == _hash(token),
            table.c.started_at.is_(None),
            table.c.start_expires_at > now,
        )
        .values(started_at=now)
    )
    if claimed.rowcount != 1:
        return None
    return db.session.scalar(
        sa.select(PunchoutSession).where(PunchoutSession.start_token_hash == _hash(token))
    )


def active(browser_key: str | None) -> PunchoutSession | None:
    """The started session of this browser whose cart has not gone back yet."""
    if not browser_key:
        return None
    session = db.session.scalar(
        sa.select(PunchoutSession).where(PunchoutSession.browser_key == browser_key)
    )
    if (
        session is None
        or session.started_at is None
        or session.started_at < utcnow() - timedelta(hours=SESSION_HOURS)
    ):
        return None
    return session


# --- Setup request -------------------------------------------------------------------


@dataclass
class SetupResult:
    buyer: PunchoutBuyer
    session: PunchoutSession
    token: str


def setup(root) -> SetupResult:
    """Handle a PunchOutSetupRequest document: authenticate, open a session."""
    credential = cxml.sender(root)
    buyer = authenticate(credential.domain, credential.identity, credential.secret)
    request = cxml.require(root, "PunchOutSetupRequest")
    operation = (request.get("operation") or "create").strip().lower()
    if operation not in ("create", "edit", "inspect"):
        raise PunchoutError(450, f"The operation {operation} is not supported.")
    return_url = cxml.require_text(request, "BrowserFormPost/URL")
    buyer_cookie = cxml.text(request, "BuyerCookie") or ""
    enrolment = None
    if operation in ("edit", "inspect"):
        enrolment = _cart_enrolment(buyer, request)
    session, token = open_session(
        buyer,
        protocol="cxml",
        return_url=return_url,
        buyer_cookie=buyer_cookie,
        operation=operation,
        enrolment=enrolment,
    )
    return SetupResult(buyer, session, token)


def _cart_enrolment(buyer: PunchoutBuyer, request) -> Enrolment | None:
    """The enrolment of an open cart being edited or inspected (from its ItemOut)."""
    aux = cxml.text(request, "ItemOut/ItemID/SupplierPartAuxiliaryID")
    if aux is None:
        return None
    enrolment = _buyers_enrolment(buyer, aux)
    if enrolment is None:
        raise PunchoutError(400, f"No open cart item {aux} of this buyer was found.")
    return enrolment


def _buyers_enrolment(buyer: PunchoutBuyer, aux: str) -> Enrolment | None:
    """An enrolment that went to this buyer's cart, by its SupplierPartAuxiliaryID."""
    if not re.fullmatch(r"[0-9]{1,9}", aux):
        return None
    return db.session.scalar(
        sa.select(Enrolment)
        .join(PunchoutSession, PunchoutSession.enrolment_id == Enrolment.id)
        .where(Enrolment.id == int(aux), PunchoutSession.buyer_id == buyer.id)
        .limit(1)
    )


# --- The cart ------------------------------------------------------------------------


def supplier_credential() -> cxml.Credential:
    config = current_app.config
    return cxml.Credential(config["PUNCHOUT_SUPPLIER_DOMAIN"], config["PUNCHOUT_SUPPLIER_IDENTITY"])


def cart_item(enrolment: Enrolment) -> cxml.CartItem:
    course = enrolment.course
    dates = format_date(course.starts_at, "short")
    if course.ends_at.date() != course.starts_at.date():
        dates += "–" + format_date(course.ends_at, "short")
    return cxml.CartItem(
        supplier_part_id=f"COURSE-{course.id}",
        auxiliary_id=str(enrolment.id),
        price=course.price or Decimal("0"),
        description=f"{course.title}, {dates}: {enrolment.name}",
    )


def cart_document(session: PunchoutSession) -> bytes:
    """The PunchOutOrderMessage of the session's cart."""
    buyer = session.buyer
    items = [cart_item(session.enrolment)] if session.enrolment else []
    return cxml.order_message(
        buyer_cookie=session.buyer_cookie,
        items=items,
        supplier=supplier_credential(),
        buyer=cxml.Credential(buyer.domain, buyer.identity),
        operation_allowed="inspect" if session.operation == "inspect" else "edit",
    )


def oci_fields(session: PunchoutSession) -> list[tuple[str, str]]:
    """The cart as SAP OCI 4.0 NEW_ITEM-* form fields."""
    if session.enrolment is None:
        return []
    item = cart_item(session.enrolment)
    fields = [
        ("NEW_ITEM-DESCRIPTION[1]", item.description[:40]),
        ("NEW_ITEM-QUANTITY[1]", "1"),
        ("NEW_ITEM-UNIT[1]", "EA"),
        ("NEW_ITEM-PRICE[1]", cxml.money(item.price)),
        ("NEW_ITEM-PRICEUNIT[1]", "1"),
        ("NEW_ITEM-CURRENCY[1]", "EUR"),
        ("NEW_ITEM-VENDORMAT[1]", item.supplier_part_id),
        ("NEW_ITEM-EXT_PRODUCT_ID[1]", item.auxiliary_id),
        ("NEW_ITEM-EXT_SCHEMA_TYPE[1]", "UNSPSC"),
        ("NEW_ITEM-EXT_CATEGORY_ID[1]", item.classification),
        ("NEW_ITEM-LEADTIME[1]", "1"),
    ]
    # The long text goes in lines of at most 132 characters.
    long_text = item.description
    for start in range(0, len(long_text), 132):
        fields.append(("NEW_ITEM-LONGTEXT_1:132[]", long_text[start : start + 132]))
    return fields


def mark_transferred(session: PunchoutSession) -> None:
    if session.transferred_at is None:
        session.transferred_at = utcnow()


# --- Order request -------------------------------------------------------------------


def order(root, raw: bytes) -> tuple[PunchoutBuyer, int, str]:
    """Handle an OrderRequest: approve each item's preliminary enrolment, exactly once.

    Returns the buyer and the Status to answer; a repeated payloadID gets the stored one.
    """
    credential = cxml.sender(root)
    buyer = authenticate(credential.domain, credential.identity, credential.secret)
    payload = (root.get("payloadID") or "").strip()[:250]
    if not payload:
        raise PunchoutError(400, "The cXML element has no payloadID.")
    previous = previous_order(buyer.id, payload)
    if previous is not None:
        return buyer, previous.status_code, previous.status_text
    header = cxml.require(root, "OrderRequest/OrderRequestHeader")
    order_id = (header.get("orderID") or "").strip()
    if not order_id or len(order_id) > 100:
        raise PunchoutError(400, "OrderRequestHeader needs an orderID of at most 100 characters.")
    kind = (header.get("type") or "new").strip().lower()
    if kind not in ("new", "delete"):
        raise PunchoutError(450, f"An order of type {kind} is not supported: send a new order.")
    items = list(cxml.require(root, "OrderRequest").iter("ItemOut"))
    if not items:
        raise PunchoutError(400, "The order has no ItemOut.")
    # Every item is checked first: the order is applied whole, or not at all.
    found, problems = [], []
    for item in items:
        aux = cxml.text(item, "ItemID/SupplierPartAuxiliaryID") or ""
        enrolment = _buyers_enrolment(buyer, aux)
        if enrolment is None:
            problems.append(f"item {aux or '?'}: no enrolment of this buyer was found")
        elif kind == "new" and not (
            enrolment.status == EnrolmentStatus.PRELIMINARY
            or (
                enrolment.status == EnrolmentStatus.BINDING
                and enrolment.billing_reference == order_id
            )
        ):
            problems.append(
                f"item {aux}: the enrolment is {enrolment.status.value}, it cannot be ordered"
            )
        else:
            found.append(enrolment)
    if not problems:
        actor = f"{buyer.name} ({order_id})"
        for enrolment in found:
            if kind == "delete":
                if enrolment.status != EnrolmentStatus.CANCELLED:
                    training.cancel(enrolment, actor, reason=f"Order {order_id} was deleted")
            elif enrolment.status == EnrolmentStatus.PRELIMINARY:
                training.approve_preliminary(enrolment, order_id, actor)
    code, text = (200, "OK") if not problems else (409, "; ".join(problems))
    db.session.add(
        PunchoutOrder(
            buyer_id=buyer.id,
            payload_id=payload,
            order_id=order_id,
            status_code=code,
            status_text=text[:500],
        )
    )
    return buyer, code, text


def previous_order(buyer_id: int, payload: str) -> PunchoutOrder | None:
    """The answer already given to this payloadID (buyers retry)."""
    return db.session.scalar(
        sa.select(PunchoutOrder).where(
            PunchoutOrder.buyer_id == buyer_id, PunchoutOrder.payload_id == payload[:250]
        )
    )


def pending(older_than_days: int) -> list[Enrolment]:
    """Preliminary PunchOut enrolments waiting for the buyer's approval for a while."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    return list(
        db.session.scalars(
            sa.select(Enrolment)
            .options(selectinload(Enrolment.course))
            .where(
                Enrolment.source == "punchout",
                Enrolment.status == EnrolmentStatus.PRELIMINARY,
                Enrolment.created_at <= cutoff,
            )
            .order_by(Enrolment.created_at)
        )
    )


def session_of(enrolment_id: int) -> PunchoutSession | None:
    return db.session.scalar(
        sa.select(PunchoutSession)
        .where(PunchoutSession.enrolment_id == enrolment_id)
        .order_by(PunchoutSession.id.desc())
        .limit(1)
    )


def recent_log(buyer_id: int | None = None, limit: int = 50) -> list[PunchoutLog]:
    stmt = (
        sa.select(PunchoutLog)
        .options(selectinload(PunchoutLog.buyer))
        .order_by(PunchoutLog.id.desc())
        .limit(limit)
    )
    if buyer_id is not None:
        stmt = stmt.where(PunchoutLog.buyer_id == buyer_id)
    return list(db.session.scalars(stmt))


def expired_or_used(token: str) -> bool:
    """True when the token was a real StartPage once (for a clearer message)."""
    return (
        db.session.scalar(
            sa.select(PunchoutSession.id).where(PunchoutSession.start_token_hash == _hash(token))
        )
        is not None
    )


def order_of_organisation(reference: str, organisation_id: int) -> tuple[str, str] | None:
    """The enrolment a PunchOut order number names (its laskutusviite), if the order came
    from the organisation's own procurement system."""
    enrolment_id = db.session.scalar(
        sa.select(Enrolment.id)
        .join(PunchoutSession, PunchoutSession.enrolment_id == Enrolment.id)
        .join(PunchoutSession.buyer)
        .where(
            Enrolment.billing_reference == reference.strip(),
            PunchoutBuyer.organisation_id == organisation_id,
        )
        .order_by(Enrolment.id)
        .limit(1)
    )
    return ("enrolment", str(enrolment_id)) if enrolment_id else None
