"""The helpdesk: teams (the customer service, each application's maintenance) with their
members; a ticket's team, its targets in service hours and when its next answer is due
(what the queue sorts by, open tickets first); colleagues copied on a ticket; merging a
duplicate; the customer's satisfaction rating; canned replies.

Tickets that exist already count as due from when they came.

Revision ID: e5b1c7d9a3f2
Revises: d3a8f6b2c4e9
Create Date: 2026-12-07 02:00:00

"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "e5b1c7d9a3f2"
down_revision = "d3a8f6b2c4e9"
branch_labels = None
depends_on = None

# As models.support states them, written out: a migration keeps what it made.
OPEN_TICKETS = "status IN ('uusi', 'kasittelyssa', 'odottaa')"


def _batch_ticket():
    """The ticket table copied on SQLite; its neighbours' expression indexes, which
    SQLAlchemy cannot reflect (and need not), are passed over."""
    warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
    return op.batch_alter_table("ticket")


def _partial(name: str, columns: list[str]) -> None:
    condition = sa.text(OPEN_TICKETS)
    op.create_index(name, "ticket", columns, postgresql_where=condition, sqlite_where=condition)


def upgrade() -> None:
    op.create_table(
        "support_team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"], ["support_application.id"],
            name=op.f("fk_support_team_application_id_support_application"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_team")),
        sa.UniqueConstraint("application_id", name=op.f("uq_support_team_application_id")),
    )  # fmt: skip
    op.create_table(
        "support_team_member",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["support_team.id"],
            name=op.f("fk_support_team_member_team_id_support_team"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_support_team_member_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_support_team_member")),
    )  # fmt: skip
    op.create_index("ix_support_team_member_user_id", "support_team_member", ["user_id"])
    op.create_table(
        "support_canned_reply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("titles", sa.JSON(), nullable=False),
        sa.Column("bodies", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_canned_reply")),
    )
    op.drop_index("ix_ticket_open", table_name="ticket")
    op.drop_index("ix_ticket_urgency", table_name="ticket")
    with warnings.catch_warnings(), _batch_ticket() as batch:
        batch.add_column(sa.Column("team_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("first_response_due", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("first_response_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("resolution_due", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("due_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("paused_minutes", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rating", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("rating_comment", sa.Text(), nullable=True))
        batch.add_column(sa.Column("rated_at", UTCDateTime(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_ticket_team_id_support_team"), "support_team", ["team_id"], ["id"],
            ondelete="SET NULL",
        )
        batch.create_foreign_key(
            batch.f("fk_ticket_merged_into_id_ticket"), "ticket", ["merged_into_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip
    op.execute("UPDATE ticket SET due_at = created_at")
    with warnings.catch_warnings(), _batch_ticket() as batch:
        batch.alter_column("due_at", existing_type=UTCDateTime(), nullable=False)
    op.create_index("ix_ticket_due", "ticket", ["due_at", "id"])
    op.create_index("ix_ticket_resolved_at", "ticket", ["resolved_at"])
    _partial("ix_ticket_open_due", ["due_at", "id"])
    _partial("ix_ticket_team_due", ["team_id", "due_at", "id"])
    _partial("ix_ticket_assignee_due", ["assignee_id", "due_at", "id"])
    op.create_table(
        "ticket_cc",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_ticket_cc_ticket_id_ticket"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_ticket_cc_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ticket_id", "user_id", name=op.f("pk_ticket_cc")),
    )  # fmt: skip
    op.create_index("ix_ticket_cc_user_id", "ticket_cc", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_cc_user_id", table_name="ticket_cc")
    op.drop_table("ticket_cc")
    for name in (
        "ix_ticket_assignee_due",
        "ix_ticket_team_due",
        "ix_ticket_open_due",
        "ix_ticket_resolved_at",
        "ix_ticket_due",
    ):
        op.drop_index(name, table_name="ticket")
    with warnings.catch_warnings(), _batch_ticket() as batch:
        batch.drop_constraint(batch.f("fk_ticket_merged_into_id_ticket"), type_="foreignkey")
        batch.drop_constraint(batch.f("fk_ticket_team_id_support_team"), type_="foreignkey")
        for column in (
            "rated_at", "rating_comment", "rating", "merged_into_id", "paused_minutes",
            "due_at", "resolution_due", "first_response_at", "first_response_due", "team_id",
        ):  # fmt: skip
            batch.drop_column(column)
    op.create_index("ix_ticket_urgency", "ticket", ["urgency", "created_at", "id"])
    condition = sa.text(OPEN_TICKETS)
    op.create_index(
        "ix_ticket_open", "ticket", ["urgency", "created_at", "id"],
        postgresql_where=condition, sqlite_where=condition,
    )  # fmt: skip
    op.drop_table("support_canned_reply")
    op.drop_index("ix_support_team_member_user_id", table_name="support_team_member")
    op.drop_table("support_team_member")
    op.drop_table("support_team")
