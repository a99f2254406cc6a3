"""Forms of the customer portal (Kundeportal), after the seed's screens, and its staff pages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    IntegerField,
    RadioField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)
from wtforms.widgets import HiddenInput, TextInput

from forms import PortalForm
from forms.validators import (
    Amount,
    Bounds,
    Email,
    LocalDecimalField,
    OrganisationField,
    Phone,
    SensibleYear,
    TrimmedMeta,
)
from services.identity import OLDEST_EMPLOYEE, YOUNGEST_EMPLOYEE, employee_age

REQUIRED = _l("This field is required.")


class SearchMeta:
    """A GET form of filters: no CSRF token (it changes nothing)."""

    csrf = False


class OrderSearchForm(PortalForm):
    """Finn bestillinger."""

    Meta = SearchMeta

    number = SearchField(_l("Order number"), validators=[Optional(), Length(max=12)])
    date_from = DateField(_l("From date"), validators=[Optional(), SensibleYear()])
    date_to = DateField(_l("To date"), validators=[Optional(), SensibleYear()])
    status = SelectField(_l("Status"), choices=[], validate_choice=False)
    department = SelectField(_l("Company/department"), choices=[], validate_choice=False)
    product_group = SelectField(_l("Product group"), choices=[], validate_choice=False)


class OrderForm(PortalForm):
    """Ny bestilling, with the seed's fields and hints."""

    class Meta(TrimmedMeta):
        pass

    department = SelectField(
        _l("Company/department"),
        choices=[],
        description=_l("If there are several departments, choose the one the order is for."),
    )
    desired_delivery = StringField(
        _l("Desired delivery"),
        validators=[DataRequired(_l("Describe the delivery you want.")), Length(max=200)],
        description=_l(
            "For example a first-aid course, support conversations, an ergonomics review, "
            "a course, etc."
        ),
    )
    quantity = StringField(
        _l("Quantity/scope"),
        validators=[DataRequired(_l("Give the quantity or scope.")), Length(max=100)],
    )
    contact = StringField(
        _l("Contact person's name and phone number"),
        validators=[
            DataRequired(_l("Give the contact person's name and phone number.")),
            Length(max=200),
        ],
    )
    invoice_reference = StringField(
        _l("Mark the invoice with / invoice reference"),
        validators=[Length(max=100)],
        description=_l("Check that this matches your internal routines for marking invoices."),
    )
    location = StringField(
        _l("Place/location of the delivery"),
        validators=[DataRequired(_l("Give the place of the delivery.")), Length(max=200)],
    )
    description = TextAreaField(
        _l("Order description"),
        validators=[Length(max=4000)],
        description=_l(
            "A short description of the order you want. Do NOT write sensitive information "
            "(such as health information) here."
        ),
        render_kw={"rows": 5},
    )


class EmployeeSearchForm(PortalForm):
    """Finn ansatte."""

    Meta = SearchMeta

    q = SearchField(_l("Free text"), validators=[Optional(), Length(max=100)])
    department = SelectField(_l("Company/department"), choices=[], validate_choice=False)
    inactive = BooleanField(_l("Show deactivated employees too"))


class PlaceSearchForm(PortalForm):
    """Find the employee to place on a booking, in a company too large for one list."""

    Meta = SearchMeta

    q = SearchField(_l("Find the employee"), validators=[Optional(), Length(max=100)])


class HiddenValueInput(TextInput):
    """A text input that never writes its value back into the page: an identity number
    typed once is not sent to the browser again, not even with an error."""

    def __call__(self, field, **kwargs):
        kwargs["value"] = ""
        return super().__call__(field, **kwargs)


class PastDate:
    """A birth date: not in the future, not before 1900; an employee's also of working
    age (`identity.employee_age`)."""

    def __init__(self, employee: bool = False) -> None:
        self.employee = employee

    def __call__(self, form, field) -> None:
        from services import portal

        if field.data is None:
            return
        today = portal.today()
        if not date(1900, 1, 1) <= field.data <= today:
            raise ValidationError(_l("Enter a date between 1900 and today."))
        if self.employee and not employee_age(field.data, today):
            raise ValidationError(
                _l(
                    "An employee is %(youngest)d to %(oldest)d years old: check the birth date.",
                    youngest=YOUNGEST_EMPLOYEE,
                    oldest=OLDEST_EMPLOYEE,
                )
            )


# Why a national identity number is refused (`identity.InvalidNumber.reason`), never
# repeating the number.
NUMBER_ERRORS = {
    "length": _l("Enter the 11 digits of a national identity number."),
    "checksum": _l("The check digits do not match: check the number."),
    "date": _l("The number holds no valid birth date: check the number."),
    "birth_date": _l("The number does not match the birth date."),
    "age": _l(
        "The birth date in the number is not that of someone of working age "
        "(%(youngest)d to %(oldest)d years): check the number.",
        youngest=YOUNGEST_EMPLOYEE,
        oldest=OLDEST_EMPLOYEE,
    ),
}


class EmployeeForm(PortalForm):
    """Ny ansatt and Rediger ansatt."""

    class Meta(TrimmedMeta):
        pass

    first_name = StringField(
        _l("First name"),
        validators=[DataRequired(_l("Enter the first name.")), Length(max=100)],
    )
    last_name = StringField(
        _l("Last name"), validators=[DataRequired(_l("Enter the last name.")), Length(max=100)]
    )
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter the email address.")), Email(), Length(max=254)],
        description=_l(
            "Required: appointments and electronic self-declaration forms are sent to it."
        ),
    )
    mobile = TelField(
        _l("Mobile"),
        validators=[
            Optional(),
            Length(max=30),
            Phone("NO", _l("Enter a mobile number, for example 412 34 567."), mobile=True),
        ],
    )
    birth_date = DateField(_l("Birth date"), validators=[Optional(), PastDate(employee=True)])
    gender = SelectField(_l("Gender"), choices=[], validators=[Optional()])
    department = SelectField(_l("Company/department"), choices=[])
    national_id = StringField(
        _l("National identity number (11 digits)"),
        widget=HiddenValueInput(),
        validators=[Optional(), Length(max=20)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    remove_national_id = BooleanField(_l("Remove the saved national identity number"))

    def validate_national_id(self, field) -> None:
        """A typed number is a valid one, of the birth date typed, of working age."""
        from services import identity, portal

        if not field.data or self.remove_national_id.data:
            return
        birth_date = None if self.birth_date.errors else self.birth_date.data
        try:
            identity.validate(field.data, birth_date, today=portal.today())
        except identity.InvalidNumber as exc:
            raise ValidationError(NUMBER_ERRORS[exc.reason]) from None


class DeactivateForm(PortalForm):
    """Deaktiver: the date from which an employee is deactivated."""

    on = DateField(_l("Deactivated from"), validators=[InputRequired(REQUIRED), SensibleYear()])


class InvoiceSearchForm(PortalForm):
    """Søk etter faktura."""

    Meta = SearchMeta

    number = SearchField(_l("Invoice number or KID"), validators=[Optional(), Length(max=30)])
    date_from = DateField(_l("From date"), validators=[Optional(), SensibleYear()])
    date_to = DateField(_l("To date"), validators=[Optional(), SensibleYear()])
    status = SelectField(_l("Status"), choices=[], validate_choice=False, default="ubetalt")


class PlaceForm(PortalForm):
    """Put an employee into a slot of a booking."""

    employee = SelectField(_l("Employee"), choices=[], validators=[DataRequired(REQUIRED)])
    slot = SelectField(_l("Time"), choices=[], validators=[DataRequired(REQUIRED)])


def yes_no() -> list[SelectChoice]:
    """The choices of a yes/no question of the self-declaration."""
    return [SelectChoice("yes", _l("Yes")), SelectChoice("no", _l("No"))]


class DeclarationForm(PortalForm):
    """Egenerklæring: the questions are added by the view (services.portal)."""

    class Meta(TrimmedMeta):
        pass

    other = TextAreaField(
        _l("Anything else we should know before the appointment?"),
        validators=[Length(max=2000)],
        render_kw={"rows": 4},
    )


def declaration_form(questions, formdata=None) -> DeclarationForm:
    """A self-declaration form with a yes/no question for each of `questions`."""

    class Form(DeclarationForm):
        pass

    for key, text in questions:
        setattr(
            Form,
            key,
            RadioField(
                text,
                choices=yes_no(),
                validators=[InputRequired(_l("Answer yes or no."))],
            ),
        )
    return Form(formdata=formdata) if formdata is not None else Form()


class ReportForm(PortalForm):
    """The period of the reports: from and to dates, both optional."""

    Meta = SearchMeta

    date_from = DateField(_l("From date"), validators=[Optional(), SensibleYear()])
    date_to = DateField(_l("To date"), validators=[Optional(), SensibleYear()])


# ---------------------------------------------------------------- staff


class OrderStatusForm(PortalForm):
    """The staff's change of an order's status and product group."""

    status = SelectField(_l("Order status"), choices=[])
    product_group = SelectField(_l("Product group"), choices=[], validate_choice=False)


class BookingForm(PortalForm):
    """A booking the staff define for a company, of an order if any."""

    class Meta(TrimmedMeta):
        pass

    organisation = OrganisationField(
        _l("Company"),
        validators=[DataRequired(REQUIRED), Length(max=200)],
        description=_l("Its name or business ID; the beginning of the name will do."),
    )
    order_number = IntegerField(
        _l("Order number"),
        validators=[Optional(), Bounds(1, 2_000_000_000)],
        description=_l("The order the booking belongs to, if any."),
    )
    title = StringField(
        _l("Title"),
        validators=[DataRequired(REQUIRED), Length(max=200)],
        description=_l("For example Helsekontroll."),
    )
    place = StringField(_l("Place"), validators=[DataRequired(REQUIRED), Length(max=200)])
    what_to_bring = TextAreaField(
        _l("What to bring"), validators=[Length(max=2000)], render_kw={"rows": 3}
    )
    deadline = DateTimeLocalField(
        _l("Placements can be changed until"),
        validators=[InputRequired(REQUIRED), SensibleYear()],
    )


class SlotForm(PortalForm):
    """A time of a booking: its start and end and its number of places."""

    starts_at = DateTimeLocalField(
        _l("Starts"), validators=[InputRequired(REQUIRED), SensibleYear()]
    )
    ends_at = DateTimeLocalField(_l("Ends"), validators=[InputRequired(REQUIRED), SensibleYear()])
    capacity = IntegerField(_l("Places"), validators=[InputRequired(REQUIRED), Bounds(1, 1000)])

    def validate_ends_at(self, field) -> None:
        """Accept an end only after the start."""
        if self.starts_at.data and field.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("The end must be after the start."))


class PaymentForm(PortalForm):
    """A payment of a customer invoice as the staff register it."""

    # What was outstanding when the form was shown: a payment applies only to that.
    seen = LocalDecimalField(widget=HiddenInput(), validators=[InputRequired(REQUIRED), Amount()])
    amount = LocalDecimalField(
        _l("Amount paid"),
        places=2,
        validators=[InputRequired(REQUIRED), Amount(min=Decimal("0.01"))],
    )
