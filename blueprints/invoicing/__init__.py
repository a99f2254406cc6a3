"""The invoice desk (e-tunnus): the users' own invoicing pages under /invoices and the
staff's desk under /staff/invoices."""

from __future__ import annotations

from blueprints.invoicing.public import bp, setup_app
from blueprints.invoicing.staff import staff_bp

__all__ = ["bp", "setup_app", "staff_bp"]
