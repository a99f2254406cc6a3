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
