"""Canned replies (valmisvastaukset): staff keep them in four languages, a bad template
is refused, and a reply is filled in with the ticket's fields, in a sandbox."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Role, User
from models.support import CannedReply, Ticket
from services import support, support_canned
from tests.fixtures import support as support_fixtures
from tests.fixtures.support import contact_data
from tests.fixtures.users import PASSWORD

applications = support_fixtures.applications

NEW = "/staff/support/canned/new"
LANGUAGES = ("fi", "sv", "nb", "en")
LIST = "/staff/support/canned"

FOUR_LANGUAGES = {
    "title_fi": "Kiitos, selvitämme",
    "body_fi": "Hei {{ customer }}, selvitämme tikettiä {{ number }}.",
    "title_sv": "Tack, vi utreder",
    "body_sv": "Hej {{ customer }}, vi utreder ärende {{ number }}.",
    "title_nb": "Takk, vi ser på det",
    "body_nb": "Hei {{ customer }}, vi ser på sak {{ number }}.",
    "title_en": "Thanks, looking into it",
    "body_en": "Hello {{ customer }}, we are looking into ticket {{ number }}.",
    "position": "5",
    "active": "y",
}


@pytest.fixture
def customer(make_user, auth, applications):
    user = make_user("maija@example.com", org="Testivirasto")
    auth.login("maija@example.com")
    return user


@pytest.fixture
def staff_client(app, make_user, applications):
    make_user(
        "kaisa@example.com", role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa", language="en"
    )
    client = app.test_client()
    client.post("/auth/login", data={"email": "kaisa@example.com", "password": PASSWORD})
    return client


def canned_rows(app) -> list[CannedReply]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(CannedReply).order_by(CannedReply.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def add_canned(app, bodies: dict, titles: dict | None = None, **values) -> int:
    with app.app_context():
        canned = CannedReply(titles=titles or {"fi": "Otsikko"}, bodies=bodies, **values)
        db.session.add(canned)
        db.session.commit()
        return canned.id


def a_ticket(client, applications, app) -> str:
    """A ticket sent through the contact form, as the customer sends one; its number."""
    response = client.post("/support/new", data=contact_data(applications))
    assert response.status_code == 302
    with app.app_context():
        return db.session.scalar(sa.select(Ticket.number))


# ---------------------------------------------------------------- the staff's pages


def test_staff_write_and_edit_a_canned_reply_in_four_languages(app, staff_client):
    assert staff_client.get(LIST).status_code == 200
    form = staff_client.get(NEW).get_data(as_text=True)
    assert "<h1>New canned reply</h1>" in form
    assert "{{ status_link }}" in form  # the fields are explained on the page
    response = staff_client.post(NEW, data=FOUR_LANGUAGES)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(LIST)
    [canned] = canned_rows(app)
    assert canned.titles == {
        code: FOUR_LANGUAGES[f"title_{code}"] for code in "fi sv nb en".split()
    }
    assert canned.bodies == {code: FOUR_LANGUAGES[f"body_{code}"] for code in "fi sv nb en".split()}
    assert (canned.position, canned.active) == (5, True)
    assert "Thanks, looking into it" in staff_client.get(LIST).get_data(as_text=True)

    edit = f"/staff/support/canned/{canned.id}"
    page = staff_client.get(edit).get_data(as_text=True)
    assert 'value="Tack, vi utreder"' in page
    assert "Hei {{ customer }}, vi ser på sak {{ number }}." in page
    changed = {**FOUR_LANGUAGES, "body_en": "Hello, {{ staff }} here.", "title_nb": ""}
    del changed["active"]  # an unticked box: taken out of use
    assert staff_client.post(edit, data=changed).status_code == 302
    [canned] = canned_rows(app)
    assert canned.bodies["en"] == "Hello, {{ staff }} here."
    assert "nb" not in canned.titles
    assert canned.active is False
    with app.app_context():
        assert support_canned.offered("en") == []


def test_a_canned_reply_needs_its_finnish_title_and_text(app, staff_client):
    response = staff_client.post(NEW, data={"title_en": "X", "body_en": "Hello"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "error-summary" in page
    assert "Enter the title in Finnish." in page and "Write the text in Finnish." in page
    assert canned_rows(app) == []


@pytest.mark.parametrize(
    "body, message",
    [
        ("Hei {{ nosuch }}!", "Unknown field nosuch. The fields are: {{ number }}, "),
        ("Hei {{ customer }", "Line 1 cannot be read"),
        ("Hei\n{% if organisation %}{{ organisation }}", "Line 2 cannot be read"),
        ("{{ number.__class__ }}", "Only fields such as {{ number }}"),
        ("{{ customer|upper }}", "Only fields such as {{ number }}"),
        ("{{ staff() }}", "Only fields such as {{ number }}"),
        ("{% for x in number %}{{ x }}{% endfor %}", "Only fields such as {{ number }}"),
        ("{% set number = 1 %}", "Only fields such as {{ number }}"),
    ],
)
def test_a_bad_template_is_refused_and_nothing_is_saved(app, staff_client, body, message):
    for language in ("fi", "sv"):
        data = {**FOUR_LANGUAGES, f"body_{language}": body}
        response = staff_client.post(NEW, data=data)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "error-summary" in page
        assert message in html.unescape(page)
    assert canned_rows(app) == []


def test_an_edit_with_a_bad_template_changes_nothing(app, staff_client):
    canned_id = add_canned(app, {"fi": "Hei {{ customer }}"})
    response = staff_client.post(
        f"/staff/support/canned/{canned_id}", data={"title_fi": "X", "body_fi": "{{ nosuch }}"}
    )
    assert response.status_code == 200
    [canned] = canned_rows(app)
    assert canned.bodies == {"fi": "Hei {{ customer }}"} and canned.titles == {"fi": "Otsikko"}


def test_writing_a_canned_reply_needs_the_csrf_token(app, staff_client):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        refused = staff_client.post(NEW, data=FOUR_LANGUAGES)
        assert refused.status_code == 400
        assert canned_rows(app) == []
        page = staff_client.get(NEW).get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
        accepted = staff_client.post(NEW, data={**FOUR_LANGUAGES, "csrf_token": token})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert accepted.status_code == 302
    assert len(canned_rows(app)) == 1


def test_customers_and_strangers_cannot_reach_the_canned_replies(app, client, customer):
    canned_id = add_canned(app, {"fi": "Hei"})
    for url in (LIST, NEW, f"/staff/support/canned/{canned_id}"):
        assert client.get(url).status_code == 403
        if url != LIST:
            assert client.post(url, data=FOUR_LANGUAGES).status_code == 403
        stranger = app.test_client().get(url)
        assert stranger.status_code in (302, 303)
        assert "/auth/login" in stranger.headers["Location"]
    [canned] = canned_rows(app)
    assert canned.bodies == {"fi": "Hei"}


def test_an_unknown_canned_reply_is_not_found(staff_client):
    assert staff_client.get("/staff/support/canned/999").status_code == 404


# ---------------------------------------------------------------- filling one in

ALL_FIELDS = (
    "{{ number }}|{{ customer }}|{{ email }}|{{ organisation }}|{{ type }}|"
    "{{ application }}|{{ status_link }}|{{ staff }}"
)


@pytest.mark.parametrize(
    "language, greeting, type_label, application",
    [
        ("fi", "Hei", "Toimintahäiriö", "Koulutuskalenteri"),
        ("sv", "Hej", "Funktionsstörning", "Utbildningskalender"),
        ("nb", "Hei", "Funksjonsfeil", "Kurskalender"),
        ("en", "Hello", "Malfunction", "Training calendar"),
    ],
)
def test_fill_puts_the_tickets_fields_in_the_tickets_language(
    app, client, customer, staff_client, applications, language, greeting, type_label, application
):
    number = a_ticket(client, applications, app)
    bodies = {code: f"{code}: {ALL_FIELDS}" for code in LANGUAGES}
    bodies[language] = f"{greeting} {ALL_FIELDS}\n{{% if due %}}due {{{{ due }}}}{{% endif %}}"
    canned_id = add_canned(app, bodies)
    with app.app_context():
        ticket = support.by_number(number)
        staff = db.session.scalar(sa.select(User).where(User.email == "kaisa@example.com"))
        filled = support_canned.fill(
            db.session.get(CannedReply, canned_id), ticket, staff, language
        )
        link = support.status_link(ticket, language)
    first, due = filled.split("\n")
    assert first == (
        f"{greeting} {number}|Maija Meikäläinen|maija@example.com|Testivirasto|{type_label}|"
        f"{application}|{link}|Kaisa"
    )
    assert f"lang={language}" in link
    assert re.fullmatch(r"due .*\d.*", due)


def test_fill_falls_back_to_finnish_and_names_the_email_without_a_user(
    app, client, customer, applications
):
    number = a_ticket(client, applications, app)
    canned_id = add_canned(app, {"fi": "Hei {{ customer }}, {{ type }} ({{ application }})"})
    with app.app_context():
        ticket = support.by_number(number)
        ticket.user = None
        canned = db.session.get(CannedReply, canned_id)
        filled = support_canned.fill(canned, ticket, None, "sv")
        db.session.rollback()
    assert filled == "Hei maija@example.com, Toimintahäiriö (Koulutuskalenteri)"


def test_a_condition_leaves_out_what_an_empty_field_would_say(app, client, customer, applications):
    number = a_ticket(client, applications, app)
    canned_id = add_canned(
        app, {"fi": "Hei{% if staff %}, täällä {{ staff }}{% else %}!{% endif %}"}
    )
    with app.app_context():
        ticket = support.by_number(number)
        canned = db.session.get(CannedReply, canned_id)
        assert support_canned.fill(canned, ticket, None, "fi") == "Hei!"


# ---------------------------------------------------------------- the sandbox


@pytest.mark.parametrize(
    "body",
    [
        "{{ number.__class__ }}",
        "{{ number.__class__.__mro__[1].__subclasses__() }}",
        "{{ staff.password_hash }}",
        "{{ config }}",
        "{{ self.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ lipsum.__globals__ }}",
        "{{ ''.__class__ }}",
    ],
)
def test_attribute_tricks_are_refused_and_never_filled(
    app, client, customer, applications, monkeypatch, body
):
    assert support_canned.check(body) is not None
    number = a_ticket(client, applications, app)
    canned_id = add_canned(app, {"fi": body})  # past the form, straight into the table
    with app.app_context():
        ticket = support.by_number(number)
        canned = db.session.get(CannedReply, canned_id)
        with pytest.raises(support_canned.CannedReplyError) as refused:
            support_canned.fill(canned, ticket, None, "fi")
        # Even unchecked, the sandbox gives nothing of the objects behind the fields.
        monkeypatch.setattr(support_canned, "check", lambda body: None)
        with pytest.raises(support_canned.CannedReplyError) as sandboxed:
            support_canned.fill(canned, ticket, None, "fi")
    for error in (refused.value, sandboxed.value):
        assert "<class" not in str(error) and "SECRET" not in str(error)


def test_check_accepts_text_fields_and_conditions():
    assert support_canned.check("Hei {{ customer }}!\n\n{{ staff }}") is None
    assert (
        support_canned.check("{% if organisation and not due %}{{ organisation }}{% endif %}")
        is None
    )
    assert support_canned.check("Plain text, {# a note #} no fields.") is None


# ---------------------------------------------------------------- the picker's list and defaults


def test_offered_lists_the_replies_in_use_in_order_with_titles_in_the_language(app):
    add_canned(app, {"fi": "b"}, {"fi": "Toinen", "en": "Second"}, position=20)
    add_canned(app, {"fi": "a"}, {"fi": "Ensimmäinen", "en": "First"}, position=10)
    add_canned(app, {"fi": "c"}, {"fi": "Kolmas"}, position=20)
    add_canned(app, {"fi": "d"}, {"fi": "Pois käytöstä"}, position=0, active=False)
    with app.app_context():
        offered = support_canned.offered("en")
    assert [title for _, title in offered] == ["First", "Second", "Kolmas"]
    assert all(isinstance(canned_id, int) for canned_id, _ in offered)


def test_the_defaults_are_written_in_four_languages_once_and_fill_in(
    app, client, customer, applications
):
    number = a_ticket(client, applications, app)
    with app.app_context():
        support_canned.ensure_default_canned_replies()
        db.session.commit()
        support_canned.ensure_default_canned_replies()
        db.session.commit()
        rows = list(db.session.scalars(sa.select(CannedReply)))
        assert len(rows) == len(support_canned.DEFAULT_CANNED_REPLIES) >= 2
        ticket = support.by_number(number)
        for canned in rows:
            assert set(canned.titles) == set(canned.bodies) == {"fi", "sv", "nb", "en"}
            for language in ("fi", "sv", "nb", "en"):
                assert support_canned.check(canned.bodies[language]) is None
                filled = support_canned.fill(canned, ticket, None, language)
                assert number in filled and "{{" not in filled
