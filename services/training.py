"""Enrolment on courses: seats, the waiting list, statuses and their history, mail."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer

from extensions import db
from models.mail import OutboxMessage
from models.training import (
    ACTIVE,
    SEAT_HOLDING,
    Course,
    Enrolment,
    EnrolmentEvent,
    EnrolmentStatus,
)
from models.types import utcnow
from services import calendars, codes, reasons
from services.outbox import queue_mail
from services.payments import links as payment_links
from services.payments import refunds as payment_refunds
from services.reasons import PARTICIPANT, PAYMENT_SERVICE, SYSTEM  # noqa: F401  (actors)
from services.urls import external_url

WELCOME_DAYS_BEFORE = 14


class EnrolmentError(ValueError):
    """An enrolment that cannot be made or changed; the message is for the user."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CourseFull(EnrolmentError):
    """No seat is left; the waiting list is open."""


class AlreadyEnrolled(EnrolmentError):
    """The email address is already enrolled on the course: the enrolment it has, and the
    status a new enrolment would have got (what the public form answers instead)."""

    def __init__(self, enrolment_id: int, would_be: EnrolmentStatus) -> None:
        super().__init__(duplicate_message(), field="email")
        self.enrolment_id = enrolment_id
        self.would_be = would_be


@dataclass
class Participant:
    """What the enrolment form asks (one person: no group enrolments)."""

    first_name: str
    last_name: str
    email: str
    organisation: str
    phone: str | None = None
    job_title: str | None = None
    billing_address: str | None = None
    einvoice_address: str | None = None
    einvoice_operator: str | None = None
    billing_reference: str | None = None
    diet: str | None = None
    accessibility: str | None = None
    message: str | None = None

    @classmethod
    def field_names(cls) -> list[str]:
        """The names of a participant's details, as the enrolment form has them."""
        return [f.name for f in fields(cls)]


# --- Reading -------------------------------------------------------------------------


def closed_reason(course: Course, now: datetime | None = None) -> str | None:
    """Why nobody can enrol on the course now (a sentence for the user), or None."""
    now = now or utcnow()
    if not course.is_open:
        return _("Enrolment on this course is closed.")
    if course.starts_at <= now:
        return _("The course has already started.")
    if course.enrolment_deadline < now:
        return _("The enrolment deadline has passed.")
    return None


def by_service_code(code: str) -> Enrolment | None:
    """The enrolment of a service code as a person typed it (case and dashes ignored)."""
    normalised = codes.normalise(code)
    if normalised is None:
        return None
    return db.session.scalar(sa.select(Enrolment).where(Enrolment.service_code == normalised))


def enrolment_of_organisation(reference: str, organisation_id: int) -> tuple[str, str] | None:
    """The enrolment a service code names, if it is the organisation's: made with the email
    address of one of its users, or ordered through its own procurement system (the
    organisation typed on the form proves nothing: anyone can type any name)."""
    from models.auth import User
    from models.punchout import PunchoutBuyer, PunchoutSession

    enrolment = by_service_code(reference) if codes.normalise(reference) else None
    if enrolment is None:
        return None
    own = db.session.scalar(
        sa.select(
            sa.or_(
                sa.select(User.id)
                .where(
                    User.organisation_id == organisation_id,
                    sa.func.lower(User.email) == enrolment.email.lower(),
                )
                .exists(),
                sa.select(PunchoutSession.id)
                .join(PunchoutSession.buyer)
                .where(
                    PunchoutSession.enrolment_id == enrolment.id,
                    PunchoutBuyer.organisation_id == organisation_id,
                )
                .exists(),
            )
        )
    )
    return ("enrolment", str(enrolment.id)) if own else None


def participant_may_cancel(enrolment: Enrolment, now: datetime | None = None) -> bool:
    """A preliminary enrolment, a place in the queue or an offer can always be withdrawn;
    a binding one until the course's cancellation deadline."""
    now = now or utcnow()
    if enrolment.status == EnrolmentStatus.CANCELLED or enrolment.course.starts_at <= now:
        return False
    if enrolment.status == EnrolmentStatus.BINDING:
        return now <= enrolment.course.cancellation_deadline
    return True


def waiting_position(enrolment: Enrolment) -> int | None:
    """1 for the first in line on the course's waiting list."""
    if enrolment.status != EnrolmentStatus.WAITING:
        return None
    ahead = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Enrolment)
        .where(
            Enrolment.course_id == enrolment.course_id,
            Enrolment.status == EnrolmentStatus.WAITING,
            Enrolment.created_at < enrolment.created_at,
        )
    )
    return ahead + 1


# --- Seats ---------------------------------------------------------------------------


def _take_seat(course_id: int) -> bool:
    """Take one seat if one is left: one conditional UPDATE, safe under concurrency.

    On PostgreSQL the row lock makes a second transaction wait and re-check; on SQLite
    the UPDATE opens the write transaction, so the second waits for the first's commit.
    """
    table = Course.__table__
    result = db.session.execute(
        sa.update(table)
        .where(table.c.id == course_id, table.c.seats_taken < table.c.capacity)
        .values(seats_taken=table.c.seats_taken + 1)
    )
    return result.rowcount == 1


def _release_seat(course_id: int) -> None:
    table = Course.__table__
    db.session.execute(
        sa.update(table)
        .where(table.c.id == course_id, table.c.seats_taken > 0)
        .values(seats_taken=table.c.seats_taken - 1)
    )


class StatusChanged(EnrolmentError):
    """Someone else changed the enrolment a moment ago (a double click, a cron run)."""


def _set_status(
    enrolment: Enrolment, status: EnrolmentStatus, actor: str, note: str | None = None
) -> None:
    """Change the status and record who did it, when, and why.

    The change is a compare-and-set on the status this request read: when two requests
    act on one enrolment at once, the second finds the status changed and gives up, so a
    seat is never released or offered twice.
    """
    previous = None if enrolment.id is None else enrolment.status  # None: a new enrolment
    if previous is not None:
        table = Enrolment.__table__
        changed = db.session.execute(
            sa.update(table)
            .where(table.c.id == enrolment.id, table.c.status == previous.value)
            .values(status=status.value)
        )
        if changed.rowcount != 1:
            db.session.expire(enrolment, ["status"])
            raise StatusChanged(_("The enrolment was changed a moment ago. Look at it again."))
    enrolment.status = status
    enrolment.events.append(
        EnrolmentEvent(actor=actor, from_status=previous, to_status=status, note=note)
    )


# --- Enrolling -----------------------------------------------------------------------


def enrol(
    course_id: int,
    participant: Participant,
    *,
    actor: str,
    language: str,
    source: str = "web",
    waiting_list: bool = False,
    pays_online: bool = False,
    now: datetime | None = None,
) -> Enrolment:
    """Enrol one participant, or put them on the waiting list; the caller commits.

    A direct enrolment is binding at once; one through PunchOut is preliminary until its
    order is approved (`approve_preliminary`), and so is one whose participant pays the fee
    online, until it is paid (`mark_paid`). With `waiting_list`, a full course takes
    the participant in its queue; without it, a full course raises CourseFull.

    The email already enrolled raises AlreadyEnrolled (field "email"); the database's
    unique index finds it as the row is written, and the transaction is then rolled back,
    so the caller must have nothing else pending in it.
    """
    now = now or utcnow()
    arguments = (course_id, participant, actor, language, source, waiting_list, pays_online, now)
    for _attempt in range(2):
        try:
            return _enrol_once(*arguments)
        except sa.exc.IntegrityError:
            # One of the two unique indexes stopped it: the same person a moment ago, or
            # (one time in a hundred thousand million) a service code drawn twice.
            db.session.rollback()
            enrolled = _active_enrolment_id(course_id, participant.email.strip().lower())
            if enrolled is not None:
                # The insert came after the seat check: a new one would have had a seat,
                # or (a full course) a place in the queue.
                if db.session.get(Course, course_id).is_full:
                    would_be = EnrolmentStatus.WAITING
                elif source == "punchout" or pays_online:
                    would_be = EnrolmentStatus.PRELIMINARY
                else:
                    would_be = EnrolmentStatus.BINDING
                raise AlreadyEnrolled(enrolled, would_be) from None
    return _enrol_once(*arguments)  # what stops a third try is the caller's to tell


def duplicate_message() -> str:
    """The message to one enrolling again on a course with the same email address."""
    return _(
        "This email address is already enrolled on the course. The service code is in "
        "the confirmation email."
    )


def _enrol_once(
    course_id: int,
    participant: Participant,
    actor: str,
    language: str,
    source: str,
    waiting_list: bool,
    pays_online: bool,
    now: datetime,
) -> Enrolment:
    course = db.session.get(Course, course_id)
    if course is None:
        raise EnrolmentError(_("The course was not found."))
    if course.is_full:
        # A lapsed offer or unpaid seat may free the seat this participant needs; on a
        # course with seats left they change nothing here (the cron job passes them on).
        expire_offers(course.id, now)
    reason = closed_reason(course, now)
    if reason:
        raise EnrolmentError(reason)
    email = participant.email.strip().lower()
    if _take_seat(course.id):
        preliminary = source == "punchout" or pays_online
        status = EnrolmentStatus.PRELIMINARY if preliminary else EnrolmentStatus.BINDING
    elif waiting_list:
        status = EnrolmentStatus.WAITING
    else:
        raise CourseFull(_("The course is full. You can join its waiting list."))

    values = {name: getattr(participant, name) for name in Participant.field_names()}
    values["email"] = email
    enrolment = Enrolment(
        course=course,
        # The unique indexes check the code and the email as the row is written: no
        # look-up before it (enrol() above tells the two apart when one stops it).
        service_code=codes.generate(lambda code: False),
        status=status,
        source=source,
        language=language,
        pays_online=pays_online and status != EnrolmentStatus.WAITING,
        created_at=now,
        **values,
    )
    db.session.add(enrolment)
    _set_status(enrolment, status, actor)
    db.session.flush()
    if status == EnrolmentStatus.WAITING:
        _mail(enrolment, "training_waiting")
    else:  # the course for the participant's calendar, too
        _mail(enrolment, "training_confirmation", worker_attachments=calendars.CONFIRMATION_FILES)
    return enrolment


def _active_enrolment_id(course_id: int, email: str) -> int | None:
    return db.session.scalar(
        sa.select(Enrolment.id).where(
            Enrolment.course_id == course_id,
            Enrolment.email == email,
            Enrolment.status.in_(ACTIVE),
        )
    )


# --- What the public form answers ---------------------------------------------------

# One "already enrolled" mail per enrolment in this time, and none right after its own
# confirmation (a double submit): the form must not become a way to flood an inbox.
ALREADY_ENROLLED_QUIET = timedelta(minutes=10)


def receipt(enrolment: Enrolment) -> dict:
    """What the confirmation page shows of an enrolment just made, as plain data (kept in
    the session until the page is shown). No service code: that comes by mail only, so
    that the page is the same for an address that was already enrolled."""
    return {
        "course_id": enrolment.course_id,
        "name": enrolment.name,
        "email": enrolment.email,
        "status": enrolment.status.value,
        "position": waiting_position(enrolment),
        "pays_online": enrolment.pays_online,
    }


def receipt_as_new(
    course_id: int, participant: Participant, status: EnrolmentStatus, *, pays_online: bool = False
) -> dict:
    """The confirmation page a new enrolment with these details would have got, for an
    address already enrolled: the form tells nobody who is enrolled where."""
    position = None
    if status == EnrolmentStatus.WAITING:  # last in the queue, as a new one would be
        position = 1 + db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Enrolment)
            .where(Enrolment.course_id == course_id, Enrolment.status == EnrolmentStatus.WAITING)
        )
    return {
        "course_id": course_id,
        "name": f"{participant.first_name} {participant.last_name}",
        "email": participant.email.strip().lower(),
        "status": status.value,
        "position": position,
        "pays_online": pays_online and status != EnrolmentStatus.WAITING,
    }


def tell_already_enrolled(enrolment_id: int, now: datetime | None = None) -> bool:
    """Queue a mail to the enrolment's address: someone enrolled it again, it is enrolled
    already, and here is its service code; in the enrolment's language, the caller
    commits. False (no mail) within ALREADY_ENROLLED_QUIET of the enrolment's last mail."""
    now = now or utcnow()
    enrolment = db.session.get(Enrolment, enrolment_id)
    if enrolment is None:
        return False
    recent = db.session.scalar(
        sa.select(OutboxMessage.id)
        .where(
            OutboxMessage.record_type == "enrolment",
            OutboxMessage.record_id == str(enrolment.id),
            OutboxMessage.created_at > now - ALREADY_ENROLLED_QUIET,
        )
        .limit(1)
    )
    if recent is not None:
        return False
    _mail(enrolment, "training_already_enrolled")
    return True


# --- Changing ------------------------------------------------------------------------


def approve_preliminary(enrolment: Enrolment, order_number: str, actor: str) -> None:
    """The buyer approved the PunchOut order: binding, and the order number is the
    billing reference (laskutusviite). No separate email (the seed says so)."""
    if enrolment.status != EnrolmentStatus.PRELIMINARY:
        raise EnrolmentError(_("Only a preliminary enrolment can be approved."))
    enrolment.billing_reference = order_number
    _set_status(enrolment, EnrolmentStatus.BINDING, actor, note=order_number)


def mark_paid(enrolment: Enrolment, order_number: str) -> None:
    """The participant paid the course fee online: the enrolment is binding. The payment's
    order number is its billing reference."""
    if enrolment.status != EnrolmentStatus.PRELIMINARY:
        raise EnrolmentError(_("Only a preliminary enrolment can be paid."))
    enrolment.billing_reference = enrolment.billing_reference or order_number
    _set_status(enrolment, EnrolmentStatus.BINDING, PAYMENT_SERVICE, note=order_number)


def reject_preliminary(enrolment: Enrolment, actor: str, reason: str) -> None:
    """The buyer did not approve the order: the preliminary enrolment is cancelled."""
    if enrolment.status != EnrolmentStatus.PRELIMINARY:
        raise EnrolmentError(_("Only a preliminary enrolment can be rejected."))
    cancel(enrolment, actor, reason=reason)


def cancel(
    enrolment: Enrolment, actor: str, *, reason: str | None = None, now: datetime | None = None
) -> None:
    """Cancel an enrolment (or a place in the queue); a freed seat goes to the next in line.

    A course fee paid online is owed back by the course's refund rule, and the mail says
    whether it is refunded."""
    now = now or utcnow()
    if enrolment.status == EnrolmentStatus.CANCELLED:
        raise EnrolmentError(_("The enrolment has already been cancelled."))
    held_seat = enrolment.status in SEAT_HOLDING
    _set_status(enrolment, EnrolmentStatus.CANCELLED, actor, note=reason)
    enrolment.cancel_reason = reason
    enrolment.offer_expires_at = None
    db.session.flush()
    fee = payment_refunds.refund_on_cancel(enrolment, actor, now)
    _mail(
        enrolment,
        "training_cancelled",
        refund_amount=fee.refund.amount if fee.refund else None,
        fee_kept_after=fee.kept_after,
    )
    if held_seat:
        _pass_seat_on(enrolment.course, now)


def _pass_seat_on(course: Course, now: datetime) -> None:
    """Offer a freed seat to the first in line, or give it back to the course."""
    if course.starts_at > now and course.is_open:
        first = db.session.scalar(
            sa.select(Enrolment)
            .where(Enrolment.course_id == course.id, Enrolment.status == EnrolmentStatus.WAITING)
            .order_by(Enrolment.created_at, Enrolment.id)
            .limit(1)
        )
        if first is not None:
            hours = current_app.config["TRAINING_OFFER_HOURS"]
            first.offer_expires_at = min(now + timedelta(hours=hours), course.starts_at)
            _set_status(first, EnrolmentStatus.OFFERED, SYSTEM)
            db.session.flush()
            _mail(first, "training_offer", offer_url=offer_url(first))
            return
    _release_seat(course.id)


CANCELLING_BATCH = 100


def cancellable(course: Course) -> int:
    """How many enrolments and places in line a cancellation of the course would end."""
    from paging import capped_count

    return capped_count(
        sa.select(Enrolment).where(Enrolment.course_id == course.id, Enrolment.status.in_(ACTIVE))
    )


def cancel_course_task(task, progress) -> dict:
    """The background task that cancels a course (services/tasks.py): the course was
    closed for good when it was queued; here each enrolment and place in line is
    cancelled and its participant told, a paid fee refunded by the course's rule. The
    waiting list goes first, so that no freed seat is offered to someone in line."""
    from models.tasks import ItemState

    course = db.session.get(Course, task.params["course_id"])
    actor = task.created_by.email
    reason = task.params.get("reason") or None
    # Those cancelled already (by an earlier run of the task): the count goes on.
    done = task.result.get("cancelled", 0) if task.result else 0
    done = max(done, task.processed)
    passed: set[int] = set()  # cancelled meanwhile by someone else: skipped
    for statuses in ((EnrolmentStatus.WAITING,), SEAT_HOLDING):
        while True:
            batch = db.session.scalars(
                sa.select(Enrolment)
                .where(
                    Enrolment.course_id == course.id,
                    Enrolment.status.in_(statuses),
                    Enrolment.id.not_in(passed) if passed else sa.true(),
                )
                .order_by(Enrolment.id)
                .limit(CANCELLING_BATCH)
            ).all()
            if not batch:
                break
            for enrolment in batch:
                enrolment_id = enrolment.id
                try:
                    cancel(enrolment, actor, reason=reason)
                except EnrolmentError:  # the participant cancelled at the same moment
                    db.session.rollback()
                    passed.add(enrolment_id)
                    continue
                done += 1
                progress.step(processed=done, total=max(task.total, done))
    for item in task.items:
        item.state = ItemState.DONE
    progress.step(processed=max(task.total, done), total=max(task.total, done))
    return {"cancelled": done}


def offer_free_seats(course: Course, now: datetime | None = None) -> int:
    """Offer seats that are free (say, after the capacity grew) to those in line."""
    now = now or utcnow()
    offered = 0
    if not course.is_open or course.starts_at <= now:
        return 0  # nothing is offered on a closed or started course
    while db.session.scalar(
        sa.select(Enrolment.id)
        .where(Enrolment.course_id == course.id, Enrolment.status == EnrolmentStatus.WAITING)
        .limit(1)
    ) and _take_seat(course.id):
        _pass_seat_on(course, now)
        offered += 1
    return offered


# The payment service confirms a payment whose payer never came back one banking day
# later (the seed); four calendar days cover a weekend and a holiday besides.
PAYMENT_CONFIRMATION_GRACE = timedelta(days=4)


def payment_deadline(enrolment: Enrolment) -> datetime:
    """When an enrolment waiting for its course fee online must be paid: the seat is held
    PAYMENT_COURSE_HOLD_HOURS, never past the start of the course."""
    hours = current_app.config["PAYMENT_COURSE_HOLD_HOURS"]
    return min(enrolment.created_at + timedelta(hours=hours), enrolment.course.starts_at)


def _lapsed_seats(course_id: int | None, now: datetime) -> sa.Select:
    """Enrolments holding a seat they may hold no longer: an offer nobody took in time,
    and a seat waiting for a course fee not paid online by its deadline, unless a payment
    was started within the grace in which the service may still confirm it."""
    from models.payments import OnlinePayment, PaymentState  # payments build on enrolments

    hours = current_app.config["PAYMENT_COURSE_HOLD_HOURS"]
    recent_attempt = (
        sa.select(OnlinePayment.id)
        .where(
            OnlinePayment.enrolment_id == Enrolment.id,
            sa.or_(
                OnlinePayment.state == PaymentState.PAID,
                OnlinePayment.created_at > now - PAYMENT_CONFIRMATION_GRACE,
            ),
        )
        .exists()
    )
    unpaid = sa.and_(
        Enrolment.status == EnrolmentStatus.PRELIMINARY,
        Enrolment.pays_online,
        sa.or_(Enrolment.created_at < now - timedelta(hours=hours), Course.starts_at <= now),
        ~recent_attempt,
    )
    unanswered = sa.and_(
        Enrolment.status == EnrolmentStatus.OFFERED, Enrolment.offer_expires_at < now
    )
    stmt = sa.select(Enrolment).join(Enrolment.course).where(sa.or_(unpaid, unanswered))
    if course_id is not None:
        stmt = stmt.where(Enrolment.course_id == course_id)
    return stmt


def expire_offers(course_id: int | None = None, now: datetime | None = None) -> int:
    """Withdraw offers nobody took in time and seats held for course fees not paid online
    in time, and pass the seats on; returns how many. One query finds both."""
    now = now or utcnow()
    lapsed = list(db.session.scalars(_lapsed_seats(course_id, now)))
    unpaid = [e for e in lapsed if e.status == EnrolmentStatus.PRELIMINARY]
    offered = [e for e in lapsed if e.status == EnrolmentStatus.OFFERED]
    done = 0
    for enrolment in sorted(unpaid, key=lambda e: e.created_at):
        try:
            cancel(
                enrolment,
                SYSTEM,
                reason=reasons.coded("fee_not_paid"),
                now=now,
            )
        except StatusChanged:
            continue  # paid or cancelled by another request just now
        done += 1
    for enrolment in sorted(offered, key=lambda e: e.offer_expires_at):
        try:
            _set_status(
                enrolment, EnrolmentStatus.CANCELLED, SYSTEM, note=reasons.coded("offer_expired")
            )
        except StatusChanged:
            continue  # answered, or expired by another request just now
        enrolment.offer_expires_at = None
        db.session.flush()
        _pass_seat_on(enrolment.course, now)
        done += 1
    return done


def close_waiting_lists(now: datetime | None = None) -> int:
    """Tell those still in line for a course that has started that no seat came free."""
    now = now or utcnow()
    waiting = list(
        db.session.scalars(
            sa.select(Enrolment)
            .join(Enrolment.course)
            .where(Enrolment.status == EnrolmentStatus.WAITING, Course.starts_at <= now)
            .order_by(Enrolment.id)
        )
    )
    closed = 0
    for enrolment in waiting:
        try:
            cancel(enrolment, SYSTEM, reason=reasons.coded("no_seat_came_free"), now=now)
        except StatusChanged:
            continue
        closed += 1
    return closed


def _offer_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="seat-offer")


def offer_url(enrolment: Enrolment) -> str:
    """The seat offer's link, opening in the language of the participant's mail."""
    token = _offer_serializer().dumps([enrolment.id, int(enrolment.offer_expires_at.timestamp())])
    return external_url("training.offer", token=token, language=enrolment.language)


def enrolment_for_offer(token: str, now: datetime | None = None) -> Enrolment | None:
    """The enrolment an offer link is for, while the offer stands; else None."""
    now = now or utcnow()
    try:
        enrolment_id, expires = _offer_serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    enrolment = db.session.get(Enrolment, enrolment_id) if isinstance(enrolment_id, int) else None
    if (
        enrolment is None
        or enrolment.status != EnrolmentStatus.OFFERED
        or enrolment.offer_expires_at is None
        or int(enrolment.offer_expires_at.timestamp()) != expires
        or enrolment.offer_expires_at < now
    ):
        return None
    return enrolment


def accept_offer(enrolment: Enrolment) -> None:
    """Take the offered seat: the enrolment is binding."""
    _set_status(enrolment, EnrolmentStatus.BINDING, PARTICIPANT)
    enrolment.offer_expires_at = None
    db.session.flush()
    _mail(enrolment, "training_confirmation", worker_attachments=calendars.CONFIRMATION_FILES)


# --- Mail ----------------------------------------------------------------------------


def calendar_url(language: str | None = None) -> str:
    """The training calendar's external address, in the language if one is given."""
    return external_url("training.index", language=language)


# What a participant's mail shows, and so all it is written from (by the mail worker).
_MAILED_ENROLMENT = (
    "first_name",
    "name",
    "organisation",
    "email",
    "phone",
    "billing_address",
    "einvoice_address",
    "einvoice_operator",
    "billing_reference",
    "status",
    "pays_online",
    "service_code",
    "cancel_reason",
    "offer_expires_at",
)
_MAILED_COURSE = (
    "title",
    "description",
    "starts_at",
    "ends_at",
    "remote",
    "place",
    "price",
    "cancellation_deadline",
)


def _mail(
    enrolment: Enrolment, template: str, worker_attachments: str | None = None, **context
) -> None:
    """Queue a mail to the participant; the worker writes it from the enrolment's facts."""
    course = enrolment.course
    facts = {name: getattr(enrolment, name) for name in _MAILED_ENROLMENT}
    if enrolment.pays_online and enrolment.status == EnrolmentStatus.PRELIMINARY:
        context["payment_url"] = payment_links.enrolment_payment_url(
            enrolment, language=enrolment.language
        )
        context["payment_deadline"] = payment_deadline(enrolment)
    queue_mail(
        template,
        enrolment.email,
        language=enrolment.language,
        context={
            "enrolment": facts,
            "course": {name: getattr(course, name) for name in _MAILED_COURSE},
            "calendar_url": calendar_url(enrolment.language),
            "contact_email": current_app.config["TRAINING_CONTACT_EMAIL"],
            **context,
        },
        record=("enrolment", enrolment.id),
        worker_attachments=worker_attachments,
        timezone="Europe/Helsinki",  # the courses' own time, whoever triggers the mail
        render_in_worker=True,
    )


def send_welcome(now: datetime | None = None) -> int:
    """Queue *tervetuloa kurssille* for binding participants of courses starting within
    14 days: exactly once per enrolment, however often (and however concurrently) it runs."""
    now = now or utcnow()
    candidates = db.session.scalars(
        sa.select(Enrolment.id)
        .join(Enrolment.course)
        .where(
            Enrolment.status == EnrolmentStatus.BINDING,
            Enrolment.welcome_sent_at.is_(None),
            Course.starts_at > now,
            Course.starts_at <= now + timedelta(days=WELCOME_DAYS_BEFORE),
        )
        .order_by(Course.starts_at, Enrolment.id)
    ).all()
    table = Enrolment.__table__
    sent = 0
    for enrolment_id in candidates:
        claimed = db.session.execute(
            sa.update(table)
            .where(
                table.c.id == enrolment_id,
                table.c.welcome_sent_at.is_(None),
                table.c.status == EnrolmentStatus.BINDING.value,  # not if cancelled meanwhile
            )
            .values(welcome_sent_at=now)
        )
        if claimed.rowcount == 1:
            _mail(db.session.get(Enrolment, enrolment_id), "training_welcome")
            sent += 1
        db.session.commit()  # the mark and its mail together, one enrolment at a time
    return sent
