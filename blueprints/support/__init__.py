"""The contact form (Yhteydenotto) and tickets: the form and the organisation's tickets
under /support, and the staff's queue under /staff/support."""

from __future__ import annotations

from blueprints.support.public import bp, setup_app
from blueprints.support.staff import staff_bp

__all__ = ["bp", "setup_app", "staff_bp"]
