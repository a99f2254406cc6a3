"""Validators shared by the parts' forms."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import DecimalField, Field, Form, StringField
from wtforms.validators import ValidationError
from wtforms.widgets import TextInput


class Email:
    """A real email address check (email-validator); the field gets the normalised form."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message

    def __call__(self, form: Form, field: Field) -> None:
        if not field.data:
            return
        from email_validator import EmailNotValidError, validate_email

        try:
            field.data = validate_email(field.data.strip(), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValidationError(
                self.message or _l("Enter a valid email address, for example name@example.com.")
            ) from exc


# Characters no text a person types holds, and XML (a Finvoice, a cXML) cannot carry: the
# C0 controls other than tab, newline and carriage return, lone surrogates, U+FFFE/FFFF.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def strip(value):
    """A filter: text without the spaces around it and without control characters."""
    return _UNPRINTABLE.sub("", value).strip() if isinstance(value, str) else value


class TrimmedMeta:
    """A form Meta that trims every text field; an empty optional field is saved as nothing."""

    def bind_field(self, form, unbound_field, options):
        from wtforms import FieldList, FormField

        if issubclass(unbound_field.field_class, (FieldList, FormField)):
            # Lists and subforms take no filters: their own fields are trimmed.
            return unbound_field.bind(form=form, **options)
        filters = list(unbound_field.kwargs.get("filters", []))
        filters.append(strip)
        return unbound_field.bind(form=form, filters=filters, **options)


class SensibleYear:
    """A date or time between 2000 and 2100 (no overflows at the ends of the calendar)."""

    def __call__(self, form, field) -> None:
        if field.data is not None and not 2000 <= field.data.year <= 2100:
            raise ValidationError(_l("Enter a date between the years 2000 and 2100."))


class FiniteAmount:
    """A real amount of money: not NaN or infinite, at most 99 999 999.99."""

    def __call__(self, form, field) -> None:
        from wtforms.validators import StopValidation

        if field.data is None:
            return
        if not field.data.is_finite() or abs(field.data) > 99_999_999:
            raise StopValidation(_l("Enter an amount between 0 and 99 999 999."))


class Phone:
    """A phone number, normalised to international form (+358 40 123 4567)."""

    def __init__(self, region: str = "FI", message=None, mobile: bool = False) -> None:
        self.region = region
        self.message = message or _l("Enter a phone number, for example 040 123 4567.")
        self.mobile = mobile

    def __call__(self, form, field) -> None:
        if not field.data:
            return
        import phonenumbers

        try:
            number = phonenumbers.parse(field.data, self.region)
        except phonenumbers.NumberParseException as exc:
            raise ValidationError(self.message) from exc
        if not phonenumbers.is_valid_number(number) or number.extension:
            raise ValidationError(self.message)
        mobile_types = (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        )
        if self.mobile and phonenumbers.number_type(number) not in mobile_types:
            raise ValidationError(self.message)
        formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        if len(formatted) > 30:  # the columns' width
            raise ValidationError(self.message)
        field.data = formatted


class LocalDecimalField(DecimalField):
    """A decimal amount typed the Nordic way too: "1 500,50" is 1500.50.

    A text input (with inputmode="decimal" in the templates): a number input would drop
    the comma as it is typed in some browsers, and "50,00" would arrive as 5000.
    """

    widget = TextInput()

    def process_formdata(self, valuelist):
        if valuelist:
            valuelist = [value.replace("\u00a0", "").replace(" ", "").replace(",", ".")
                         for value in valuelist]  # fmt: skip
        super().process_formdata(valuelist)


class OrganisationField(StringField):
    """An organisation picked by its name or business ID, typed: no list of them all.

    After validation `picked` is the organisation the text names (its whole name in any
    letter case, its business ID, or the beginning of one name only: see
    `accounts.pick_organisation`); a text that fits several names them in the error, ten
    at most. Given an Organisation as data (`obj=`), the field shows its name.
    """

    def __init__(self, label=None, validators=None, **kwargs) -> None:
        render_kw = {"autocomplete": "off", "spellcheck": "false", **kwargs.pop("render_kw", {})}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.picked = None

    def process_data(self, value) -> None:
        from models.auth import Organisation

        if isinstance(value, Organisation):
            self.picked, value = value, value.name
        super().process_data(value)

    def populate_obj(self, obj, name: str) -> None:
        setattr(obj, name, self.picked)

    def pre_validate(self, form: Form) -> None:
        from services import accounts

        self.picked = None
        if not (self.data or "").strip():
            return  # DataRequired or Optional says whether it may be empty
        picked, candidates = accounts.pick_organisation(self.data)
        if picked is not None:
            self.picked, self.data = picked, picked.name
        elif not candidates:
            raise ValidationError(_l("No organisation has this name or business ID."))
        else:
            names = "; ".join(org.name for org in candidates)
            raise ValidationError(
                _l(
                    "Several organisations fit: %(names)s. Type the whole name or the business ID.",
                    names=names,
                )
            )
