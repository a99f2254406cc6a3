"""The Handi buyer sandbox, under /punchout/sandbox: a procurement system that punches
out to the training calendar over real HTTP and receives the cart. It plays a buyer, not
a service the portal calls, so no real-service setting keeps it out."""

from __future__ import annotations

from flask import Blueprint
from flask_babel import lazy_gettext as _l

from sandboxes.handi_buyer import views
from sandboxes.mount import Sandbox

SANDBOX = Sandbox(
    views.routes.register(
        Blueprint(
            "punchout_sandbox",
            __name__,
            url_prefix="/punchout/sandbox",
            template_folder="templates",
        )
    ),
    switch="PUNCHOUT_SANDBOX",
    real_service=None,
    staff_section=(_l("Handi sandbox"), "punchout_sandbox.sandbox"),
)
