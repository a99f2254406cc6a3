"""The local stand-ins for the outside services the portal talks to, which are out of
reach in development and tests: each plays the other side over real HTTP by the
service's published rules.

- `payment_service`: the payment service's channel interface and its bank pages;
- `print_service`: the print service that posts paper invoices;
- `einvoice_operator`: the e-invoice operator that takes Finvoice messages;
- `handi_buyer`: a procurement system (Handi) that punches out to the training calendar;
- `bank`: the service's bank, which reports incoming reference payments as camt.054 files.

Each is a package built the same way: `views.py` holds its pages and API, `templates/`
beside it, and its `__init__.py` declares one `Sandbox` (`mount.py`): the blueprint, the
switch that mounts it, and the setting that names the real service, beside which it is
never mounted. Their pages are a third party's: plain English, not translated.
"""

from __future__ import annotations

from flask import Flask

from sandboxes import bank, einvoice_operator, handi_buyer, payment_service, print_service


def register(app: Flask) -> None:
    """Mount each sandbox whose switch is on and whose real service is not configured."""
    for package in (handi_buyer, print_service, einvoice_operator, payment_service, bank):
        package.SANDBOX.mount(app)
