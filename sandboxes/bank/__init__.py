"""The bank sandbox, under /sandbox/bank: the service's bank, whose side is files. It
writes camt.054 reports of incoming reference payments for the open invoices, for staff
to import at the invoice desk. The real bank delivers its files through a bank
connection instead, so no real-service setting keeps it out: INVOICE_SANDBOX does."""

from __future__ import annotations

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from sandboxes.bank import views
from sandboxes.mount import Sandbox

SANDBOX = Sandbox(
    views.routes.register(
        Blueprint("bank_sandbox", __name__, url_prefix="/sandbox/bank", template_folder="templates")
    ),
    switch="INVOICE_SANDBOX",
    real_service=None,
    staff_section=(_l("Bank sandbox"), "bank_sandbox.index"),
)
