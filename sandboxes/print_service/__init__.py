"""The print service sandbox, under /sandbox/print: takes print jobs (a PDF and the
recipient's address) as the print service's API does, and shows them to staff."""

from __future__ import annotations

from flask import Blueprint

from sandboxes.mount import Sandbox
from sandboxes.print_service import views

SANDBOX = Sandbox(
    views.routes.register(
        Blueprint(
            "print_sandbox", __name__, url_prefix="/sandbox/print", template_folder="templates"
        )
    ),
    switch="INVOICE_SANDBOX",
    real_service="PRINT_SERVICE_URL",
)
