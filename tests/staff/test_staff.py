"""The staff area's look-up box and navigation."""

from __future__ import annotations

from flask import url_for

from models.auth import Role
from services import registry


def _login_staff(auth, make_user):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")


def test_staff_front_page_has_the_lookup_and_the_parts(client, auth, make_user):
    _login_staff(auth, make_user)
    text = client.get("/staff/").get_data(as_text=True)
    assert 'name="code"' in text
    assert 'href="/staff/mail"' in text and 'href="/auth/organisations"' in text


def test_lookup_goes_straight_to_the_one_record(client, auth, make_user):
    customer = make_user("kunde@example.com", org="Demokunde_Test", name="Test Bruker")
    _login_staff(auth, make_user)
    response = client.get("/staff/lookup", query_string={"code": " Kunde@Example.com "})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/auth/organisations/{customer.organisation_id}"


def test_lookup_without_a_match_says_so(client, auth, make_user):
    _login_staff(auth, make_user)
    response = client.get("/staff/lookup", query_string={"code": "ZZZZ9999"})
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.get_data(as_text=True)


def test_empty_lookup_asks_for_a_code(client, auth, make_user):
    _login_staff(auth, make_user)
    response = client.get("/staff/lookup", query_string={"code": ""})
    assert response.status_code == 200
    assert "error-summary" in response.get_data(as_text=True)


def test_a_part_registers_its_own_lookup(app, client, auth, make_user):
    """The staff area asks the registry; it knows nothing of the part."""

    def find_course(code: str):
        if code.upper() == "ABCD2345":
            return [registry.LookupHit("Enrolment ABCD2345", url_for("main.index", c=code))]
        return []

    registry.register_lookup(app, find_course)
    _login_staff(auth, make_user)
    response = client.get("/staff/lookup", query_string={"code": "abcd2345"})
    assert response.headers["Location"] == "/?c=abcd2345"


def test_several_hits_are_listed(app, client, auth, make_user):
    registry.register_lookup(
        app, lambda code: [registry.LookupHit("A", "/a"), registry.LookupHit("B", "/b")]
    )
    _login_staff(auth, make_user)
    text = client.get("/staff/lookup", query_string={"code": "x"}).get_data(as_text=True)
    assert 'href="/a"' in text and 'href="/b"' in text


def test_lookup_of_an_outbox_message_by_message_id(app, client, auth, make_user):
    from tests.fixtures.mail import _message, _queue

    [message_id] = _queue(app)
    header = _message(app, message_id).message_id_header
    _login_staff(auth, make_user)
    response = client.get("/staff/lookup", query_string={"code": header})
    assert response.headers["Location"] == f"/staff/mail/{message_id}"


def test_lookup_of_a_huge_message_number_finds_nothing(client, auth, make_user):
    _login_staff(auth, make_user)
    response = client.get("/staff/lookup", query_string={"code": "outbox-99999999999999999999-1"})
    assert response.status_code == 200
