"""The staff's canned replies (valmisvastaukset): texts in each language that a reply to
a ticket starts from, with the ticket's fields filled in (services.support_canned)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from access import staff_required
from blueprints.shared import Routes
from blueprints.support.common import reader_language
from extensions import db
from forms.support import CannedReplyForm
from models.support import CannedReply
from paging import paginate
from services import support_canned

routes = Routes()

PER_PAGE = 50


@routes.get("/canned")
@staff_required
def canned_replies() -> ResponseReturnValue:
    """List the canned replies in their order."""
    page = paginate(sa.select(CannedReply), (CannedReply.position, CannedReply.id), PER_PAGE)
    return render_template("support/staff_canned.html", page=page, language=reader_language())


def _edit(record: CannedReply, form: CannedReplyForm, heading: str) -> ResponseReturnValue:
    if request.method == "GET" and record.id is not None:
        form.fill(record)
    if form.validate_on_submit():
        record.titles = form.titles()
        record.bodies = form.bodies()
        record.position = form.position.data or 0
        record.active = form.active.data
        db.session.add(record)
        db.session.commit()
        flash(_("Saved: %(name)s.", name=record.titles["fi"]), "success")
        return redirect(url_for("support_staff.canned_replies"))
    return render_template(
        "support/staff_canned_form.html",
        form=form,
        heading=heading,
        fields=support_canned.FIELDS,
    )


@routes.route("/canned/new", methods=["GET", "POST"])
@staff_required
def create_canned_reply() -> ResponseReturnValue:
    """Write a new canned reply."""
    return _edit(CannedReply(titles={}, bodies={}), CannedReplyForm(), _("New canned reply"))


@routes.route("/canned/<id:canned_id>", methods=["GET", "POST"])
@staff_required
def edit_canned_reply(canned_id: int) -> ResponseReturnValue:
    """Change a canned reply, or take it out of use."""
    canned = db.get_or_404(CannedReply, canned_id)
    return _edit(canned, CannedReplyForm(), _("Edit canned reply"))
