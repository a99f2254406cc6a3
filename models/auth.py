"""Organisations, their departments and the users who log in."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from extensions import db
from models.types import UTCDateTime, search_key, searchable, utcnow, value_enum


def new_session_token() -> str:
    return secrets.token_hex(16)


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    # Staff who are health personnel (doctors, nurses): the only ones who read the
    # employees' health self-declarations. A role of its own, so that admins, who
    # manage the accounts, do not read them.
    HEALTH = "health"
    ADMIN = "admin"


class Organisation(db.Model):
    """A customer organisation (or the portal's operator, for staff)."""

    __tablename__ = "organisation"
    __scope_column__ = "id"  # a customer may see their own organisation only

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    # The name lower-cased, kept with it: what the company pickers search by its beginning.
    name_search: Mapped[str] = mapped_column(searchable(200), default="", index=True)
    business_id: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    country: Mapped[str] = mapped_column(sa.String(2), default="FI")
    language: Mapped[str] = mapped_column(sa.String(5), default="fi")
    account_manager_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", use_alter=True, ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    departments: Mapped[list[Department]] = relationship(
        back_populates="organisation",
        order_by="Department.name",
        cascade="all, delete-orphan",
    )
    users: Mapped[list[User]] = relationship(
        back_populates="organisation",
        foreign_keys="User.organisation_id",
        order_by="User.name",
    )
    account_manager: Mapped[User | None] = relationship(
        foreign_keys=[account_manager_id], post_update=True
    )

    @validates("name")
    def _name_searched(self, key: str, name: str) -> str:
        self.name_search = search_key(name, 200)
        return name

    def department_choices(self) -> list[tuple[int | None, str]]:
        """Departments as an indented tree; an organisation without any is its own only one."""
        if not self.departments:
            return [(None, self.name)]
        children: dict[int | None, list[Department]] = {}
        for dep in self.departments:
            children.setdefault(dep.parent_id, []).append(dep)
        result: list[tuple[int | None, str]] = []

        def walk(parent_id: int | None, depth: int) -> None:
            for dep in children.get(parent_id, []):
                result.append((dep.id, "\u2003" * depth + dep.name))
                walk(dep.id, depth + 1)

        walk(None, 0)
        return result

    def __repr__(self) -> str:
        return f"<Organisation {self.name!r}>"


class Department(db.Model):
    """A department of an organisation; departments form a tree through parent_id."""

    __tablename__ = "department"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "parent_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("department.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))

    organisation: Mapped[Organisation] = relationship(back_populates="departments")
    parent: Mapped[Department | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Department]] = relationship(
        back_populates="parent", order_by="Department.name"
    )

    def __repr__(self) -> str:
        return f"<Department {self.name!r}>"


# The departments a customer user is granted; a user with none sees the whole organisation.
user_department = sa.Table(
    "user_department",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "department_id", sa.ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    ),
)


class User(UserMixin, db.Model):
    """A person who logs in: a customer of an organisation, or staff."""

    __tablename__ = "user"
    __table_args__ = (sa.Index("ix_user_name", "name", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # The short name shown after the name ("Test Bruker (Tester)"); the email if none.
    username: Mapped[str | None] = mapped_column(sa.String(50))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    language: Mapped[str] = mapped_column(sa.String(5), default="fi")
    role: Mapped[Role] = mapped_column(value_enum(Role), default=Role.CUSTOMER)
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    # The 6-digit number of a user of the invoicing service (e-tunnus); None for others.
    invoicing_number: Mapped[str | None] = mapped_column(sa.String(6), unique=True)
    # The invoicing user's payment reminders: sent by hand ("manual") or by the desk's
    # job ("automatic"), at most this many for one invoice.
    invoice_reminders: Mapped[str] = mapped_column(sa.String(10), default="manual")
    invoice_reminder_limit: Mapped[int] = mapped_column(default=2)
    # The account the invoicing user is paid to (tilitystili), and its holder's name.
    payout_iban: Mapped[str] = mapped_column(sa.String(34), default="")
    payout_name: Mapped[str] = mapped_column(sa.String(70), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the login cookie; a new one ends every session of the user (password
    # change, logout), since signed cookies cannot be revoked one by one.
    session_token: Mapped[str] = mapped_column(sa.String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The second factor (TOTP, RFC 6238): its secret, encrypted; when it was turned on
    # (None: off); the last time step a code was accepted for (a code is used once).
    totp_secret: Mapped[str | None] = mapped_column(sa.String(255), deferred=True)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    organisation: Mapped[Organisation | None] = relationship(
        back_populates="users", foreign_keys=[organisation_id]
    )
    granted_departments: Mapped[list[Department]] = relationship(
        secondary=user_department, order_by="Department.name"
    )

    @property
    def display_username(self) -> str:
        return self.username or self.email

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    def end_sessions(self) -> None:
        """Log the user out everywhere: every cookie issued so far stops working."""
        self.session_token = new_session_token()

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.HEALTH, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def __repr__(self) -> str:
        return f"<User {self.email!r}>"


class RecoveryCode(db.Model):
    """A one-time code that stands in for the second factor; only its digest is kept."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
