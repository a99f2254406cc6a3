"""PostgreSQL, the engine of real deployments: the migrations and the demo data on it.

Uses TEST_POSTGRES_URL (a database whose public schema may be dropped). Outside CI the
tests skip without it; in CI they fail. The whole suite also runs on PostgreSQL when
TEST_DATABASE_URL names one (CI does both).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

import config as portal_config
from app import create_app
from extensions import db
from tests.fixtures.app import IN_CI

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(monkeypatch):
    url = os.environ.get("TEST_POSTGRES_URL", "").strip()
    if not url:
        message = "TEST_POSTGRES_URL is not set (a PostgreSQL database for tests)"
        if IN_CI:
            pytest.fail(message + ": PostgreSQL tests may not skip in CI")
        pytest.skip(message)
    monkeypatch.setenv("DATABASE_URL", url)
    url = portal_config.database_url("")
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_migrations_upgrade_downgrade_and_upgrade_again(pg_app):
    from flask_migrate import downgrade, upgrade

    directory = str(ROOT / "migrations")
    with pg_app.app_context():
        assert db.engine.dialect.name == "postgresql"
        upgrade(directory=directory)
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"user", "organisation", "department", "outbox_message"} <= tables
        downgrade(directory=directory, revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade(directory=directory)


def test_seed_demo_and_login_on_postgresql(pg_app):
    from flask_migrate import upgrade

    with pg_app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    runner = pg_app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    pg_app.config["WTF_CSRF_ENABLED"] = False
    client = pg_app.test_client()
    response = client.post(
        "/auth/login", data={"email": "admin@example.com", "password": "demo-admin-2026"}
    )
    assert response.status_code == 303
    assert client.get("/staff/mail").status_code == 200
