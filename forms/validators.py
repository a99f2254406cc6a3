"""Validators shared by the parts' forms."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from wtforms import Field, Form
from wtforms.validators import ValidationError


class Email:
    """A real email address check (email-validator); the field gets the normalised form."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message

    def __call__(self, form: Form, field: Field) -> None:
        if not field.data:
            return
        try:
            field.data = validate_email(field.data.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValidationError(
                self.message or _l("Enter a valid email address, for example name@example.com.")
            ) from exc


def strip(value):
    """A filter: text without the spaces around it."""
    return value.strip() if isinstance(value, str) else value


class TrimmedMeta:
    """A form Meta that trims every text field; an empty optional field is saved as nothing."""

    def bind_field(self, form, unbound_field, options):
        filters = list(unbound_field.kwargs.get("filters", []))
        filters.append(strip)
        return unbound_field.bind(form=form, filters=filters, **options)
