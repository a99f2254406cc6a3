"""Staff pages of the training calendar: courses, participants, cancelling, CSV export,
and the course organisers (the merchants selling course fees)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import load_only

from access import staff_required
from blueprints.shared import Routes
from extensions import db
from forms.staff import ActionForm
from forms.tasks import CancelCourseForm
from forms.training import (
    CourseForm,
    CourseOrganiserForm,
    ParticipantFilterForm,
    StaffCancelForm,
)
from fragments import cached_content, content_key, staff_audience
from models.training import Course, CourseOrganiser, Enrolment, EnrolmentStatus
from models.types import utcnow
from paging import CURSOR_ARGS, paginate
from services import codes, course_organisers, exports, registry, tasks, training
from services.exports import Column
from services.timezones import local_to_utc, utc_to_local

routes = Routes()

TIME_FIELDS = (
    "starts_at",
    "ends_at",
    "enrolment_deadline",
    "cancellation_deadline",
    "refund_deadline",  # the one that may be empty
)


def status_labels() -> dict[str, str]:
    return {
        EnrolmentStatus.PRELIMINARY.value: _("preliminary"),
        EnrolmentStatus.BINDING.value: _("binding"),
        EnrolmentStatus.CANCELLED.value: _("cancelled"),
        EnrolmentStatus.WAITING.value: _("on the waiting list"),
        EnrolmentStatus.OFFERED.value: _("offered a seat"),
    }


@routes.get("/")
@staff_required
def courses() -> ResponseReturnValue:
    """List every course, the newest start first, with its seats."""
    key = content_key(audience=staff_audience())
    if kept_page := cached_content(key):
        return render_template("training/staff_courses.html", kept_page=kept_page)
    listed = load_only(
        Course.title,
        Course.topic,
        Course.starts_at,
        Course.ends_at,
        Course.capacity,
        Course.seats_taken,
        Course.is_open,
    )
    page = paginate(_courses().options(listed), COURSE_ORDER, per_page=25)
    return render_template("training/staff_courses.html", page=page, content_key=key)


COURSE_ORDER = (Course.starts_at.desc(), Course.id.desc())


def _courses() -> sa.Select:
    """Every course: the list and its export."""
    return sa.select(Course)


COURSE_COLUMNS = (
    Column(_l("Course"), lambda c: c.title),
    Column(_l("Starts"), lambda c: c.starts_at, "datetime"),
    Column(_l("Ends"), lambda c: c.ends_at, "datetime"),
    Column(_l("Topic"), lambda c: c.topic),
    Column(_l("Seats taken"), lambda c: c.seats_taken, "int"),
    Column(_l("Seats"), lambda c: c.capacity, "int"),
    Column(_l("Enrolment"), lambda c: _("open") if c.is_open else _("closed")),
)


@routes.get("/export.<any(csv, xlsx):fmt>")
@staff_required
def courses_export(fmt: str) -> ResponseReturnValue:
    """Download the course list as CSV or Excel."""
    rows = exports.iterate(_courses(), COURSE_ORDER)
    return exports.export_response(
        fmt, "courses", COURSE_COLUMNS, rows, personal=False, what="training.courses"
    )


def _save_course(form: CourseForm, course: Course) -> None:
    form.populate_obj(course)
    for name in TIME_FIELDS:
        value = getattr(form, name).data
        setattr(course, name, local_to_utc(value) if value else None)
    course.place = course.place or ""
    if course.cancelled_at is not None:
        course.is_open = False  # a cancelled course stays closed


@routes.route("/courses/new", methods=["GET", "POST"])
@staff_required
def create_course() -> ResponseReturnValue:
    """Add a course to the calendar."""
    form = CourseForm()
    if form.validate_on_submit():
        course = Course(seats_taken=0)
        _save_course(form, course)
        db.session.add(course)
        db.session.commit()
        flash(_("The course was saved."), "success")
        return redirect(url_for("training_staff.participants", course_id=course.id), 303)
    return render_template("training/staff_course_form.html", form=form, course=None)


@routes.route("/courses/<id:course_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_course(course_id: int) -> ResponseReturnValue:
    """Change a course's details, seats, deadlines or whether it is open."""
    course = db.get_or_404(Course, course_id)
    form = CourseForm(obj=course)
    if request.method == "GET":
        for name in TIME_FIELDS:
            value = getattr(course, name)
            getattr(form, name).data = utc_to_local(value) if value else None
    if form.validate_on_submit():
        if form.capacity.data < course.seats_taken:
            form.capacity.errors.append(
                _("%(n)d seats are taken already: cancel enrolments first.", n=course.seats_taken)
            )
        else:
            _save_course(form, course)
            db.session.flush()
            # An enrolment may have taken a seat since the page was loaded: check again
            # inside the transaction, in the database.
            table = Course.__table__
            still_fits = db.session.execute(
                sa.update(table)
                .where(table.c.id == course.id, table.c.seats_taken <= form.capacity.data)
                .values(capacity=form.capacity.data)
            )
            if still_fits.rowcount != 1:
                db.session.rollback()
                flash(_("Seats were taken meanwhile: the capacity was not changed."), "error")
                return redirect(url_for("training_staff.edit_course", course_id=course_id), 303)
            training.offer_free_seats(course)  # more seats: the waiting list comes first
            db.session.commit()
            flash(_("The course was saved."), "success")
            return redirect(url_for("training_staff.participants", course_id=course.id), 303)
    return render_template("training/staff_course_form.html", form=form, course=course)


@routes.post("/courses/<id:course_id>/close")
@staff_required
def close_course(course_id: int) -> ResponseReturnValue:
    """Close a course for enrolment, or open it again."""
    course = db.get_or_404(Course, course_id)
    if course.cancelled_at is not None:
        flash(_("The course is cancelled: it cannot be opened again."), "error")
    elif ActionForm().validate_on_submit():
        course.is_open = not course.is_open
        db.session.flush()
        training.offer_free_seats(course)  # seats freed while closed: the queue comes first
        db.session.commit()
        flash(
            _("The course is open for enrolment.")
            if course.is_open
            else _("The course is closed."),
            "success",
        )
    return redirect(url_for("training_staff.participants", course_id=course.id), 303)


def _organiser_values(form: CourseOrganiserForm) -> dict[str, str]:
    return {
        "name": form.name.data,
        "merchant_id": form.merchant_id.data,
        "commission_class": form.commission_class.data,
    }


def _refused(form: CourseOrganiserForm, error: course_organisers.OrganiserError) -> None:
    field = getattr(form, error.field)
    field.errors = [*field.errors, error.message]


@routes.route("/organisers", methods=["GET", "POST"])
@staff_required
def organisers() -> ResponseReturnValue:
    """List the course organisers by name, a page at a time, with the form that adds one."""
    form = CourseOrganiserForm()
    if form.validate_on_submit():
        try:
            organiser = course_organisers.create(**_organiser_values(form))
        except course_organisers.OrganiserError as exc:
            _refused(form, exc)
        else:
            db.session.commit()
            flash(_("The organiser %(name)s was added.", name=organiser.name), "success")
            return redirect(url_for("training_staff.organisers"), 303)
    page = course_organisers.page()
    html = render_template("training/staff_organisers.html", page=page, form=form)
    return html, (422 if request.method == "POST" else 200)


@routes.route("/organisers/<id:organiser_id>/edit", methods=["GET", "POST"])
@staff_required
def edit_organiser(organiser_id: int) -> ResponseReturnValue:
    """Change a course organiser's name, merchant ID or commission class."""
    organiser = db.get_or_404(CourseOrganiser, organiser_id)
    form = CourseOrganiserForm(obj=organiser)
    if form.validate_on_submit():
        try:
            course_organisers.update(organiser, **_organiser_values(form))
        except course_organisers.OrganiserError as exc:
            _refused(form, exc)
        else:
            db.session.commit()
            flash(_("The organiser was saved."), "success")
            return redirect(url_for("training_staff.organisers"), 303)
    html = render_template("training/staff_organiser_form.html", form=form, organiser=organiser)
    return html, (422 if request.method == "POST" else 200)


def _participants(course: Course, form: ParticipantFilterForm) -> sa.Select:
    stmt = sa.select(Enrolment).where(Enrolment.course_id == course.id)
    if form.validate():
        if form.status.data in status_labels():
            stmt = stmt.where(Enrolment.status == EnrolmentStatus(form.status.data))
        if form.q.data:
            pattern = f"%{form.q.data.strip().lower()}%"
            stmt = stmt.where(
                sa.or_(
                    sa.func.lower(Enrolment.first_name + " " + Enrolment.last_name).like(pattern),
                    Enrolment.email.like(pattern),
                    sa.func.lower(Enrolment.organisation).like(pattern),
                    Enrolment.service_code == form.q.data.strip().upper(),
                )
            )
    return stmt


def _filter_form() -> ParticipantFilterForm:
    form = ParticipantFilterForm(formdata=request.args)
    form.status.choices = [("", _("All"))] + list(status_labels().items())
    return form


@routes.get("/courses/<id:course_id>")
@staff_required
def participants(course_id: int) -> ResponseReturnValue:
    """Show a course's participants, filtered by status and text."""
    course = db.get_or_404(Course, course_id)
    form = _filter_form()
    page = paginate(_participants(course, form), PARTICIPANT_ORDER, per_page=100)
    filters = {k: v for k, v in request.args.items() if k not in CURSOR_ARGS and v}
    return render_template(
        "training/staff_participants.html",
        course=course,
        page=page,
        form=form,
        filters=filters,
        labels=status_labels(),
        action_form=ActionForm(),
        cancel_form=CancelCourseForm(formdata=None),
        cancelling=_cancelling(course),
    )


def _cancelling(course: Course):
    """The course's latest cancellation task, if it has one."""
    found = tasks.for_record(COURSE_RECORD, course.id, limit=1)
    return found[0][0] if found else None


COURSE_RECORD = "course"


@routes.post("/courses/<id:course_id>/cancel")
@staff_required
def cancel_course(course_id: int) -> ResponseReturnValue:
    """Cancel the course: closed for good at once, then in the background each
    enrolment and place in line cancelled, its participant told, a paid fee refunded."""
    from blueprints.tasks import too_many

    course = db.get_or_404(Course, course_id)
    form = CancelCourseForm()
    if not form.validate_on_submit():
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for("training_staff.participants", course_id=course.id), 303)
    existing = _cancelling(course)
    if course.cancelled_at is not None and existing is not None:
        flash(_("The course is cancelled already; nothing was done twice."), "info")
        return redirect(url_for("tasks.task", task_id=existing.id), 303)
    try:
        task, _new = tasks.enqueue(
            "course-cancel",
            form.key.data,
            current_user,
            records=[tasks.Record(COURSE_RECORD, course.id, str(course.id))],
            params={"course_id": course.id, "reason": form.reason.data},
            total=training.cancellable(course),
        )
    except tasks.TooManyTasks:
        flash(too_many(), "error")
        return redirect(url_for("training_staff.participants", course_id=course.id), 303)
    course.is_open = False
    course.cancelled_at = course.cancelled_at or utcnow()
    db.session.commit()
    flash(_("The course is cancelled; its participants are being told."), "info")
    return redirect(url_for("tasks.task", task_id=task.id), 303)


PARTICIPANT_ORDER = (Enrolment.created_at, Enrolment.id)
PARTICIPANT_COLUMNS = (
    Column(_l("Service code"), lambda e: e.service_code),
    Column(_l("Status"), lambda e: status_labels()[e.status.value]),
    Column(_l("First name"), lambda e: e.first_name),
    Column(_l("Last name"), lambda e: e.last_name),
    Column(_l("Email address"), lambda e: e.email),
    Column(_l("Organisation"), lambda e: e.organisation),
    Column(_l("Phone"), lambda e: e.phone),
    Column(_l("Job title"), lambda e: e.job_title),
    Column(_l("Billing address"), lambda e: e.billing_address),
    Column(_l("E-invoice address"), lambda e: e.einvoice_address),
    Column(_l("E-invoice operator"), lambda e: e.einvoice_operator),
    Column(_l("Billing reference (laskutusviite)"), lambda e: e.billing_reference),
    Column(_l("Special diet"), lambda e: e.diet),
    Column(_l("Accessibility needs"), lambda e: e.accessibility),
    Column(_l("Additional information"), lambda e: e.message),
    Column(_l("Enrolled"), lambda e: e.created_at, "datetime"),
)


@routes.get("/courses/<id:course_id>/export.<any(csv, xlsx):fmt>")
@staff_required
def participants_export(course_id: int, fmt: str) -> ResponseReturnValue:
    """Download a course's (filtered) participants as CSV or Excel."""
    course = db.get_or_404(Course, course_id)
    rows = exports.iterate(_participants(course, _filter_form()), PARTICIPANT_ORDER)
    return exports.export_response(
        fmt,
        f"participants-{course.id}",
        PARTICIPANT_COLUMNS,
        rows,
        personal=True,
        what="training.participants",
    )


@routes.get("/courses/<id:course_id>/participants.csv")
@staff_required
def participants_csv(course_id: int) -> ResponseReturnValue:
    """The participants' CSV at its earlier address: the export, with the same filters."""
    return redirect(
        url_for(
            "training_staff.participants_export", course_id=course_id, fmt="csv", **request.args
        ),
        308,
    )


@routes.get("/enrolments/<id:enrolment_id>")
@staff_required
def enrolment(enrolment_id: int) -> ResponseReturnValue:
    """Show an enrolment with its status history and any mail that failed."""
    enrolment = db.get_or_404(Enrolment, enrolment_id)
    return render_template(
        "training/staff_enrolment.html",
        enrolment=enrolment,
        labels=status_labels(),
        form=StaffCancelForm(),
    )


@routes.post("/enrolments/<id:enrolment_id>/cancel")
@staff_required
def cancel_enrolment(enrolment_id: int) -> ResponseReturnValue:
    """Cancel an enrolment with a reason; a freed seat goes to the next in line."""
    enrolment = db.get_or_404(Enrolment, enrolment_id)
    form = StaffCancelForm()
    if form.validate_on_submit():
        try:
            training.cancel(enrolment, current_user.email, reason=form.reason.data.strip())
        except training.EnrolmentError as exc:
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("The enrolment was cancelled and the participant told."), "success")
            return redirect(url_for("training_staff.enrolment", enrolment_id=enrolment.id), 303)
    return render_template(
        "training/staff_enrolment.html", enrolment=enrolment, labels=status_labels(), form=form
    )


def _lookup_code(code: str) -> list[registry.LookupHit]:
    if codes.normalise(code) is None:
        return []
    enrolment = training.by_service_code(code)
    if enrolment is None:
        return []
    return [
        registry.LookupHit(
            _(
                "Enrolment %(code)s: %(name)s, %(course)s",
                code=enrolment.service_code,
                name=enrolment.name,
                course=enrolment.course.title,
            ),
            url_for("training_staff.enrolment", enrolment_id=enrolment.id),
        )
    ]


def _enrolment_link(record_id: str) -> registry.LookupHit | None:
    enrolment = db.session.get(Enrolment, int(record_id)) if record_id.isdigit() else None
    if enrolment is None:
        return None
    return registry.LookupHit(
        f"{enrolment.service_code} {enrolment.name}",
        url_for("training_staff.enrolment", enrolment_id=enrolment.id),
    )


def setup_app(app: Flask) -> None:
    registry.register_lookup(app, _lookup_code)
    registry.register_record_link(app, "enrolment", _enrolment_link)
    registry.register_reference(app, training.enrolment_of_organisation)
