"""SQLAlchemy models, one module per part; importing this package registers them all."""

from models.audit import AuditAction, AuditEvent
from models.auth import Department, Organisation, RecoveryCode, Role, User
from models.counters import Counter
from models.invoicing import (
    SalesInvoice,
    SalesInvoiceEvent,
    SalesInvoiceLine,
    SalesInvoicePayment,
)
from models.jobs import JobRun
from models.mail import MailStatus, OutboxAttachment, OutboxMessage
from models.payments import (
    OnlinePayment,
    OnlinePaymentLine,
    Refund,
    RefundState,
    RejectedPaymentCall,
)
from models.portal import (
    Booking,
    BookingSlot,
    CustomerInvoice,
    Employee,
    EmployeeEvent,
    OrderEvent,
    Placement,
    PortalOrder,
    ProductGroup,
)
from models.punchout import PunchoutBuyer, PunchoutLog, PunchoutOrder, PunchoutSession
from models.support import (
    Application,
    SubApplication,
    Ticket,
    TicketAttachment,
    TicketEntry,
)
from models.tasks import ItemState, Task, TaskItem, TaskState
from models.training import Course, Enrolment, EnrolmentEvent, EnrolmentStatus

__all__ = [
    "AuditAction",
    "AuditEvent",
    "ItemState",
    "JobRun",
    "Task",
    "TaskItem",
    "TaskState",
    "RecoveryCode",
    "Booking",
    "BookingSlot",
    "CustomerInvoice",
    "Employee",
    "EmployeeEvent",
    "OrderEvent",
    "Placement",
    "PortalOrder",
    "ProductGroup",
    "Application",
    "Counter",
    "SubApplication",
    "Ticket",
    "TicketAttachment",
    "TicketEntry",
    "Course",
    "Enrolment",
    "EnrolmentEvent",
    "EnrolmentStatus",
    "Department",
    "MailStatus",
    "OnlinePayment",
    "OnlinePaymentLine",
    "Refund",
    "RefundState",
    "RejectedPaymentCall",
    "Organisation",
    "OutboxAttachment",
    "OutboxMessage",
    "PunchoutBuyer",
    "PunchoutLog",
    "PunchoutOrder",
    "PunchoutSession",
    "Role",
    "SalesInvoice",
    "SalesInvoiceEvent",
    "SalesInvoiceLine",
    "SalesInvoicePayment",
    "User",
]
