"""The template helpers the whole site shares: the layout's, the mail's, and those that
the pages of more than one part use. A helper only one part uses is registered by that
part's package, on its own blueprint."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

from babel import Locale
from flask import Flask

import config as portal_config

if TYPE_CHECKING:
    from pytz.tzinfo import BaseTzInfo  # the zones Flask-Babel works with


def init_app(app: Flask) -> None:
    """Register the helpers every part's templates and mail may use."""
    from flask_babel import get_locale
    from flask_babel import lazy_gettext as _l

    import fragments
    from forms.rendering import render_field
    from services import outbox, registry

    fragments.init_app(app)  # the layout and the most asked-for pages, rendered once
    app.jinja_env.globals["render_field"] = render_field  # the field macro of _form.html
    role_labels = {
        "customer": _l("Customer"),
        "staff": _l("Staff"),
        "health": _l("Health personnel"),
        "admin": _l("Administrator"),
    }

    @app.context_processor
    def portal_globals() -> dict:
        return {
            "languages": portal_config.LANGUAGES,
            "current_language": str(get_locale()),
            "staff_sections": lambda: registry.staff_sections(app),
            # Mail that failed for good, for the page of the record it belongs to.
            "failed_mail_for": outbox.failed_mail_for,
        }

    # Helpers of one part that other parts' pages and mail use: the header's contact
    # link (support), references as printed (invoicing), and the course fee and invoice
    # payment links and states that training's and invoicing's mail show (payments).
    from blueprints.support.common import contact_url
    from forms.payments import REFUND_STATE_LABELS
    from services.invoicing import desk as invoicing
    from services.invoicing import reference
    from services.payments import attempts as payment_attempts
    from services.payments import links as payment_links
    from services.payments import refunds as payment_refunds

    app.jinja_env.globals.update(
        {
            "contact_url": contact_url,
            "grouped_reference": reference.grouped,
            "invoice_payment_link": invoicing.payment_link,
            "course_fee_payable": payment_attempts.course_fee_payable,
            "course_fee_token": payment_links.enrolment_token,
            "course_fee_paid": lambda enrolment: payment_links.paid_payment(enrolment=enrolment),
            "course_fee_refund": payment_refunds.refund_of,
            "refund_state_labels": REFUND_STATE_LABELS,
        }
    )

    @app.template_filter("decimal_plain")
    def decimal_plain(value) -> str:
        """A quantity or a rate without trailing zeros, the user's way: 25,5 or 1,5."""
        from flask_babel import format_decimal

        return format_decimal(Decimal(value).normalize(), format="#,##0.###")

    @app.template_filter("money")
    def money(amount, currency: str = "EUR") -> str:
        from flask_babel import format_currency

        return format_currency(amount, currency)

    @app.template_filter("amount_input")
    def amount_input(amount) -> str:
        """An amount as a form field is prefilled with it: in the reader's way (1500,00 in
        Finnish), without grouping or currency, as LocalDecimalField reads it back."""
        from flask_babel import format_decimal

        return format_decimal(amount, format="0.00")

    from paging import count_text
    from services import reasons
    from services.payments import methods as payment_methods

    app.add_template_filter(count_text, "count")
    # Reasons and actors the portal writes as codes, in the reader's language.
    app.add_template_filter(reasons.describe, "reason")
    app.add_template_filter(reasons.actor, "actor")
    app.add_template_filter(payment_methods.method_name, "method_name")  # the bank's name

    @app.template_filter("time_range")
    def time_range(start, end) -> str:
        """'7.1.2027 9.00–16.00', or both dates when it spans days, in the user's zone."""
        from flask_babel import get_timezone

        return _time_range(start, end, get_locale(), get_timezone())

    @app.template_filter("country_name")
    def country_name(code: str) -> str:
        from babel import Locale

        return Locale.parse(str(get_locale())).territories.get(code, code)

    @app.template_filter("role_label")
    def role_label(role) -> str:
        return role_labels[getattr(role, "value", role)]


@lru_cache(maxsize=4096)
def _time_range(start: datetime, end: datetime, locale: Locale, zone: BaseTzInfo) -> str:
    """A course's time as `time_range` shows it; a calendar shows the same ones all day."""
    from babel.dates import format_date, format_time

    def local(moment: datetime) -> datetime:
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return zone.normalize(moment.astimezone(zone))

    def day(moment: datetime) -> str:
        return format_date(moment, "medium", locale=locale)

    def clock(moment: datetime) -> str:
        return format_time(moment, "short", tzinfo=zone, locale=locale)

    first, last = local(start), local(end)
    if first.date() == last.date():
        return f"{day(first)} {clock(first)}–{clock(last)}"
    return f"{day(first)} {clock(first)} – {day(last)} {clock(last)}"
