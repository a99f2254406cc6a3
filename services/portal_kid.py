"""KID (kundeidentifikasjon): the payment reference of the customer portal's invoices,
found by the search box and the staff look-up (the arithmetic is `services.kid`).

A Norwegian payer types the KID from the invoice into the bank; the bank checks its
control digit and reports the payment with it. The control digit is MOD10 (Luhn) or
MOD11, whichever the seller agreed with the bank (`PORTAL_KID_ALGORITHM`), and the
agreement may fix the length (`PORTAL_KID_LENGTH`).

Ours: the invoice number's digits, zero-padded in front to the length less one, then
the control digit. The invoice number is unique, so the KID names one invoice:
2017-118350 → 2017118350 + 3 → 20171183503 (MOD10, 11 digits).

MOD10 is python-stdnum's Luhn. MOD11 (weights 2, 3, 4, 5, 6, 7, 2, … from the right; the
control digit is 11 − the sum mod 11, 11 becomes 0) has no KID module in python-stdnum
2.2; it is the same rule as `stdnum.no.kontonr`'s, which the tests use to check ours.
When MOD11 gives 10, the control "digit" is "-", as the banks' KID specification says.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, url_for
from flask_babel import gettext as _

from extensions import db
from models.portal import CustomerInvoice
from services import registry
from services.kid import (  # noqa: F401  (the KID's arithmetic, where it was first)
    _KID,
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    DEFAULT_LENGTH,
    MAX_LENGTH,
    MIN_LENGTH,
    InvalidKid,
    check_digit,
    compact,
    for_invoice,
    is_valid,
    make,
    mod10_check_digit,
    mod11_check_digit,
    settings,
)


def number_or_kid(text: str) -> sa.ColumnElement[bool]:
    """The condition of the invoice list's search box: the invoice number, or its KID as
    printed (spaces ignored). Both columns are uniquely indexed."""
    text = text.strip()
    kid = compact(text)
    if _KID.fullmatch(kid):
        return sa.or_(CustomerInvoice.number == text, CustomerInvoice.reference == kid)
    return CustomerInvoice.number == text


def by_kid(text: str) -> CustomerInvoice | None:
    """The invoice whose KID this is (through its unique index), or None."""
    kid = compact(text)
    if not _KID.fullmatch(kid):
        return None
    return db.session.scalar(sa.select(CustomerInvoice).where(CustomerInvoice.reference == kid))


def staff_lookup(code: str) -> list[registry.LookupHit]:
    """The staff look-up: the customer invoice a pasted KID belongs to."""
    invoice = by_kid(code)
    if invoice is None or invoice.number == code.strip():  # the number's own look-up has it
        return []
    return [
        registry.LookupHit(
            _(
                "Invoice %(number)s (KID %(kid)s): %(payer)s",
                number=invoice.number,
                kid=invoice.reference,
                payer=invoice.payer,
            ),
            url_for("portal_staff.invoices", company=invoice.organisation_id),
        )
    ]


def setup_app(app: Flask) -> None:
    """Let the staff look-up find customer invoices by KID."""
    registry.register_lookup(app, staff_lookup)
