"""The staff's dashboards: training, the invoice desk, tickets and payments, each chart
with its figures as a table (services.dashboards)."""

from __future__ import annotations

from flask import render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import get_locale

from access import staff_required
from blueprints.shared import Routes
from services import dashboards

routes = Routes()


@routes.get("/dashboards")
@staff_required
def dashboards_page() -> ResponseReturnValue:
    """Fill rates and enrolments, the desk's days, open tickets, payments."""
    charts = {
        "fill": dashboards.course_fill(),
        "weeks": dashboards.enrolments_per_week(),
        "desk": dashboards.desk_days(),
        "tickets": dashboards.open_tickets_by_team(str(get_locale())),
        "payments": dashboards.payments_per_day(),
    }
    return render_template(
        "staff/dashboards.html",
        charts=charts,
        course_url=lambda course_id: url_for(
            "training_staff.participants", course_id=int(course_id)
        ),
    )
