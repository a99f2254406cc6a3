"""Course bookings, under /portal/bookings: placing the organisation's employees on the
booked seats, and the self-declaration (egenerklæring) each placed employee fills in."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from wtforms import SelectChoice

from access import own_scoped
from blueprints.portal.common import (
    DB_ID,
    customer_required,
    matching,
    own,
)
from blueprints.shared import Routes
from extensions import db
from forms.portal import (
    PlaceForm,
    PlaceSearchForm,
    declaration_form,
)
from forms.staff import ActionForm
from models.portal import (
    Booking,
    BookingSlot,
    Employee,
    Placement,
)
from models.types import utcnow
from services import portal
from services.timezones import shown_in_zone

routes = Routes()


PLACE_CHOICES = 200  # employees offered on a booking's place form at once


def _own_booking(booking_id: int) -> Booking:
    """An open booking the user may see: a department user, only their departments'
    (those of orders of the departments), not the whole company's."""
    booking = own(Booking, department=portal.booking_department(), id=booking_id)
    if not booking.active:
        abort(404)
    return booking


def _place_form(booking: Booking, formdata=None, search: str = "") -> PlaceForm:
    """The place form, offering at most PLACE_CHOICES employees: those the search finds
    (a large company's whole staff is no list to choose from), and the one posted."""
    form = PlaceForm(formdata=formdata) if formdata is not None else PlaceForm(formdata=None)
    placed = {p.employee_id for slot in booking.slots for p in slot.placements if not p.removed_at}
    candidates = own_scoped(Employee).where(
        portal.in_service(), Employee.id.not_in(placed) if placed else sa.true()
    )
    employees = list(
        db.session.scalars(
            matching(candidates, search)
            .order_by(Employee.last_name, Employee.first_name, Employee.id)
            .limit(PLACE_CHOICES + 1)
        )
    )
    form.more_employees = len(employees) > PLACE_CHOICES
    employees = employees[:PLACE_CHOICES]
    posted = (formdata or {}).get("employee", "")
    if DB_ID.fullmatch(posted) and int(posted) not in {e.id for e in employees}:
        employees += db.session.scalars(candidates.where(Employee.id == int(posted)))
    form.employee.choices = [SelectChoice("", _("Choose the employee"))] + [
        SelectChoice(str(e.id), f"{e.name} ({e.email})") for e in employees
    ]
    form.slot.choices = [SelectChoice("", _("Choose the time"))] + [
        SelectChoice(str(s.id), _slot_label(s), render_kw={"disabled": True} if not s.free else {})
        for s in booking.slots
    ]
    return form


def _slot_label(slot: BookingSlot) -> str:
    from flask_babel import format_datetime, format_time

    return _(
        "%(start)s–%(end)s (%(free)s free)",
        start=format_datetime(slot.starts_at, "short"),
        end=format_time(slot.ends_at, "short"),
        free=slot.free,
    )


def _visible_placements(booking: Booking) -> list[Placement]:
    shown = {p.employee_id for slot in booking.slots for p in slot.placements}
    visible = set(
        db.session.scalars(
            own_scoped(Employee).where(Employee.id.in_(shown)).with_only_columns(Employee.id)
        )
    )
    return [
        p
        for slot in booking.slots
        for p in slot.placements
        if p.removed_at is None and p.employee_id in visible
    ]


@routes.get("/bookings/<id:booking_id>")
@customer_required
def booking(booking_id: int) -> ResponseReturnValue:
    """A booking: its times, who is placed, and the form to place more."""
    booking = _own_booking(booking_id)
    search_form = PlaceSearchForm(formdata=request.args)
    return render_template(
        "portal/booking.html",
        booking=booking,
        placements=_visible_placements(booking),
        form=_place_form(booking, search=search_form.q.data if search_form.validate() else ""),
        search_form=search_form,
        place_choices=PLACE_CHOICES,
        action_form=ActionForm(),
        open_=utcnow() <= booking.deadline,
    )


@routes.post("/bookings/<id:booking_id>/place")
@customer_required
def place(booking_id: int) -> ResponseReturnValue:
    booking = _own_booking(booking_id)
    form = _place_form(booking, request.form)
    if form.validate():
        employee = own(Employee, id=int(form.employee.data))
        slot = next(s for s in booking.slots if str(s.id) == form.slot.data)
        try:
            portal.place(slot, employee, current_user.email)
        except portal.SlotFull:
            db.session.rollback()
            form.slot.errors.append(_("That time just filled up: choose another."))
        except (portal.AlreadyPlaced, IntegrityError):
            db.session.rollback()
            form.employee.errors.append(_("The employee is already placed on this booking."))
        except portal.NotInService:
            db.session.rollback()
            form.employee.errors.append(
                _("The employee is deactivated from a date before this time.")
            )
        except portal.PastDeadline:
            db.session.rollback()
            form.form_errors.append(_("The deadline has passed: contact us to make changes."))
        else:
            db.session.commit()
            flash(
                _("%(name)s was placed; they get the details by email.", name=employee.name),
                "success",
            )
            return redirect(url_for("portal.booking", booking_id=booking.id))
    return render_template(
        "portal/booking.html",
        booking=booking,
        placements=_visible_placements(booking),
        form=form,
        search_form=PlaceSearchForm(formdata=None),
        place_choices=PLACE_CHOICES,
        action_form=ActionForm(),
        open_=utcnow() <= booking.deadline,
    ), 400


@routes.post("/placements/<id:placement_id>/remove")
@customer_required
def remove_placement(placement_id: int) -> ResponseReturnValue:
    placement = db.session.get(Placement, placement_id)
    if placement is None:
        abort(404)
    booking = _own_booking(placement.booking_id)
    own(Employee, id=placement.employee_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        removed = portal.remove(placement, current_user.email)
    except portal.PastDeadline:
        db.session.rollback()
        flash(_("The deadline has passed: contact us to make changes."), "error")
    else:
        db.session.commit()
        if removed:
            flash(_("%(name)s was taken off the booking.", name=placement.employee.name), "success")
    return redirect(url_for("portal.booking", booking_id=booking.id))


@routes.route("/egenerklaering/<token>", methods=["GET", "POST"])
def declaration(token: str) -> ResponseReturnValue:
    """Egenerklæring: the employee answers a few questions, without logging in."""
    placement = portal.placement_by_token(token)
    if placement is None:
        abort(404)
    form = declaration_form(
        portal.DECLARATION_QUESTIONS, request.form if request.method == "POST" else None
    )
    if request.method == "POST" and form.validate():
        answers = {key: form[key].data for key, _label in portal.DECLARATION_QUESTIONS}
        answers["other"] = form.other.data or ""
        portal.save_declaration(placement, answers)
        db.session.commit()
        with shown_in_zone("Europe/Oslo"):  # the appointment's own time
            return render_template("portal/declaration_done.html", placement=placement)
    with shown_in_zone("Europe/Oslo"):
        response = render_template(
            "portal/declaration.html",
            form=form,
            placement=placement,
            questions=[key for key, _label in portal.DECLARATION_QUESTIONS],
        )
    return response, 400 if form.errors else 200
