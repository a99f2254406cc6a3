"""PunchOut: what the review and the second look found (orders honoured exactly)."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Role
from models.punchout import PunchoutLog, PunchoutSession
from models.training import Course, Enrolment, EnrolmentStatus
from models.types import utcnow
from services import punchout
from tests.fixtures import punchout as punchout_fixtures
from tests.fixtures.punchout import (
    PARTICIPANT,
    _cart_setup,
    _enrolment,
    _spec_with,
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


# --- Found in review ---------------------------------------------------------------------


def test_an_abandoned_punchout_lets_go_of_the_browser(app, client, buyer, course):
    punch_in(client)
    with app.app_context():
        ps = db.session.scalar(sa.select(PunchoutSession))
        ps.started_at = utcnow() - timedelta(hours=punchout.SESSION_HOURS, minutes=1)
        db.session.commit()
    page = client.get("/training/")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    response = enrol_in_session(client, course)
    assert response.status_code == 303  # an ordinary enrolment, not a cart
    assert _enrolment(app).source == "web"


@pytest.mark.parametrize(
    "url",
    [
        "https://*; report-uri https://evil.example/x",
        "https://[zz/x",
        "javascript:alert(1)",
        "https://buyer.example/" + "x" * 2100,
    ],
)
def test_a_return_address_that_is_no_plain_url_is_refused(client, buyer, url):
    document = _spec_with(b"https://premier.workchairs.com:2600/punchout.asp", url.encode())
    assert status(post_xml(client, "/punchout/setup", document))[0] == 400


def test_an_order_is_applied_whole_or_not_at_all(app, client, buyer, course):
    punch_in(client)
    enrol_in_session(client, course)
    enrolment = _enrolment(app)
    order = spec("order_request_spec.xml").replace(b"ENROLMENT-ID", str(enrolment.id).encode())
    second_item = order[order.index(b"<ItemOut") : order.index(b"</ItemOut>") + 10].replace(
        f">{enrolment.id}<".encode(), b">999999<"
    )
    order = order.replace(b"</OrderRequest>", second_item + b"</OrderRequest>")
    assert status(post_xml(client, "/punchout/order", order))[0] == 409
    assert _enrolment(app).status == EnrolmentStatus.PRELIMINARY


def _ordered_then_deleted(app, client, course) -> bytes:
    """An enrolment made in the cart, ordered, then its order deleted: the delete."""
    punch_in(client)
    enrol_in_session(client, course)
    enrolment = _enrolment(app)
    order = spec("order_request_spec.xml").replace(b"ENROLMENT-ID", str(enrolment.id).encode())
    assert status(post_xml(client, "/punchout/order", order)) == (200, "OK")
    delete = order.replace(b'type="new"', b'type="delete"').replace(b"32232995@", b"delete@")
    assert status(post_xml(client, "/punchout/order", delete)) == (200, "OK")
    return delete


def test_a_deleted_order_cancels_instead_of_approving(app, client, buyer, course):
    delete = _ordered_then_deleted(app, client, course)
    assert _enrolment(app).status == EnrolmentStatus.CANCELLED
    # Handi retries the delete under a new payloadID: it is done already.
    again = delete.replace(b"delete@", b"delete-again@")
    assert status(post_xml(client, "/punchout/order", again)) == (200, "OK")


@pytest.mark.parametrize("aux", ["²", "１２", "1" * 30])
def test_odd_item_ids_are_unknown_items(client, buyer, aux):
    order = spec("order_request_spec.xml").replace(b"ENROLMENT-ID", aux.encode())
    assert status(post_xml(client, "/punchout/order", order))[0] == 409


def test_an_inspected_cart_takes_no_new_enrolment(app, client, buyer, course, make_course):
    punch_in(client)
    enrol_in_session(client, course)
    enrolment = _enrolment(app)
    inspect = _cart_setup("inspect", course, enrolment.id)
    client.get(start_url(post_xml(client, "/punchout/setup", inspect)))
    other = make_course(title="Toinen").id
    response = client.post(
        f"/training/courses/{other}/enrol", data={**PARTICIPANT, "email": "b@example.com"}
    )
    assert response.headers["Location"].endswith("/punchout/cart")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Enrolment)) == 1


def test_a_lowercase_oci_password_is_redacted_too(app, client, oci_buyer):
    client.get("/punchout/oci?username=sap-user&password=oci-secret&hook_url=https://sap.example/h")
    with app.app_context():
        assert all("oci-secret" not in b for b in db.session.scalars(sa.select(PunchoutLog.body)))


def test_a_utf16_document_has_its_secret_redacted(app, client, buyer):
    document = (
        spec("setup_request_spec.xml").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    )
    post_xml(client, "/punchout/setup", document.encode("utf-16"))
    with app.app_context():
        bodies = db.session.scalars(sa.select(PunchoutLog.body)).all()
        assert bodies and all("abracadabra" not in b for b in bodies)


def test_oci_carries_the_unspsc_class_in_its_own_fields(app, client, oci_buyer, course):
    client.get("/punchout/oci?USERNAME=sap-user&PASSWORD=oci-secret&HOOK_URL=https://sap.example/h")
    text = client.post(f"/training/courses/{course}/enrol", data=PARTICIPANT).get_data(as_text=True)
    assert 'name="NEW_ITEM-EXT_SCHEMA_TYPE[1]" value="UNSPSC"' in text
    assert 'name="NEW_ITEM-EXT_CATEGORY_ID[1]" value="86101700"' in text


# --- Found in the second look: orders honoured exactly -----------------------------------


def _preliminary(app, client, course) -> Enrolment:
    """A preliminary enrolment whose cart went back to the buyer."""
    punch_in(client)
    enrol_in_session(client, course)
    return _enrolment(app)


def _order(enrolment_id: int, *replacements: tuple[bytes, bytes]) -> bytes:
    document = spec("order_request_spec.xml").replace(b"ENROLMENT-ID", str(enrolment_id).encode())
    for old, new in replacements:
        assert old in document, old
        document = document.replace(old, new)
    return document


def _state(app, enrolment_id: int) -> tuple:
    """Everything an order could change: the enrolment, its history, the seats, the mail."""
    from models.mail import OutboxMessage

    with app.app_context():
        enrolment = db.session.get(Enrolment, enrolment_id)
        mails = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
        return (
            enrolment.status,
            enrolment.billing_reference,
            len(enrolment.events),
            enrolment.course.seats_taken,
            mails,
        )


UNIT_PRICE = b'<UnitPrice>\n            <Money currency="EUR">290.00</Money>'
TOTAL = b'<Total>\n          <Money currency="EUR">290.00</Money>'


@pytest.mark.parametrize("quantity", ["2", "0", "0.5", "-1", "NaN", "two", ""])
def test_an_item_for_more_than_one_person_is_refused_and_changes_nothing(
    app, client, buyer, course, quantity
):
    enrolment = _preliminary(app, client, course)
    before = _state(app, enrolment.id)
    document = _order(enrolment.id, (b'quantity="1"', f'quantity="{quantity}"'.encode()))
    response = post_xml(client, "/punchout/order", document)
    code, text = status(response)
    assert response.status_code == 200 and code == 400, text
    assert "one person per order" in text and f"item {enrolment.id}" in text
    assert _state(app, enrolment.id) == before
    # The buyer's retry of the same document gets the same answer, and still no seat.
    assert status(post_xml(client, "/punchout/order", document)) == (code, text)
    assert _state(app, enrolment.id) == before


def test_an_item_without_a_quantity_is_refused(app, client, buyer, course):
    enrolment = _preliminary(app, client, course)
    code, text = status(
        post_xml(client, "/punchout/order", _order(enrolment.id, (b'quantity="1" ', b"")))
    )
    assert code == 400 and "quantity is missing" in text
    assert _enrolment(app).status == EnrolmentStatus.PRELIMINARY


def test_the_same_person_twice_in_one_order_is_refused(app, client, buyer, course):
    enrolment = _preliminary(app, client, course)
    before = _state(app, enrolment.id)
    document = _order(enrolment.id, (TOTAL, TOTAL.replace(b"290.00", b"580.00")))
    item = document[document.index(b"<ItemOut") : document.index(b"</ItemOut>") + 10]
    document = document.replace(b"</OrderRequest>", item + b"</OrderRequest>")
    code, text = status(post_xml(client, "/punchout/order", document))
    assert code == 400 and "one person per order" in text
    assert _state(app, enrolment.id) == before


@pytest.mark.parametrize(
    ("replacement", "words"),
    [
        ((UNIT_PRICE, UNIT_PRICE.replace(b"290.00", b"190.00")), "unit price is 190.00 EUR"),
        ((UNIT_PRICE, UNIT_PRICE.replace(b"EUR", b"USD")), "unit price is 290.00 USD"),
        ((UNIT_PRICE, UNIT_PRICE.replace(b"290.00", b"abc")), "unit price is abc"),
        ((TOTAL, TOTAL.replace(b"290.00", b"580.00")), "order total is 580.00 EUR"),
        ((TOTAL, TOTAL.replace(b"290.00", b"0")), "order total is 0 EUR"),
        ((TOTAL, b"<Total>"), "order has no Total"),
    ],
)
def test_a_price_other_than_the_courses_is_refused_with_the_price_expected(
    app, client, buyer, course, replacement, words
):
    enrolment = _preliminary(app, client, course)
    before = _state(app, enrolment.id)
    if replacement[1] == b"<Total>":  # the Total's Money left out
        replacement = (TOTAL + b"\n        </Total>", b"")
    code, text = status(post_xml(client, "/punchout/order", _order(enrolment.id, replacement)))
    assert code == 400 and words in text, text
    assert "290.00 EUR" in text  # what the course costs, for the buyer to correct
    assert _state(app, enrolment.id) == before


def test_the_courses_price_in_another_notation_is_the_same_price(app, client, buyer, course):
    enrolment = _preliminary(app, client, course)
    document = _order(
        enrolment.id,
        (UNIT_PRICE, UNIT_PRICE.replace(b"290.00", b"290")),
        (TOTAL, TOTAL.replace(b"290.00", b" 290.000 ")),
        (b'quantity="1"', b'quantity="1.0"'),
    )
    assert status(post_xml(client, "/punchout/order", document)) == (200, "OK")
    assert _enrolment(app).status == EnrolmentStatus.BINDING


def test_a_delete_under_another_order_cancels_nothing(app, client, buyer, course):
    enrolment = _preliminary(app, client, course)
    assert status(post_xml(client, "/punchout/order", _order(enrolment.id))) == (200, "OK")
    approved = _state(app, enrolment.id)
    delete = _order(
        enrolment.id,
        (b'type="new"', b'type="delete"'),
        (b'orderID="DO1234"', b'orderID="DO9999"'),
        (b"32232995@", b"delete@"),
    )
    code, text = status(post_xml(client, "/punchout/order", delete))
    assert code == 409 and "approved under order DO1234, not DO9999" in text, text
    assert _state(app, enrolment.id) == approved
    assert approved[0] == EnrolmentStatus.BINDING


def test_a_delete_of_an_order_that_approved_nothing_cancels_nothing(app, client, buyer, course):
    enrolment = _preliminary(app, client, course)
    before = _state(app, enrolment.id)
    delete = _order(enrolment.id, (b'type="new"', b'type="delete"'))
    code, text = status(post_xml(client, "/punchout/order", delete))
    assert code == 409 and "no order DO1234 approved it" in text, text
    assert _state(app, enrolment.id) == before


def _staff_lookup(client, auth, make_user, code: str):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    return client.get("/staff/lookup", query_string={"code": code})


def test_staff_find_an_approved_order_by_its_number_in_any_case(
    app, client, auth, make_user, buyer, course
):
    enrolment = _preliminary(app, client, course)
    document = _order(enrolment.id, (b'orderID="DO1234"', b'orderID="HANDI-4711ab"'))
    assert status(post_xml(client, "/punchout/order", document)) == (200, "OK")
    response = _staff_lookup(client, auth, make_user, " handi-4711AB ")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/training/enrolments/{enrolment.id}"


def test_staff_find_a_refused_order_and_its_answer(app, client, auth, make_user, buyer, course):
    enrolment = _preliminary(app, client, course)
    document = _order(
        enrolment.id,
        (b'orderID="DO1234"', b'orderID="HANDI-9"'),
        (b'quantity="1"', b'quantity="3"'),
    )
    post_xml(client, "/punchout/order", document)
    response = _staff_lookup(client, auth, make_user, "Handi-9")
    assert response.headers["Location"] == f"/staff/punchout/buyers/{buyer}"
    part = client.get("/staff/lookup", query_string={"code": "HANDI-"})  # the whole number only
    assert part.status_code == 200 and 'aria-invalid="true"' in part.get_data(as_text=True)


def test_staff_find_an_oci_order_they_approved(app, client, auth, make_user, oci_buyer, course):
    client.get("/punchout/oci?USERNAME=sap-user&PASSWORD=oci-secret&HOOK_URL=https://sap.example/h")
    client.post(f"/training/courses/{course}/enrol", data=PARTICIPANT)
    enrolment = _enrolment(app)
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    client.post(
        f"/staff/punchout/enrolments/{enrolment.id}/approve", data={"order_number": "PO-77a"}
    )
    response = client.get("/staff/lookup", query_string={"code": "po-77A"})
    assert response.headers["Location"] == f"/staff/training/enrolments/{enrolment.id}"


def test_the_order_number_look_up_walks_an_index(app, client, auth, make_user, buyer):
    from tests.fixtures.app import recorded_statements

    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    with recorded_statements(app) as statements:
        client.get("/staff/lookup", query_string={"code": "HANDI-123"})
    [(statement, parameters)] = [
        (sql, params) for sql, params in statements if "FROM punchout_order" in sql
    ]
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        else:
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    assert "ix_punchout_order_number" in " ".join(str(line[-1]) for line in plan), plan


def test_the_oci_description_says_who_what_and_when_first(app, client, oci_buyer, make_course):
    from models.types import utcnow

    starts = utcnow().replace(hour=9, minute=0) + timedelta(days=40)
    title = "Julkisten hankintojen erikoiskurssi edistyneille, osa 2: kilpailutus"
    course = make_course(title=title, starts_at=starts).id
    client.get("/punchout/oci?USERNAME=sap-user&PASSWORD=oci-secret&HOOK_URL=https://sap.example/h")
    page = client.post(
        f"/training/courses/{course}/enrol",
        data=PARTICIPANT,
        headers={"Accept-Language": "fi"},
    )
    text = page.get_data(as_text=True)
    import html

    fields = re.findall(r'name="(NEW_ITEM-[^"]+)" value="([^"]*)"', text)
    values = {name: html.unescape(value) for name, value in fields}
    description = values["NEW_ITEM-DESCRIPTION[1]"]
    day = f"{starts.day}.{starts.month}.{starts.year}"
    assert len(description) <= 40
    assert description.startswith("Matti Virtanen, Julkisten")
    assert description.endswith(day)
    long_lines = [html.unescape(v) for n, v in fields if n == "NEW_ITEM-LONGTEXT_1:132[]"]
    assert all(len(line) <= 132 for line in long_lines)
    assert " ".join(long_lines) == f"Matti Virtanen, {title}, {day}"


@pytest.mark.parametrize(
    ("first", "last", "title"),
    [
        ("Matti", "Virtanen", "Hankinnat"),
        ("Maria-Kristiina", "Järvinen-Korhonen-Lindqvist", "Julkisten hankintojen erikoiskurssi"),
        ("A" * 100, "B" * 100, "C" * 200),
    ],
)
def test_the_short_description_keeps_the_participant_and_the_date(app, first, last, title):
    from datetime import UTC, datetime

    with app.test_request_context(headers={"Accept-Language": "fi"}):
        course = Course(title=title, starts_at=datetime(2027, 3, 9, 8, tzinfo=UTC))
        enrolment = Enrolment(first_name=first, last_name=last, course=course)
        description = punchout.short_description(enrolment)
        db.session.expunge_all()
    assert len(description) <= 40
    assert description.endswith(", 9.3.2027")
    assert description.startswith(f"{first} {last}"[:10])
    name, course_part = description.removesuffix(", 9.3.2027").split(", ", 1)
    assert len(course_part) >= 8 or course_part == title  # some of the course is left


def test_an_enrolment_changed_while_the_order_is_applied_is_a_409_not_a_500(
    app, client, buyer, course, monkeypatch
):
    from services import training

    punch_in(client)
    enrol_in_session(client, course)
    enrolment = _enrolment(app)

    def changed(*args, **kwargs):
        raise training.StatusChanged("changed a moment ago")

    monkeypatch.setattr(training, "approve_preliminary", changed)
    order = spec("order_request_spec.xml").replace(b"ENROLMENT-ID", str(enrolment.id).encode())
    response = post_xml(client, "/punchout/order", order)
    code, text = status(response)
    assert code == 409 and "Send the order again" in text
    assert _enrolment(app).status == EnrolmentStatus.PRELIMINARY


@pytest.mark.parametrize("endpoint", ["/punchout/setup", "/punchout/order"])
def test_a_nul_byte_in_a_document_is_refused_and_logged_escaped(app, client, buyer, endpoint):
    document = spec("setup_request_spec.xml").replace(b"<Credential", b"\x00<Credential", 1)
    response = post_xml(client, endpoint, document)
    assert response.status_code == 200 and status(response)[0] == 400  # a cXML refusal
    with app.app_context():
        incoming = db.session.scalars(
            sa.select(PunchoutLog.body).where(PunchoutLog.direction == "in")
        ).all()
    assert any("\\x00<Credential" in body for body in incoming)
    assert not any("\x00" in body for body in incoming)


def _in(app, language: str, stored: str) -> str:
    """A stored reason as a reader in `language` reads it."""
    from flask_babel import force_locale

    from services import reasons

    with app.test_request_context(), force_locale(language):
        return reasons.describe(stored)


def test_a_deleted_orders_reason_is_a_code_told_in_each_readers_language(
    app, client, buyer, course, auth, make_user
):
    """The participant's mail once said "Syy: Order HANDI-DEL was deleted" in English."""
    from services import reasons
    from tests.fixtures.invoicing import mails

    _ordered_then_deleted(app, client, course)
    cancelled = _enrolment(app)
    code, parameters = reasons.decode(cancelled.cancel_reason)
    assert code == "punchout_deleted" and parameters["order"]
    finnish, english = (_in(app, lang, cancelled.cancel_reason) for lang in ("fi", "en"))
    assert parameters["order"] in finnish and finnish != english
    [mail] = mails(app, "training_cancelled")
    assert cancelled.language == "fi"
    assert finnish in mail.body and english not in mail.body
    # The staff member reads it in their own language, the actor's name as it was.
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff", language="en")
    auth.login("staff@example.com")
    shown = html.unescape(
        client.get(f"/staff/training/enrolments/{cancelled.id}").get_data(as_text=True)
    )
    assert english in shown and cancelled.cancel_reason not in shown
