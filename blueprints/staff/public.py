"""The staff area: navigation of the parts, the code look-up and the mail outbox."""

from __future__ import annotations

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
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import defer

import security
from access import staff_required
from blueprints.shared import Routes
from extensions import db
from forms.staff import ActionForm, LookupForm
from models.mail import MailStatus, OutboxMessage
from paging import capped_counts, paginate
from services import exports, outbox, registry
from services.exports import Column

routes = Routes()

_PASSWORD_LINK = _l(
    "This message carries a personal link for choosing a password and is not shown here."
)
# What the personal link of a message whose body staff may not read opens, per mail
# template: each names its own link (a booking's is the self-declaration, no password).
HIDDEN_LINKS = {
    "auth_password_reset": _PASSWORD_LINK,
    "auth_invitation": _PASSWORD_LINK,
    "portal_booking_placed": _l(
        "This message carries the employee's personal link to the electronic "
        "self-declaration form and is not shown here."
    ),
}
HIDDEN_LINK = _l("This message carries a personal link and is not shown here.")


@routes.get("/")
@staff_required
def index() -> ResponseReturnValue:
    """Show the staff area's front page with the look-up box."""
    counts = capped_counts(
        {
            status.value: sa.select(OutboxMessage).where(OutboxMessage.status == status)
            for status in (MailStatus.QUEUED, MailStatus.FAILED, MailStatus.CAPTURED)
        }
    )
    return render_template("staff/index.html", form=LookupForm(), mail_counts=counts)


@routes.get("/lookup")
@staff_required
def lookup() -> ResponseReturnValue:
    """Find the record a pasted code belongs to and go there."""
    form = LookupForm(formdata=request.args)
    hits = []
    if form.validate():
        hits = registry.find(current_app, form.code.data)
        if len(hits) == 1:
            return redirect(hits[0].url)
        if not hits:
            form.code.errors.append(_("Nothing was found with this code."))
    return render_template("staff/lookup.html", form=form, hits=hits)


@routes.get("/mail")
@staff_required
def mail() -> ResponseReturnValue:
    """List the outbox, newest first, optionally by status."""
    status, stmt = _outbox()
    page = paginate(stmt, MAIL_ORDER, per_page=50)
    return render_template(
        "staff/mail.html", page=page, status=status, statuses=list(MailStatus), form=ActionForm()
    )


MAIL_ORDER = (OutboxMessage.id.desc(),)


def _outbox() -> tuple[str, sa.Select]:
    """The status asked for ("" for all) and the outbox's messages of it, without their
    bodies and context, which neither the list nor its export shows."""
    status = request.args.get("status", "")
    stmt = sa.select(OutboxMessage).options(
        defer(OutboxMessage.body_text), defer(OutboxMessage.body_html), defer(OutboxMessage.context)
    )
    if status in {s.value for s in MailStatus}:
        stmt = stmt.where(OutboxMessage.status == MailStatus(status))
    else:
        status = ""
    return status, stmt


def _mail_status_labels() -> dict[str, str]:
    return {
        MailStatus.QUEUED: _("Queued"),
        MailStatus.SENDING: _("Sending"),
        MailStatus.SENT: _("Sent"),
        MailStatus.CAPTURED: _("Captured"),
        MailStatus.FAILED: _("Failed"),
    }


@routes.get("/mail/export.<any(csv, xlsx):fmt>")
@staff_required
def mail_export(fmt: str) -> ResponseReturnValue:
    """Download the outbox's list (by the status chosen), newest first, as CSV or Excel."""
    _status, stmt = _outbox()
    labels = _mail_status_labels()
    columns = (
        Column(_l("Created"), lambda m: m.created_at, "datetime"),
        Column(_l("Recipients"), lambda m: ", ".join(m.recipients or [])),
        Column(_l("Subject"), lambda m: m.subject),
        Column(_l("Status"), lambda m: labels[m.status]),
        Column(_l("Attempts"), lambda m: m.attempts, "int"),
        Column(_l("Last error"), lambda m: m.last_error or ""),
    )
    return exports.export_response(
        fmt,
        "outbox",
        columns,
        exports.iterate(stmt, MAIL_ORDER),
        personal=True,
        what="staff.mail",
    )


def _body_visible(message: OutboxMessage) -> bool:
    # A personal secret (a password link, a self-declaration link) would let staff act
    # as its owner: only admins read it, and only while mail is captured (no mail
    # leaves the machine).
    if not message.sensitive:
        return True
    return current_user.is_admin and not current_app.config.get("MAIL_SERVER")


def _bodies(message: OutboxMessage) -> tuple[str, str | None]:
    # A message the worker could not write shows its error in the details instead.
    try:
        return outbox.bodies(message)
    except Exception:
        return "", None


@routes.get("/mail/<id:message_id>")
@staff_required
def mail_detail(message_id: int) -> ResponseReturnValue:
    """Show one message in full, as it was (or will be) sent."""
    message = db.get_or_404(OutboxMessage, message_id)
    record = (
        registry.record_link(current_app, message.record_type, message.record_id)
        if message.record_type
        else None
    )
    visible = _body_visible(message)
    body_text, body_html = _bodies(message) if visible else (None, None)
    return render_template(
        "staff/mail_detail.html",
        message=message,
        record=record,
        body_visible=visible,
        hidden_link=None if visible else HIDDEN_LINKS.get(message.template, HIDDEN_LINK),
        body_text=body_text,
        body_html=body_html,
        form=ActionForm(),
    )


@routes.get("/mail/<id:message_id>/html")
@staff_required
def mail_html(message_id: int) -> ResponseReturnValue:
    """Serve a message's HTML body for the sandboxed frame of the detail page."""
    message = db.get_or_404(OutboxMessage, message_id)
    if not _body_visible(message):
        abort(404)
    response = current_app.make_response(_bodies(message)[1] or "")
    response.mimetype = "text/html"
    # The mail's own styles are inline; nothing in it may run or load.
    security.show_inert(security.MAIL_HTML_POLICY)
    return response


@routes.get("/mail/<id:message_id>/attachments/<id:attachment_id>")
@staff_required
def mail_attachment(message_id: int, attachment_id: int) -> ResponseReturnValue:
    """Download an attachment of a message."""
    message = db.get_or_404(OutboxMessage, message_id)
    attachment = next((a for a in message.attachments if a.id == attachment_id), None)
    if attachment is None:
        abort(404)
    response = current_app.make_response(attachment.data)
    response.mimetype = attachment.content_type
    response.headers.set("Content-Disposition", "attachment", filename=attachment.filename)
    return response


@routes.post("/mail/<id:message_id>/retry")
@staff_required
def mail_retry(message_id: int) -> ResponseReturnValue:
    """Queue an unsent message again with fresh attempts."""
    message = db.get_or_404(OutboxMessage, message_id)
    form = ActionForm()
    if form.validate_on_submit():
        if outbox.retry(message.id):
            db.session.commit()
            flash(_("The message is queued for sending again."), "success")
        else:
            flash(_("The message is being sent or went out already."), "info")
    return redirect(url_for("staff.mail_detail", message_id=message.id), 303)


def setup_app(app: Flask) -> None:
    registry.register_staff_section(app, _l("Mail outbox"), "staff.mail")
    registry.register_staff_section(app, _l("Dashboards"), "staff.dashboards_page")
    registry.register_lookup(app, _lookup_mail)


def _lookup_mail(code: str) -> list[registry.LookupHit]:
    # An outbox message by its Message-ID, as a recipient quotes it from the headers.
    code = code.strip().strip("<>")
    if not code.startswith("outbox-"):
        return []
    ident = code.removeprefix("outbox-").split("-", 1)[0]
    if not ident.isdigit() or not 0 < int(ident) < 2**31:
        return []
    message = db.session.get(OutboxMessage, int(ident))
    if message is None:
        return []
    return [
        registry.LookupHit(
            _("Email %(id)s: %(subject)s", id=message.id, subject=message.subject),
            url_for("staff.mail_detail", message_id=message.id),
        )
    ]
