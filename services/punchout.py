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
import textwrap
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
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
from services import cxml, reasons, training

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


# Control characters a document may carry (a NUL, which PostgreSQL refuses in text),
# kept in the log as escapes: the log shows what came, and never fails to be written.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def printable(text: str) -> str:
    """The text with its control characters written as escapes, so the log can keep it."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def log(buyer, kind: str, direction: str, status: int | None, summary: str, body) -> None:
    """Keep a document exchanged with a buyer (secrets redacted) for staff to read."""
    text = cxml.redact(body) if body else ""
    text = re.sub(r"(PASSWORD=)[^&\s]*", r"\1***", text, flags=re.IGNORECASE)
    text, summary = printable(text), printable(summary)
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
    """An accepted setup request: the buyer, the session it opened and its token."""

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
    """Our own credential as the supplier, from the configuration."""
    config = current_app.config
    return cxml.Credential(config["PUNCHOUT_SUPPLIER_DOMAIN"], config["PUNCHOUT_SUPPLIER_IDENTITY"])


OCI_DESCRIPTION = 40  # NEW_ITEM-DESCRIPTION holds 40 characters in SAP
OCI_LONGTEXT = 132  # each NEW_ITEM-LONGTEXT_n:132[] line holds 132
MIN_TITLE = 8  # characters of the course title kept in the description, however long the name


def cart_item(enrolment: Enrolment) -> cxml.CartItem:
    """The enrolment as the cart's item: the course, its price, and who and when."""
    course = enrolment.course
    return cxml.CartItem(
        supplier_part_id=f"COURSE-{course.id}",
        auxiliary_id=str(enrolment.id),
        price=course.price or Decimal("0"),
        # Who, what and when first: the buyer's lists show the beginning of it.
        description=f"{enrolment.name}, {course.title}, {_dates(course)}",
    )


def _dates(course) -> str:
    dates = format_date(course.starts_at, "short")
    if course.ends_at.date() != course.starts_at.date():
        dates += "–" + format_date(course.ends_at, "short")
    return dates


def short_description(enrolment: Enrolment, width: int = OCI_DESCRIPTION) -> str:
    """Participant, course and start date in at most width characters.

    The course title gives way first (the buyer's line must say whose it is and when),
    then the name; what is cut ends with an ellipsis. The full text is the long text.
    """
    name, title = enrolment.name.strip(), enrolment.course.title.strip()
    day = format_date(enrolment.course.starts_at, "short")
    text = f"{name}, {title}, {day}"
    if len(text) <= width:
        return text
    room = width - len(day) - 4  # for the name and the title, with ", " twice
    if len(name) + MIN_TITLE > room:
        name = _cut(name, room - MIN_TITLE)
    return f"{name}, {_cut(title, room - len(name))}, {day}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)].rstrip() + "…"


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
        ("NEW_ITEM-DESCRIPTION[1]", short_description(session.enrolment)),
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
    # The full text goes in the long text, in lines of at most 132 characters.
    for line in textwrap.wrap(item.description, OCI_LONGTEXT, break_on_hyphens=False):
        fields.append(("NEW_ITEM-LONGTEXT_1:132[]", line))
    return fields


def mark_transferred(session: PunchoutSession) -> None:
    """Record when the session's cart first went back to the buyer."""
    if session.transferred_at is None:
        session.transferred_at = utcnow()


# --- Order request -------------------------------------------------------------------

# Status codes of an order refused: the document itself asks for what cannot be sold
# (a quantity, a price), or it conflicts with the enrolment as it now is.
UNACCEPTABLE, CONFLICT = 400, 409


def order(root, raw: bytes) -> tuple[PunchoutBuyer, int, str]:
    """Handle an OrderRequest: approve each item's preliminary enrolment, exactly once.

    The order is honoured exactly or refused whole: each item is one person (quantity 1)
    at the course's price, and a delete names the order that approved its enrolments.
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
    found: list[Enrolment] = []
    problems: list[tuple[int, str]] = []
    for item in items:
        aux = cxml.text(item, "ItemID/SupplierPartAuxiliaryID") or ""
        label = f"item {aux or '?'}"
        problems += [(UNACCEPTABLE, f"{label}: {p}") for p in _quantity_problems(item)]
        enrolment = _buyers_enrolment(buyer, aux)
        if enrolment is None:
            problems.append((CONFLICT, f"{label}: no enrolment of this buyer was found"))
            continue
        if enrolment in found:
            problems.append((UNACCEPTABLE, f"{label}: the same enrolment twice; {ONE_PERSON}"))
            continue
        found.append(enrolment)
        if kind == "new":
            problems += [(UNACCEPTABLE, f"{label}: {p}") for p in _price_problems(item, enrolment)]
            problem = _new_order_problem(enrolment, order_id)
        else:
            problem = _delete_problem(enrolment, order_id)
        if problem:
            problems.append((CONFLICT, f"{label}: {problem}"))
    if kind == "new" and len(found) == len(items):
        problems += [(UNACCEPTABLE, p) for p in _total_problems(header, found)]
    if not problems:
        actor = f"{buyer.name} ({order_id})"
        for enrolment in found:
            if kind == "delete":
                if enrolment.status != EnrolmentStatus.CANCELLED:
                    training.cancel(
                        enrolment, actor, reason=reasons.coded("punchout_deleted", order=order_id)
                    )
            elif enrolment.status == EnrolmentStatus.PRELIMINARY:
                training.approve_preliminary(enrolment, order_id, actor)
        code, text = 200, "OK"
    else:
        code = min(problem_code for problem_code, _ in problems)
        text = "; ".join(problem for _, problem in problems)
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


ONE_PERSON = "PunchOut enrolments are one person at a time: one person per order, quantity 1"


def _quantity_problems(item) -> list[str]:
    quantity = (item.get("quantity") or "").strip()
    if not quantity:
        return [f"the quantity is missing; {ONE_PERSON}"]
    if _decimal(quantity) != 1:
        return [f"the quantity is {quantity[:20]}; {ONE_PERSON}"]
    return []


def _price_problems(item, enrolment: Enrolment) -> list[str]:
    """The item's unit price, where it gives one, must be the course's price."""
    money = cxml.find(item, "ItemDetail/UnitPrice/Money")
    if money is None:
        return []  # ItemDetail is optional in cXML; the header's Total still counts
    expected = _course_price(enrolment)
    if not _same_money(money, expected):
        return [f"the unit price is {_stated(money)}, the course costs {cxml.money(expected)} EUR"]
    return []


def _total_problems(header, enrolments: list[Enrolment]) -> list[str]:
    """The order's Total must be what its courses cost (cXML: before tax and shipping)."""
    money = cxml.find(header, "Total/Money")
    expected = sum((_course_price(e) for e in enrolments), Decimal("0"))
    if money is None:
        return [f"the order has no Total; it should be {cxml.money(expected)} EUR"]
    if not _same_money(money, expected):
        return [f"the order total is {_stated(money)}, the courses cost {cxml.money(expected)} EUR"]
    return []


def _new_order_problem(enrolment: Enrolment, order_id: str) -> str | None:
    if enrolment.status == EnrolmentStatus.PRELIMINARY or (
        enrolment.status == EnrolmentStatus.BINDING and enrolment.billing_reference == order_id
    ):
        return None  # to approve, or approved by this very order (a retry)
    return f"the enrolment is {enrolment.status.value}, it cannot be ordered"


def _delete_problem(enrolment: Enrolment, order_id: str) -> str | None:
    """A delete cancels only what the order it names approved (its billing reference)."""
    approved_by = enrolment.billing_reference
    if enrolment.status == EnrolmentStatus.BINDING and approved_by == order_id:
        return None
    if enrolment.status == EnrolmentStatus.CANCELLED and approved_by == order_id:
        return None  # deleted already (a retry under another payloadID)
    if enrolment.status == EnrolmentStatus.BINDING and approved_by:
        return f"the enrolment was approved under order {approved_by}, not {order_id}"
    return f"the enrolment is {enrolment.status.value}, no order {order_id} approved it"


def _course_price(enrolment: Enrolment) -> Decimal:
    return (enrolment.course.price or Decimal("0")).quantize(Decimal("0.01"))


def _decimal(value: str) -> Decimal | None:
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _same_money(money, expected: Decimal) -> bool:
    currency = (money.get("currency") or "").strip().upper()
    amount = _decimal("".join(money.itertext()))
    return currency == "EUR" and amount is not None and amount == expected


def _stated(money) -> str:
    amount = "".join(money.itertext()).strip()[:30] or "empty"
    return f"{amount} {(money.get('currency') or '').strip()[:10]}".strip()


def approve_by_staff(enrolment: Enrolment, order_number: str, actor: str) -> None:
    """Staff enter the order number of an order that came without an OrderRequest (SAP OCI):
    approved as an OrderRequest would, and kept as an order so that it can be looked up."""
    training.approve_preliminary(enrolment, order_number, actor)
    session = session_of(enrolment.id)
    db.session.add(
        PunchoutOrder(
            buyer_id=session.buyer_id if session else None,
            # Not a buyer's payloadID: an enrolment is approved once, so this one is unique.
            payload_id=f"staff:{enrolment.id}",
            order_id=order_number,
            status_code=200,
            # Not the actor's address: the enrolment's history names who approved it.
            status_text="OK (the order number was entered by staff)",
        )
    )


@dataclass(frozen=True)
class FoundOrder:
    """An order as the staff look-up shows it: its latest answer and what it approved."""

    order: PunchoutOrder
    buyer: PunchoutBuyer | None
    enrolments: list[Enrolment]


def orders_numbered(number: str, limit: int = 10) -> list[FoundOrder]:
    """The orders of this order number, in any letter case (through its lower-case index),
    newest first, with the enrolments each approved (their billing reference is it)."""
    number = number.strip()
    if not number or len(number) > 100:
        return []
    answers = db.session.scalars(
        sa.select(PunchoutOrder)
        .where(sa.func.lower(PunchoutOrder.order_id) == sa.func.lower(number))
        .order_by(PunchoutOrder.id.desc())
        .limit(50)
    ).all()
    latest: dict[tuple[int | None, str], PunchoutOrder] = {}
    for answer in answers:  # a retried or deleted order was answered more than once
        latest.setdefault((answer.buyer_id, answer.order_id), answer)
    found = []
    for (buyer_id, order_id), answer in list(latest.items())[:limit]:
        enrolments = db.session.scalars(
            sa.select(Enrolment)
            .options(selectinload(Enrolment.course))
            .join(PunchoutSession, PunchoutSession.enrolment_id == Enrolment.id)
            .where(Enrolment.billing_reference == order_id, PunchoutSession.buyer_id == buyer_id)
            .order_by(Enrolment.id)
            .distinct()
            .limit(limit)
        ).all()
        buyer = db.session.get(PunchoutBuyer, buyer_id) if buyer_id is not None else None
        found.append(FoundOrder(answer, buyer, list(enrolments)))
    return found


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
    """The enrolment's latest PunchOut session, or None."""
    return db.session.scalar(
        sa.select(PunchoutSession)
        .where(PunchoutSession.enrolment_id == enrolment_id)
        .order_by(PunchoutSession.id.desc())
        .limit(1)
    )


def recent_log(buyer_id: int | None = None, limit: int = 50) -> list[PunchoutLog]:
    """The latest PunchOut log entries, newest first, of one buyer or of all."""
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
