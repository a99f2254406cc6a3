"""PunchOut (cXML 1.2 and SAP OCI): setup, StartPage, the session's enrolment and cart
transfer, the buyer's frame."""

from __future__ import annotations

import base64
import re

import pytest
import sqlalchemy as sa
from lxml import etree

from extensions import db
from models.punchout import PunchoutLog, PunchoutSession
from models.training import Course, Enrolment, EnrolmentStatus
from services import outbox, punchout
from tests.fixtures import punchout as punchout_fixtures
from tests.fixtures.punchout import (
    PARTICIPANT,
    _cart_setup,
    _enrolment,
    _spec_with,
    cart_fields,
    enrol_in_session,
    post_xml,
    punch_in,
    spec,
    start_url,
    status,
)

# PunchOut's world (tests/fixtures/punchout.py).
buyer = punchout_fixtures.buyer
course = punchout_fixtures.course
oci_buyer = punchout_fixtures.oci_buyer


# --- PunchOutSetupRequest --------------------------------------------------------------


def test_the_specifications_setup_request_gets_a_start_page(app, client, buyer):
    response = post_xml(client, "/punchout/setup", spec("setup_request_spec.xml"))
    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert status(response) == (200, "OK")
    assert start_url(response).startswith("/punchout/start/")
    assert (
        b'<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.014/cXML.dtd">'
        in response.data
    )
    with app.app_context():
        session = db.session.scalar(sa.select(PunchoutSession))
        assert session.buyer_cookie == "34234234ADFSDF234234"
        assert session.return_url == "https://premier.workchairs.com:2600/punchout.asp"
        assert session.started_at is None


def test_a_coupa_style_document_out_of_order_with_a_loose_timestamp_is_accepted(client, buyer):
    response = post_xml(client, "/punchout/setup", spec("setup_request_coupa.xml"))
    assert status(response) == (200, "OK")


@pytest.mark.parametrize(
    ("document", "code", "words"),
    [
        (_spec_with(b"abracadabra", b"open sesame"), 401, "shared secret"),
        (
            _spec_with(
                b"<Identity>admin@acme.com</Identity>\n        <SharedSecret>",
                b"<Identity>someone@else.com</Identity>\n        <SharedSecret>",
            ),
            401,
            "credential",
        ),
        (b"<cXML><Header>", 400, "malformed"),
        (b"", 400, "malformed"),
        (b"<?xml version='1.0'?><html/>", 400, "root element"),
        (
            _spec_with(
                b"http://xml.cxml.org/schemas/cXML/1.2.014/cXML.dtd", b"http://evil.example/x.dtd"
            ),
            406,
            "Unknown DTD",
        ),
        (
            _spec_with(
                b"<BrowserFormPost>\n        <URL>https://premier.workchairs.com:2600/punchout.asp"
                b"</URL>\n      </BrowserFormPost>",
                b"",
            ),
            400,
            "BrowserFormPost/URL",
        ),
        (_spec_with(b'operation="create"', b'operation="destroy"'), 450, "destroy"),
        (
            _spec_with(b"<Sender>", b"<Sendr>").replace(b"</Sender>", b"</Sendr>"),
            400,
            "Sender/Credential",
        ),
    ],
)
def test_bad_setup_requests_get_a_status_that_says_why(client, buyer, document, code, words):
    response = post_xml(client, "/punchout/setup", document)
    assert response.status_code < 500
    got_code, text = status(response)
    assert got_code == code and words.lower() in text.lower(), text


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE cXML [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<cXML>&lol3;</cXML>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE cXML [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<cXML><Header><Sender><Credential domain="x"><Identity>&secret;</Identity>
</Credential></Sender></Header></cXML>"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_hostile_xml_is_refused(client, buyer, document):
    response = post_xml(client, "/punchout/setup", document)
    assert status(response)[0] == 400
    assert b"root:" not in response.data


def test_an_oversized_document_is_refused(client, buyer):
    document = _spec_with(b"<BuyerCookie>", b"<BuyerCookie>" + b"x" * 1_100_000)
    assert status(post_xml(client, "/punchout/setup", document))[0] == 400


def test_the_start_page_works_once(app, client, buyer):
    path = punch_in(client)
    assert app.test_client().get(path).status_code == 410


def test_an_expired_start_page_is_refused(app, client, buyer):
    app.config["PUNCHOUT_START_SECONDS"] = -1
    response = post_xml(client, "/punchout/setup", spec("setup_request_spec.xml"))
    assert client.get(start_url(response)).status_code == 410


# --- In the session: one enrolment, cart transfer --------------------------------------


def test_the_whole_flow_setup_cart_and_order_make_the_enrolment_binding(app, client, buyer, course):
    punch_in(client)
    form = client.get(f"/training/courses/{course}/enrol", headers={"Accept-Language": "en"})
    text = form.get_data(as_text=True)
    assert "belongs to the order of Acme (Ariba)" in text and "Transfer the cart" in text

    response = enrol_in_session(client, course)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'action="https://premier.workchairs.com:2600/punchout.asp"' in page
    assert "data-autopost" in page
    fields = cart_fields(response)
    document = fields["cxml-urlencoded"].encode()
    assert base64.b64decode(fields["cxml-base64"]) == document

    root = etree.fromstring(document)
    assert root.findtext("Message/PunchOutOrderMessage/BuyerCookie") == "34234234ADFSDF234234"
    item = root.find("Message/PunchOutOrderMessage/ItemIn")
    enrolment = _enrolment(app)
    assert enrolment.status == EnrolmentStatus.PRELIMINARY and enrolment.source == "punchout"
    assert item.findtext("ItemID/SupplierPartID") == f"COURSE-{course}"
    assert item.findtext("ItemID/SupplierPartAuxiliaryID") == str(enrolment.id)
    money = item.find("ItemDetail/UnitPrice/Money")
    assert (money.text, money.get("currency")) == ("290.00", "EUR")
    assert item.find("ItemDetail/Classification").get("domain") == "UNSPSC"
    assert item.findtext("ItemDetail/Classification") == "86101700"
    assert "Matti Virtanen" in item.findtext("ItemDetail/Description")
    assert (
        root.findtext("Message/PunchOutOrderMessage/PunchOutOrderMessageHeader/Total/Money")
        == "290.00"
    )
    # The participant got the confirmation with the code; the enrolment is preliminary.
    from models.mail import OutboxMessage

    with app.app_context():
        [mail] = db.session.scalars(sa.select(OutboxMessage)).all()
        body = outbox.bodies(mail)[0]  # as the mail worker writes it
        assert enrolment.service_code in body and "alustava" in body

    # The punchout is over: the next enrolment in this browser is an ordinary one.
    assert "Transfer the cart" not in client.get(
        f"/training/courses/{course}/enrol", headers={"Accept-Language": "en"}
    ).get_data(as_text=True)

    order = spec("order_request_spec.xml").replace(b"ENROLMENT-ID", str(enrolment.id).encode())
    response = post_xml(client, "/punchout/order", order)
    assert status(response) == (200, "OK")
    approved = _enrolment(app)
    assert approved.status == EnrolmentStatus.BINDING
    assert approved.billing_reference == "DO1234"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 1

    # The buyer retries the same document: nothing changes, 200 again.
    assert status(post_xml(client, "/punchout/order", order)) == (200, "OK")
    assert len(_enrolment(app).events) == len(approved.events)


def test_a_full_course_cannot_be_ordered(app, client, buyer, course):
    with app.app_context():
        db.session.get(Course, course).capacity = 0
        db.session.commit()
    punch_in(client)
    response = enrol_in_session(client, course)
    assert response.status_code == 200 and "data-autopost" not in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Enrolment)) == 0


def test_an_order_for_an_unknown_or_cancelled_enrolment_says_so(app, client, buyer, course):
    order = spec("order_request_spec.xml").replace(b"ENROLMENT-ID", b"999999")
    code, text = status(post_xml(client, "/punchout/order", order))
    assert code == 409 and "999999" in text
    punch_in(client)
    enrol_in_session(client, course)
    enrolment = _enrolment(app)
    from services import training

    with app.app_context():
        training.cancel(db.session.get(Enrolment, enrolment.id), "test")
        db.session.commit()
    order = (
        spec("order_request_spec.xml")
        .replace(b"ENROLMENT-ID", str(enrolment.id).encode())
        .replace(b"32232995@", b"another@")
    )
    code, text = status(post_xml(client, "/punchout/order", order))
    assert code == 409 and "peruttu" in text
    with app.app_context():
        logged = db.session.scalars(
            sa.select(PunchoutLog.summary).where(
                PunchoutLog.kind == "order", PunchoutLog.direction == "out"
            )
        ).all()
        assert any("999999" in line for line in logged)


def test_another_buyer_cannot_order_this_buyers_enrolment(app, client, buyer, course):
    punch_in(client)
    enrol_in_session(client, course)
    enrolment = _enrolment(app)
    with app.app_context():
        punchout.add_buyer("Other", "NetworkID", "other", "other-secret")
        db.session.commit()
    order = (
        spec("order_request_spec.xml")
        .replace(b"ENROLMENT-ID", str(enrolment.id).encode())
        .replace(
            b"<Identity>admin@acme.com</Identity>\n        <SharedSecret>abracadabra",
            b"<Identity>other</Identity>\n        <SharedSecret>other-secret",
        )
        .replace(
            b'<Credential domain="AribaNetworkUserId">\n        <Identity>other',
            b'<Credential domain="NetworkID">\n        <Identity>other',
        )
    )
    assert status(post_xml(client, "/punchout/order", order))[0] == 409
    assert _enrolment(app).status == EnrolmentStatus.PRELIMINARY


def test_an_order_with_a_wrong_secret_is_refused(client, buyer):
    order = spec("order_request_spec.xml").replace(b"abracadabra", b"wrong")
    assert status(post_xml(client, "/punchout/order", order))[0] == 401


def test_edit_opens_the_cart_and_the_enrolment_can_be_withdrawn(app, client, buyer, course):
    punch_in(client)
    enrol_in_session(client, course)
    enrolment = _enrolment(app)
    edit = _cart_setup("edit", course, enrolment.id)
    response = post_xml(client, "/punchout/setup", edit)
    assert status(response) == (200, "OK")
    start = client.get(start_url(response))
    assert start.headers["Location"].endswith("/punchout/cart")
    assert "Matti Virtanen" in client.get("/punchout/cart").get_data(as_text=True)
    assert client.post("/punchout/cart/withdraw").status_code == 302
    assert _enrolment(app).status == EnrolmentStatus.CANCELLED


def test_inspect_returns_the_same_cart(app, client, buyer, course):
    punch_in(client)
    enrol_in_session(client, course)
    enrolment = _enrolment(app)
    inspect = _cart_setup("inspect", course, enrolment.id)
    client.get(start_url(post_xml(client, "/punchout/setup", inspect)))
    fields = cart_fields(client.post("/punchout/cart/transfer"))
    root = etree.fromstring(fields["cxml-urlencoded"].encode())
    assert root.findtext(".//SupplierPartAuxiliaryID") == str(enrolment.id)
    assert root.find(".//PunchOutOrderMessageHeader").get("operationAllowed") == "inspect"


# --- The buyer's frame -----------------------------------------------------------------


def test_in_a_punchout_the_buyer_may_frame_the_pages(app, client, buyer, course):
    plain = client.get("/training/")
    assert "frame-ancestors 'none'" in plain.headers["Content-Security-Policy"]
    punch_in(client)
    framed = client.get("/training/")
    csp = framed.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://premier.workchairs.com:2600" in csp
    assert "form-action 'self' https://premier.workchairs.com:2600" in csp
    assert "X-Frame-Options" not in framed.headers


def test_over_https_the_punchout_cookie_is_samesite_none(app, client, buyer):
    app.config["SESSION_COOKIE_SECURE"] = True
    response = post_xml(client, "/punchout/setup", spec("setup_request_spec.xml"))
    started = client.get(start_url(response), base_url="https://localhost")
    cookie = started.headers["Set-Cookie"]
    assert "SameSite=None" in cookie and "Secure" in cookie


# --- SAP OCI -------------------------------------------------------------------------


def test_oci_start_and_cart_as_new_item_fields(app, client, oci_buyer, course):
    response = client.get(
        "/punchout/oci",
        query_string={
            "USERNAME": "sap-user",
            "PASSWORD": "oci-secret",
            "HOOK_URL": "https://sap.example/hook?x=1",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        db.session.get(Course, course).title = "Julkisten hankintojen erikoiskurssi edistyneille"
        db.session.commit()
    page = client.post(f"/training/courses/{course}/enrol", data=PARTICIPANT)
    text = page.get_data(as_text=True)
    assert 'action="https://sap.example/hook?x=1"' in text
    fields = dict(re.findall(r'name="(NEW_ITEM-[^"]+)" value="([^"]*)"', text))
    assert len(fields["NEW_ITEM-DESCRIPTION[1]"]) <= 40
    assert fields["NEW_ITEM-CURRENCY[1]"] == "EUR" and fields["NEW_ITEM-PRICE[1]"] == "290.00"
    assert fields["NEW_ITEM-EXT_PRODUCT_ID[1]"] == str(_enrolment(app).id)
    assert "Matti Virtanen" in fields["NEW_ITEM-LONGTEXT_1:132[]"]


def test_oci_with_a_wrong_password_is_refused_and_logged_without_it(app, client, oci_buyer):
    response = client.get(
        "/punchout/oci?USERNAME=sap-user&PASSWORD=guess&HOOK_URL=https://sap.example/h"
    )
    assert response.status_code == 401
    with app.app_context():
        bodies = db.session.scalars(sa.select(PunchoutLog.body)).all()
        assert bodies and all("guess" not in body for body in bodies)
