"""The e-invoice operator sandbox, under /sandbox/einvoice: takes Finvoice messages in
their SOAP frame as an operator does, and shows them to staff."""

from __future__ import annotations

from flask import Blueprint

from sandboxes.einvoice_operator import views
from sandboxes.mount import Sandbox

SANDBOX = Sandbox(
    views.routes.register(
        Blueprint(
            "operator_sandbox",
            __name__,
            url_prefix="/sandbox/einvoice",
            template_folder="templates",
        )
    ),
    switch="INVOICE_SANDBOX",
    real_service="EINVOICE_OPERATOR_URL",
)
