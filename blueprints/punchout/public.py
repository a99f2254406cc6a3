"""PunchOut: the cXML endpoints for procurement systems, SAP OCI, the browser's session,
the cart sent back to the buyer, the staff pages and the local buyer sandbox."""

from __future__ import annotations

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from blueprints.punchout.session import (
    current_session,
    enter,
    transfer_response,
)
from blueprints.shared import Routes
from extensions import csrf, db, limiter
from forms.staff import ActionForm
from models.training import EnrolmentStatus
from services import cxml, punchout, reasons, registry, training
from services.urls import external_url

routes = Routes()


# --- The browser's punchout session --------------------------------------------------


# --- cXML endpoints ------------------------------------------------------------------


def _xml_response(document: bytes, code: int) -> Response:
    # The answer is in the cXML Status; buyers take a non-200 HTTP status for a transport
    # failure and retry, so only our own failures (5xx) say so in HTTP too.
    http = 200 if code < 500 else code
    return Response(
        document, status=http, mimetype="text/xml", content_type="text/xml; charset=utf-8"
    )


def _handle(kind: str, handler):
    raw = request.get_data(cache=False)
    buyer = None
    try:
        root = cxml.parse(raw)
        buyer = punchout.claimed_buyer(root)  # logged under it even when refused
        buyer, code, text, document = handler(root, raw)
        db.session.flush()
    except (cxml.CXMLError, punchout.PunchoutError) as exc:
        db.session.rollback()
        code, text = exc.code, exc.text
        document = cxml.response(code, text)
    except training.StatusChanged:
        # Staff or the participant changed the enrolment while the order was applied:
        # nothing of the order is kept, and the buyer is told to send it again.
        db.session.rollback()
        code, text = 409, "The enrolment changed while the order was applied. Send the order again."
        document = cxml.response(code, text)
    except IntegrityError:
        # The same document twice at the same moment: the other copy is being answered.
        db.session.rollback()
        buyer = punchout.claimed_buyer(root)
        previous = punchout.previous_order(buyer.id, root.get("payloadID", "")) if buyer else None
        code, text = (previous.status_code, previous.status_text) if previous else (409, "Retry.")
        document = cxml.response(code, text)
    current_app.logger.info("punchout %s: %s %s", kind, code, text)
    punchout.log(buyer, kind, "in", None, f"{request.remote_addr}", raw)
    punchout.log(buyer, kind, "out", code, text, document)
    db.session.commit()
    return _xml_response(document, code)


def _machine_throttle() -> str:
    return current_app.config["PUNCHOUT_THROTTLE"]


_throttled = limiter.shared_limit(
    _machine_throttle, scope="punchout", key_func=lambda: request.remote_addr or ""
)


@routes.post("/setup")
@_throttled
@csrf.exempt  # a server-to-server document, authenticated by its shared secret
def setup() -> ResponseReturnValue:
    """Answer a PunchOutSetupRequest with the StartPage of a new session."""

    def handle(root, raw):
        result = punchout.setup(root)
        start_url = external_url("punchout.start", token=result.token)
        return result.buyer, 200, "OK", cxml.setup_response(start_url)

    return _handle("setup", handle)


@routes.post("/order")
@_throttled
@csrf.exempt  # a server-to-server document, authenticated by its shared secret
def order() -> ResponseReturnValue:
    """Answer an OrderRequest: its items' enrolments turn binding (once per payloadID)."""

    def handle(root, raw):
        buyer, code, text = punchout.order(root, raw)
        return buyer, code, text, cxml.response(code, text)

    return _handle("order", handle)


@routes.get("/start/<token>")
def start(token: str) -> ResponseReturnValue:
    """Open the punchout in the browser (the StartPage works once, and not for long)."""
    ps = punchout.start(token)
    if ps is None:
        db.session.rollback()
        return render_template("punchout/gone.html"), 410
    enter(ps)
    db.session.commit()
    if ps.enrolment is not None:
        return redirect(url_for("punchout.cart"))
    flash(
        _(
            "You are ordering for %(buyer)s: enrol one person and transfer the cart.",
            buyer=ps.buyer.name,
        ),
        "info",
    )
    return redirect(url_for("training.index"))


@routes.route("/oci", methods=["GET", "POST"])
@_throttled
@csrf.exempt  # the buyer's system opens it with its credentials, as SAP OCI does
def oci() -> ResponseReturnValue:
    """Open a punchout from an SAP OCI 4.0 start URL (USERNAME, PASSWORD, HOOK_URL)."""
    values = {k.upper(): v for k, v in request.values.items()}
    buyer = None
    try:
        buyer = punchout.authenticate(
            punchout.OCI_DOMAIN, values.get("USERNAME", ""), values.get("PASSWORD")
        )
        ps, token = punchout.open_session(
            buyer,
            protocol="oci",
            return_url=values.get("HOOK_URL", ""),
            buyer_cookie=values.get("~CALLER", ""),
        )
        ps = punchout.start(token)
    except punchout.PunchoutError as exc:
        db.session.rollback()
        punchout.log(buyer, "oci-start", "in", exc.code, exc.text, request.query_string.decode())
        db.session.commit()
        return render_template(
            "punchout/refused.html", text=exc.text
        ), 401 if exc.code == 401 else 400
    punchout.log(buyer, "oci-start", "in", 200, "OK", request.query_string.decode())
    enter(ps)
    db.session.commit()
    flash(
        _(
            "You are ordering for %(buyer)s: enrol one person and transfer the cart.",
            buyer=buyer.name,
        ),
        "info",
    )
    return redirect(url_for("training.index"))


@routes.get("/cart")
def cart() -> ResponseReturnValue:
    """Show the cart of an edited or inspected punchout."""
    ps = current_session()
    if ps is None:
        return render_template("punchout/gone.html"), 410
    return render_template("punchout/cart.html", ps=ps, form=ActionForm())


@routes.post("/cart/<any(transfer, withdraw):action>")
def cart_action(action: str) -> ResponseReturnValue:
    """Send the cart back as it is, or withdraw its enrolment to choose another course."""
    ps = current_session()
    if ps is None:
        return render_template("punchout/gone.html"), 410
    if not ActionForm().validate_on_submit():
        abort(400)
    if action == "withdraw" and ps.operation == "edit" and ps.enrolment is not None:
        if ps.enrolment.status == EnrolmentStatus.PRELIMINARY:
            training.cancel(ps.enrolment, ps.buyer.name, reason=reasons.coded("punchout_withdrawn"))
        ps.enrolment = None
        db.session.commit()
        flash(_("The enrolment was withdrawn. Choose a course."), "info")
        return redirect(url_for("training.index"))
    return transfer_response(ps)


# --- Staff ---------------------------------------------------------------------------


# --- The buyer sandbox: plays Handi over real HTTP -------------------------------------


def setup_app(app: Flask) -> None:
    registry.register_reference(app, punchout.order_of_organisation)
