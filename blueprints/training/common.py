"""What the training calendar's public pages share: the throttle of everything that
takes a service code (the look-up, cancelling, a calendar link), counted together."""

from __future__ import annotations

from flask import current_app, request

from extensions import limiter


def _service_code_throttle() -> str:
    return current_app.config["SERVICE_CODE_THROTTLE"]


def _client_network() -> str:
    """The client's address; an IPv6 client by its /64, which one person usually has."""
    address = request.remote_addr or ""
    if ":" in address:
        return ":".join(address.split(":")[:4]) + "::/64"
    return address


# Each of them would tell whether a code exists: they count together.
service_code_limit = limiter.shared_limit(
    _service_code_throttle, scope="service-code", key_func=_client_network
)
