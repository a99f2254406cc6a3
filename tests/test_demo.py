"""`flask seed-demo`, the migrations, and what a newcomer sees."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from extensions import db
from models.auth import Organisation, Role, User


def test_seed_demo_is_safe_to_run_twice(app, runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert "admin@example.com" in second.output and "demo-admin-2026" in second.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 7
        kunde = db.session.scalar(
            sa.select(Organisation).where(Organisation.name == "Demokunde_Test")
        )
        assert sorted(d.name for d in kunde.departments) == ["Bergen TEST", "Testbedriften AS"]
        assert kunde.account_manager.role == Role.STAFF
        virasto = db.session.scalar(
            sa.select(Organisation).where(Organisation.name == "Testivirasto")
        )
        assert len(virasto.users) == 2
        invoicer = db.session.scalar(sa.select(User).where(User.invoicing_number == "100102"))
        assert invoicer is not None and invoicer.role == Role.CUSTOMER
        roles = {u.role for u in db.session.scalars(sa.select(User))}
        assert roles == {Role.ADMIN, Role.STAFF, Role.CUSTOMER}


def test_every_demo_account_can_log_in(app, runner):
    from services.demo import ACCOUNTS

    runner.invoke(args=["seed-demo"])
    for account in ACCOUNTS:
        client = app.test_client()
        response = client.post(
            "/auth/login", data={"email": account.email, "password": account.password}
        )
        assert response.status_code == 303, account.email


def test_the_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []
