"""What the support part's public and staff pages share: the images of a form, a form sent
twice, an attachment served, and which application each part of the portal stands for."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    abort,
    flash,
    redirect,
    request,
    send_file,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _

import security
from extensions import db
from models.support import (
    CUSTOMER_VISIBLE,
    EntryKind,
    Ticket,
    TicketAttachment,
    TicketEntry,
)
from services import support

# Each part of the portal, by its blueprints (the staff's too), and the key of the
# contact form's application it stands for (Application.part, as in
# services.support.DEFAULT_APPLICATIONS): the form opened from the part has it chosen.
# The one place that knows them: the header's envelope and the links that name a part
# (`?app=invoicing` of older links) both go through it.
APPLICATION_OF_PART = {
    "training": "training",
    "training_staff": "training",
    "punchout": "punchout",
    "punchout_staff": "punchout",
    "invoicing": "invoices",
    "invoicing_staff": "invoices",
    "portal": "portal",
    "portal_staff": "portal",
    "payments": "payments",
    "payments_staff": "payments",
    "support": "support",
    "support_staff": "support",
}


# Blueprints that are no part of their own (the front page, logging in, the staff area's
# home and audit, the stand-ins for outside services): the form opened there has no
# application chosen. tests/test_contact_preselect.py checks that every blueprint is in
# one of the two.
NO_APPLICATION = frozenset(
    {
        "health",
        "main",
        "auth",
        "staff",
        "audit",
        "tasks",  # the background tasks of every part
        "punchout_sandbox",
        "print_sandbox",
        "operator_sandbox",
        "payment_sandbox",
        "bank_sandbox",
    }
)


def contact_url() -> str:
    """The envelope's link: the contact form, with the application of the part the user
    is in chosen. It depends on the blueprint only: the header caches it by that."""
    application = APPLICATION_OF_PART.get(request.blueprint or "")
    return url_for("support.new", app=application)  # None: no query at all


def reader_language() -> str:
    """The language the page is shown in."""
    return str(get_locale())


def collect_images(field, owner: str) -> list[TicketAttachment]:
    """The images of a form: those kept from an earlier try plus the new uploads.

    A rejected file adds its reason to the field's errors; the others are kept,
    pending, so that a form shown again with errors does not lose them.
    """
    field.errors = list(field.errors)
    removed = set(request.form.getlist("remove"))
    kept = [
        a
        for a in support.pending_uploads(request.form.getlist("kept"), owner)
        if a.upload_key not in removed
    ]
    uploads = [f for f in (field.data or []) if getattr(f, "filename", None)]
    for upload in uploads:
        if len(kept) >= support.MAX_IMAGES:
            field.errors.append(
                _(
                    "At most %(count)s images can be attached: %(file)s was not taken.",
                    count=support.MAX_IMAGES,
                    file=upload.filename,
                )
            )
            continue
        try:
            kept.append(support.store_upload(upload, owner))
        except support.UploadRejected as exc:
            field.errors.append(str(exc))
    db.session.flush()
    return kept


def already_sent(next_url: str | None):
    """The same form was sent twice at once: the first one counts, nothing is saved twice."""
    db.session.rollback()
    flash(_("The form was already sent: it was not saved a second time."), "info")
    return redirect(next_url) if next_url else None


def send_attachment(ticket: Ticket, attachment_id: int, *, staff: bool = False):
    """Serve a ticket's image; a customer never gets one of an internal note."""
    kinds = list(EntryKind) if staff else list(CUSTOMER_VISIBLE)
    attachment = db.session.scalar(
        sa.select(TicketAttachment)
        .join(TicketAttachment.entry)
        .where(
            TicketAttachment.id == attachment_id,
            TicketEntry.ticket_id == ticket.id,
            TicketEntry.kind.in_(kinds),
        )
    )
    if attachment is None:
        abort(404)
    path = support.attachment_path(attachment)
    if not path.is_file():
        abort(404)
    response = send_file(
        path,
        mimetype=attachment.content_type,
        download_name=attachment.filename,
        as_attachment=request.args.get("download") == "1",
        conditional=True,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    security.show_inert(security.ATTACHMENT_POLICY)
    return response
