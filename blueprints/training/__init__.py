"""The training calendar (Koulutuskalenteri): public pages under /training, and the
staff's course and participant pages under /staff/training."""

from __future__ import annotations

from blueprints.training.public import bp, setup_app
from blueprints.training.staff import staff_bp

__all__ = ["bp", "setup_app", "staff_bp"]
