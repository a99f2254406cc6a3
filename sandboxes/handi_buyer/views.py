"""The Handi buyer sandbox: plays a procurement system (Handi) over real HTTP against the
portal's PunchOut endpoints, under /punchout/sandbox."""

from __future__ import annotations

import urllib.request

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from access import staff_required
from blueprints.shared import Routes
from extensions import csrf
from forms.staff import ActionForm
from services import cxml, punchout
from services.urls import external_url


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


routes = Routes()


@routes.get("/")
@staff_required
def sandbox() -> ResponseReturnValue:
    """The local Handi: start a punchout as a buyer would."""
    return render_template(
        "sandbox/handi.html", form=ActionForm(), cart=session.get("sandbox_cart")
    )


@routes.post("/start")
@staff_required
def sandbox_start() -> ResponseReturnValue:
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


@routes.post("/cart")
@csrf.exempt  # the supplier's page posts the cart here, as to any procurement system
@staff_required
def receive() -> ResponseReturnValue:
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


@routes.post("/approve")
@staff_required
def sandbox_approve() -> ResponseReturnValue:
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
