"""The one way a sandbox is mounted: only when its switch is on, never beside the real
service it stands in for."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Flask
from flask_babel import LazyString

from services import registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sandbox:
    """A stand-in for an outside service, as its package declares it."""

    blueprint: Blueprint
    switch: str  # the setting that mounts it (on by default outside production)
    real_service: str | None  # the setting naming the real service: then it stays out
    staff_section: tuple[LazyString, str] | None = None  # its link in the staff area
    on_mount: Callable[[Flask], None] | None = None  # what else it wires when mounted

    def mount(self, app: Flask) -> bool:
        """Mount the sandbox if the configuration lets it; whether it did."""
        if not app.config.get(self.switch):
            return False
        if self.real_service and app.config.get(self.real_service):
            log.warning("%s is ignored: %s names the real service", self.switch, self.real_service)
            return False
        app.register_blueprint(self.blueprint)
        if self.staff_section:
            registry.register_staff_section(app, *self.staff_section)
        if self.on_mount:
            self.on_mount(app)
        return True
