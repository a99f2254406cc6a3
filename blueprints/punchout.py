"""PunchOut: the cXML endpoints for procurement systems, SAP OCI, the browser's session,
the cart sent back to the buyer, the staff pages and the local buyer sandbox."""

from __future__ import annotations

import urllib.request

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from access import staff_required
from extensions import csrf, db, limiter
from forms.punchout import BuyerForm, OrderNumberForm
from forms.staff import ActionForm
from models.punchout import PunchoutBuyer, PunchoutLog
from models.training import Enrolment, EnrolmentStatus
from services import cxml, punchout, reasons, registry, training
from services.urls import external_url

bp = Blueprint("punchout", __name__, url_prefix="/punchout")
staff_bp = Blueprint("punchout_staff", __name__, url_prefix="/staff/punchout")
sandbox_bp = Blueprint("punchout_sandbox", __name__, url_prefix="/punchout/sandbox")

SESSION_KEY = "punchout"
ORIGIN_KEY = "punchout_origin"


# --- The browser's punchout session --------------------------------------------------


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


def _enter(ps) -> None:
    session[SESSION_KEY] = ps.browser_key
    session[ORIGIN_KEY] = punchout.return_origin(ps.return_url)
    g.pop("punchout_checked", None)


def _leave() -> None:
    # This response (the cart page) may still post to the buyer; later ones not.
    g.punchout_origin = session.pop(ORIGIN_KEY, None)
    session.pop(SESSION_KEY, None)


class PunchoutSessionInterface(SecureCookieSessionInterface):
    """Inside a buyer's frame ordinary cookies are dropped: during a punchout over HTTPS
    the session cookie is sent as SameSite=None; Secure."""

    def get_cookie_samesite(self, app: Flask):
        if app.config["SESSION_COOKIE_SECURE"] and session.get(SESSION_KEY) and current_session():
            return "None"
        return super().get_cookie_samesite(app)


def _frame_for_buyer(response: Response) -> Response:
    """Let the buyer's procurement system show our pages in its frame and receive the cart."""
    origin = g.get("punchout_origin")  # the cart page that ends the punchout
    if origin is None and session.get(SESSION_KEY) and current_session() is not None:
        origin = session.get(ORIGIN_KEY)
    if origin and not request.path.startswith("/staff"):
        csp = response.headers.get("Content-Security-Policy", "")
        csp = csp.replace("frame-ancestors 'none'", f"frame-ancestors 'self' {origin}")
        csp = csp.replace("form-action 'self'", f"form-action 'self' {origin}")
        response.headers["Content-Security-Policy"] = csp
        response.headers.pop("X-Frame-Options", None)
    return response


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


@bp.post("/setup")
@_throttled
@csrf.exempt  # a server-to-server document, authenticated by its shared secret
def setup():
    """Answer a PunchOutSetupRequest with the StartPage of a new session."""

    def handle(root, raw):
        result = punchout.setup(root)
        start_url = external_url("punchout.start", token=result.token)
        return result.buyer, 200, "OK", cxml.setup_response(start_url)

    return _handle("setup", handle)


@bp.post("/order")
@_throttled
@csrf.exempt  # a server-to-server document, authenticated by its shared secret
def order():
    """Answer an OrderRequest: its items' enrolments turn binding (once per payloadID)."""

    def handle(root, raw):
        buyer, code, text = punchout.order(root, raw)
        return buyer, code, text, cxml.response(code, text)

    return _handle("order", handle)


@bp.get("/start/<token>")
def start(token: str):
    """Open the punchout in the browser (the StartPage works once, and not for long)."""
    ps = punchout.start(token)
    if ps is None:
        db.session.rollback()
        return render_template("punchout/gone.html"), 410
    _enter(ps)
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


@bp.route("/oci", methods=["GET", "POST"])
@_throttled
@csrf.exempt  # the buyer's system opens it with its credentials, as SAP OCI does
def oci():
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
    _enter(ps)
    db.session.commit()
    flash(
        _(
            "You are ordering for %(buyer)s: enrol one person and transfer the cart.",
            buyer=buyer.name,
        ),
        "info",
    )
    return redirect(url_for("training.index"))


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
    _leave()
    db.session.commit()
    return render_template("punchout/transfer.html", ps=ps, fields=fields)


@bp.get("/cart")
def cart():
    """Show the cart of an edited or inspected punchout."""
    ps = current_session()
    if ps is None:
        return render_template("punchout/gone.html"), 410
    return render_template("punchout/cart.html", ps=ps, form=ActionForm())


@bp.post("/cart/<any(transfer, withdraw):action>")
def cart_action(action: str):
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


@staff_bp.route("/", methods=["GET", "POST"])
@staff_required
def index():
    """List the buyers with their traffic, and add a buyer."""
    form = BuyerForm()
    if form.validate_on_submit():
        try:
            punchout.add_buyer(
                form.name.data, form.domain.data, form.identity.data, form.secret.data
            )
        except punchout.PunchoutError as exc:
            form.identity.errors.append(exc.text)
        else:
            db.session.commit()
            flash(_("The buyer was added."), "success")
            return redirect(url_for("punchout_staff.index"), 303)
    buyers = db.session.scalars(sa.select(PunchoutBuyer).order_by(PunchoutBuyer.name)).all()
    return render_template(
        "punchout/staff_index.html",
        buyers=buyers,
        form=form,
        log=punchout.recent_log(),
        days=current_app.config["PUNCHOUT_PENDING_DAYS"],
    )


@staff_bp.get("/buyers/<id:buyer_id>")
@staff_required
def buyer(buyer_id: int):
    """Show a buyer's requests and responses."""
    found = db.get_or_404(PunchoutBuyer, buyer_id)
    return render_template(
        "punchout/staff_buyer.html", buyer=found, log=punchout.recent_log(found.id, 200)
    )


@staff_bp.get("/log/<id:log_id>")
@staff_required
def log_entry(log_id: int):
    """Show one logged document (its secrets redacted)."""
    return render_template("punchout/staff_log.html", entry=db.get_or_404(PunchoutLog, log_id))


@staff_bp.get("/pending")
@staff_required
def pending():
    """Preliminary PunchOut enrolments still waiting for the buyer's approval."""
    days = request.args.get("days", current_app.config["PUNCHOUT_PENDING_DAYS"], type=int)
    days = min(max(days or 0, 0), 3650)
    return render_template(
        "punchout/staff_pending.html",
        enrolments=punchout.pending(days),
        days=days,
        form=OrderNumberForm(),
        action_form=ActionForm(),
    )


@staff_bp.post("/enrolments/<id:enrolment_id>/approve")
@staff_required
def approve(enrolment_id: int):
    """Approve with the procurement system's order number (as an OrderRequest would)."""
    enrolment = db.get_or_404(Enrolment, enrolment_id)
    form = OrderNumberForm()
    if form.validate_on_submit():
        try:
            punchout.approve_by_staff(enrolment, form.order_number.data.strip(), current_user.email)
        except training.EnrolmentError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("The enrolment is binding."), "success")
    else:
        flash(_("Enter the order number."), "error")
    return redirect(url_for("punchout_staff.pending", days=request.args.get("days", 0)), 303)


@staff_bp.post("/enrolments/<id:enrolment_id>/cancel")
@staff_required
def cancel(enrolment_id: int):
    """Cancel a preliminary enrolment whose order was never approved."""
    enrolment = db.get_or_404(Enrolment, enrolment_id)
    if ActionForm().validate_on_submit():
        try:
            training.reject_preliminary(
                enrolment, current_user.email, _("The order was not approved.")
            )
        except training.EnrolmentError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("The enrolment was cancelled and the participant told."), "success")
    return redirect(url_for("punchout_staff.pending", days=request.args.get("days", 0)), 303)


# --- The buyer sandbox: plays Handi over real HTTP -------------------------------------


def _sandbox_credential() -> cxml.Credential:
    return cxml.Credential(
        "networkid", "handi-sandbox", current_app.config["PUNCHOUT_SANDBOX_SECRET"]
    )


def _post_xml(url: str, document: bytes) -> bytes:
    http_request = urllib.request.Request(
        url, data=document, headers={"Content-Type": "text/xml; charset=utf-8"}, method="POST"
    )
    try:
        with urllib.request.urlopen(http_request, timeout=20) as answer:  # noqa: S310 (our own http(s) URL)
            return answer.read(cxml.MAX_BYTES + 1)
    except urllib.error.HTTPError as error:  # a cXML Status with a 4xx code
        return error.read(cxml.MAX_BYTES + 1)


@sandbox_bp.get("/")
@staff_required
def sandbox():
    """The local Handi: start a punchout as a buyer would."""
    return render_template(
        "punchout/sandbox.html", form=ActionForm(), cart=session.get("sandbox_cart")
    )


@sandbox_bp.post("/start")
@staff_required
def sandbox_start():
    """Send a real PunchOutSetupRequest over HTTP and open its StartPage."""
    if not ActionForm().validate_on_submit():
        abort(400)
    credential = _sandbox_credential()
    document = cxml.setup_request(
        sender_=credential,
        buyer=cxml.Credential(credential.domain, credential.identity),
        supplier=punchout.supplier_credential(),
        buyer_cookie=f"sandbox-{current_user.id}",
        browser_form_post=external_url("punchout_sandbox.receive"),
    )
    try:
        answer = cxml.parse(_post_xml(external_url("punchout.setup"), document))
        code, text = cxml.status_of(cxml.to_bytes(answer))
    except (cxml.CXMLError, OSError) as exc:
        flash(_("The setup request failed: %(error)s", error=str(exc)), "error")
        return redirect(url_for("punchout_sandbox.sandbox"), 303)
    if code != 200:
        flash(_("The setup request was refused: %(code)s %(text)s", code=code, text=text), "error")
        return redirect(url_for("punchout_sandbox.sandbox"), 303)
    return redirect(cxml.require_text(answer, "StartPage/URL"), 303)


@sandbox_bp.post("/cart")
@csrf.exempt  # the supplier's page posts the cart here, as to any procurement system
@staff_required
def receive():
    """Receive the cart the supplier posted back (cxml-urlencoded) and show it."""
    raw = request.form.get("cxml-urlencoded", "")
    try:
        root = cxml.parse(raw.encode("utf-8"))
        items = [
            {
                "part": cxml.text(item, "ItemID/SupplierPartID") or "",
                "aux": cxml.text(item, "ItemID/SupplierPartAuxiliaryID") or "",
                "price": cxml.text(item, "ItemDetail/UnitPrice/Money") or "0",
                "description": cxml.text(item, "ItemDetail/Description") or "",
                "classification": cxml.text(item, "ItemDetail/Classification") or "",
            }
            for item in root.iter("ItemIn")
        ]
        cookie = cxml.text(root, "PunchOutOrderMessage/BuyerCookie") or ""
    except cxml.CXMLError as exc:
        flash(_("The cart could not be read: %(error)s", error=exc.text), "error")
        return redirect(url_for("punchout_sandbox.sandbox"), 303)
    session["sandbox_cart"] = {"items": items, "cookie": cookie}
    return redirect(url_for("punchout_sandbox.sandbox"), 303)


@sandbox_bp.post("/approve")
@staff_required
def sandbox_approve():
    """Hyväksy: send the OrderRequest of the cart over HTTP, as Handi does on approval."""
    cart = session.get("sandbox_cart")
    if not ActionForm().validate_on_submit() or not cart:
        abort(400)
    from decimal import Decimal

    credential = _sandbox_credential()
    order_id = f"HANDI-{cxml.payload_id()[8:16]}"
    document = cxml.order_request(
        sender_=credential,
        buyer=cxml.Credential(credential.domain, credential.identity),
        supplier=punchout.supplier_credential(),
        order_id=order_id,
        items=[(i["part"], i["aux"], Decimal(i["price"]), i["description"]) for i in cart["items"]],
    )
    try:
        code, text = cxml.status_of(_post_xml(external_url("punchout.order"), document))
    except (cxml.CXMLError, OSError) as exc:
        flash(_("The order request failed: %(error)s", error=str(exc)), "error")
        return redirect(url_for("punchout_sandbox.sandbox"), 303)
    if code == 200:
        session.pop("sandbox_cart", None)
        flash(
            _("The order %(order)s was approved: the enrolment is binding.", order=order_id),
            "success",
        )
    else:
        flash(_("The order was refused: %(code)s %(text)s", code=code, text=text), "error")
    return redirect(url_for("punchout_sandbox.sandbox"), 303)


# --- Registration --------------------------------------------------------------------


def _lookup_order(code: str) -> list[registry.LookupHit]:
    """A PunchOut order by its number (HANDI-…, in any letter case): what it approved."""
    hits = []
    for found in punchout.orders_numbered(code):
        number = found.order.order_id
        for enrolment in found.enrolments:
            hits.append(
                registry.LookupHit(
                    _(
                        "PunchOut order %(number)s: %(name)s, %(course)s",
                        number=number,
                        name=enrolment.name,
                        course=enrolment.course.title,
                    ),
                    url_for("training_staff.enrolment", enrolment_id=enrolment.id),
                )
            )
        if not found.enrolments:  # refused, or approved nothing: its answer says why
            hits.append(
                registry.LookupHit(
                    _(
                        "PunchOut order %(number)s: %(code)s %(text)s",
                        number=number,
                        code=found.order.status_code,
                        text=found.order.status_text,
                    ),
                    url_for("punchout_staff.buyer", buyer_id=found.buyer.id)
                    if found.buyer
                    else url_for("punchout_staff.index"),
                )
            )
    return hits


def setup_app(app: Flask) -> None:
    app.session_interface = PunchoutSessionInterface()
    app.after_request(_frame_for_buyer)
    if app.config["PUNCHOUT_SANDBOX"]:
        app.register_blueprint(sandbox_bp)
        registry.register_staff_section(app, _l("Handi sandbox"), "punchout_sandbox.sandbox")
    registry.register_staff_section(app, _l("PunchOut"), "punchout_staff.index")
    registry.register_lookup(app, _lookup_order)
    registry.register_reference(app, punchout.order_of_organisation)
