"""Admins manage accounts, organisations and their department trees."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Department, Organisation, Role, User
from models.mail import MailStatus, OutboxMessage
from tests.fixtures.mail import deliver_mail


@pytest.fixture
def admin(client, auth, make_user):
    user = make_user("admin@example.com", role=Role.ADMIN, org=None, name="Aino Admin")
    auth.login("admin@example.com")
    return user


@pytest.mark.parametrize(
    "url",
    ["/auth/users", "/auth/users/new", "/auth/organisations/new", "/auth/users/1/edit"],
)
def test_only_admins_manage_accounts(client, auth, make_user, url):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    assert client.get(url).status_code == 403


def test_staff_do_not_see_the_users_section(client, auth, make_user):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    auth.login("staff@example.com")
    assert 'href="/auth/users"' not in client.get("/staff/").get_data(as_text=True)


def test_admins_see_the_users_section(client, admin):
    assert 'href="/auth/users"' in client.get("/staff/").get_data(as_text=True)


def test_admin_creates_a_user_who_chooses_a_password(app, client, admin, make_org, smtp_server):
    make_org("Testivirasto")
    response = client.post(
        "/auth/users/new",
        data={
            "email": "Uusi.Kayttaja@Example.com",
            "name": "Uusi Käyttäjä",
            "role": "customer",
            "organisation": "testivirasto",  # any letter case
            "language": "sv",
            "active": "y",
        },
    )
    assert response.status_code == 303
    assert deliver_mail(app).sent == 1
    [message] = smtp_server.messages
    assert message["To"] == "uusi.kayttaja@example.com"
    link = re.search(
        r"http://portal\.test(/auth/welcome/[^\s?]+)", smtp_server.text_of(message)
    ).group(1)

    new_client = app.test_client()
    assert new_client.get(link).status_code == 200
    response = new_client.post(
        link, data={"password": "my own password", "confirm": "my own password"}
    )
    assert response.status_code == 303
    login = new_client.post(
        "/auth/login", data={"email": "uusi.kayttaja@example.com", "password": "my own password"}
    )
    assert login.status_code == 303
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "uusi.kayttaja@example.com"))
        assert (user.language, user.organisation.name, user.role) == (
            "sv",
            "Testivirasto",
            Role.CUSTOMER,
        )
    # The invitation link is single-use too.
    assert app.test_client().get(link).status_code == 303


def test_an_invitation_link_is_no_reset_link(app, client, admin, make_org, smtp_server):
    make_org("Testivirasto")
    client.post(
        "/auth/users/new",
        data={
            "email": "u@example.com",
            "name": "U",
            "role": "customer",
            "organisation": "testivirasto",  # any letter case
            "language": "fi",
            "active": "y",
        },
    )
    deliver_mail(app)
    token = re.search(
        r"/auth/welcome/([^\s?]+)", smtp_server.text_of(smtp_server.messages[0])
    ).group(1)
    assert app.test_client().get(f"/auth/reset/{token}").status_code == 303


@pytest.mark.parametrize(
    ("data", "error_field"),
    [
        ({"email": "admin@example.com", "name": "X", "role": "staff"}, "email"),
        ({"email": "bad", "name": "X", "role": "staff"}, "email"),
        ({"email": "c@example.com", "name": "", "role": "staff"}, "name"),
        ({"email": "c@example.com", "name": "C", "role": "customer"}, "organisation"),
        ({"email": "c@example.com", "name": "C", "role": "emperor"}, "role"),
    ],
)
def test_user_form_refuses_bad_input(app, client, admin, data, error_field):
    response = client.post("/auth/users/new", data={"organisation": "", "language": "fi", **data})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert f'href="#{error_field}"' in text  # the error summary links to the field
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_admin_deactivates_a_user(app, client, admin, make_user):
    user = make_user("maija@example.com")
    response = client.post(
        f"/auth/users/{user.id}/edit",
        data={
            "email": "maija@example.com",
            "name": "Maija",
            "role": "customer",
            "organisation": "Testivirasto",
            "language": "fi",
        },
    )
    assert response.status_code == 303
    other = app.test_client()
    from tests.fixtures.users import PASSWORD

    assert (
        other.post(
            "/auth/login", data={"email": "maija@example.com", "password": PASSWORD}
        ).status_code
        == 200
    )
    with app.app_context():
        assert db.session.get(User, user.id).active is False


def test_admin_cannot_lock_themselves_out(app, client, admin):
    response = client.post(
        f"/auth/users/{admin.id}/edit",
        data={
            "email": "admin@example.com",
            "name": "Aino",
            "role": "staff",
            "organisation": "",
            "language": "fi",
            "active": "y",
        },
    )
    assert response.status_code == 200
    with app.app_context():
        assert db.session.get(User, admin.id).role == Role.ADMIN


def test_admin_sends_a_new_password_link(app, client, admin, make_user, smtp_server):
    user = make_user("maija@example.com")
    assert client.post(f"/auth/users/{user.id}/invite").status_code == 303
    deliver_mail(app)
    assert "/auth/welcome/" in smtp_server.text_of(smtp_server.messages[0])


def test_an_invitation_is_said_to_be_on_its_way_while_it_is_only_queued(
    app, client, auth, make_user, make_org
):
    """The mail is queued in the outbox: no page may say it was sent."""
    make_user("admin.en@example.com", role=Role.ADMIN, org=None, name="Admin", language="en")
    auth.login("admin.en@example.com")
    user = make_user("maija@example.com")
    again = client.post(f"/auth/users/{user.id}/invite", follow_redirects=True)
    text = again.get_data(as_text=True)
    assert "An invitation is on its way to maija@example.com." in text

    make_org("Testivirasto")
    created = client.post(
        "/auth/users/new",
        data={
            "email": "uusi@example.com",
            "name": "Uusi Käyttäjä",
            "role": "customer",
            "organisation": "Testivirasto",
            "language": "fi",
            "active": "y",
        },
        follow_redirects=True,
    )
    text = created.get_data(as_text=True)
    assert "The account was created; an invitation is on its way to uusi@example.com." in text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 2
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).where(OutboxMessage.status == MailStatus.QUEUED)
            )
            == 2
        )
    assert "was sent" not in text and "invitation sent" not in text


def test_user_list_searches(client, admin, make_user):
    make_user("maija@example.com", name="Maija Meikäläinen")
    make_user("kunde@example.com", org="Demokunde_Test", name="Test Bruker")
    text = client.get("/auth/users", query_string={"q": "demokunde"}).get_data(as_text=True)
    assert "Test Bruker" in text and "Maija" not in text


def test_admin_creates_an_organisation_with_a_valid_business_id(app, client, admin):
    response = client.post(
        "/auth/organisations/new",
        data={
            "name": " Uusi Virasto ",
            "country": "FI",
            "business_id": "1234567-2",
            "language": "fi",
            "account_manager_id": "",
        },
    )
    assert response.status_code == 200  # 1234567-2 has a wrong check digit
    assert 'href="#business_id"' in response.get_data(as_text=True)
    response = client.post(
        "/auth/organisations/new",
        data={
            "name": " Uusi Virasto ",
            "country": "FI",
            "business_id": "12345612",
            "language": "fi",
            "account_manager_id": str(admin.id),
        },
    )
    assert response.status_code == 303
    with app.app_context():
        org = db.session.scalar(sa.select(Organisation).where(Organisation.name == "Uusi Virasto"))
        assert org.business_id == "1234561-2"
        assert org.account_manager_id == admin.id


def test_norwegian_organisation_numbers_are_checked(client, admin):
    data = {"name": "Norsk AS", "country": "NO", "language": "nb", "account_manager_id": ""}
    assert (
        client.post(
            "/auth/organisations/new", data={**data, "business_id": "987654321"}
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/auth/organisations/new", data={**data, "business_id": "987 654 325"}
        ).status_code
        == 303
    )


def test_organisation_names_are_unique(client, admin, make_org):
    make_org("Demokunde_Test")
    response = client.post(
        "/auth/organisations/new",
        data={
            "name": "Demokunde_Test",
            "country": "NO",
            "language": "nb",
            "account_manager_id": "",
        },
    )
    assert response.status_code == 200 and 'href="#name"' in response.get_data(as_text=True)


def test_admin_builds_a_department_tree(app, client, admin, make_org):
    org = make_org("Demokunde_Test", country="NO", language="nb")
    url = f"/auth/organisations/{org.id}/departments"
    assert client.post(url, data={"name": "Testbedriften AS", "parent_id": ""}).status_code == 303
    with app.app_context():
        top = db.session.scalar(sa.select(Department).where(Department.name == "Testbedriften AS"))
    assert (
        client.post(url, data={"name": "Bergen TEST", "parent_id": str(top.id)}).status_code == 303
    )
    # The same name twice under one parent is refused.
    response = client.post(url, data={"name": "Bergen TEST", "parent_id": str(top.id)})
    assert response.status_code == 200 and 'href="#name"' in response.get_data(as_text=True)
    with app.app_context():
        choices = db.session.get(Organisation, org.id).department_choices()
        assert [name for _, name in choices] == ["Testbedriften AS", "\u2003Bergen TEST"]
    # A parent from another organisation is not a valid choice.
    other = make_org("Other")
    response = client.post(
        f"/auth/organisations/{other.id}/departments", data={"name": "X", "parent_id": str(top.id)}
    )
    assert response.status_code == 200


def test_admin_edits_an_organisation(app, client, admin, make_org):
    org = make_org("Testivirasto")
    response = client.post(
        f"/auth/organisations/{org.id}/edit",
        data={
            "name": "Testivirasto",
            "country": "FI",
            "business_id": "1234562-0",
            "language": "sv",
            "account_manager_id": "",
        },
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Organisation, org.id).language == "sv"


def test_the_department_tree_is_nested_for_screen_readers(client, admin, make_org, app):
    org = make_org("Demokunde_Test")
    url = f"/auth/organisations/{org.id}/departments"
    client.post(url, data={"name": "Testbedriften AS", "parent_id": ""})
    with app.app_context():
        top = db.session.scalar(sa.select(Department).where(Department.name == "Testbedriften AS"))
    client.post(url, data={"name": "Bergen TEST", "parent_id": str(top.id)})
    text = client.get(f"/auth/organisations/{org.id}").get_data(as_text=True)
    assert re.search(r"<li>Testbedriften AS<ul>\s*<li>Bergen TEST</li>", text)


def test_an_unknown_country_is_a_form_error_not_a_crash(client, admin):
    response = client.post(
        "/auth/organisations/new",
        data={
            "name": "Svensk AB",
            "country": "SE",
            "business_id": "556000-0000",
            "language": "sv",
            "account_manager_id": "",
        },
    )
    assert response.status_code == 200
    assert 'href="#country"' in response.get_data(as_text=True)


def test_mail_of_a_user_links_to_the_user(app, client, admin, make_user):
    user = make_user("maija@example.com")
    client.post(f"/auth/users/{user.id}/invite")
    with app.app_context():
        from models.mail import OutboxMessage

        message_id = db.session.scalar(sa.select(OutboxMessage.id))
    text = client.get(f"/staff/mail/{message_id}").get_data(as_text=True)
    assert f'href="/auth/users/{user.id}/edit"' in text


def test_admin_grants_departments_of_the_users_own_organisation(app, client, admin, make_user,
                                                                make_org):  # fmt: skip
    from models.auth import Department

    make_org("Demokunde_Test", departments=["Bergen TEST", "Testbedriften AS"], country="NO")
    make_org("Toinen Oy", departments=["Vieras osasto"])
    user = make_user("bruker@example.com", org="Demokunde_Test", language="nb")
    with app.app_context():
        ids = {d.name: d.id for d in db.session.scalars(sa.select(Department))}
    data = {
        "email": "bruker@example.com",
        "name": "Bruker",
        "role": "customer",
        "organisation": "Demokunde_Test",
        "language": "nb",
        "active": "y",
        "username": "Tester",
    }
    foreign = client.post(
        f"/auth/users/{user.id}/edit",
        data={**data, "granted_department_ids": [str(ids["Vieras osasto"])]},
    )
    assert foreign.status_code == 200 and "error-summary" in foreign.get_data(as_text=True)
    response = client.post(
        f"/auth/users/{user.id}/edit",
        data={**data, "granted_department_ids": [str(ids["Bergen TEST"])]},
    )
    assert response.status_code == 303
    with app.app_context():
        saved = db.session.get(User, user.id)
        assert [d.name for d in saved.granted_departments] == ["Bergen TEST"]
        assert saved.username == "Tester" and saved.display_username == "Tester"


# --- Organisations picked by name or business ID, never listed whole -----------------


@pytest.fixture
def organisations(make_org):
    make_org("Testivirasto", business_id="0245437-2")
    make_org("Testivirasto Etelä")
    make_org("Öljy & Sähkö Oy")
    make_org("Demokunde_Test", business_id="923 609 016", country="NO")
    for n in range(12):
        make_org(f"Kunde {n:02d} AS", country="NO")


@pytest.mark.parametrize(
    ("text", "picked"),
    [
        ("testivirasto", "Testivirasto"),  # the whole name, among others that begin so
        ("  TESTIVIRASTO  ", "Testivirasto"),
        ("Testivirasto E", "Testivirasto Etelä"),  # the beginning of one name only
        ("öljy", "Öljy & Sähkö Oy"),  # lower-cased beyond ASCII
        ("0245437-2", "Testivirasto"),  # a business ID as the register writes it
        ("02454372", "Testivirasto"),
        ("923609016", "Demokunde_Test"),
        ("Kunde 07", "Kunde 07 AS"),
    ],
)
def test_an_organisation_is_picked_by_its_name_or_business_id(app, organisations, text, picked):
    from services import accounts

    with app.app_context():
        found, candidates = accounts.pick_organisation(text)
        assert found is not None and found.name == picked and candidates == []


def test_a_text_that_fits_several_offers_ten_and_one_that_fits_none_nothing(app, organisations):
    from services import accounts

    with app.app_context():
        found, candidates = accounts.pick_organisation("kunde")
        assert found is None
        assert [o.name for o in candidates] == [f"Kunde {n:02d} AS" for n in range(10)]
        assert accounts.pick_organisation("Ei ole Oy") == (None, [])
        assert accounts.pick_organisation("%") == (None, [])  # no wildcard


def test_the_user_form_takes_the_organisation_typed(app, client, admin, organisations):
    data = {"email": "u@example.com", "name": "U", "role": "customer", "language": "fi"}
    several = client.post("/auth/users/new", data={**data, "organisation": "testi"})
    assert several.status_code == 200
    page = several.get_data(as_text=True)
    assert 'href="#organisation"' in page
    assert "Testivirasto; Testivirasto Etelä" in page
    unknown = client.post("/auth/users/new", data={**data, "organisation": "Ei ole Oy"})
    assert 'href="#organisation"' in unknown.get_data(as_text=True)
    made = client.post("/auth/users/new", data={**data, "organisation": "0245437-2"})
    assert made.status_code == 303
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "u@example.com"))
        assert user.organisation.name == "Testivirasto"


def test_the_user_form_offers_only_the_organisations_departments(
    app, client, admin, make_org, make_user
):
    make_org("Demokunde_Test", departments=["Bergen TEST"], country="NO")
    make_org("Toinen Oy", departments=["Vieras osasto"])
    user = make_user("bruker@example.com", org="Demokunde_Test", language="nb")
    page = client.get(f"/auth/users/{user.id}/edit").get_data(as_text=True)
    assert 'value="Demokunde_Test"' in page
    assert "Bergen TEST" in page and "Vieras osasto" not in page
    new = client.get("/auth/users/new").get_data(as_text=True)
    assert "Bergen TEST" not in new and "Vieras osasto" not in new
