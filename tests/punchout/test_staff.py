"""PunchOut, staff's side: order approval without an order message, and what was exchanged."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Role
from models.punchout import PunchoutBuyer, PunchoutLog
from models.training import EnrolmentStatus
from services import punchout
from tests.fixtures import punchout as punchout_fixtures
from tests.fixtures.punchout import (
    PARTICIPANT,
    _enrolment,
    _spec_with,
    enrol_in_session,
    post_xml,
    punch_in,
    spec,
)

# PunchOut's world (tests/fixtures/punchout.py).
buyer = punchout_fixtures.buyer
course = punchout_fixtures.course
oci_buyer = punchout_fixtures.oci_buyer


# --- Staff: approval without an order message, and what was exchanged -------------------


@pytest.fixture
def staff_client(client, auth, make_user):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    return client


def test_staff_approve_an_oci_enrolment_with_the_order_number(
    app, client, auth, make_user, oci_buyer, course
):
    client.get("/punchout/oci?USERNAME=sap-user&PASSWORD=oci-secret&HOOK_URL=https://sap.example/h")
    client.post(f"/training/courses/{course}/enrol", data=PARTICIPANT)
    enrolment = _enrolment(app)
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    listing = client.get("/staff/punchout/pending?days=0").get_data(as_text=True)
    assert "Matti Virtanen" in listing
    assert "Matti Virtanen" not in client.get("/staff/punchout/pending?days=7").get_data(
        as_text=True
    )
    client.post(
        f"/staff/punchout/enrolments/{enrolment.id}/approve", data={"order_number": "4500012345"}
    )
    approved = _enrolment(app)
    assert approved.status == EnrolmentStatus.BINDING and approved.billing_reference == "4500012345"


def test_staff_cancel_an_unapproved_enrolment(app, client, auth, make_user, buyer, course):
    punch_in(client)
    enrol_in_session(client, course)
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    client.post(f"/staff/punchout/enrolments/{_enrolment(app).id}/cancel")
    assert _enrolment(app).status == EnrolmentStatus.CANCELLED


def test_staff_see_the_traffic_with_secrets_redacted(app, client, auth, make_user, buyer):
    post_xml(client, "/punchout/setup", spec("setup_request_spec.xml"))
    post_xml(client, "/punchout/setup", _spec_with(b"abracadabra", b"open sesame"))
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    with app.app_context():
        entries = db.session.scalars(sa.select(PunchoutLog)).all()
        assert len(entries) == 4
        assert all("abracadabra" not in e.body and "open sesame" not in e.body for e in entries)
        entry_id = entries[0].id
    page = client.get(f"/staff/punchout/buyers/{buyer}").get_data(as_text=True)
    assert "setup" in page and "401" in page
    assert "&lt;SharedSecret&gt;***&lt;/SharedSecret&gt;" in client.get(
        f"/staff/punchout/log/{entry_id}"
    ).get_data(as_text=True)


def test_staff_add_a_buyer_whose_secret_is_kept_hashed(app, client, auth, make_user):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    response = client.post(
        "/staff/punchout/",
        data={
            "name": "Handi",
            "domain": "NetworkID",
            "identity": "handi-prod",
            "secret": "a-long-secret",
        },
    )
    assert response.status_code == 303
    with app.app_context():
        found = db.session.scalar(sa.select(PunchoutBuyer))
        assert found.secret_hash.startswith("$argon2") and "a-long-secret" not in found.secret_hash
        assert (found.domain, found.identity) == ("networkid", "handi-prod")


def test_add_buyer_command_reads_the_secret_from_stdin(app, runner):
    result = runner.invoke(
        args=["punchout", "add-buyer", "Handi", "--domain", "NetworkID", "--identity", "handi"],
        input="a-long-secret\n",
    )
    assert result.exit_code == 0, result.output
    again = runner.invoke(
        args=["punchout", "add-buyer", "Handi", "--domain", "networkid", "--identity", "HANDI"],
        input="a-long-secret\n",
    )
    assert again.exit_code != 0 and "exists" in again.output
    with app.app_context():
        punchout.authenticate("NetworkID", "handi", "a-long-secret")
        with pytest.raises(punchout.PunchoutError):
            punchout.authenticate("NetworkID", "handi", "wrong")


def test_only_staff_reach_the_punchout_pages(client, auth, make_user):
    make_user()
    auth.login()
    for url in ("/staff/punchout/", "/staff/punchout/pending", "/punchout/sandbox/"):
        assert client.get(url).status_code == 403


def test_the_query_of_a_start_url_is_kept_out_of_the_log(app, client, oci_buyer):
    client.get("/punchout/oci?USERNAME=sap-user&PASSWORD=oci-secret&HOOK_URL=https://sap.example/h")
    with app.app_context():
        body = db.session.scalar(sa.select(PunchoutLog.body))
        assert "oci-secret" not in body and parse_qs(body)["PASSWORD"] == ["***"]


def test_after_the_cart_went_back_the_buyer_may_frame_no_more(app, client, buyer, course):
    punch_in(client)
    transfer = enrol_in_session(client, course)
    assert (
        "form-action 'self' https://premier.workchairs.com:2600"
        in transfer.headers["Content-Security-Policy"]
    )
    after = client.get("/training/")
    assert "frame-ancestors 'none'" in after.headers["Content-Security-Policy"]
