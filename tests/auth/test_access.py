"""Staff-only views and organisation scoping."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from access import get_owned_or_404, scoped
from extensions import db
from models.auth import Organisation, Role, User

STAFF_PAGES = ["/staff/", "/staff/mail", "/staff/lookup?code=x", "/auth/organisations"]


@pytest.mark.parametrize("url", ["/staff/", "/staff/mail"])
def test_anonymous_visitors_are_sent_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("url", ["/staff/", "/staff/mail", "/staff/lookup?code=x"])
def test_customers_may_not_enter_the_staff_area(client, auth, make_user, url):
    make_user()
    auth.login()
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("role", [Role.STAFF, Role.ADMIN])
@pytest.mark.parametrize("url", STAFF_PAGES)
def test_staff_and_admins_enter_the_staff_area(client, auth, make_user, role, url):
    make_user("staff@example.com", role=role, org=None, name="Staff")
    auth.login("staff@example.com")
    assert client.get(url).status_code in (200, 302)


def test_a_customer_sees_their_own_organisation(client, auth, make_user, make_org):
    user = make_user()
    auth.login()
    response = client.get(f"/auth/organisations/{user.organisation_id}")
    assert response.status_code == 200
    assert "Maija Meikäläinen" in response.get_data(as_text=True)


def test_another_organisation_is_not_found_for_a_customer(client, auth, make_user, make_org):
    make_user()
    other = make_org("Demokunde_Test", departments=["Testbedriften AS"])
    auth.login()
    assert client.get(f"/auth/organisations/{other.id}").status_code == 404


def test_staff_see_every_organisation(client, auth, make_user, make_org):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    other = make_org("Demokunde_Test", departments=["Testbedriften AS", "Bergen TEST"])
    auth.login("staff@example.com")
    text = client.get(f"/auth/organisations/{other.id}").get_data(as_text=True)
    assert "Testbedriften AS" in text and "Bergen TEST" in text


def test_scoped_limits_a_query_to_the_users_organisation(app, make_user, make_org):
    maija = make_user()
    make_user("kunde@example.com", org="Demokunde_Test", name="Test Bruker")
    staff = make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    with app.app_context():
        seen = db.session.scalars(scoped(User, maija).order_by(User.email)).all()
        assert [u.email for u in seen] == ["maija@example.com"]
        assert len(db.session.scalars(scoped(User, staff)).all()) == 3
        orgs = db.session.scalars(scoped(Organisation, maija)).all()
        assert [o.name for o in orgs] == ["Testivirasto"]


def test_scoped_shows_nothing_to_anonymous_users(app, make_user):
    make_user()
    from flask_login import AnonymousUserMixin

    with app.app_context():
        assert db.session.scalars(scoped(User, AnonymousUserMixin())).all() == []


def test_get_owned_or_404(app, make_user, make_org):
    maija = make_user()
    other = make_org("Demokunde_Test")
    from werkzeug.exceptions import NotFound

    with app.app_context():
        assert get_owned_or_404(Organisation, maija.organisation_id, maija).name == "Testivirasto"
        with pytest.raises(NotFound):
            get_owned_or_404(Organisation, other.id, maija)


def test_scoped_refuses_a_model_that_is_not_customer_owned(app):
    from models.mail import OutboxMessage

    with app.app_context(), pytest.raises(TypeError):
        scoped(OutboxMessage, None)


def test_customer_organisation_list_goes_to_their_own(client, auth, make_user):
    user = make_user()
    auth.login()
    response = client.get("/auth/organisations")
    assert response.headers["Location"].endswith(f"/auth/organisations/{user.organisation_id}")


def test_staff_see_the_list_of_organisations(app, client, auth, make_user, make_org):
    make_user("staff@example.com", role=Role.STAFF, org=None, name="Staff")
    make_org("Demokunde_Test")
    make_org("Testivirasto")
    auth.login("staff@example.com")
    text = client.get("/auth/organisations").get_data(as_text=True)
    assert text.index("Demokunde_Test") < text.index("Testivirasto")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 2
