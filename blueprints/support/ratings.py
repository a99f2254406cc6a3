"""The customer's one-click rating behind the links of the resolution mail, and the staff's
report of the ratings and targets per month and team."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_decimal, format_percent
from flask_babel import gettext as _

from access import staff_required
from blueprints.shared import Routes
from blueprints.support.common import reader_language
from extensions import db
from forms.support import RatingCommentForm
from models.support import Rating, Ticket
from services import support_ratings

public_routes = Routes()
staff_routes = Routes()

REPORT_MONTHS = 12


def _private(response) -> ResponseReturnValue:
    """The link is the key: keep the page out of caches and of other sites' Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _others(ticket: Ticket, rating: Rating) -> list[dict]:
    """The links that change the rating to one of the other values."""
    return [
        {
            "value": value,
            "label": support_ratings.RATING_LABELS[value],
            "path": url_for(
                "support.rate",
                number=ticket.number,
                value=int(value),
                signature=support_ratings.rating_signature(ticket, value),
            ),
        }
        for value in support_ratings.RATINGS
        if value != rating
    ]


@public_routes.route("/rate/<number>/<int:value>/<signature>", methods=["GET", "POST"])
def rate(number: str, value: int, signature: str) -> ResponseReturnValue:
    """Record the rating a link of the resolution mail gives, and take a comment on it."""
    ticket = support_ratings.ticket_by_rating_link(number, value, signature)
    if ticket is None:
        abort(404)
    rating = Rating(value)
    if not support_ratings.can_rate(ticket):
        page = render_template("support/rate.html", ticket=ticket, rating=None, form=None)
        return _private(current_app.make_response((page, 409)))
    form = RatingCommentForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            comment = (form.comment.data or "").strip() or None  # empty: keep the one given
            support_ratings.record(ticket, rating, comment)
            db.session.commit()
            if comment:
                flash(_("Thank you: your comment was saved."), "success")
            return redirect(request.path, 303)
        status = 400
    elif request.method == "GET":  # a HEAD (a link checker's) changes nothing
        support_ratings.record(ticket, rating)
        db.session.commit()
    page = render_template(
        "support/rate.html",
        ticket=ticket,
        rating=rating,
        label=support_ratings.RATING_LABELS[rating],
        others=_others(ticket, rating),
        form=form,
        commented=bool(ticket.rating_comment),
    )
    return _private(current_app.make_response((page, status)))


@staff_routes.get("/reports")
@staff_required
def reports() -> ResponseReturnValue:
    """Show the ratings and the targets met per month and team over the last year."""
    rows = support_ratings.report(REPORT_MONTHS)
    return render_template(
        "support/staff_reports.html",
        rows=rows[:-1],
        total=rows[-1],
        months=REPORT_MONTHS,
        language=reader_language(),
        number=format_decimal,
        percent=lambda share: "–" if share is None else format_percent(share),
        month_name=lambda day: format_date(day, "LLLL y"),
    )
