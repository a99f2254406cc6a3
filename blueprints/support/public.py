"""The contact form, the organisation's tickets, and the status page behind the mailed link."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import (
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload
from wtforms import SelectChoice

from access import scoped
from blueprints.shared import Routes
from blueprints.support.common import (
    APPLICATION_OF_PART,
    already_sent,
    collect_images,
    reader_language,
    send_attachment,
)
from extensions import db, limiter, on_post
from forms.support import ContactForm, TicketListFilterForm, TicketMessageForm, type_choices
from fragments import cached_content, content_key
from models.support import (
    CUSTOMER_VISIBLE,
    OPEN_STATUSES,
    EntryKind,
    Ticket,
    TicketAttachment,
    TicketEntry,
    TicketStatus,
    TicketType,
    Urgency,
)
from models.types import one_of
from paging import paginate
from services import support, support_ratings

routes = Routes()


# ---------------------------------------------------------------- images on forms


def _throttle() -> str:
    return current_app.config["SUPPORT_THROTTLE"]


def _sender_key() -> str:
    """Whose sending is counted: the user's, or the address's when not logged in."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"address:{request.remote_addr}"


# Contacts, messages and images sent: a flood fills neither the disk nor mailboxes.
_send_limit = on_post(
    limiter.shared_limit(_throttle, scope="support-send", key_func=_sender_key, methods=["POST"])
)


def _owner() -> str:
    return f"user:{current_user.id}"


# ---------------------------------------------------------------- the form


def _application_choices(
    form: ContactForm, applications: tuple[support.Offered, ...], language: str
) -> dict[str, support.Offered]:
    """Offer the active applications and the chosen one's sub-applications; returns the
    applications by id."""
    form.application.choices = [SelectChoice("", _("Choose the application"))] + [
        SelectChoice(str(a.id), a.name(language)) for a in applications
    ]
    by_id = {str(a.id): a for a in applications}
    chosen = by_id.get(form.application.data or "")
    form.sub_application.choices = [SelectChoice("", _("None"))] + [
        SelectChoice(str(s.id), s.name(language)) for s in (chosen.subs if chosen else ())
    ]
    return by_id


def _sub_application_lists(applications: dict[str, support.Offered], language: str) -> str:
    """For the script that changes the sub-application list without a round trip."""
    return json.dumps(
        {key: [[str(s.id), s.name(language)] for s in a.subs] for key, a in applications.items()}
    )


def _prefill(form: ContactForm, applications: tuple[support.Offered, ...]) -> None:
    """Fill in what the link the form was opened from names: `app` (an application's key,
    or a part's name as older links give it), `sub` (a sub-application of it, by its id or
    by its name in any language), `ref` (the target reference) and `type`. What the user
    could have typed is checked as if typed; anything unknown or refused is left out, so
    a changed or stale link opens the form as it is, never an error. The reference is only
    text in the form: nothing is looked up by it here (whether the user may see what it
    names is no matter: staff match it against the user's organisation on sending)."""
    form.email.data = current_user.email
    part = request.args.get("app", "")
    key = APPLICATION_OF_PART.get(part, part)
    application = next((a for a in applications if key and a.part == key), None)
    if application is not None:
        form.application.data = str(application.id)
        sub = _named_sub(application, request.args.get("sub", ""))
        if sub is not None:
            form.sub_application.data = str(sub.id)
    reference = request.args.get("ref", "").strip()
    if reference:
        field = form.target_reference
        field.data = reference
        if not field.validate(form):  # too long, control characters: as the form refuses
            field.data, field.errors = None, []
    kind = request.args.get("type", "")
    if kind in {t.value for t in TicketType}:
        form.type.data = kind


def _named_sub(application: support.Offered, wanted: str) -> support.Offered | None:
    """The application's sub-application a link names: by its id, or by a name of it in
    any language (e.g. "Raportti" or "Report"; staff may rename the others)."""
    wanted = wanted.strip().casefold()
    if not wanted or len(wanted) > 100:
        return None
    for sub in application.subs:
        if wanted == str(sub.id) or wanted in {n.casefold() for n in sub.names.values() if n}:
            return sub
    return None


@routes.route("/new", methods=["GET", "POST"])
@login_required
@_send_limit
def new() -> ResponseReturnValue:
    """Yhteydenotto: send a contact to customer service; it becomes a ticket."""
    key = content_key(tables=support.CONTACT_FORM_TABLES)
    if kept_page := cached_content(key):
        return render_template("support/new.html", kept_page=kept_page)
    organisation = current_user.organisation
    form = ContactForm()
    language = reader_language()
    form.type.choices = type_choices(_("Choose the type"))
    form.urgency.choices = [SelectChoice(u.value, support.URGENCY_LABELS[u]) for u in Urgency]
    offered = support.offered_applications()
    if request.method == "GET":
        _prefill(form, offered)
    applications = _application_choices(form, offered, language)
    kept: list[TicketAttachment] = []
    if organisation is None:
        return render_template("support/new.html", form=form, organisation=None, content_key=key)
    if request.method == "POST":
        refreshing = "refresh" in request.form  # the sub-application list, without script
        valid = not refreshing and form.validate()
        kept = collect_images(form.screenshots, _owner())
        if valid and not form.screenshots.errors:
            application = applications[form.application.data]  # as offered: no query
            chosen = form.sub_application.data
            sub = next((s for s in application.subs if str(s.id) == chosen), None)
            contact = support.Contact(
                type=TicketType(form.type.data),
                urgency=Urgency(form.urgency.data),
                email=form.email.data,
                application=application,
                sub_application=sub,
                target_reference=form.target_reference.data or None,
                message=form.message.data,
            )
            try:
                ticket = support.create_ticket(current_user, contact, kept, language)
            except support.AlreadySent:
                return already_sent(url_for("support.index"))
            number = ticket.number  # read before the commit expires it
            db.session.commit()
            return redirect(url_for("support.sent", number=number))
        db.session.commit()  # the accepted images wait for the next try
    chosen_type = form.type.data if form.type.data in set(TicketType) else None
    guidance = support.TYPE_GUIDANCE[TicketType(chosen_type)] if chosen_type else None
    return render_template(
        "support/new.html",
        form=form,
        organisation=organisation,
        kept=kept,
        guidance=guidance,
        sub_applications=_sub_application_lists(applications, language),
        content_key=key,
    )


# ---------------------------------------------------------------- the organisation's tickets


def _own_tickets() -> sa.Select:
    """The tickets of the organisation the user is logged in to (staff too: their own)."""
    return scoped(Ticket).where(Ticket.organisation_id == current_user.organisation_id)


def _own_ticket_or_404(number: str) -> Ticket:
    normalised = support.normalise_number(number)
    ticket = normalised and db.session.scalar(_own_tickets().where(Ticket.number == normalised))
    if not ticket:
        abort(404)
    return ticket


OWN_ORDER = (Ticket.created_at.desc(), Ticket.id.desc())


def own_search() -> tuple[TicketListFilterForm, sa.Select, str]:
    """The ticket list's filters of the query, the organisation's tickets they leave and
    the text searched for; the list and its export both read them."""
    form = TicketListFilterForm(formdata=request.args)
    form.status.choices = [
        SelectChoice("", _("All")),
        SelectChoice("open", _("Open")),
    ] + [SelectChoice(s.value, support.STATUS_LABELS[s]) for s in TicketStatus]
    stmt = _own_tickets().options(selectinload(Ticket.application))
    status = form.status.data or ""
    if status == "open":
        stmt = stmt.where(one_of(Ticket.status, OPEN_STATUSES))
    elif status in {s.value for s in TicketStatus}:
        stmt = stmt.where(Ticket.status == TicketStatus(status))
    query = (form.q.data or "").strip() if form.validate() else ""
    if query:
        number = support.normalise_number(query)
        pattern = f"%{query.lower()}%"
        stmt = stmt.where(
            sa.or_(
                Ticket.number == number if number else sa.false(),
                sa.func.lower(Ticket.target_reference).like(pattern),
                Ticket.entries.any(
                    sa.and_(
                        TicketEntry.kind == EntryKind.CUSTOMER,
                        sa.func.lower(TicketEntry.body).like(pattern),
                    )
                ),
            )
        )
    return form, stmt, query


@routes.get("/")
@login_required
def index() -> ResponseReturnValue:
    """The organisation's tickets, newest first, with their status."""
    form, stmt, query = own_search()
    page = paginate(stmt, OWN_ORDER, per_page=25)
    return render_template(
        "support/index.html", page=page, form=form, language=reader_language(), query=query
    )


@routes.get("/tickets/<number>/sent")
@login_required
def sent(number: str) -> ResponseReturnValue:
    """The confirmation page with the ticket number."""
    ticket = _own_ticket_or_404(number)
    return render_template("support/sent.html", ticket=ticket, facts=_facts(ticket))


def _facts(ticket: Ticket) -> dict:
    return support.summary(ticket, reader_language())


def _thread(ticket: Ticket) -> list[TicketEntry]:
    return [entry for entry in ticket.entries if entry.kind in CUSTOMER_VISIBLE]


def _add_message(ticket: Ticket, form: TicketMessageForm, owner: str, author):
    """Add the contact's message to the ticket (a resolved one reopens, or is followed up
    by a new ticket); the ticket it went to, or None, and the images kept meanwhile."""
    valid = form.validate()
    kept = collect_images(form.screenshots, owner)
    if valid and not form.screenshots.errors:
        try:
            written = support.customer_writes(ticket, author, form.message.data, kept)
        except support.AlreadySent:
            already_sent(None)
            return ticket, []
        db.session.commit()
        if not written.follow_up:
            flash(
                _("Your message was added to ticket %(number)s.", number=written.ticket.number),
                "success",
            )
        else:
            flash(
                _(
                    "Ticket %(old)s was resolved too long ago to reopen: your message opened "
                    "ticket %(number)s, which follows it up.",
                    old=ticket.number,
                    number=written.ticket.number,
                ),
                "success",
            )
        return written.ticket, []
    db.session.commit()
    return None, kept


def _ticket_page(ticket: Ticket, owner: str, author, attachment_url, via_link: bool):
    """The customer's view of a ticket, and the form that adds to it."""
    form = TicketMessageForm()
    kept = []
    if request.method == "POST":
        written, kept = _add_message(ticket, form, owner, author)
        if written is ticket:
            return redirect(request.path)
        if written is not None:  # a follow-up ticket: its own page
            if via_link:
                return redirect(support.status_link(written), 303)
            return redirect(url_for("support.ticket", number=written.number), 303)
    return render_template(
        "support/ticket.html",
        ticket=ticket,
        facts=_facts(ticket),
        entries=_thread(ticket),
        form=form,
        kept=kept,
        attachment_url=attachment_url,
        via_link=via_link,
        reopens=support.reopens(ticket),
        merged_into=_merged_into(ticket, via_link),
    )


def _merged_into(ticket: Ticket, via_link: bool) -> dict | None:
    """Where a merged duplicate's conversation goes on: the number and its page."""
    if ticket.merged_into_id is None:
        return None
    into = support.final(ticket)
    url = support.status_link(into) if via_link else url_for("support.ticket", number=into.number)
    return {"number": into.number, "url": url}


@routes.route("/tickets/<number>", methods=["GET", "POST"])
@login_required
@_send_limit
def ticket(number: str) -> ResponseReturnValue:
    """A ticket of the organisation: its facts, status and conversation."""
    ticket = _own_ticket_or_404(number)
    return _ticket_page(
        ticket,
        _owner(),
        current_user,
        lambda a: url_for("support.attachment", number=ticket.number, attachment_id=a.id),
        via_link=False,
    )


@routes.route("/track/<number>/<signature>", methods=["GET", "POST"])
@_send_limit
def track(number: str, signature: str) -> ResponseReturnValue:
    """The ticket's status page behind the link in its mail: no login needed."""
    ticket = support.ticket_by_link(number, signature)
    if ticket is None:
        abort(404)
    response = current_app.make_response(
        _ticket_page(
            ticket,
            f"ticket:{ticket.id}",
            current_user if current_user.is_authenticated else None,
            lambda a: url_for(
                "support.track_attachment",
                number=ticket.number,
                signature=signature,
                attachment_id=a.id,
            ),
            via_link=True,
        )
    )
    # The link is the key: keep it out of caches and of other sites' Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# ---------------------------------------------------------------- images


@routes.get("/tickets/<number>/attachments/<id:attachment_id>")
@login_required
def attachment(number: str, attachment_id: int) -> ResponseReturnValue:
    return send_attachment(_own_ticket_or_404(number), attachment_id)


@routes.get("/track/<number>/<signature>/attachments/<id:attachment_id>")
def track_attachment(number: str, signature: str, attachment_id: int) -> ResponseReturnValue:
    ticket = support.ticket_by_link(number, signature)
    if ticket is None:
        abort(404)
    return send_attachment(ticket, attachment_id)


def setup_app(app: Flask) -> None:
    app.jinja_env.globals["image_limits"] = support.image_limits
    app.jinja_env.globals["support_labels"] = {
        "type": support.TYPE_LABELS,
        "status": support.STATUS_LABELS,
        "urgency": support.URGENCY_LABELS,
        "rating": support_ratings.RATING_LABELS,
    }
    app.jinja_env.globals["due_state"] = support.due_state
