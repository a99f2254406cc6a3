"""SQLAlchemy models, one module per part; importing this package registers them all."""

from models.auth import Department, Organisation, Role, User
from models.mail import MailStatus, OutboxAttachment, OutboxMessage
from models.punchout import PunchoutBuyer, PunchoutLog, PunchoutOrder, PunchoutSession
from models.training import Course, Enrolment, EnrolmentEvent, EnrolmentStatus

__all__ = [
    "Course",
    "Enrolment",
    "EnrolmentEvent",
    "EnrolmentStatus",
    "Department",
    "MailStatus",
    "Organisation",
    "OutboxAttachment",
    "OutboxMessage",
    "PunchoutBuyer",
    "PunchoutLog",
    "PunchoutOrder",
    "PunchoutSession",
    "Role",
    "User",
]
