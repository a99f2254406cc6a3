"""The helpdesk's teams: the customer service, and the maintenance team of each
application, which gets the application's new tickets; staff keep their members."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from wtforms import SelectChoice

from access import staff_required
from blueprints.shared import Routes
from blueprints.support.common import reader_language
from extensions import db
from forms.support import TeamForm
from models.support import Application, Team, TeamKind
from services import support_desk

routes = Routes()


@routes.get("/teams")
@staff_required
def teams() -> ResponseReturnValue:
    """The teams with their applications and members."""
    return render_template(
        "support/staff_teams.html",
        teams=support_desk.teams(active_only=False),
        language=reader_language(),
    )


def _choices(form: TeamForm, team: Team) -> None:
    language = reader_language()
    form.kind.choices = [
        SelectChoice(TeamKind.CUSTOMER_SERVICE.value, _("Customer service")),
        SelectChoice(TeamKind.MAINTENANCE.value, _("Application maintenance")),
    ]
    taken = sa.select(Team.application_id).where(
        Team.application_id.is_not(None), Team.id != (team.id or 0)
    )
    free = db.session.scalars(
        sa.select(Application)
        .where(Application.id.not_in(taken))
        .order_by(Application.position, Application.id)
    )
    form.application.choices = [SelectChoice("", _("None"))] + [
        SelectChoice(str(a.id), a.name(language)) for a in free
    ]
    form.members.choices = [(user.id, user.name) for user in support_desk.staff_users()]


def _edit(team: Team, heading: str) -> ResponseReturnValue:
    form = TeamForm()
    _choices(form, team)
    if request.method == "GET" and team.id is not None:
        form.fill(team.names)
        form.kind.data = team.kind.value
        form.application.data = str(team.application_id or "")
        form.email.data = team.email
        form.members.data = [user.id for user in team.members]
        form.active.data = team.active
    if form.validate_on_submit():
        kind = TeamKind(form.kind.data)
        application_id = int(form.application.data) if form.application.data else None
        if kind == TeamKind.MAINTENANCE and application_id is None:
            form.application.errors = [_("Choose the application the team maintains.")]
        else:
            team.names = form.names()
            team.kind = kind
            team.application_id = application_id if kind == TeamKind.MAINTENANCE else None
            team.email = form.email.data or None
            team.active = form.active.data
            chosen = set(form.members.data or [])
            team.members = [u for u in support_desk.staff_users() if u.id in chosen]
            db.session.add(team)
            db.session.commit()
            flash(_("Saved: %(name)s.", name=team.names["fi"]), "success")
            return redirect(url_for("support_staff.teams"))
    return render_template("support/staff_team_form.html", form=form, heading=heading)


@routes.route("/teams/new", methods=["GET", "POST"])
@staff_required
def create_team() -> ResponseReturnValue:
    """A new team."""
    return _edit(Team(names={}, kind=TeamKind.MAINTENANCE, active=True), _("New team"))


@routes.route("/teams/<id:team_id>", methods=["GET", "POST"])
@staff_required
def edit_team(team_id: int) -> ResponseReturnValue:
    """A team's names, application, address and members."""
    return _edit(db.get_or_404(Team, team_id), _("Edit team"))
