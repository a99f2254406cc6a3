"""SQLAlchemy models, one module per part; importing this package registers them all."""

from models.auth import Department, Organisation, Role, User
from models.mail import MailStatus, OutboxAttachment, OutboxMessage

__all__ = [
    "Department",
    "MailStatus",
    "Organisation",
    "OutboxAttachment",
    "OutboxMessage",
    "Role",
    "User",
]
