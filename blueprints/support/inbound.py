"""The staff's review of the mails that reached the support address but went into no
ticket by themselves: a stranger's mail about a ticket (not its customer or a colleague of
theirs) and mail that could not be read. Staff read each and add it to its ticket or
throw it away (services.support_mail)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from access import staff_required
from blueprints.shared import Routes
from extensions import db
from forms.staff import ActionForm
from models.support import InboundMail
from paging import paginate
from services import support_mail

routes = Routes()

PER_PAGE = 25


@routes.get("/inbound")
@staff_required
def inbound() -> ResponseReturnValue:
    """The mails waiting for staff, the oldest first."""
    page = paginate(support_mail.waiting(), (InboundMail.received_at, InboundMail.id), PER_PAGE)
    return render_template("support/staff_inbound.html", page=page)


def _mail_or_404(mail_id: int) -> InboundMail:
    mail = db.session.get(InboundMail, mail_id)
    if mail is None:
        abort(404)
    return mail


@routes.get("/inbound/<id:mail_id>")
@staff_required
def inbound_mail(mail_id: int) -> ResponseReturnValue:
    """One mail as it came, its text without the quoted history, and what to do with it."""
    mail = _mail_or_404(mail_id)
    return render_template(
        "support/staff_inbound_mail.html",
        mail=mail,
        text=support_mail.text_of(mail),
        action_form=ActionForm(),
    )


@routes.post("/inbound/<id:mail_id>/add")
@staff_required
def add_inbound(mail_id: int) -> ResponseReturnValue:
    """Add the mail to its ticket as the customer's message."""
    mail = _mail_or_404(mail_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        written = support_mail.accept(mail)
    except support_mail.NotWaiting:
        db.session.rollback()
        flash(_("The mail was already dealt with."), "info")
        return redirect(url_for("support_staff.inbound"), 303)
    db.session.commit()
    flash(_("The mail was added to ticket %(number)s.", number=written.ticket.number), "success")
    return redirect(url_for("support_staff.ticket", number=written.ticket.number), 303)


@routes.post("/inbound/<id:mail_id>/discard")
@staff_required
def discard_inbound(mail_id: int) -> ResponseReturnValue:
    """Throw the mail away: it goes into no ticket."""
    mail = _mail_or_404(mail_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        support_mail.discard(mail)
    except support_mail.NotWaiting:
        db.session.rollback()
        flash(_("The mail was already dealt with."), "info")
    else:
        db.session.commit()
        flash(_("The mail was thrown away."), "success")
    return redirect(url_for("support_staff.inbound"), 303)
