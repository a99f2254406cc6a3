"""The company customer portal (Kundeportal): the customers' tabs under /portal, the
staff's pages under /staff/portal."""

from __future__ import annotations

from blueprints.portal.public import bp, setup_app
from blueprints.portal.staff import staff_bp

__all__ = ["bp", "setup_app", "staff_bp"]
