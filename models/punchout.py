"""PunchOut: the buyers' procurement systems, their sessions, orders and the traffic log."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.types import UTCDateTime, utcnow


class PunchoutBuyer(db.Model):
    """A procurement system (e.g. Handi) allowed to punch out to the training calendar."""

    __tablename__ = "punchout_buyer"
    __table_args__ = (sa.UniqueConstraint("domain", "identity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # The Sender credential of its cXML documents (kept in lower case), or for SAP OCI the
    # USERNAME of its start URL with the domain "oci".
    domain: Mapped[str] = mapped_column(sa.String(100))
    identity: Mapped[str] = mapped_column(sa.String(200))
    secret_hash: Mapped[str] = mapped_column(sa.String(255))
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="SET NULL")
    )
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sessions: Mapped[list[PunchoutSession]] = relationship(back_populates="buyer")


class PunchoutSession(db.Model):
    """One punchout: from the setup request to the cart sent back to the buyer."""

    __tablename__ = "punchout_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int] = mapped_column(sa.ForeignKey("punchout_buyer.id"), index=True)
    protocol: Mapped[str] = mapped_column(sa.String(10), default="cxml")  # cxml | oci
    operation: Mapped[str] = mapped_column(sa.String(10), default="create")
    buyer_cookie: Mapped[str] = mapped_column(sa.String(500), default="")
    # Where the browser posts the cart: BrowserFormPost (cXML) or HOOK_URL (OCI).
    return_url: Mapped[str] = mapped_column(sa.String(2000))
    # The StartPage works once, before it expires; only a hash of its token is kept.
    start_token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    start_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The key that ties the browser's session to this punchout.
    browser_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    enrolment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("enrolment.id", ondelete="SET NULL"), index=True
    )
    transferred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    buyer: Mapped[PunchoutBuyer] = relationship(back_populates="sessions")
    enrolment = relationship("Enrolment")


class PunchoutOrder(db.Model):
    """An OrderRequest received, kept so that a retried one changes nothing."""

    __tablename__ = "punchout_order"
    __table_args__ = (
        sa.UniqueConstraint("buyer_id", "payload_id"),
        # Staff look an order up by its number typed in any letter case.
        sa.Index("ix_punchout_order_number", sa.text("lower(order_id)")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("punchout_buyer.id"), index=True)
    payload_id: Mapped[str] = mapped_column(sa.String(250))
    order_id: Mapped[str] = mapped_column(sa.String(100))
    status_code: Mapped[int] = mapped_column()
    status_text: Mapped[str] = mapped_column(sa.String(500))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PunchoutLog(db.Model):
    """A document exchanged with a buyer, secrets redacted, for staff to read."""

    __tablename__ = "punchout_log"
    __table_args__ = (sa.Index("ix_punchout_log_buyer_at", "buyer_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("punchout_buyer.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(30))  # setup, order, cart, oci-start, oci-cart
    direction: Mapped[str] = mapped_column(sa.String(3))  # in | out
    status_code: Mapped[int | None] = mapped_column()
    summary: Mapped[str] = mapped_column(sa.String(500), default="")
    body: Mapped[str] = mapped_column(sa.Text, default="")

    buyer: Mapped[PunchoutBuyer | None] = relationship()
