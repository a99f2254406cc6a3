"""The public calendar, the enrolment form, the service-code look-up and seat offers."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import (
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import load_only
from wtforms import SelectChoice

from blueprints.punchout import session as punchout_session
from blueprints.shared import Routes
from blueprints.training.common import service_code_limit
from extensions import db
from forms.staff import ActionForm
from forms.training import (
    CalendarFilterForm,
    CalendarLinkForm,
    EnrolmentForm,
    ParticipantCancelForm,
    ServiceCodeForm,
)
from fragments import cached_content, content_key
from models.auth import Organisation, User
from models.training import CalendarFeedKind, Course, EnrolmentStatus
from models.types import utcnow
from paging import CURSOR_ARGS, paginate
from services import calendars, registry, training
from services.payments import links as payment_links
from services.timezones import day_start_utc

routes = Routes()

REMOTE = "__remote__"

# An enrolment's status as pages and mail name it (one translation per badge, not five).
STATUS_LABELS = {
    EnrolmentStatus.PRELIMINARY: _l("preliminary"),
    EnrolmentStatus.BINDING: _l("binding"),
    EnrolmentStatus.CANCELLED: _l("cancelled"),
    EnrolmentStatus.WAITING: _l("on the waiting list"),
    EnrolmentStatus.OFFERED: _l("offered a seat"),
}


# Look-up and cancel count together (with the calendar link): each would tell whether a
# code exists.
_code_limit = service_code_limit


def _calendar_choices(form: CalendarFilterForm, now) -> None:
    """The topics and places of upcoming courses, in one query."""
    upcoming = sa.select(Course).where(Course.is_open, Course.starts_at > now)
    topics = upcoming.with_only_columns(
        sa.literal_column("'topic'").label("kind"), Course.topic.label("value")
    )
    places = upcoming.where(~Course.remote).with_only_columns(
        sa.literal_column("'place'").label("kind"), Course.place.label("value")
    )
    found: dict[str, list[str]] = {"topic": [], "place": []}
    for row in db.session.execute(sa.union(topics, places).order_by("kind", "value")):
        found[row.kind].append(row.value)
    everything = SelectChoice("", _("All"))
    form.topic.choices = [everything] + [SelectChoice(t, t) for t in found["topic"]]
    form.place.choices = (
        [everything]
        + [SelectChoice(p, p) for p in found["place"] if p]
        + [SelectChoice(REMOTE, _("Remote"))]
    )


@routes.get("/")
def index() -> ResponseReturnValue:
    """Show the upcoming open courses, filtered, with the service-code field."""
    key = content_key(tables=(Course.__tablename__,))
    if kept_page := cached_content(key):
        return render_template("training/index.html", kept_page=kept_page)
    now = utcnow()
    form = CalendarFilterForm(formdata=request.args)
    _calendar_choices(form, now)
    # Only what a card shows (not the description, which may be long).
    stmt = (
        sa.select(Course)
        .options(
            load_only(
                Course.title,
                Course.topic,
                Course.place,
                Course.remote,
                Course.starts_at,
                Course.ends_at,
                Course.capacity,
                Course.seats_taken,
                Course.enrolment_deadline,
            )
        )
        .where(Course.is_open, Course.starts_at > now)
    )
    if form.validate():
        if form.q.data:
            pattern = f"%{form.q.data.strip().lower()}%"
            stmt = stmt.where(
                sa.or_(
                    sa.func.lower(Course.title).like(pattern),
                    sa.func.lower(Course.description).like(pattern),
                    sa.func.lower(Course.topic).like(pattern),
                )
            )
        if form.topic.data:
            stmt = stmt.where(Course.topic == form.topic.data)
        if form.place.data == REMOTE:
            stmt = stmt.where(Course.remote)
        elif form.place.data:
            stmt = stmt.where(Course.place == form.place.data, ~Course.remote)
        if form.date_from.data:
            stmt = stmt.where(Course.starts_at >= day_start_utc(form.date_from.data))
        if form.date_to.data:
            stmt = stmt.where(
                Course.starts_at < day_start_utc(form.date_to.data + timedelta(days=1))
            )
    page = paginate(stmt, (Course.starts_at, Course.id), per_page=10, count=True)
    filters = {k: v for k, v in request.args.items() if k not in CURSOR_ARGS and v}
    return render_template(
        "training/index.html",
        form=form,
        page=page,
        filters=filters,
        code_form=ServiceCodeForm(),
        now=now,
        content_key=key,
    )


@routes.get("/courses/<id:course_id>")
def course(course_id: int) -> ResponseReturnValue:
    """Show a course with its seats and the enrol button (or why there is none)."""
    course = db.get_or_404(Course, course_id)
    if training.expire_offers(course.id):
        db.session.commit()
    if not course.is_open and not (current_user.is_authenticated and current_user.is_staff):
        abort(404)
    return render_template(
        "training/course.html", course=course, closed_reason=training.closed_reason(course)
    )


@routes.route("/courses/<id:course_id>/enrol", methods=["GET", "POST"])
def enrol(course_id: int) -> ResponseReturnValue:
    """Enrol one participant (Ilmoittautumislomake), or join the waiting list."""
    ps = punchout_session.current_session()  # ordering through the buyer's procurement system
    # The course, and the user's own details prefilled (a buyer's cart: anything).
    key = (
        content_key(ps.id)
        if ps
        else content_key(
            tables=(Course.__tablename__, User.__tablename__, Organisation.__tablename__)
        )
    )
    if kept_page := cached_content(key):  # the course was open, and had this form, just now
        return render_template("training/enrol.html", kept_page=kept_page)
    course = db.get_or_404(Course, course_id)
    if not course.is_open and not (current_user.is_authenticated and current_user.is_staff):
        abort(404)
    reason = training.closed_reason(course)
    if reason:
        flash(reason, "error")
        return redirect(url_for("training.course", course_id=course.id), 303)
    if ps is not None and (ps.operation == "inspect" or ps.enrolment is not None):
        # One person per cart: an inspected cart is read-only, an edited one is changed
        # by withdrawing its enrolment first.
        flash(_("The cart already holds an enrolment."), "info")
        return redirect(url_for("punchout.cart"), 303)
    waiting = course.is_full and ps is None
    form = EnrolmentForm()
    if not (course.price > 0 and ps is None and not waiting and payment_links.is_configured()):
        del form.payment_method  # online payment is for a seat of a course with a fee
    if request.method == "GET" and current_user.is_authenticated:
        form.email.data = current_user.email
        if current_user.organisation:
            form.organisation.data = current_user.organisation.name
    if form.validate_on_submit():
        if ps is not None:
            actor = ps.buyer.name
        elif current_user.is_authenticated:
            actor = current_user.email
        else:
            actor = training.PARTICIPANT
        participant = training.Participant(**form.participant_values())
        try:
            enrolment = training.enrol(
                course.id,
                participant,
                actor=actor,
                language=str(get_locale()),
                source="punchout" if ps is not None else "web",
                waiting_list=waiting,
                pays_online=form.pays_online,
            )
        except training.CourseFull as exc:
            db.session.rollback()
            if ps is not None:
                form.form_errors.append(_("The course is full: it cannot be ordered."))
            else:
                form.form_errors.append(str(exc))
                waiting = True
        except training.AlreadyEnrolled as exc:
            if ps is not None:  # the buyer's own cart: an order must not double a person
                form.email.errors.append(str(exc))
            else:
                # The answer a new enrolment gets, so that the form tells nobody whether
                # the address is enrolled; its owner is told by mail, with the code.
                training.tell_already_enrolled(exc.enrolment_id)
                receipt = training.receipt_as_new(
                    course.id, participant, exc.would_be, pays_online=form.pays_online
                )
                db.session.commit()
                session["enrolment_receipt"] = receipt
                return redirect(url_for("training.enrolled"), 303)
        except IntegrityError:  # the same email a moment ago (a double submit)
            db.session.rollback()
            form.email.errors.append(training.duplicate_message())
        except training.EnrolmentError as exc:
            db.session.rollback()
            if exc.field:
                getattr(form, exc.field).errors.append(str(exc))
            else:
                form.form_errors.append(str(exc))
        else:
            if ps is not None:
                ps.enrolment = enrolment
                db.session.commit()
                return punchout_session.transfer_response(ps)
            receipt = training.receipt(enrolment)  # read before the commit expires it
            db.session.commit()
            # One who pays online pays from the link in the confirmation mail, not from
            # here: a pay page straight away would tell anyone that the address was not
            # enrolled yet (an address already enrolled gets the same page as this).
            session["enrolment_receipt"] = receipt
            return redirect(url_for("training.enrolled"), 303)
    return render_template(
        "training/enrol.html",
        course=course,
        form=form,
        waiting=waiting,
        punchout=ps,
        content_key=key,
    )


@routes.get("/enrolled")
def enrolled() -> ResponseReturnValue:
    """Thank the participant: from the form, with what it was sent (the same page whether
    or not the address was enrolled already); from a seat offer, with the service code."""
    receipt = session.pop("enrolment_receipt", None)
    course = db.session.get(Course, receipt["course_id"]) if receipt else None
    if course is not None:
        return render_template(
            "training/enrolled.html",
            course=course,
            name=receipt["name"],
            email=receipt["email"],
            status=EnrolmentStatus(receipt["status"]),
            position=receipt["position"],
            pays_online=receipt.get("pays_online", False),
            enrolment=None,
        )
    code = session.pop("enrolled", None)  # an accepted offer: its link holder's own
    enrolment = training.by_service_code(code) if code else None
    if enrolment is None:
        return redirect(url_for("training.index"))
    return render_template(
        "training/enrolled.html",
        course=enrolment.course,
        name=enrolment.name,
        email=enrolment.email,
        status=enrolment.status,
        position=training.waiting_position(enrolment),
        enrolment=enrolment,
    )


@routes.post("/lookup")
@_code_limit
def lookup() -> ResponseReturnValue:
    """Show the enrolment of a service code (Palvelutunnus)."""
    form = ServiceCodeForm()
    enrolment = None
    if form.validate_on_submit():
        enrolment = training.by_service_code(form.code.data)
        if enrolment is None:
            # The same answer for any wrong code: nothing to learn about other codes.
            form.code.errors.append(_("No enrolment was found with this code. Check the code."))
    if enrolment is None:
        return render_template("training/lookup.html", form=form), 200
    return _show_enrolment(enrolment, ParticipantCancelForm(code=enrolment.service_code))


def _show_enrolment(enrolment, cancel_form: ParticipantCancelForm):
    return render_template(
        "training/enrolment.html",
        enrolment=enrolment,
        course=enrolment.course,
        cancel_form=cancel_form,
        may_cancel=training.participant_may_cancel(enrolment),
        position=training.waiting_position(enrolment),
        calendar_form=CalendarLinkForm(code=enrolment.service_code),
        calendar_link=calendars.active_feed(CalendarFeedKind.PARTICIPANT, email=enrolment.email),
    )


@routes.post("/cancel")
@_code_limit
def cancel() -> ResponseReturnValue:
    """Cancel an enrolment with its service code, confirmed by its email address."""
    form = ParticipantCancelForm()
    enrolment = training.by_service_code(form.code.data or "")
    if enrolment is None:
        return render_template("training/lookup.html", form=ServiceCodeForm()), 200
    if form.validate_on_submit():
        if form.email.data.strip().lower() != enrolment.email:
            form.email.errors.append(
                _("This is not the email address the enrolment was made with.")
            )
        elif not training.participant_may_cancel(enrolment):
            form.form_errors.append(
                _(
                    "The enrolment can no longer be cancelled here. Contact %(email)s.",
                    email=current_app.config["TRAINING_CONTACT_EMAIL"],
                )
            )
        else:
            try:
                training.cancel(enrolment, training.PARTICIPANT)
            except training.EnrolmentError as exc:  # cancelled a moment ago (a double click)
                db.session.rollback()
                flash(str(exc), "info")
                return redirect(url_for("training.index"), 303)
            db.session.commit()
            flash(
                _("The enrolment was cancelled. A confirmation is on its way to your email."),
                "success",
            )
            return redirect(url_for("training.index"), 303)
    return _show_enrolment(enrolment, form)


@routes.get("/offers/<token>")
def offer(token: str) -> ResponseReturnValue:
    """Show a seat offered from the waiting list, with accept and decline."""
    enrolment = training.enrolment_for_offer(token)
    if enrolment is None:
        return render_template("training/offer_gone.html"), 410
    return render_template(
        "training/offer.html", enrolment=enrolment, token=token, form=ActionForm()
    )


@routes.post("/offers/<token>/<any(accept, decline):answer>")
def answer_offer(token: str, answer: str) -> ResponseReturnValue:
    """Take the offered seat, or let it pass to the next in line."""
    enrolment = training.enrolment_for_offer(token)
    if enrolment is None:
        return render_template("training/offer_gone.html"), 410
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        if answer == "accept":
            training.accept_offer(enrolment)
        else:
            training.cancel(enrolment, training.PARTICIPANT, reason=None)
    except training.EnrolmentError:  # answered (or expired) a moment ago
        db.session.rollback()
        return render_template("training/offer_gone.html"), 410
    db.session.commit()
    if answer == "accept":
        session["enrolled"] = enrolment.service_code
        return redirect(url_for("training.enrolled"), 303)
    flash(_("You gave up the seat. Thank you for letting us know."), "success")
    return redirect(url_for("training.index"), 303)


def setup_app(app: Flask) -> None:
    registry.register_staff_section(app, _l("Training"), "training_staff.courses")
    app.jinja_env.globals["enrolment_status_labels"] = STATUS_LABELS
