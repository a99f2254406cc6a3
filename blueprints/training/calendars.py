"""Calendars to subscribe to: the public calendar's feeds (all courses, one topic's), a
participant's secret link to their courses (made and revoked with the service code),
and a staff member's secret link, made on their page in the staff's training area.

A secret link's token is in its path, which no log holds: the request line names the
route's rule (observability.py), and the proxy and gunicorn keep no access log.
"""

from __future__ import annotations

from flask import Flask, Response, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from access import staff_required
from blueprints.shared import Routes
from blueprints.training.common import service_code_limit
from extensions import db
from forms.staff import ActionForm
from forms.training import CalendarLinkForm, ServiceCodeForm
from models.training import CalendarFeedKind, Enrolment
from services import calendars, training
from services.urls import external_url

routes = Routes()  # on the public calendar's blueprint, under /training
staff_routes = Routes()  # on the staff's, under /staff/training

# A public feed is the same for everyone; a secret one is its holder's alone.
PUBLIC_CACHE = "public, max-age=300"
PRIVATE_CACHE = "private, max-age=300"


def _ics(body: bytes, filename: str, cache: str) -> Response:
    """A calendar as a calendar app fetches it: text/calendar in UTF-8."""
    response = Response(body, mimetype="text/calendar")  # Flask adds charset=utf-8
    response.headers["Cache-Control"] = cache
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    if cache == PUBLIC_CACHE:
        response.headers["Vary"] = "Accept-Language, Cookie"  # the texts' language
    else:
        response.headers["X-Robots-Tag"] = "noindex"
    return response


def _feed_urls(token: str) -> dict[str, str]:
    https = external_url("training.feed", token=token)
    return {"https": https, "webcal": calendars.webcal_url(https)}


def _shown_once(html: str) -> Response:
    """A page that shows a secret link: kept by no cache, and sent to no other site."""
    response = Response(html)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# --- Public feeds ---------------------------------------------------------------------


@routes.get("/calendar.ics")
def all_courses_feed() -> ResponseReturnValue:
    """Serve every open course of the calendar as a calendar to subscribe to."""
    language = str(get_locale())
    body = calendars.feed(calendars.public_courses(), _("Training calendar"), language=language)
    return _ics(body, "koulutuskalenteri.ics", PUBLIC_CACHE)


@routes.get("/calendar/<slug>.ics")
def topic_feed(slug: str) -> ResponseReturnValue:
    """Serve the open courses of one topic as a calendar to subscribe to."""
    topics = calendars.public_topics().get(slug)
    if not topics:
        abort(404)
    name = _("Training calendar: %(topic)s", topic=", ".join(topics))
    body = calendars.feed(calendars.public_courses(topics), name, language=str(get_locale()))
    return _ics(body, f"{slug}.ics", PUBLIC_CACHE)


@routes.get("/feeds/<token>.ics")
def feed(token: str) -> ResponseReturnValue:
    """Serve a secret link's calendar: a participant's courses, or a staff member's."""
    row = calendars.feed_for_token(token)
    if row is None:
        abort(404)
    return _ics(calendars.secret_feed(row), "kurssit.ics", PRIVATE_CACHE)


# --- A participant's link -------------------------------------------------------------


def _code_refused() -> ResponseReturnValue:
    """The look-up's answer to a code that names no enrolment: the same for any code."""
    form = ServiceCodeForm()
    form.code.errors = [_("No enrolment was found with this code. Check the code.")]
    return render_template("training/lookup.html", form=form), 200


def _enrolment_of_form() -> Enrolment | None:
    """The enrolment whose service code the calendar link form sent (a form without a
    valid CSRF token or code is a 400: the page sends both)."""
    form = CalendarLinkForm()
    if not form.validate_on_submit():
        abort(400)
    return training.by_service_code(form.code.data)


@routes.post("/feeds")
@service_code_limit
def create_participant_feed() -> ResponseReturnValue:
    """Make a secret link to the courses of the enrolment's email address; show it once."""
    enrolment = _enrolment_of_form()
    if enrolment is None:
        return _code_refused()
    _row, token = calendars.create_feed(
        CalendarFeedKind.PARTICIPANT, email=enrolment.email, language=str(get_locale())
    )
    db.session.commit()
    html = render_template(
        "training/calendar_link.html",
        urls=_feed_urls(token),
        revoke_form=CalendarLinkForm(code=enrolment.service_code),
    )
    return _shown_once(html)


@routes.post("/feeds/revoke")
@service_code_limit
def revoke_participant_feed() -> ResponseReturnValue:
    """Stop the secret calendar link of the enrolment's email address from working."""
    enrolment = _enrolment_of_form()
    if enrolment is None:
        return _code_refused()
    calendars.revoke_feeds(CalendarFeedKind.PARTICIPANT, email=enrolment.email)
    db.session.commit()
    flash(_("The calendar link no longer works."), "success")
    return redirect(url_for("training.index"), 303)


# --- A staff member's link ------------------------------------------------------------


@staff_routes.get("/calendar")
@staff_required
def calendar() -> ResponseReturnValue:
    """Show the staff member's calendar link: whether there is one, to make or revoke."""
    return render_template(
        "training/staff_calendar.html",
        active=calendars.active_feed(CalendarFeedKind.STAFF, user_id=current_user.id),
        urls=None,
        form=ActionForm(),
    )


@staff_routes.post("/calendar/link")
@staff_required
def create_staff_feed() -> ResponseReturnValue:
    """Make a new secret calendar link (the old one stops working); show it once."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    row, token = calendars.create_feed(
        CalendarFeedKind.STAFF, user_id=current_user.id, language=str(get_locale())
    )
    db.session.commit()
    html = render_template(
        "training/staff_calendar.html", active=row, urls=_feed_urls(token), form=ActionForm()
    )
    return _shown_once(html)


@staff_routes.post("/calendar/revoke")
@staff_required
def revoke_staff_feed() -> ResponseReturnValue:
    """Stop the staff member's calendar link from working."""
    if not ActionForm().validate_on_submit():
        abort(400)
    calendars.revoke_feeds(CalendarFeedKind.STAFF, user_id=current_user.id)
    db.session.commit()
    flash(_("The calendar link no longer works."), "success")
    return redirect(url_for("training_staff.calendar"), 303)


def setup_app(app: Flask) -> None:
    """Let templates write a topic's feed address (`topic_slug`)."""
    app.jinja_env.filters["topic_slug"] = calendars.topic_slug
