"""The browser's PunchOut session: a buyer's procurement system opens the portal in its
frame, and the pages the buyer orders through know it. Shared by the PunchOut pages and
the training part's enrolment form (an enrolment ordered through the buyer's cart)."""

from __future__ import annotations

from flask import (
    Flask,
    Response,
    g,
    render_template,
    request,
    session,
)

import security
from extensions import db
from services import cxml, punchout

SESSION_KEY = "punchout"


ORIGIN_KEY = "punchout_origin"


def current_session():
    """The punchout this browser is in, with its cart still open; None otherwise.

    A punchout abandoned (its frame closed, or too old) is dropped from the browser's
    session here, so that nothing of it outlives it: not the cart, not the frame rights.
    """
    if "punchout_checked" in g:
        return g.punchout_checked
    key = session.get(SESSION_KEY)
    found = punchout.active(key) if key else None
    if found is not None and found.transferred_at is not None:
        found = None
    if found is None and key:
        session.pop(SESSION_KEY, None)
        session.pop(ORIGIN_KEY, None)
    g.punchout_checked = found
    return found


def enter(ps) -> None:
    session[SESSION_KEY] = ps.browser_key
    session[ORIGIN_KEY] = punchout.return_origin(ps.return_url)
    g.pop("punchout_checked", None)


def leave() -> None:
    # This response (the cart page) may still post to the buyer; later ones not.
    g.punchout_origin = session.pop(ORIGIN_KEY, None)
    session.pop(SESSION_KEY, None)


class PunchoutSessionInterface(security.SignedCookieSessions):
    """Inside a buyer's frame ordinary cookies are dropped: during a punchout over HTTPS
    the session cookie is sent as SameSite=None; Secure."""

    def get_cookie_samesite(self, app: Flask):
        if app.config["SESSION_COOKIE_SECURE"] and session.get(SESSION_KEY) and current_session():
            return "None"
        return super().get_cookie_samesite(app)


def frame_for_buyer(response: Response) -> Response:
    """Let the buyer's procurement system show our pages in its frame and receive the cart."""
    origin = g.get("punchout_origin")  # the cart page that ends the punchout
    if origin is None and session.get(SESSION_KEY) and current_session() is not None:
        origin = session.get(ORIGIN_KEY)
    if origin and not request.path.startswith("/staff"):
        security.allow_framing_by(origin)  # the headers are built after this hook
    return response


def transfer_response(ps):
    """The page that auto-posts the cart back to the buyer (the punchout ends here)."""
    if ps.protocol == "oci":
        fields = punchout.oci_fields(ps)
        punchout.log(ps.buyer, "oci-cart", "out", None, f"{len(fields)} fields", repr(fields))
    else:
        document = punchout.cart_document(ps)
        fields = list(cxml.form_fields(document).items())
        punchout.log(ps.buyer, "cart", "out", None, "PunchOutOrderMessage", document)
    punchout.mark_transferred(ps)
    leave()
    db.session.commit()
    return render_template("punchout/transfer.html", ps=ps, fields=fields)
