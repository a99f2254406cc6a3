"""Replies by email: the mails received at the support address, each once by its
Message-ID, with what became of it (added to its ticket, waiting for staff, ignored, a
bounce, unreadable); a ticket may follow up a resolved one.

Revision ID: d3a8f6b2c4e9
Revises: c9d4e2a7f1b5
Create Date: 2026-12-07 00:00:00

"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "d3a8f6b2c4e9"
down_revision = "c9d4e2a7f1b5"
branch_labels = None
depends_on = None

# As models.support's review queue, written out: a migration keeps what it made.
WAITING = "state IN ('review', 'malformed')"


def _batch_ticket():
    """The ticket table copied on SQLite; its neighbours' expression indexes, which
    SQLAlchemy cannot reflect (and need not), are passed over."""
    warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
    return op.batch_alter_table("ticket")


def upgrade() -> None:
    with warnings.catch_warnings(), _batch_ticket() as batch:
        batch.add_column(sa.Column("follows_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_ticket_follows_id_ticket"), "ticket", ["follows_id"], ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(batch.f("ix_ticket_follows_id"), ["follows_id"])
    op.create_table(
        "inbound_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("sender", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_inbound_mail_ticket_id_ticket"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["ticket_entry.id"],
            name=op.f("fk_inbound_mail_entry_id_ticket_entry"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_mail")),
        sa.UniqueConstraint("message_id", name=op.f("uq_inbound_mail_message_id")),
    )
    op.create_index("ix_inbound_mail_ticket_id", "inbound_mail", ["ticket_id"])
    op.create_index(
        "ix_inbound_mail_review",
        "inbound_mail",
        ["received_at", "id"],
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_mail_review", table_name="inbound_mail")
    op.drop_index("ix_inbound_mail_ticket_id", table_name="inbound_mail")
    op.drop_table("inbound_mail")
    with warnings.catch_warnings(), _batch_ticket() as batch:
        batch.drop_index(batch.f("ix_ticket_follows_id"))
        batch.drop_constraint(batch.f("fk_ticket_follows_id_ticket"), type_="foreignkey")
        batch.drop_column("follows_id")
