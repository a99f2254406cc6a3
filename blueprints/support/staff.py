"""The staff's ticket queue, ticket pages (reply, notes, status, handler) and applications."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload
from wtforms import SelectChoice

from access import staff_required
from blueprints.shared import CompanyFilter, Routes, company_filter
from blueprints.support.common import already_sent, collect_images, reader_language, send_attachment
from extensions import db
from forms.staff import ActionForm
from forms.support import (
    ApplicationForm,
    AssignForm,
    CcForm,
    ContactLinkForm,
    MergeForm,
    NoteForm,
    QueueFilterForm,
    StaffReplyForm,
    StatusForm,
    status_choices,
)
from fragments import cached_content, content_key, staff_audience
from models.auth import Organisation, User
from models.support import (
    OPEN_STATUSES,
    Application,
    SubApplication,
    Ticket,
    TicketEntry,
    TicketStatus,
    TicketType,
)
from models.types import one_of
from paging import paginate
from services import registry, support, support_canned, support_desk

routes = Routes()

QUEUE_FILTERS = ("status", "type", "application", "organisation", "scope")
# By when each next answer is due (from the targets of each type and urgency: the
# faster ones are due sooner), and what is late comes first.
QUEUE_ORDER = (Ticket.due_at, Ticket.id)
_DB_ID = re.compile(r"[0-9]{1,9}")


def _ticket_or_404(number: str) -> Ticket:
    ticket = support.by_number(number)
    if ticket is None:
        abort(404)
    return ticket


# ---------------------------------------------------------------- the queue


def _queue_choices(form: QueueFilterForm, language: str) -> None:
    everything = SelectChoice("", _("All"))
    form.status.choices = [SelectChoice("open", _("Open")), everything] + status_choices()
    form.type.choices = [everything] + [
        SelectChoice(t.value, support.TYPE_LABELS[t]) for t in TicketType
    ]
    applications = db.session.scalars(
        sa.select(Application).order_by(Application.position, Application.id)
    )
    form.application.choices = [everything] + [
        SelectChoice(str(a.id), a.name(language)) for a in applications
    ]
    form.scope.choices = [
        SelectChoice("next", _("Open: mine and my teams' unassigned")),
        SelectChoice("mine", _("Mine")),
        SelectChoice("team", _("My teams'")),
        SelectChoice("unassigned", _("Unassigned")),
        SelectChoice("all", _("Everyone's")),
    ]


@routes.get("/")
@staff_required
def queue() -> ResponseReturnValue:
    """The ticket queue, by when each next answer is due (what is late first): by
    default the staff member's own tickets and their teams' unassigned ones."""
    scope = request.args.get("scope", "next")
    scope = scope if scope in support_desk.SCOPES else "next"
    personal = scope in ("next", "mine", "team")  # these depend on who asks
    key = content_key(audience=None if personal else staff_audience())
    if kept_page := cached_content(key):
        return render_template("support/staff_queue.html", kept_page=kept_page)
    form, stmt, organisation, language = queue_search(scope)
    page = paginate(stmt, QUEUE_ORDER, per_page=25)
    filters = {name: request.args[name] for name in QUEUE_FILTERS if request.args.get(name)}
    filters.pop("organisation", None)
    filters.update(organisation.args())  # the one typed, by its id
    filters["status"] = form.status.data or ""  # "all" is empty, and must stay so on page 2
    return render_template(
        "support/staff_queue.html",
        page=page,
        form=form,
        organisation=organisation,
        language=language,
        filters=filters,
        content_key=key,
        due_state=support.due_state,
    )


def queue_search(scope: str) -> tuple[QueueFilterForm, sa.Select, CompanyFilter, str]:
    """The queue's filters of the query, and the tickets they leave in the scope."""
    form = QueueFilterForm(formdata=request.args if request.args else None)
    _queue_choices(form, language := reader_language())
    # What the rows show, in two queries: the ticket with its organisation, application
    # and handler, then the messages (the first one is shown).
    stmt = sa.select(Ticket).options(
        joinedload(Ticket.organisation).load_only(Organisation.name),
        joinedload(Ticket.application),
        joinedload(Ticket.sub_application),
        joinedload(Ticket.assignee).load_only(User.name),
        joinedload(Ticket.team),
        selectinload(Ticket.entries).load_only(TicketEntry.body),
    )
    status = form.status.data
    if status == "open":
        stmt = stmt.where(one_of(Ticket.status, OPEN_STATUSES))
    elif status in set(TicketStatus):
        stmt = stmt.where(Ticket.status == TicketStatus(status))
        if status in OPEN_STATUSES:  # as the open tickets' partial index states it
            stmt = stmt.where(one_of(Ticket.status, OPEN_STATUSES))
    if form.type.data in set(TicketType):
        stmt = stmt.where(Ticket.type == TicketType(form.type.data))
    if _DB_ID.fullmatch(form.application.data or ""):
        stmt = stmt.where(Ticket.application_id == int(form.application.data))
    organisation = company_filter("organisation", "organisation_name")
    stmt = organisation.narrow(stmt, Ticket.organisation_id)
    stmt = support_desk.narrow_to_scope(stmt, scope, current_user)
    return form, stmt, organisation, language


# ---------------------------------------------------------------- a ticket


def _status_form(formdata=None) -> StatusForm:
    form = StatusForm(formdata=formdata, prefix="status")
    form.status.choices = status_choices()
    return form


def _reply_form(formdata=None) -> StaffReplyForm:
    form = StaffReplyForm(formdata=formdata, prefix="reply")
    form.status.choices = status_choices()
    return form


def _assign_form(formdata=None) -> AssignForm:
    form = AssignForm(formdata=formdata, prefix="give")
    language = reader_language()
    form.assignee.choices = (
        [SelectChoice("", _("Choose…"))]
        + [
            SelectChoice(f"team:{team.id}", _("Team: %(name)s", name=team.name(language)))
            for team in support_desk.teams()
        ]
        + [SelectChoice(f"user:{user.id}", user.name) for user in support_desk.staff_users()]
    )
    return form


def _canned_reply(ticket: Ticket) -> str | None:
    """The canned reply asked for (?canned=<id>), filled in for the ticket, if any."""
    from models.support import CannedReply

    wanted = request.args.get("canned", "")
    if not _DB_ID.fullmatch(wanted):
        return None
    canned = db.session.get(CannedReply, int(wanted))
    if canned is None or not canned.active:
        return None
    try:
        return support_canned.fill(canned, ticket, current_user, ticket.language)
    except support_canned.CannedReplyError as exc:
        flash(str(exc), "error")
        return None


def _render_ticket(ticket: Ticket, **forms):
    """The staff's ticket page; a form that failed comes back with its errors."""
    from flask import current_app

    reply_form = forms.get("reply_form") or _reply_form()
    if (filled := _canned_reply(ticket)) is not None:
        reply_form.message.data = filled
    status_form = forms.get("status_form") or _status_form()
    if status_form.status.data is None:
        status_form.status.data = ticket.status.value
    link_form = forms.get("link_form") or ContactLinkForm(formdata=None, prefix="link")
    if link_form.email.data is None:
        link_form.email.data = ticket.email
    target = None
    if ticket.target_type and ticket.target_id:
        target = registry.record_link(current_app, ticket.target_type, ticket.target_id)
    return render_template(
        "support/staff_ticket.html",
        ticket=ticket,
        facts=support.summary(ticket, reader_language()),
        target=target,
        reply_form=reply_form,
        note_form=forms.get("note_form") or NoteForm(formdata=None),
        assign_form=forms.get("assign_form") or _assign_form(),
        merge_form=forms.get("merge_form") or MergeForm(formdata=None, prefix="merge"),
        cc_form=forms.get("cc_form") or CcForm(formdata=None, prefix="cc"),
        canned=support_canned.offered(ticket.language),
        language=reader_language(),
        status_form=status_form,
        link_form=link_form,
        action_form=ActionForm(),
        kept=forms.get("kept", []),
        attachment_url=lambda a: url_for(
            "support_staff.attachment", number=ticket.number, attachment_id=a.id
        ),
    )


@routes.get("/tickets/<number>")
@staff_required
def ticket(number: str) -> ResponseReturnValue:
    """A ticket with everything staff need: facts, the whole thread, and the actions."""
    return _render_ticket(_ticket_or_404(number))


@routes.post("/tickets/<number>/assign")
@staff_required
def assign(number: str) -> ResponseReturnValue:
    ticket = _ticket_or_404(number)
    if ActionForm().validate_on_submit() and support.assign_to(ticket, current_user):
        db.session.commit()
        flash(_("You now handle ticket %(number)s.", number=ticket.number), "success")
    return redirect(url_for("support_staff.ticket", number=ticket.number))


@routes.post("/tickets/<number>/give")
@staff_required
def give(number: str) -> ResponseReturnValue:
    """Give the ticket to a colleague or a team; they are told by mail."""
    ticket = _ticket_or_404(number)
    form = _assign_form(request.form)
    to = support_desk.parse_assignee(form.assignee.data) if form.validate() else None
    if to is None:
        if not form.assignee.errors:
            form.assignee.errors = [_("Choose a colleague or a team.")]
        return _render_ticket(ticket, assign_form=form), 400
    if support_desk.assign(ticket, current_user, to):
        db.session.commit()
        flash(
            _("Ticket %(number)s was given to %(name)s.", number=ticket.number,
              name=to.name(reader_language())),
            "success",
        )  # fmt: skip
    return redirect(url_for("support_staff.ticket", number=ticket.number))


@routes.post("/tickets/<number>/merge")
@staff_required
def merge(number: str) -> ResponseReturnValue:
    """Merge this duplicate into the ticket it repeats."""
    ticket = _ticket_or_404(number)
    form = MergeForm(prefix="merge")
    if form.validate():
        into = support.by_number(form.into.data)
        if into is None:
            form.into.errors = [_("No ticket has the number %(number)s.", number=form.into.data)]
        else:
            try:
                support_desk.merge(ticket, into, current_user)
            except support_desk.MergeRefused as exc:
                db.session.rollback()
                form.into.errors = [str(exc)]
            else:
                db.session.commit()
                flash(
                    _("%(number)s was merged into %(into)s.", number=ticket.number,
                      into=into.number),
                    "success",
                )  # fmt: skip
                return redirect(url_for("support_staff.ticket", number=into.number))
    return _render_ticket(ticket, merge_form=form), 400


@routes.post("/tickets/<number>/copies")
@staff_required
def add_copy(number: str) -> ResponseReturnValue:
    """Copy a colleague of the customer's organisation on the ticket's mail."""
    ticket = _ticket_or_404(number)
    form = CcForm(prefix="cc")
    if form.validate():
        try:
            user = support_desk.add_copy(ticket, current_user, form.email.data)
        except support_desk.CopyRefused as exc:
            form.email.errors = [str(exc)]
        else:
            db.session.commit()
            flash(_("%(email)s now gets the ticket's mail.", email=user.email), "success")
            return redirect(url_for("support_staff.ticket", number=ticket.number))
    return _render_ticket(ticket, cc_form=form), 400


@routes.post("/tickets/<number>/copies/<id:user_id>/remove")
@staff_required
def remove_copy(number: str, user_id: int) -> ResponseReturnValue:
    ticket = _ticket_or_404(number)
    if ActionForm().validate_on_submit() and support_desk.remove_copy(
        ticket, current_user, user_id
    ):
        db.session.commit()
        flash(_("The colleague no longer gets the ticket's mail."), "success")
    return redirect(url_for("support_staff.ticket", number=ticket.number))


@routes.post("/tickets/<number>/status")
@staff_required
def change_status(number: str) -> ResponseReturnValue:
    ticket = _ticket_or_404(number)
    form = _status_form(request.form)
    if not form.validate():
        return _render_ticket(ticket, status_form=form), 400
    if support.set_status(ticket, current_user, TicketStatus(form.status.data)):
        db.session.commit()
        flash(
            _("The status is now: %(status)s.", status=support.STATUS_LABELS[ticket.status]),
            "success",
        )
    return redirect(url_for("support_staff.ticket", number=ticket.number))


@routes.post("/tickets/<number>/reply")
@staff_required
def reply(number: str) -> ResponseReturnValue:
    """Answer the contact: the reply is mailed to them with the ticket number."""
    ticket = _ticket_or_404(number)
    form = _reply_form(request.form)
    valid = form.validate()
    kept = collect_images(form.screenshots, f"user:{current_user.id}")
    if valid and not form.screenshots.errors:
        status = TicketStatus(form.status.data)
        try:
            support.reply(ticket, current_user, form.message.data, status, kept)
        except support.AlreadySent:
            return already_sent(url_for("support_staff.ticket", number=ticket.number))
        db.session.commit()
        flash(
            _("The reply was saved and is on its way to %(email)s.", email=ticket.email), "success"
        )
        return redirect(url_for("support_staff.ticket", number=ticket.number))
    db.session.commit()
    return _render_ticket(ticket, reply_form=form, kept=kept), 400


@routes.post("/tickets/<number>/link")
@staff_required
def new_link(number: str) -> ResponseReturnValue:
    """Correct the contact's address and send a new status link; the old one stops working."""
    ticket = _ticket_or_404(number)
    form = ContactLinkForm(prefix="link")
    if not form.validate():
        return _render_ticket(ticket, link_form=form), 400
    support.send_new_link(ticket, current_user, form.email.data)
    db.session.commit()
    flash(
        _(
            "A new link is on its way to %(email)s; the old one no longer works.",
            email=ticket.email,
        ),
        "success",
    )
    return redirect(url_for("support_staff.ticket", number=ticket.number))


@routes.post("/tickets/<number>/note")
@staff_required
def note(number: str) -> ResponseReturnValue:
    """An internal note, for staff only."""
    ticket = _ticket_or_404(number)
    form = NoteForm()
    if not form.validate():
        return _render_ticket(ticket, note_form=form), 400
    support.add_note(ticket, current_user, form.note.data, [])
    db.session.commit()
    flash(_("The note was saved."), "success")
    return redirect(url_for("support_staff.ticket", number=ticket.number))


@routes.get("/tickets/<number>/attachments/<id:attachment_id>")
@staff_required
def attachment(number: str, attachment_id: int) -> ResponseReturnValue:
    return send_attachment(_ticket_or_404(number), attachment_id, staff=True)


# ---------------------------------------------------------------- applications


@routes.get("/applications")
@staff_required
def applications() -> ResponseReturnValue:
    """Sovellus and Alisovellus lists of the contact form."""
    rows = db.session.scalars(
        sa.select(Application)
        .options(selectinload(Application.sub_applications))
        .order_by(Application.position, Application.id)
    )
    return render_template(
        "support/staff_applications.html", applications=list(rows), language=reader_language()
    )


def _edit(record, form: ApplicationForm, heading: str, parent: Application | None = None):
    if request.method == "GET" and record.id is not None:
        form.fill(record.names)
        form.position.data = record.position
        form.active.data = record.active
    if form.validate_on_submit():
        record.names = form.names()
        record.position = form.position.data or 0
        record.active = form.active.data
        db.session.add(record)
        db.session.commit()
        flash(_("Saved: %(name)s.", name=record.names["fi"]), "success")
        return redirect(url_for("support_staff.applications"))
    return render_template(
        "support/staff_application_form.html", form=form, heading=heading, parent=parent
    )


@routes.route("/applications/new", methods=["GET", "POST"])
@staff_required
def create_application() -> ResponseReturnValue:
    return _edit(Application(names={}), ApplicationForm(), _("New application"))


@routes.route("/applications/<id:application_id>", methods=["GET", "POST"])
@staff_required
def edit_application(application_id: int) -> ResponseReturnValue:
    application = db.get_or_404(Application, application_id)
    return _edit(application, ApplicationForm(), _("Edit application"))


@routes.route("/applications/<id:application_id>/sub-applications/new", methods=["GET", "POST"])
@staff_required
def create_sub_application(application_id: int) -> ResponseReturnValue:
    application = db.get_or_404(Application, application_id)
    sub = SubApplication(application_id=application.id, names={})
    return _edit(sub, ApplicationForm(), _("New sub-application"), parent=application)


@routes.route("/sub-applications/<id:sub_id>", methods=["GET", "POST"])
@staff_required
def edit_sub_application(sub_id: int) -> ResponseReturnValue:
    sub = db.get_or_404(SubApplication, sub_id)
    return _edit(sub, ApplicationForm(), _("Edit sub-application"), parent=sub.application)


# ---------------------------------------------------------------- the staff area


def _lookup_ticket(code: str) -> list[registry.LookupHit]:
    ticket = support.by_number(code)
    if ticket is None:
        return []
    return [
        registry.LookupHit(
            _(
                "Ticket %(number)s: %(organisation)s, %(type)s",
                number=ticket.number,
                organisation=ticket.organisation.name,
                type=support.TYPE_LABELS[ticket.type],
            ),
            url_for("support_staff.ticket", number=ticket.number),
        )
    ]


def _ticket_link(record_id: str) -> registry.LookupHit | None:
    ticket = db.session.get(Ticket, int(record_id)) if record_id.isdigit() else None
    if ticket is None:
        return None
    return registry.LookupHit(ticket.number, url_for("support_staff.ticket", number=ticket.number))


def setup_app(app: Flask) -> None:
    registry.register_staff_section(app, _l("Tickets"), "support_staff.queue")
    registry.register_lookup(app, _lookup_ticket)
    registry.register_record_link(app, "ticket", _ticket_link)
