"""Every customer invoice has a KID: made of its number for the rows that have none (or
one the bank would refuse), then uniquely indexed, so that a KID finds its invoice.

The KID is made by PORTAL_KID_ALGORITHM and PORTAL_KID_LENGTH, as services.portal_kid
makes it for new invoices; the rule is copied here so that this migration stays as it
ran, whatever later becomes of the service.

Revision ID: f38c3e2a7d03
Revises: d17a1c0e5b01
Create Date: 2026-12-03 07:02:00

"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op
from flask import current_app, has_app_context
from stdnum import luhn

revision = "f38c3e2a7d03"
down_revision = "d17a1c0e5b01"
branch_labels = None
depends_on = None

BATCH = 1000
_KID = re.compile(r"[0-9]{1,24}[0-9-]")


def _check_digit(base: str, algorithm: str) -> str:
    if algorithm == "mod10":
        return luhn.calc_check_digit(base)
    weights = (2, 3, 4, 5, 6, 7)
    total = sum(int(d) * weights[i % 6] for i, d in enumerate(reversed(base)))
    check = 11 - total % 11
    return {10: "-", 11: "0"}.get(check, str(check))


def _is_valid(kid: str, algorithm: str, length: int) -> bool:
    if not _KID.fullmatch(kid) or not 2 <= len(kid) <= 25:
        return False
    if length and len(kid) != length:
        return False
    return _check_digit(kid[:-1], algorithm) == kid[-1]


def _kid(number: str, algorithm: str, length: int) -> str:
    base = "".join(ch for ch in number if ch.isascii() and ch.isdigit())
    if not base or (length and len(base) > length - 1):
        raise ValueError(f"no KID of {length or 'any'} digits can be made of {number!r}")
    if length:
        base = base.zfill(length - 1)
    return base + _check_digit(base, algorithm)


def upgrade() -> None:
    config = current_app.config if has_app_context() else {}
    algorithm = config.get("PORTAL_KID_ALGORITHM", "mod10")
    length = int(config.get("PORTAL_KID_LENGTH", 11))
    connection = op.get_bind()
    invoice = sa.table(
        "customer_invoice",
        sa.column("id", sa.Integer),
        sa.column("number", sa.String),
        sa.column("reference", sa.String),
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(invoice.c.id, invoice.c.number, invoice.c.reference)
            .where(invoice.c.id > last)
            .order_by(invoice.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        changes = []
        for row_id, number, reference in rows:
            given = re.sub(r"\s+", "", reference or "")  # a valid one is kept, compact
            kid = given if _is_valid(given, algorithm, length) else _kid(number, algorithm, length)
            if kid != reference:
                changes.append({"row_id": row_id, "kid": kid})
        if changes:
            connection.execute(
                invoice.update()
                .where(invoice.c.id == sa.bindparam("row_id"))
                .values(reference=sa.bindparam("kid")),
                changes,
            )
        last = rows[-1][0]
    op.create_index("ix_customer_invoice_reference", "customer_invoice", ["reference"], unique=True)


def downgrade() -> None:
    # The KIDs stay: they are printed on invoices that were sent.
    op.drop_index("ix_customer_invoice_reference", table_name="customer_invoice")
