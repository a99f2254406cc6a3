"""Calendars to add and to subscribe to (iCalendar, RFC 5545, with the `icalendar`
library): one course as the enrolment confirmation's attachment, and feeds of courses,
public (all, or one topic's) or behind a secret, revocable address (a participant's
courses, a staff member's).

A course is one VEVENT whose UID (`course-<id>@<host of BASE_URL>`) never changes, so a
calendar app updates the event it has when the course's times change. Times are given
in the course's time zone with its VTIMEZONE. Feeds are bounded: at most FEED_LIMIT
courses, from FEED_PAST ago on, by the index of the courses' start.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from extensions import db
from models.auth import User
from models.mail import OutboxMessage
from models.training import CalendarFeed, CalendarFeedKind, Course, Enrolment, EnrolmentStatus
from models.types import utcnow
from services.outbox import Attachment
from services.timezones import HELSINKI
from services.urls import external_url

if TYPE_CHECKING:  # icalendar is imported by what makes a calendar, not at start-up
    from icalendar import Calendar, Event

PRODID = "-//Palveluportaali//Koulutuskalenteri//FI"
FEED_LIMIT = 500
FEED_PAST = timedelta(days=30)
# How often a calendar app should fetch a feed again (REFRESH-INTERVAL, X-PUBLISHED-TTL).
REFRESH = timedelta(hours=6)
DESCRIPTION_LENGTH = 300
ATTACHMENT_TYPE = "text/calendar; charset=utf-8; method=PUBLISH"
# The enrolments whose courses a participant's calendar shows: those confirmed by mail
# (a preliminary one holds its seat too), not a place in the queue or an open offer.
IN_CALENDAR = (EnrolmentStatus.PRELIMINARY, EnrolmentStatus.BINDING)
# secrets.token_urlsafe(32) gives 43 characters; anything much longer is not ours.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,100}")


# --- Writing calendars ---------------------------------------------------------------


def course_zone(course: Course) -> ZoneInfo:
    """The time zone a course's times are shown in: Finnish time (the model names no
    country or zone of its own)."""
    return HELSINKI


def course_uid(course: Course) -> str:
    """The course's event UID, the same in every calendar and every feed."""
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    return f"course-{course.id}@{host}"


def topic_slug(topic: str) -> str:
    """A topic as a part of an address: lower case ASCII letters, digits and dashes."""
    ascii_text = unicodedata.normalize("NFKD", topic).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "topic"


def _short(text: str) -> str:
    text = " ".join((text or "").split())
    if len(text) <= DESCRIPTION_LENGTH:
        return text
    return text[:DESCRIPTION_LENGTH].rsplit(" ", 1)[0] + " …"


def _where(course: Course) -> str | None:
    if not course.remote:
        return course.place or None
    return f"{_('Remote')} ({course.place})" if course.place else _("Remote")


def _event(course: Course, language: str, now: datetime) -> Event:
    from icalendar import Event

    zone = course_zone(course)
    page = external_url("training.course", course_id=course.id, language=language)
    about = _short(course.description)
    link = _("Course page: %(url)s", url=page)
    event = Event.new(
        uid=course_uid(course),
        stamp=now,
        created=course.created_at,
        start=course.starts_at.astimezone(zone),
        end=course.ends_at.astimezone(zone),
        summary=course.title,
        location=_where(course),
        description=f"{about}\n\n{link}" if about else link,
        url=page,
        # The model knows no cancelled course (closing one only stops enrolment).
        status="CONFIRMED",
    )
    if course.topic:
        event.add("CATEGORIES", [course.topic])
    return event


def _calendar(name: str, events: Sequence[Event], zones: set[ZoneInfo], now: datetime) -> Calendar:
    from icalendar import Calendar, Timezone

    calendar = Calendar.new(prodid=PRODID, calscale="GREGORIAN", method="PUBLISH", name=name)
    calendar.pop("UID")  # a new random one each time (RFC 7986's is optional): none
    for event in events:
        calendar.add_component(event)
    # The zones' rules only for the years the events span (1970 to 2038 by default).
    starts = [e.start.date() for e in events] or [now.date()]
    ends = [e.end.date() for e in events] or [now.date()]
    first, last = min(starts) - timedelta(days=1), max(ends) + timedelta(days=366)
    if events:
        calendar.add_missing_timezones(first_date=first, last_date=last)
    else:  # one component at least (RFC 5545), and the zone a later event will use
        for zone in sorted(zones, key=str):
            calendar.add_component(Timezone.from_tzinfo(zone, first_date=first, last_date=last))
    return calendar


def course_event_ics(
    course: Course,
    enrolment: Enrolment | None = None,
    *,
    language: str | None = None,
    now: datetime | None = None,
) -> bytes:
    """The course as a calendar of one event (METHOD:PUBLISH, to add, not an invitation
    to answer), in the language given, else the enrolment's; the confirmation's
    attachment. Nothing of the participant is in it: calendars are shared."""
    language = language or (enrolment.language if enrolment else None) or "fi"
    now = now or utcnow()
    with force_locale(language):
        events = [_event(course, language, now)]
        return _calendar(course.title, events, {course_zone(course)}, now).to_ical()


def attachment(enrolment: Enrolment) -> Attachment:
    """The enrolment's course as the confirmation mail's attachment, kurssi.ics."""
    data = course_event_ics(enrolment.course, enrolment)
    return Attachment("kurssi.ics", ATTACHMENT_TYPE, data)


# The confirmation's files, made by the mail worker when it writes the mail.
CONFIRMATION_FILES = "services.calendars:confirmation_files"


def confirmation_files(message: OutboxMessage) -> list[Attachment]:
    """The course of the enrolment a confirmation mail is about, as kurssi.ics: as the
    course stands when the mail is written; none if the enrolment is gone."""
    enrolment = db.session.get(Enrolment, int(message.record_id or 0))
    return [attachment(enrolment)] if enrolment is not None else []


def feed(
    courses: Iterable[Course], name: str, *, language: str = "fi", now: datetime | None = None
) -> bytes:
    """A calendar of the courses to subscribe to (METHOD:PUBLISH), named `name`
    (X-WR-CALNAME), one event per course, in their time zones."""
    from icalendar import vDuration

    now = now or utcnow()
    courses = list(courses)
    with force_locale(language):
        events = [_event(course, language, now) for course in courses]
    zones = {course_zone(course) for course in courses} or {HELSINKI}
    calendar = _calendar(name, events, zones, now)
    calendar.add("REFRESH-INTERVAL", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", vDuration(REFRESH))  # the same for Outlook
    return calendar.to_ical()


# --- Which courses a feed lists -------------------------------------------------------


def window_start(now: datetime | None = None) -> datetime:
    """The earliest start of a course a feed still lists."""
    return (now or utcnow()) - FEED_PAST


def _listed(stmt: sa.Select, now: datetime | None) -> list[Course]:
    return list(
        db.session.scalars(
            stmt.where(Course.starts_at >= window_start(now))
            .order_by(Course.starts_at, Course.id)
            .limit(FEED_LIMIT)
        )
    )


def public_topics(now: datetime | None = None) -> dict[str, list[str]]:
    """The topics of the open courses a feed lists, by their slug (two topics may share
    one: "Hankinnat" and "hankinnat")."""
    topics = db.session.scalars(
        sa.select(Course.topic)
        .where(Course.is_open, Course.starts_at >= window_start(now))
        .distinct()
        .order_by(Course.topic)
    )
    found: dict[str, list[str]] = {}
    for topic in topics:
        found.setdefault(topic_slug(topic), []).append(topic)
    return found


def public_courses(
    topics: Sequence[str] | None = None, now: datetime | None = None
) -> list[Course]:
    """The open courses of the public calendar (of these topics, if given)."""
    stmt = sa.select(Course).where(Course.is_open)
    if topics is not None:
        stmt = stmt.where(Course.topic.in_(list(topics)))
    return _listed(stmt, now)


def participant_courses(email: str, now: datetime | None = None) -> list[Course]:
    """The courses the email address is enrolled on (preliminary or binding)."""
    stmt = (
        sa.select(Course)
        .join(Enrolment, Enrolment.course_id == Course.id)
        .where(Enrolment.email == email.strip().lower(), Enrolment.status.in_(IN_CALENDAR))
    )
    return _listed(stmt, now)


def staff_courses(now: datetime | None = None) -> list[Course]:
    """Every course, open or closed: no course names the staff responsible for it."""
    return _listed(sa.select(Course), now)


# --- Secret feeds ---------------------------------------------------------------------


def token_hash(token: str) -> str:
    """What is kept of a feed's token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def _owned(kind: CalendarFeedKind, email: str | None, user_id: int | None) -> sa.ColumnElement:
    owner = (
        CalendarFeed.email == email
        if kind == CalendarFeedKind.PARTICIPANT
        else (CalendarFeed.user_id == user_id)
    )
    return sa.and_(CalendarFeed.kind == kind, owner, CalendarFeed.revoked_at.is_(None))


def create_feed(
    kind: CalendarFeedKind,
    *,
    email: str | None = None,
    user_id: int | None = None,
    language: str = "fi",
    now: datetime | None = None,
) -> tuple[CalendarFeed, str]:
    """A new secret feed and its token (shown once, never kept); the owner's earlier
    feed of the kind stops working. The caller commits."""
    now = now or utcnow()
    email = email.strip().lower() if email else None
    if (kind == CalendarFeedKind.PARTICIPANT) != (email is not None):
        raise ValueError("a participant's feed is an email address's, a staff feed a user's")
    revoke_feeds(kind, email=email, user_id=user_id, now=now)
    token = secrets.token_urlsafe(32)
    row = CalendarFeed(
        token_hash=token_hash(token),
        kind=kind,
        email=email,
        user_id=user_id if kind == CalendarFeedKind.STAFF else None,
        language=language,
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    return row, token


def revoke_feeds(
    kind: CalendarFeedKind,
    *,
    email: str | None = None,
    user_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Stop the owner's feeds of the kind from working; how many. The caller commits."""
    email = email.strip().lower() if email else None
    result = db.session.execute(
        sa.update(CalendarFeed)
        .where(_owned(kind, email, user_id))
        .values(revoked_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def active_feed(
    kind: CalendarFeedKind, *, email: str | None = None, user_id: int | None = None
) -> CalendarFeed | None:
    """The owner's feed of the kind that works, if there is one."""
    email = email.strip().lower() if email else None
    return db.session.scalar(
        sa.select(CalendarFeed)
        .where(_owned(kind, email, user_id))
        .order_by(CalendarFeed.id.desc())
        .limit(1)
    )


def feed_for_token(token: str) -> CalendarFeed | None:
    """The working feed of a token; None for a token that is wrong or revoked, and for a
    staff feed whose user is no longer active staff."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    row = db.session.scalar(
        sa.select(CalendarFeed).where(
            CalendarFeed.token_hash == token_hash(token), CalendarFeed.revoked_at.is_(None)
        )
    )
    if row is not None and row.kind == CalendarFeedKind.STAFF:
        user = db.session.get(User, row.user_id)
        if user is None or not (user.active and user.is_staff):
            return None
    return row


def secret_feed(row: CalendarFeed, now: datetime | None = None) -> bytes:
    """The calendar a secret feed serves, in the feed's language."""
    with force_locale(row.language):
        if row.kind == CalendarFeedKind.STAFF:
            courses, name = staff_courses(now), _("Training calendar: all courses")
        else:
            courses, name = participant_courses(row.email, now), _("My courses")
    return feed(courses, str(name), language=row.language, now=now)


def webcal_url(url: str) -> str:
    """The `webcal:` form of a feed's https address, which opens a calendar app."""
    return re.sub(r"^https?://", "webcal://", url)
