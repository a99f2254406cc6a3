"""Production: the configuration check, health for a load balancer, logs, shared throttles.

The whole topology (gunicorn workers, mail workers, jobs on PostgreSQL and Redis) is in
tests/test_topology.py; these check each piece on its own.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

import config as portal_config
import observability
from app import ConfigurationError, create_app
from extensions import db
from models.auth import Role
from tests.fixtures.app import IN_CI, ROOT, run_command
from tests.fixtures.users import PASSWORD

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def production_environment(**changes: str) -> dict[str, str]:
    """A process environment that passes the production check, with `changes`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLASK_")}
    for name in list(env):
        if name in portal_config.SECRET_SETTINGS or name.endswith(("_SANDBOX", "_URL")):
            del env[name]
    env.update(
        FLASK_ENV="production",
        SECRET_KEY="k" * 48,
        BASE_URL="https://portal.example.org",
        NATIONAL_ID_KEYS=Fernet.generate_key().decode(),
        RATELIMIT_STORAGE_URI=REDIS_URL,
        DATABASE_URL="sqlite://",
    )
    env.update(changes)
    return {key: value for key, value in env.items() if value != ""}


def check_config(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_command([sys.executable, "-m", "flask", "--app", "app", "check-config"], env)


# --- The configuration check -----------------------------------------------------------

BAD = {
    "no SECRET_KEY": ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
    "no BASE_URL": ({"BASE_URL": ""}, "BASE_URL is not set"),
    "no NATIONAL_ID_KEYS": ({"NATIONAL_ID_KEYS": ""}, "NATIONAL_ID_KEYS is not set"),
    "throttles per process": (
        {"RATELIMIT_STORAGE_URI": "memory://"},
        "RATELIMIT_STORAGE_URI is memory://",
    ),
    "no throttle store": ({"RATELIMIT_STORAGE_URI": ""}, "RATELIMIT_STORAGE_URI is memory://"),
    "the Handi sandbox": ({"PUNCHOUT_SANDBOX": "true"}, "PUNCHOUT_SANDBOX is on"),
    "the invoice sandboxes": ({"INVOICE_SANDBOX": "1"}, "INVOICE_SANDBOX is on"),
    "the payment sandbox": ({"PAYMENT_SANDBOX": "yes"}, "PAYMENT_SANDBOX is on"),
    "a public secret": (
        {
            "PAYMENT_SERVICE_URL": "https://pay.example",
            "PAYMENT_CHANNEL_SECRET": "sandbox-channel-secret",
        },
        "PAYMENT_CHANNEL_SECRET has a development or example value",
    ),
    "a short secret key": ({"SECRET_KEY": "changeme"}, "SECRET_KEY has a development"),
    "a service without its token": (
        {"PRINT_SERVICE_URL": "https://print.example"},
        "PRINT_SERVICE_TOKEN is not set, but PRINT_SERVICE_URL is",
    ),
}


def test_a_sound_production_configuration_passes():
    result = check_config(production_environment())
    assert result.returncode == 0, result.stderr
    assert "fit for production" in result.stdout


@pytest.mark.parametrize("case", BAD)
def test_check_config_names_each_problem(case):
    changes, message = BAD[case]
    result = check_config(production_environment(**changes))
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_every_problem_is_listed_at_once_and_the_portal_refuses_to_start():
    env = production_environment(
        SECRET_KEY="", BASE_URL="", NATIONAL_ID_KEYS="", RATELIMIT_STORAGE_URI="memory://"
    )
    report = check_config(env).stderr
    for name in ("SECRET_KEY", "BASE_URL", "NATIONAL_ID_KEYS", "RATELIMIT_STORAGE_URI"):
        assert f"- {name}" in report
    started = run_command([sys.executable, "-c", "from app import create_app; create_app()"], env)
    assert started.returncode == 1
    assert "refuses to start in production" in started.stderr
    assert "4 setting(s) to fix" in started.stderr
    assert "Traceback" not in started.stderr


def test_create_app_refuses_with_the_report(monkeypatch, tmp_path):
    for key, value in production_environment(RATELIMIT_STORAGE_URI="memory://").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "argv", ["gunicorn"])
    with pytest.raises(ConfigurationError) as refused:
        create_app()
    assert "RATELIMIT_STORAGE_URI is memory://" in str(refused.value.code)


def test_development_secrets_are_this_installations_own(monkeypatch):
    monkeypatch.delenv("FLASK_ENV", raising=False)
    for name in portal_config.SECRET_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "one installation's key " * 2)
    first = portal_config.from_environment("/nonexistent")
    monkeypatch.setenv("SECRET_KEY", "another installation's key " * 2)
    second = portal_config.from_environment("/nonexistent")
    for name in ("PUNCHOUT_SANDBOX_SECRET", "PAYMENT_CHANNEL_SECRET", "PRINT_SERVICE_TOKEN"):
        assert first[name] not in portal_config.PUBLIC_SECRETS
        assert len(first[name]) >= 32
        assert first[name] != second[name]
    source = (ROOT / "config.py").read_text()
    assert f'"{first["PUNCHOUT_SANDBOX_SECRET"]}"' not in source


def test_production_has_no_default_secret_and_no_default_base_url(monkeypatch):
    for key, value in production_environment(BASE_URL="").items():
        monkeypatch.setenv(key, value)
    config = portal_config.from_environment("/nonexistent")
    assert config["BASE_URL"] == ""
    assert config["PUNCHOUT_SANDBOX_SECRET"] == config["PAYMENT_CHANNEL_SECRET"] == ""
    assert config["PUNCHOUT_SANDBOX"] is config["PAYMENT_SANDBOX"] is False
    assert config["TWO_FACTOR_REQUIRED"] is True


def test_postgresql_gets_a_statement_timeout_and_every_engine_a_pre_ping():
    options = portal_config.engine_options(
        {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://h/db", "DATABASE_STATEMENT_TIMEOUT": 5000}
    )
    assert options["pool_pre_ping"] is True
    assert options["connect_args"] == {"options": "-c statement_timeout=5000"}
    sqlite = portal_config.engine_options(
        {"SQLALCHEMY_DATABASE_URI": "sqlite://", "DATABASE_STATEMENT_TIMEOUT": 5000}
    )
    assert "connect_args" not in sqlite and sqlite["pool_pre_ping"] is True


def test_the_statement_timeout_holds_on_postgresql(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("a statement timeout is PostgreSQL's")
        assert db.session.scalar(sa.text("SHOW statement_timeout")) == "30s"
        db.session.execute(sa.text("SET statement_timeout = 50"))
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
            db.session.execute(sa.text("SELECT pg_sleep(2)"))
        db.session.rollback()


# --- Health ------------------------------------------------------------------------------


def test_healthz_and_readyz_answer_ok_and_set_no_cookie(client):
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response.status_code == 200, response.json
        assert response.json["status"] == "ok"
        assert "Set-Cookie" not in response.headers
        assert response.headers["Cache-Control"] == "no-store"
    assert set(client.get("/readyz").json["checks"]) == {
        "database",
        "migrations",
        "throttle_store",
    }


def test_readyz_is_unavailable_while_the_schema_is_not_migrated(app_config, tmp_path):
    app = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/new.db"})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200  # the process and database are up
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["migrations"] == "not migrated"


def test_readyz_is_unavailable_behind_the_migrations(app_config, tmp_path):
    app = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/old.db"})
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            connection.execute(sa.text("INSERT INTO alembic_version VALUES ('5b8d1f3e7a20')"))
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["migrations"] == "not at head"


def test_healthz_is_unavailable_without_the_database(app_config):
    app = create_app(
        {**app_config, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u:p@127.0.0.1:1/none"}
    )
    for path in ("/healthz", "/readyz"):
        response = app.test_client().get(path)
        assert response.status_code == 503
        assert response.json["checks"]["database"] == "unreachable"


def test_readyz_is_unavailable_without_the_throttle_store(app_config):
    app = create_app({**app_config, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"})
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["throttle_store"] == "unreachable"


# --- Logs --------------------------------------------------------------------------------


@pytest.fixture
def logged_app(app_config, capsys):
    """The portal as production logs: JSON lines, one per request, on standard error."""
    app = create_app({**app_config, "TESTING": False, "LOG_FORMAT": "json", "LOG_REQUESTS": True})
    yield app
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not getattr(h, "portal", False)]


def json_lines(capsys) -> list[dict]:
    """Our lines (the migrations' logging config may have left a handler of its own)."""
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_each_request_is_one_json_line_with_its_id(logged_app, capsys):
    client = logged_app.test_client()
    response = client.get("/support/status/some-secret-token?email=maija@example.com")
    rid = response.headers["X-Request-ID"]
    lines = [line for line in json_lines(capsys) if line.get("message") == "request"]
    assert len(lines) == 1
    [line] = lines
    assert line["request_id"] == rid
    assert line["method"] == "GET" and line["status"] == response.status_code
    assert "some-secret-token" not in json.dumps(line)
    assert "maija" not in json.dumps(line)
    assert line["level"] == "INFO" and "time" in line


def test_a_proxys_request_id_is_kept_and_a_strange_one_replaced(client):
    given = client.get("/healthz", headers={"X-Request-ID": "abc123def456"})
    assert given.headers["X-Request-ID"] == "abc123def456"
    strange = client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert strange.headers["X-Request-ID"] != "<script>alert(1)</script>"
    assert len(strange.headers["X-Request-ID"]) == 32


def test_personal_data_is_masked_in_any_log_line(logged_app, capsys):
    with logged_app.test_request_context():
        logging.getLogger("some.library").warning(
            "rejected <maija.meikalainen@virasto.example.com>, id 131052-308T and 01010112345"
        )
    [line] = json_lines(capsys)
    assert "maija" not in line["message"] and "131052-308T" not in line["message"]
    assert "01010112345" not in line["message"]
    assert line["message"].count("[masked]") == 3
    assert observability.mask("reference 1001020000012345678") == "reference 1001020000012345678"


def test_a_login_is_logged_without_the_email_or_password(logged_app, capsys, make_user):
    make_user("kasittelija@example.com", role=Role.STAFF, org=None)
    client = logged_app.test_client()
    client.post("/auth/login", data={"email": "kasittelija@example.com", "password": PASSWORD})
    lines = json_lines(capsys)
    text = json.dumps(lines)
    assert "kasittelija" not in text and PASSWORD not in text
    assert [line["route"] for line in lines if line["message"] == "request"] == ["/auth/login"]


# --- Throttles shared by processes ------------------------------------------------------


@pytest.fixture
def redis_store():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        if IN_CI:
            raise
        pytest.skip(f"no Redis at {REDIS_URL} (CI starts one)")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def test_failed_logins_are_counted_across_processes(app_config, redis_store, make_user):
    """Two apps stand for two gunicorn workers: the counts are Redis's, not theirs."""
    make_user()
    config = {**app_config, "RATELIMIT_STORAGE_URI": redis_store}
    workers = [create_app(config).test_client() for _ in range(2)]
    statuses = [
        workers[attempt % 2]
        .post("/auth/login", data={"email": "maija@example.com", "password": "wrong"})
        .status_code
        for attempt in range(6)
    ]
    assert statuses == [200] * 5 + [429]
    right = workers[0].post(
        "/auth/login", data={"email": "maija@example.com", "password": PASSWORD}
    )
    assert right.status_code == 429  # the right password waits as well


def test_a_throttle_store_that_is_down_leaves_logins_working(app_config, make_user):
    """Meanwhile each process counts on its own: throttled still, and never a 500."""
    make_user()
    app = create_app({**app_config, "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"})
    client = app.test_client()
    statuses = [
        client.post(
            "/auth/login", data={"email": "maija@example.com", "password": "wrong"}
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]


def test_a_setting_that_is_not_a_number_is_named(monkeypatch):
    monkeypatch.setenv("MAIL_WORKER_INTERVAL", "0.5")
    with pytest.raises(SystemExit, match="MAIL_WORKER_INTERVAL must be a whole number"):
        portal_config.from_environment("/nonexistent")
