"""What the invoice desk's public, staff and reminder pages share: finding the invoice
a page is about (the user's own, or any by its number for staff) and its PDF."""

from __future__ import annotations

import re
from functools import wraps

import sqlalchemy as sa
from flask import Response, abort, redirect, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from extensions import db
from models.auth import Role
from models.invoicing import SalesInvoice, SalesInvoiceEvent, SalesInvoicePayment
from services.invoicing import desk as invoicing

_DIGITS = re.compile(r"[0-9]{1,19}")


def invoicing_user_required(view):
    """The user's own invoicing pages: customers only, who have started using the service."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.role != Role.CUSTOMER:
            abort(404)
        if not current_user.invoicing_number:
            return redirect(url_for("invoicing.index"))
        return view(*args, **kwargs)

    return wrapped


def own_invoice(invoice_id: int) -> SalesInvoice:
    """One of the user's own invoices, or 404 (another user's is not known to exist)."""
    invoice = db.session.scalar(
        sa.select(SalesInvoice).where(
            SalesInvoice.id == invoice_id, SalesInvoice.user_id == current_user.id
        )
    )
    if invoice is None:
        abort(404)
    return invoice


def staff_invoice(number: str) -> SalesInvoice:
    """The invoice of the number, with what its staff page shows, or 404."""
    invoice = None
    if _DIGITS.fullmatch(number):
        invoice = db.session.scalar(
            sa.select(SalesInvoice)
            .where(SalesInvoice.number == number)
            .options(
                selectinload(SalesInvoice.lines),
                selectinload(SalesInvoice.events).joinedload(SalesInvoiceEvent.actor),
                selectinload(SalesInvoice.payments).joinedload(SalesInvoicePayment.recorded_by),
                selectinload(SalesInvoice.reminders),
                selectinload(SalesInvoice.credit_notes),
            )
        )
    if invoice is None:
        abort(404)
    return invoice


def pdf_response(invoice: SalesInvoice) -> Response:
    return Response(
        invoicing.pdf(invoice),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoicing.file_stem(invoice)}.pdf"'},
    )
