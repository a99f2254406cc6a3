"""The payment service sandbox, under /sandbox/payment: the channel interface's payment
form, the bank pages a payer sees, and the return, cancel and notify calls back.

It signs with the channel's secret, so beside a real service it would hand out payments
nobody made: it stays out when PAYMENT_SERVICE_URL names the real one."""

from __future__ import annotations

from flask import Blueprint, Flask

from sandboxes.mount import Sandbox
from sandboxes.payment_service import views


def _wire(app: Flask) -> None:
    # The job that calls the notifies a payer chose to delay (`flask jobs`).
    app.extensions["payment_sandbox"] = views


SANDBOX = Sandbox(
    views.routes.register(
        Blueprint(
            "payment_sandbox", __name__, url_prefix="/sandbox/payment", template_folder="templates"
        )
    ),
    switch="PAYMENT_SANDBOX",
    real_service="PAYMENT_SERVICE_URL",
    on_mount=_wire,
)
