"""Refunds owed: a course fee paid online is owed back when its enrolment is cancelled (by
the course's refund rule), or when it paid an enrolment already cancelled or paid; staff
make the refund in the merchant panel and record it here."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from extensions import db
from models.audit import AuditAction
from models.auth import User
from models.payments import (
    OnlinePayment,
    Refund,
    RefundState,
)
from models.training import Enrolment
from models.types import utcnow
from services import audit, reasons
from services.payments.links import (
    RECORD_TYPE,
    paid_payment,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeeOnCancel:
    """What becomes of a course fee paid online when its enrolment is cancelled."""

    refund: Refund | None = None  # owed back to the payer
    kept_after: datetime | None = None  # not refunded: cancelled after this deadline


def refund_on_cancel(enrolment: Enrolment, actor: str, now: datetime) -> FeeOnCancel:
    """Owe back the fee of a cancelled enrolment, by the course's refund rule: the
    participant cancelling after the course's refund deadline is not refunded; a
    cancellation by the organiser (staff, PunchOut, the portal's own timers) always is."""
    paid = paid_payment(enrolment=enrolment)
    if paid is None:
        return FeeOnCancel()
    deadline = enrolment.course.refund_deadline
    if actor == reasons.PARTICIPANT and deadline is not None and now > deadline:
        return FeeOnCancel(kept_after=deadline)
    return FeeOnCancel(refund=owe_refund(paid, reasons.coded("enrolment_cancelled"), enrolment))


def owe_refund(payment: OnlinePayment, cause: str, enrolment: Enrolment | None = None) -> Refund:
    """The refund of what a paid payment paid of an enrolment's fee (its lines of it: a
    payment may pay several), made due once (each enrolment of a payment at most once)."""
    enrolment_id = enrolment.id if enrolment is not None else payment.enrolment_id
    existing = db.session.scalar(
        sa.select(Refund).where(
            Refund.payment_id == payment.id, Refund.enrolment_id == enrolment_id
        )
    )
    if existing is not None:
        return existing
    lines = [line.total for line in payment.lines if line.enrolment_id == enrolment_id]
    amount = sum(lines, Decimal("0.00")) if lines else payment.amount
    refund = Refund(
        payment=payment,
        enrolment_id=enrolment_id,
        amount=amount,
        cause=cause,
        state=RefundState.DUE,
        created_at=utcnow(),
    )
    db.session.add(refund)
    db.session.flush()
    log.info("payment %s: a refund of %s is due", payment.order_number, amount)
    return refund


class RefundChanged(Exception):
    """The refund was marked refunded by someone else a moment ago."""


def mark_refunded(refund: Refund, reference: str, user: User) -> None:
    """Staff refunded the payment in the merchant panel: record it (the caller commits).

    A compare-and-set on the state, so two staff members marking it at once record it once."""
    now = utcnow()
    done = db.session.execute(
        sa.update(Refund)
        .where(Refund.id == refund.id, Refund.state == RefundState.DUE)
        .values(
            state=RefundState.REFUNDED,
            refunded_at=now,
            refunded_by_id=user.id,
            refunded_by_email=user.email,
            reference=reference,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        db.session.rollback()
        raise RefundChanged
    audit.record(
        AuditAction.PAYMENT_REFUNDED, RECORD_TYPE, refund.payment_id, "refund: due -> refunded"
    )
    db.session.refresh(refund)


def refund_of(enrolment: Enrolment) -> Refund | None:
    """The newest refund of an enrolment's fee, if one is owed or made."""
    return db.session.scalars(
        sa.select(Refund)
        .where(Refund.enrolment_id == enrolment.id)
        .order_by(Refund.id.desc())
        .limit(1)
    ).first()
