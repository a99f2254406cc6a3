"""PunchOut: the cXML and SAP OCI endpoints for procurement systems and the cart sent back
to the buyer under /punchout, and the staff's buyers and log under /staff/punchout.

The browser's PunchOut session (`session.py`) replaces the app's session interface, so
that the session cookie still reaches the portal inside a buyer's frame: `app.py` says so.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from blueprints.punchout import public, session, staff

bp = public.routes.register(Blueprint("punchout", __name__, url_prefix="/punchout"))
staff_bp = staff.routes.register(
    Blueprint("punchout_staff", __name__, url_prefix="/staff/punchout")
)


def register(app: Flask) -> None:
    """Mount the part's blueprints, let a buyer frame its pages, and wire its halves."""
    app.register_blueprint(bp)
    app.register_blueprint(staff_bp)
    app.after_request(session.frame_for_buyer)
    staff.setup_app(app)
    public.setup_app(app)
