"""The customer portal's rules: orders, employees and their identity numbers, invoice
status, bookings with their capacity and self-declarations, and the reports."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from access import own_scoped, visible_departments
from extensions import db
from models.audit import AuditAction
from models.auth import Department, User
from models.portal import (
    UNPAID_MINIMUM,
    Booking,
    BookingSlot,
    CustomerInvoice,
    Employee,
    EmployeeEvent,
    OrderEvent,
    OrderStatus,
    Placement,
    PortalOrder,
)
from models.types import utcnow
from services import audit, counters, identity, outbox
from services.timezones import day_start_utc
from services.urls import external_url

OSLO = ZoneInfo("Europe/Oslo")
FIRST_ORDER_NUMBER = 300_001
# The Info tab: open bookings until a month past their deadline, a screenful of them.
BOOKINGS_SHOWN_AFTER_DEADLINE = timedelta(days=30)
BOOKINGS_SHOWN = 50

ORDER_STATUS_LABELS = {
    OrderStatus.RECEIVED: _l("Received"),
    OrderStatus.IN_PROGRESS: _l("Being processed"),
    OrderStatus.PLANNED: _l("Planned"),
    OrderStatus.DELIVERED: _l("Delivered"),
    OrderStatus.CANCELLED: _l("Cancelled"),
}

INVOICE_STATUS_LABELS = {
    "ubetalt": _l("Unpaid"),
    "forfalt": _l("Overdue"),
    "betalt": _l("Paid"),
}

# The questions of the self-declaration (egenerklæring) before a health check.
DECLARATION_QUESTIONS = (
    ("illness", _l("Do you have an illness or injury that we should know of?")),
    ("medication", _l("Do you use medicines regularly?")),
    ("noise", _l("Are you exposed to loud noise at work?")),
    ("chemicals", _l("Do you work with chemicals, dust or fumes?")),
    ("talk", _l("Would you like to talk with the doctor or nurse about something?")),
)


PRODUCT_GROUPS = (
    "Bedriftshelsetjeneste",
    "Helsekontroller",
    "Kurs og opplæring",
    "Arbeidsmiljø og ergonomi",
    "Psykososial oppfølging",
)


def ensure_product_groups() -> None:
    """Add the product groups a new installation starts with, if missing (safe to rerun)."""
    from models.portal import ProductGroup

    have = set(db.session.scalars(sa.select(ProductGroup.name)))
    for position, name in enumerate(PRODUCT_GROUPS):
        if name not in have:
            db.session.add(ProductGroup(name=name, position=position * 10))
    db.session.flush()


def today() -> date:
    """Today in Norway, the portal's customers' day."""
    return datetime.now(OSLO).date()


# ---------------------------------------------------------------- access


def departments_for(user: User) -> list[Department]:
    """The departments the user may choose, in tree order with their paths."""
    visible = visible_departments(user)
    rows = db.session.scalars(
        sa.select(Department).where(Department.organisation_id == user.organisation_id)
    )
    return sorted(
        (d for d in rows if visible is None or d.id in visible), key=lambda d: department_path(d)
    )


def booking_department() -> sa.ScalarSelect:
    """A booking's department, for own_scoped(): its order's; none without an order (a
    booking of the whole company). A lookup of the order by its primary key per row."""
    return (
        sa.select(PortalOrder.department_id)
        .where(PortalOrder.id == Booking.order_id)
        .scalar_subquery()
    )


def department_and_below(department: Department) -> list[int]:
    """The department's id and the ids of all departments under it."""
    ids, stack = [], [department]
    while stack:
        node = stack.pop()
        ids.append(node.id)
        stack.extend(node.children)
    return ids


def department_path(department: Department) -> str:
    """The department's name after its parents', top first: "Head office / Sales"."""
    names = []
    node = department
    while node is not None:
        names.append(node.name)
        node = node.parent
    return " / ".join(reversed(names))


# ---------------------------------------------------------------- orders


@dataclass
class OrderRequest:
    """A new order as the customer's order form gives it (Ny bestilling)."""

    department: Department | None
    desired_delivery: str
    quantity: str
    contact: str
    invoice_reference: str
    location: str
    description: str


def create_order(user: User, request: OrderRequest) -> PortalOrder:
    """Save a new order with its number, and queue the mail to the user and to the
    company's account manager (kundeansvarlig), all in the caller's transaction."""
    number = counters.next_value("portal-order", start=FIRST_ORDER_NUMBER)
    order = PortalOrder(
        number=number,
        organisation_id=user.organisation_id,
        department=request.department,
        status=OrderStatus.RECEIVED,
        desired_delivery=request.desired_delivery,
        quantity=request.quantity,
        contact=request.contact,
        invoice_reference=request.invoice_reference,
        location=request.location,
        description=request.description,
        ordered_by_id=user.id,
        ordered_at=utcnow(),
    )
    order.events.append(OrderEvent(actor=user.email, to_status=OrderStatus.RECEIVED))
    db.session.add(order)
    db.session.flush()
    organisation = order.organisation
    context = {"order": order, "organisation": organisation, "user": user}
    outbox.queue_mail(
        "portal_order_confirmation",
        user.email,
        language=user.language,
        context={
            **context,
            "order_url": external_url("portal.order", number=order.number, language=user.language),
        },
        record=("portal_order", order.id),
        timezone="Europe/Oslo",
    )
    manager = organisation.account_manager
    if manager is not None:
        outbox.queue_mail(
            "portal_order_manager",
            manager.email,
            language=manager.language,
            context={
                **context,
                "staff_url": external_url(
                    "portal_staff.order", number=order.number, language=manager.language
                ),
            },
            record=("portal_order", order.id),
            timezone="Europe/Oslo",
        )
    return order


def set_order_status(order: PortalOrder, actor: str, status: OrderStatus) -> bool:
    """Change the order's status, once: a double click records one change."""
    old = order.status
    if old == status:
        return False
    changed = db.session.execute(
        sa.update(PortalOrder)
        .where(PortalOrder.id == order.id, PortalOrder.status == old)
        .values(status=status)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        return False
    db.session.add(OrderEvent(order_id=order.id, actor=actor, from_status=old, to_status=status))
    db.session.expire(order)
    return True


# ---------------------------------------------------------------- employees


def vault() -> identity.Vault:
    """The keys of the identity numbers. The digest that finds duplicates has its own key
    (NATIONAL_ID_DIGEST_KEY), so that a new encryption key changes no digest."""
    keys = current_app.config.get("NATIONAL_ID_KEYS") or []
    digest_key = current_app.config.get("NATIONAL_ID_DIGEST_KEY")
    if keys:
        return identity.Vault(keys, digest_key or keys[-1])
    box = identity.Vault.from_secret(current_app.config["SECRET_KEY"])
    return identity.Vault(box.keys, digest_key) if digest_key else box


# The fields of an employee a form edits, as the change events name them.
EMPLOYEE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "mobile",
    "birth_date",
    "gender",
    "department_id",
)


class DuplicateEmployee(ValueError):
    """Another employee of the company has this identity number."""


def save_employee(employee: Employee, values: dict, national_id: str | None, actor: str) -> bool:
    """Create or change an employee and record what changed (field names only).

    `national_id` is a validated number to set, "" to remove it, or None to leave it.
    """
    creating = employee.id is None
    changed = [name for name in EMPLOYEE_FIELDS if getattr(employee, name) != values.get(name)]
    for name in EMPLOYEE_FIELDS:
        setattr(employee, name, values.get(name))
    if national_id is not None:
        box = vault()
        digest = box.digest(national_id) if national_id else None
        if digest != employee.national_id_digest:
            if digest and _digest_taken(employee, digest):
                raise DuplicateEmployee()
            number_change = (
                "removed" if not digest else "changed" if employee.national_id_digest else "set"
            )
            employee.national_id_encrypted = box.encrypt(national_id) if national_id else None
            employee.national_id_masked = identity.mask(national_id) if national_id else None
            employee.national_id_digest = digest
            changed.append("national_id")
    if not creating and not changed:
        return False
    employee.updated_at = utcnow()
    db.session.add(employee)
    db.session.flush()
    _employee_event(employee, "created" if creating else "changed", changed, actor)
    if "national_id" in changed:
        audit.record(
            AuditAction.NATIONAL_ID_CHANGED,
            "employee",
            employee.id,
            f"national identity number {number_change}",
        )
    return True


def _digest_taken(employee: Employee, digest: str) -> bool:
    stmt = sa.select(Employee.id).where(
        Employee.organisation_id == employee.organisation_id,
        Employee.national_id_digest == digest,
    )
    if employee.id is not None:
        stmt = stmt.where(Employee.id != employee.id)
    return db.session.scalar(stmt.limit(1)) is not None


def in_service(day: date | None = None) -> sa.ColumnElement:
    """Employees who may be picked on the day: not deactivated, or only from a later date."""
    return sa.or_(Employee.active, Employee.deactivated_on > (day or today()))


def set_active(employee: Employee, active: bool, on: date | None, actor: str) -> bool:
    """Deaktiver from a date (until then the employee can still be picked), or reactivate;
    history and bookings are kept."""
    if employee.active == active:
        return False
    changed = db.session.execute(
        sa.update(Employee)
        .where(Employee.id == employee.id, Employee.active == (not active))
        .values(
            active=active,
            deactivated_on=None if active else (on or today()),
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(employee)
    if changed != 1:  # a double click: the first one did it
        return False
    _employee_event(
        employee, "reactivated" if active else "deactivated", ["active", "deactivated_on"], actor
    )
    return True


# Any constant: the lock that makes change events commit in the order of their ids.
_EVENT_LOCK = 7_311_001


def _employee_event(employee: Employee, action: str, fields: list[str], actor: str) -> None:
    """Record a change for the CRM feed. Its id is the feed's cursor, so ids must become
    visible in their order: on PostgreSQL one transaction at a time writes events (a
    lock held to the commit); SQLite has one writer anyway."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVENT_LOCK})
    db.session.add(
        EmployeeEvent(
            employee_id=employee.id,
            organisation_id=employee.organisation_id,
            action=action,
            fields=sorted(set(fields)),
            actor=actor,
        )
    )


def employee_record(employee: Employee) -> dict:
    """The employee as the CRM feed gives them: the identity number only masked."""
    return {
        "id": employee.id,
        "organisation_id": employee.organisation_id,
        "organisation": employee.organisation.name,
        "department_id": employee.department_id,
        "department": employee.department.name if employee.department else None,
        "first_name": employee.first_name,
        "last_name": employee.last_name,
        "email": employee.email,
        "mobile": employee.mobile,
        "birth_date": employee.birth_date.isoformat() if employee.birth_date else None,
        "gender": employee.gender.value if employee.gender else None,
        "national_id_masked": employee.national_id_masked,
        "active": employee.active,
        "deactivated_on": employee.deactivated_on.isoformat() if employee.deactivated_on else None,
        "updated_at": employee.updated_at.isoformat(),
    }


def reencrypt_national_ids() -> int:
    """Encrypt every stored number again with the first key, and renew the digests (after
    a new key is put first in NATIONAL_ID_KEYS)."""
    box = vault()
    count = 0
    for employee in db.session.scalars(
        sa.select(Employee).where(Employee.national_id_encrypted.is_not(None))
    ):
        number = box.decrypt(employee.national_id_encrypted)
        if number is None:
            raise RuntimeError(f"employee {employee.id}: no key in NATIONAL_ID_KEYS opens it")
        employee.national_id_encrypted = box.encrypt(number)
        employee.national_id_digest = box.digest(number)
        count += 1
    db.session.commit()
    return count


# ---------------------------------------------------------------- invoices


def invoice_status(invoice: CustomerInvoice, on: date | None = None) -> str:
    """Betalt, Forfalt or Ubetalt: computed from the due date and what is outstanding."""
    if invoice.outstanding <= 0:
        return "betalt"
    return "forfalt" if invoice.due_date < (on or today()) else "ubetalt"


def invoice_status_filter(status: str, on: date | None = None) -> sa.ColumnElement | None:
    """The SQL condition of a status filter: Ubetalt means anything unpaid (overdue too)."""
    day = on or today()
    unpaid = CustomerInvoice.outstanding > sa.literal_column(UNPAID_MINIMUM)
    conditions = {
        "ubetalt": unpaid,
        "forfalt": sa.and_(unpaid, CustomerInvoice.due_date < day),
        "betalt": CustomerInvoice.outstanding <= 0,
    }
    return conditions.get(status)


def record_payment(invoice: CustomerInvoice, amount: Decimal, seen: Decimal) -> bool:
    """Lower what is outstanding (a part payment leaves the rest) — only if it is still
    what the person saw: a double click or a colleague's payment meanwhile changes nothing."""
    outstanding = max(seen - amount, Decimal("0.00"))
    changed = db.session.execute(
        sa.update(CustomerInvoice)
        .where(CustomerInvoice.id == invoice.id, CustomerInvoice.outstanding == seen)
        .values(outstanding=outstanding)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed == 1:
        audit.record(
            AuditAction.PAYMENT_MARKED,
            "customer_invoice",
            invoice.id,
            f"invoice {invoice.number}: payment of {amount:.2f} registered, "
            + ("paid" if outstanding == 0 else f"{outstanding:.2f} outstanding"),
        )
    db.session.expire(invoice)
    return changed == 1


# ---------------------------------------------------------------- bookings


class SlotFull(RuntimeError):
    """The slot has no free place left."""


class AlreadyPlaced(RuntimeError):
    """The employee is already placed on this booking."""


class PastDeadline(RuntimeError):
    """The booking's deadline has passed (or it was closed): staff must make the change."""


class NotInService(RuntimeError):
    """The employee is deactivated from a date on or before the slot."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def place(slot: BookingSlot, employee: Employee, actor: str) -> Placement:
    """Put an active employee into a free slot, and mail them the time, place, what to
    bring and their self-declaration link. One conditional UPDATE takes the place."""
    booking = slot.booking
    if utcnow() > booking.deadline or not booking.active:
        raise PastDeadline()
    if not employee.active or (
        employee.deactivated_on
        and slot.starts_at.astimezone(OSLO).date() >= employee.deactivated_on
    ):
        raise NotInService()
    already = db.session.scalar(
        sa.select(Placement.id).where(
            Placement.booking_id == booking.id,
            Placement.employee_id == employee.id,
            Placement.removed_at.is_(None),
        )
    )
    if already:
        raise AlreadyPlaced()
    table = BookingSlot.__table__
    taken = db.session.execute(
        sa.update(table)
        .where(table.c.id == slot.id, table.c.taken < table.c.capacity)
        .values(taken=table.c.taken + 1)
    ).rowcount
    if taken != 1:
        raise SlotFull()
    token = secrets.token_urlsafe(32)
    placement = Placement(
        booking_id=booking.id,
        slot_id=slot.id,
        employee_id=employee.id,
        placed_by=actor,
        declaration_token_hash=_hash(token),
    )
    db.session.add(placement)
    db.session.flush()
    db.session.expire(slot, ["taken"])
    language = "nb"  # the booking service is Norwegian, as the self-declaration is
    outbox.queue_mail(
        "portal_booking_placed",
        employee.email,
        language=language,
        context={
            "employee": employee,
            "booking": booking,
            "slot": slot,
            "declaration_url": external_url("portal.declaration", token=token, language=language),
        },
        record=("placement", placement.id),
        timezone="Europe/Oslo",
        sensitive=True,  # the link opens the employee's health answers
    )
    return placement


def remove(placement: Placement, actor: str, *, staff: bool = False) -> bool:
    """Take the employee off the slot (before the deadline, unless staff do it)."""
    if placement.removed_at is not None:
        return False
    if not staff and utcnow() > placement.slot.booking.deadline:
        raise PastDeadline()
    removed = db.session.execute(
        sa.update(Placement)
        .where(Placement.id == placement.id, Placement.removed_at.is_(None))
        .values(removed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if removed != 1:
        return False
    table = BookingSlot.__table__
    db.session.execute(
        sa.update(table)
        .where(table.c.id == placement.slot_id, table.c.taken > 0)
        .values(taken=table.c.taken - 1)
    )
    db.session.expire(placement)
    outbox.queue_mail(
        "portal_booking_removed",
        placement.employee.email,
        language="nb",
        context={
            "employee": placement.employee,
            "booking": placement.slot.booking,
            "slot": placement.slot,
        },
        record=("placement", placement.id),
        timezone="Europe/Oslo",
    )
    return True


# How long after the appointment the self-declaration link still opens.
DECLARATION_GRACE = timedelta(days=1)


def placement_by_token(token: str) -> Placement | None:
    """The placement of a self-declaration link, while it is placed and not long past."""
    if not token or len(token) > 100:
        return None
    placement = db.session.scalar(
        sa.select(Placement).where(
            Placement.declaration_token_hash == _hash(token), Placement.removed_at.is_(None)
        )
    )
    if placement is None or utcnow() > placement.slot.ends_at + DECLARATION_GRACE:
        return None
    return placement


def save_declaration(placement: Placement, answers: dict) -> None:
    """Store the answers of a placed employee's self-declaration, dated now."""
    placement.declaration = answers
    placement.declared_at = utcnow()


# ---------------------------------------------------------------- reports


@dataclass
class DepartmentReport:
    """One department's row of the reports: orders, booked, attended, invoices open."""

    name: str
    orders: dict[str, int]
    booked: int
    attended: int
    invoices_outstanding: Decimal
    invoices_open: int


def reports(user: User, start: date, end: date) -> list[DepartmentReport]:
    """Per department the user may see: orders by status in the period, employees booked
    and attended (slots in the period), and what is outstanding on invoices."""
    visible = visible_departments(user)
    org_id = user.organisation_id
    since = day_start_utc(start, OSLO)
    until = day_start_utc(end + timedelta(days=1), OSLO)  # to the end of the last day

    def allowed(column):
        # A department user sees neither the company's rows (NULL) nor other departments'.
        return sa.true() if visible is None else column.in_(sorted(visible))

    names = {d.id: department_path(d) for d in departments_for(user)}
    rows: dict[int | None, DepartmentReport] = {}

    def row(dep_id):
        key = dep_id if dep_id in names else None
        if key not in rows:
            label = names.get(key) if key else str(_l("The company (no department)"))
            rows[key] = DepartmentReport(label, {}, 0, 0, Decimal("0.00"), 0)
        return rows[key]

    for dep_id, status, count in db.session.execute(
        sa.select(PortalOrder.department_id, PortalOrder.status, sa.func.count())
        .where(
            PortalOrder.organisation_id == org_id,
            allowed(PortalOrder.department_id),
            PortalOrder.ordered_at >= since,
            PortalOrder.ordered_at < until,
        )
        .group_by(PortalOrder.department_id, PortalOrder.status)
    ):
        row(dep_id).orders[status.value] = count
    for dep_id, booked, attended in db.session.execute(
        sa.select(
            Employee.department_id,
            sa.func.count(Placement.id),
            sa.func.count(Placement.id).filter(Placement.attended.is_(True)),
        )
        .join(Placement.employee)
        .join(Placement.slot)
        .where(
            Employee.organisation_id == org_id,
            allowed(Employee.department_id),
            Placement.removed_at.is_(None),
            BookingSlot.starts_at >= since,
            BookingSlot.starts_at < until,
        )
        .group_by(Employee.department_id)
    ):
        report = row(dep_id)
        report.booked += booked
        report.attended += attended
    for dep_id, outstanding, count in db.session.execute(
        sa.select(
            CustomerInvoice.department_id,
            sa.func.sum(CustomerInvoice.outstanding),
            sa.func.count(),
        )
        .where(
            CustomerInvoice.organisation_id == org_id,
            allowed(CustomerInvoice.department_id),
            CustomerInvoice.outstanding > 0,
        )
        .group_by(CustomerInvoice.department_id)
    ):
        report = row(dep_id)
        report.invoices_outstanding += Decimal(outstanding or 0)
        report.invoices_open += count
    return sorted(rows.values(), key=lambda r: r.name)


def active_bookings(user: User, now: datetime | None = None) -> list[Booking]:
    """The open bookings the user may see, with their orders and times (the Info tab shows
    both): those whose deadline is ahead or recently passed, the soonest first, one
    screenful."""
    since = (now or utcnow()) - BOOKINGS_SHOWN_AFTER_DEADLINE
    return list(
        db.session.scalars(
            own_scoped(Booking, user, department=booking_department())
            .options(selectinload(Booking.order), selectinload(Booking.slots))
            .where(Booking.deadline >= since, Booking.active)
            .order_by(Booking.deadline, Booking.id)
            .limit(BOOKINGS_SHOWN)
        )
    )


def chart_rows(rows: list[DepartmentReport]) -> list[dict]:
    """Bar lengths (0–100) for the report's charts, each measure against its own maximum."""

    def scale(values: list) -> list[float]:
        top = max(values, default=0) or 1
        return [round(float(v) / float(top) * 100, 1) for v in values]

    orders = [sum(r.orders.values()) for r in rows]
    booked = [r.booked for r in rows]
    attended = [r.attended for r in rows]
    outstanding = [r.invoices_outstanding for r in rows]
    people = scale(booked + attended)  # booked and attended share one scale
    return [
        {
            "name": row.name,
            "orders": orders[i],
            "orders_bar": scale(orders)[i],
            "booked": booked[i],
            "booked_bar": people[i],
            "attended": attended[i],
            "attended_bar": people[len(rows) + i],
            "outstanding": outstanding[i],
            "outstanding_bar": scale(outstanding)[i],
        }
        for i, row in enumerate(rows)
    ]
