"""Validators shared by the parts' forms."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from wtforms import DecimalField, Field, Form, StringField
from wtforms.validators import NumberRange, StopValidation, ValidationError
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


# Characters no text a person types holds: the C0 and C1 controls and DEL (PostgreSQL
# takes no NUL in text, and XML, a Finvoice or a cXML, no C0 control but tab and line
# breaks), lone surrogates, U+FFFE/FFFF. A multi-line text keeps tabs and line breaks
# (browsers send a textarea's line breaks as CR LF); one line keeps neither.
_CONTROLS = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
_NOT_IN_TEXT = re.compile(f"[{_CONTROLS}]")
_NOT_IN_LINE = re.compile(f"[{_CONTROLS}\t\n\r]")


def strip(value):
    """A filter: text without the spaces around it (control characters inside it are
    refused by `NoControlCharacters`, not dropped unseen)."""
    return value.strip() if isinstance(value, str) else value


class NoControlCharacters:
    """Text without control characters: in one line none at all, in a multi-line text
    (`TextAreaField`) only tabs and line breaks. `forms.PortalMeta` gives it to every
    text field first, so the field says so instead of the database refusing the text."""

    def __init__(self, multiline: bool = False) -> None:
        self.pattern = _NOT_IN_TEXT if multiline else _NOT_IN_LINE
        self.message = (
            _l("The text holds a control character that cannot be saved: remove it.")
            if multiline
            else _l(
                "The text holds a tab, a line break or another control character that "
                "cannot be saved: remove it."
            )
        )

    def __call__(self, form: Form, field: Field) -> None:
        data = field.data
        values = data if isinstance(data, list | tuple) else [data]
        if any(isinstance(value, str) and self.pattern.search(value) for value in values):
            # The other checks would only talk about a text the user cannot see.
            raise StopValidation(self.message)


class TrimmedMeta:
    """A form Meta that trims every text field; an empty optional field is saved as nothing."""

    def bind_field(self, form, unbound_field, options):
        """Bind the field with `strip` among its filters (lists and subforms as they are)."""
        from wtforms import FieldList, FormField

        if issubclass(unbound_field.field_class, (FieldList, FormField)):
            # Lists and subforms take no filters: their own fields are trimmed.
            return super().bind_field(form, unbound_field, options)
        filters = [*unbound_field.kwargs.get("filters", []), strip]
        return super().bind_field(form, unbound_field, {**options, "filters": filters})


class SensibleYear:
    """A date or time between 2000 and 2100 (no overflows at the ends of the calendar)."""

    def __call__(self, form, field) -> None:
        if field.data is not None and not 2000 <= field.data.year <= 2100:
            raise ValidationError(_l("Enter a date between the years 2000 and 2100."))


def _number(value: int | Decimal) -> str:
    """A bound as the user's language writes it: 99 999 999,99 in Finnish."""
    from flask_babel import format_decimal

    return format_decimal(value)


class Bounds(NumberRange):
    """A number the database column holds: from `min` to `max`, both given.

    Every integer and decimal field of the portal has one (tests/test_forms.py checks).
    NumberRange turns the number into a float to see whether it is NaN, and an integer of
    a few hundred digits overflows one; this compares exactly, and refuses NaN and the
    infinities. It stops the field's other checks, which may not cope with such a number.
    The bounds are WTForms' flags, so a number input gets them as min and max.
    """

    def __init__(self, min: int | Decimal, max: int | Decimal, message: str | None = None) -> None:
        if min is None or max is None:
            raise ValueError("Bounds needs both ends")
        super().__init__(min=min, max=max, message=message)

    def __call__(self, form: Form, field: Field) -> None:
        data = field.data
        if data is None:
            return  # not typed (InputRequired or Optional decide), or not a number at all
        if isinstance(data, Decimal):
            finite = data.is_finite()
        else:  # an int of any size is finite, and math.isfinite would overflow on it
            finite = isinstance(data, int) or math.isfinite(data)
        if finite and self.min <= data <= self.max:
            return
        message = self.message or _l("Enter a number from %(min)s to %(max)s.")
        raise StopValidation(message % {"min": _number(self.min), "max": _number(self.max)})


# The narrowest money column, Numeric(10, 2) (a course's price).
MAX_AMOUNT = Decimal("99999999.99")


def Amount(min: Decimal = -MAX_AMOUNT, message: str | None = None) -> Bounds:
    """The bounds of an amount of money: at most what every money column holds."""
    return Bounds(min, MAX_AMOUNT, message or _l("Enter an amount from %(min)s to %(max)s."))


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


# A decimal as people type it: digits, one decimal point; no exponent, NaN or Infinity.
_PLAIN_DECIMAL = re.compile(r"[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)")


class LocalDecimalField(DecimalField):
    """A decimal amount typed the Nordic way too: "1 500,50" is 1500.50.

    A text input (with inputmode="decimal" in the templates): a number input would drop
    the comma as it is typed in some browsers, and "50,00" would arrive as 5000. Only
    plain digits are a number: Python's Decimal would also read "NaN", "sNaN" and "1e999",
    which no one types as an amount and which break arithmetic later.
    """

    widget = TextInput()

    def process_formdata(self, valuelist) -> None:
        """Read a number as people write it (1 234,50); refuse anything else."""
        if valuelist:
            valuelist = [value.replace("\u00a0", "").replace(" ", "").replace(",", ".")
                         for value in valuelist]  # fmt: skip
            if valuelist[0] and not _PLAIN_DECIMAL.fullmatch(valuelist[0]):
                self.data = None
                raise ValueError(
                    self.invalid_value_message or self.gettext("Not a valid decimal value.")
                )
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
        """Show an organisation by its name and keep it as the picked one."""
        from models.auth import Organisation

        if isinstance(value, Organisation):
            self.picked, value = value, value.name
        super().process_data(value)

    def populate_obj(self, obj, name: str) -> None:
        """Set the picked organisation, not the typed text, on the object."""
        setattr(obj, name, self.picked)

    def pre_validate(self, form: Form) -> None:
        """Pick the organisation the text names; refuse a text naming none or several."""
        from services import accounts

        self.picked = None
        if not (self.data or "").strip():
            return  # DataRequired or Optional says whether it may be empty
        if _NOT_IN_LINE.search(self.data):
            return  # NoControlCharacters refuses it: no database look-up with a NUL
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
