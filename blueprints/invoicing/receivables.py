"""Receivables at a glance: the ageing of what the payers owe (not due, 1–30, 31–60,
61–90, over 90 days past due) as a chart, a table and a CSV download, for staff under
/staff/invoices/ageing (every user, or one by invoicing number) and for each invoicing
user under /invoices/receivables (their own)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from access import staff_required
from blueprints.invoicing.public import invoicing_user_required
from blueprints.shared import Routes
from extensions import db
from forms.invoicing import AgeingFilterForm
from models.auth import User
from services.invoicing import ageing
from services.spreadsheet import csv_response

staff_routes = Routes()  # on the staff's desk, /staff/invoices
user_routes = Routes()  # on the user's own pages, /invoices

BUCKET_LABELS = {
    "not_due": _l("Not due"),
    "1-30": _l("1–30 days past due"),
    "31-60": _l("31–60 days past due"),
    "61-90": _l("61–90 days past due"),
    "over-90": _l("Over 90 days past due"),
}


def _page(template: str, figures: ageing.Ageing | None, csv_url: str | None, **context):
    return render_template(
        template, ageing=figures, labels=BUCKET_LABELS, csv_url=csv_url, **context
    )


def _csv(figures: ageing.Ageing, name: str) -> ResponseReturnValue:
    """The figures as the page's table has them. UTF-8 with its mark and semicolons
    (services.spreadsheet); amounts without grouping or currency, with the decimal sign
    of the user's language (a comma in Finnish), so that Excel reads them as numbers."""

    def amount(value) -> str:
        return format_decimal(value, format="0.00")

    rows = [[BUCKET_LABELS[b.key], b.count, amount(b.amount)] for b in figures.buckets]
    rows.append([_("Total"), figures.count, amount(figures.outstanding)])
    rows.append([_("Of which overdue"), figures.overdue_count, amount(figures.overdue)])
    return csv_response(
        f"saatavien-ikajakauma-{name}{figures.day.isoformat()}.csv",
        [_("Days past due"), _("Invoices"), _("Outstanding (EUR)")],
        rows,
    )


def _staff_scope() -> tuple[AgeingFilterForm, User | None, bool]:
    """The staff's filter: the form, the user it names (if any), whether it is usable."""
    form = AgeingFilterForm(formdata=request.args if request.args else None)
    number = (form.user_number.data or "").strip()
    if not number:
        return form, None, True
    if not form.validate():
        return form, None, False
    user = db.session.scalar(sa.select(User).where(User.invoicing_number == number))
    if user is None:
        form.user_number.errors = [
            *form.user_number.errors,
            _("No user has the invoicing number %(number)s.", number=number),
        ]
        return form, None, False
    return form, user, True


@staff_routes.get("/ageing")
@staff_required
def ageing_report() -> ResponseReturnValue:
    """The ageing of every user's receivables, or of one user's by invoicing number."""
    form, user, usable = _staff_scope()
    figures = ageing.ageing(user_id=user.id if user else None) if usable else None
    args = {"user_number": user.invoicing_number} if user else {}
    return _page(
        "invoicing/staff_ageing.html",
        figures,
        url_for("invoicing_staff.ageing_csv", **args) if usable else None,
        form=form,
        user=user,
    )


@staff_routes.get("/ageing.csv")
@staff_required
def ageing_csv() -> ResponseReturnValue:
    """The staff's ageing as CSV (the filter as on the page; a bad one is not found)."""
    form, user, usable = _staff_scope()
    if not usable:
        abort(404)
    figures = ageing.ageing(user_id=user.id if user else None)
    return _csv(figures, f"{user.invoicing_number}-" if user else "")


@user_routes.get("/receivables")
@invoicing_user_required
def receivables() -> ResponseReturnValue:
    """The user's own receivables by days past due."""
    return _page(
        "invoicing/receivables.html",
        ageing.ageing(user_id=current_user.id),
        url_for("invoicing.receivables_csv"),
    )


@user_routes.get("/receivables.csv")
@invoicing_user_required
def receivables_csv() -> ResponseReturnValue:
    """The user's own ageing as CSV."""
    return _csv(ageing.ageing(user_id=current_user.id), f"{current_user.invoicing_number}-")
