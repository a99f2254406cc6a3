"""Organisations searched by the beginning of their name or by their business ID: the
company pickers read a few matching rows, never the whole table.

Revision ID: 5b8d1f3e7a20
Revises: 3c5e0a9d2b71
Create Date: 2026-12-02 23:10:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5b8d1f3e7a20"
down_revision = "3c5e0a9d2b71"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    searchable = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")
    with op.batch_alter_table("organisation") as batch:
        batch.add_column(sa.Column("name_search", searchable, nullable=False, server_default=""))
    # Lower-cased in Python, as the model does it: SQLite's lower() knows ASCII only.
    connection = op.get_bind()
    organisation = sa.table(
        "organisation", sa.column("id", sa.Integer), sa.column("name"), sa.column("name_search")
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(organisation.c.id, organisation.c.name)
            .where(organisation.c.id > last)
            .order_by(organisation.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            organisation.update()
            .where(organisation.c.id == sa.bindparam("row_id"))
            .values(name_search=sa.bindparam("key")),
            [{"row_id": row_id, "key": (name or "").lower()[:200]} for row_id, name in rows],
        )
        last = rows[-1][0]
    op.create_index("ix_organisation_name_search", "organisation", ["name_search"])
    op.create_index("ix_organisation_business_id", "organisation", ["business_id"])


def downgrade() -> None:
    op.drop_index("ix_organisation_business_id", table_name="organisation")
    op.drop_index("ix_organisation_name_search", table_name="organisation")
    with op.batch_alter_table("organisation") as batch:
        batch.drop_column("name_search")
