"""Pay links: the signed tokens and addresses of the payment pages of an invoice and a
course fee, whether payments are set up, and the paid payment of either. Training's and
the invoice desk's mail carry these links, so this module depends on the models alone."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from extensions import db
from models.invoicing import SalesInvoice
from models.payments import (
    OnlinePayment,
    OnlinePaymentLine,
    PaymentState,
)
from models.training import Enrolment
from services.urls import external_url

RECORD_TYPE = "online_payment"  # an online payment in the audit log and look-ups


SANDBOX_PATH = "/sandbox/payment/channel-payment"


def service_url() -> str:
    """Where the payer's browser posts the form: the configured service or the sandbox."""
    config = current_app.config
    if config["PAYMENT_SERVICE_URL"]:
        return config["PAYMENT_SERVICE_URL"]
    if not config["PAYMENT_SANDBOX"]:
        raise RuntimeError("PAYMENT_SERVICE_URL is not configured")
    return config["BASE_URL"] + SANDBOX_PATH


def is_configured() -> bool:
    """Whether online payments are set up: the channel, its secret, a service or sandbox."""
    config = current_app.config
    return bool(
        config["PAYMENT_CHANNEL_ID"]
        and config["PAYMENT_CHANNEL_SECRET"]
        and (config["PAYMENT_SERVICE_URL"] or config["PAYMENT_SANDBOX"])
    )


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def invoice_token(invoice: SalesInvoice) -> str:
    """The same token for the invoice every time: its PDF is the same bytes on a retry."""
    return _serializer("invoice-payment").dumps(invoice.id)


def enrolment_token(enrolment: Enrolment) -> str:
    """The signed token of the enrolment's course fee payment page."""
    return _serializer("course-fee-payment").dumps(enrolment.id)


def _load(salt: str, token: str) -> int | None:
    try:
        value = _serializer(salt).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def invoice_for_token(token: str) -> SalesInvoice | None:
    """The invoice of a valid invoice payment token, or None."""
    ident = _load("invoice-payment", token)
    return db.session.get(SalesInvoice, ident) if ident is not None else None


def enrolment_for_token(token: str) -> Enrolment | None:
    """The enrolment of a valid course fee payment token, or None."""
    ident = _load("course-fee-payment", token)
    return db.session.get(Enrolment, ident) if ident is not None else None


def invoice_payment_url(invoice: SalesInvoice, language: str | None = None) -> str:
    """The invoice's payment page; in `language` when the link goes in a mail."""
    return external_url("payments.invoice", token=invoice_token(invoice), language=language)


def enrolment_payment_url(enrolment: Enrolment, language: str | None = None) -> str:
    """The course fee's payment page; in `language` when the link goes in a mail."""
    return external_url("payments.course_fee", token=enrolment_token(enrolment), language=language)


def paid_payment(
    *, invoice: SalesInvoice | None = None, enrolment: Enrolment | None = None
) -> OnlinePayment | None:
    """The latest paid attempt that paid an invoice or an enrolment (alone or with other
    items: by its lines), if any."""
    lines = sa.select(OnlinePaymentLine.payment_id)
    if invoice is not None:
        lines = lines.where(OnlinePaymentLine.sales_invoice_id == invoice.id)
    else:
        lines = lines.where(OnlinePaymentLine.enrolment_id == enrolment.id)
    stmt = sa.select(OnlinePayment).where(
        OnlinePayment.state == PaymentState.PAID, OnlinePayment.id.in_(lines)
    )
    return db.session.scalars(stmt.order_by(OnlinePayment.id.desc()).limit(1)).first()
