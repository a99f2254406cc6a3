"""The landing page, security headers and the error pages."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Organisation


def test_landing_page_lists_the_services_and_offers_login(client):
    text = client.get("/").get_data(as_text=True)
    for service in (
        "Koulutuskalenteri",
        "Laskutuspalvelu",
        "Yhteydenotto",
        "Asiakasportaali",
        "Verkkomaksu",
    ):
        assert service in text
    assert 'href="/auth/login"' in text
    for label in ("suomi", "svenska", "norsk bokmål", "English"):
        assert label in text


def test_security_headers(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_scripts(client):
    text = client.get("/").get_data(as_text=True)
    assert "<script>" not in text and "onclick" not in text


def test_session_cookie_flags(app, client, auth, make_user):
    make_user()
    response = auth.login()
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookies_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("FLASK_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "production-secret")
    import config

    settings = config.from_environment(str(tmp_path))
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SECRET_KEY"] == "production-secret"


def test_production_requires_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("FLASK_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    import config

    settings = config.from_environment(str(tmp_path))
    assert settings["SECRET_KEY"] == ""  # none generated: the production check refuses it
    assert any(p.startswith("SECRET_KEY is not set") for p in config.problems(settings))
    assert not (tmp_path / "secret_key").exists()


def test_development_secret_key_is_generated_once(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_ENV", raising=False)
    import config

    first = config.from_environment(str(tmp_path))["SECRET_KEY"]
    assert len(first) > 40
    assert config.from_environment(str(tmp_path))["SECRET_KEY"] == first


def test_database_url_is_normalised_for_psycopg(monkeypatch, tmp_path):
    import config

    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/portal")
    assert config.database_url(str(tmp_path)) == "postgresql+psycopg://u:p@db/portal"
    monkeypatch.delenv("DATABASE_URL")
    assert config.database_url(str(tmp_path)).endswith("portal.sqlite3")


def test_not_found_page_is_in_the_users_language(client):
    response = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert "The page was not found" in response.get_data(as_text=True)
    response = client.get("/no-such-page")
    assert "Sivua ei löytynyt" in response.get_data(as_text=True)


def test_method_not_allowed_page(client):
    assert client.get("/auth/logout").status_code == 405


def test_too_large_upload(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 100
    response = client.post("/auth/login", data={"email": "x" * 500, "password": "y"})
    assert response.status_code == 413


def test_server_error_page_rolls_back(app_config):
    from app import create_app

    app = create_app({**app_config, "TESTING": False, "PROPAGATE_EXCEPTIONS": False})

    @app.get("/boom")
    def boom():
        db.session.add(Organisation(name="Half saved"))
        db.session.flush()
        raise RuntimeError("boom")

    response = app.test_client().get("/boom", headers={"Accept-Language": "en"})
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 0
        db.session.remove()
        db.engine.dispose()


def test_a_conflict_is_a_clear_409_and_saves_nothing(app_config):
    from app import create_app

    app = create_app({**app_config, "TESTING": False})

    @app.get("/twice")
    def twice():
        db.session.add(Organisation(name="Same"))
        db.session.add(Organisation(name="Same"))
        db.session.commit()
        return "saved"

    response = app.test_client().get("/twice", headers={"Accept-Language": "en"})
    assert response.status_code == 409
    assert "Someone else saved at the same moment" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 0
        db.session.remove()
        db.engine.dispose()


def test_a_flashed_message_is_in_the_page_title(client, auth, make_user):
    make_user()
    auth.login()
    text = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    title = text.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title.startswith("Olet kirjautunut sisään käyttäjänä Maija Meikäläinen. – ")


def test_production_requires_keys_for_identity_numbers(app_config):
    from app import ConfigurationError, create_app

    with pytest.raises(ConfigurationError, match="NATIONAL_ID_KEYS is not set"):
        create_app({**app_config, "PRODUCTION": True, "NATIONAL_ID_KEYS": []})
