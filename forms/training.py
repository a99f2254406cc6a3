"""Forms of the training calendar: the enrolment form (Ilmoittautumislomake), the
calendar's filters and service-code field, cancelling, and the staff's course and course
organiser forms."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
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
    Regexp,
    ValidationError,
)

from forms import PortalForm
from forms.validators import (
    Amount,
    Bounds,
    Email,
    LocalDecimalField,
    Phone,
    SensibleYear,
    TrimmedMeta,
)
from services import course_organisers

REQUIRED = _l("This field is required.")
MERCHANT_ID = _l("Enter the merchant ID the payment service gave, up to 8 digits.")


class EnrolmentForm(PortalForm):
    """Ilmoittautumislomake: one participant. Only the starred fields are required."""

    class Meta(TrimmedMeta):
        pass

    first_name = StringField(
        _l("First name"),
        validators=[DataRequired(_l("Enter your first name.")), Length(max=100)],
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        _l("Last name"),
        validators=[DataRequired(_l("Enter your last name.")), Length(max=100)],
        render_kw={"autocomplete": "family-name"},
    )
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Enter your email address.")), Email(), Length(max=254)],
        description=_l("The confirmation and the service code are sent here."),
        render_kw={"autocomplete": "email"},
    )
    organisation = StringField(
        _l("Organisation"),
        validators=[DataRequired(_l("Enter your organisation.")), Length(max=200)],
        render_kw={"autocomplete": "organization"},
    )
    phone = TelField(
        _l("Phone"),
        validators=[Optional(), Phone(), Length(max=30)],
        render_kw={"autocomplete": "tel"},
    )
    job_title = StringField(
        _l("Job title"),
        validators=[Optional(), Length(max=200)],
        render_kw={"autocomplete": "organization-title"},
    )
    billing_address = TextAreaField(
        _l("Billing address"),
        validators=[Optional(), Length(max=1000)],
        description=_l("If the invoice goes by post."),
        render_kw={"rows": 3},
    )
    einvoice_address = StringField(
        _l("E-invoice address"),
        validators=[Optional(), Length(max=35)],
        description=_l("For example 003712345678 (OVT code)."),
    )
    einvoice_operator = StringField(
        _l("E-invoice operator"),
        validators=[Optional(), Length(max=35)],
        description=_l("The operator's code, for example 003721291126."),
    )
    billing_reference = StringField(
        _l("Billing reference (laskutusviite)"),
        validators=[Optional(), Length(max=100)],
        description=_l("Your reference for the invoice, if your organisation uses one."),
    )
    diet = StringField(_l("Special diet"), validators=[Optional(), Length(max=500)])
    accessibility = StringField(_l("Accessibility needs"), validators=[Optional(), Length(max=500)])
    message = TextAreaField(
        _l("Additional information"),
        validators=[Optional(), Length(max=2000)],
        render_kw={"rows": 4},
    )

    # Offered for a course with a fee when online payment is set up; removed otherwise.
    payment_method = RadioField(
        _l("Payment"),
        choices=[
            SelectChoice("invoice", _l("Invoice to the billing address above")),
            SelectChoice(
                "online", _l("Online payment with my bank: the enrolment is binding once paid")
            ),
        ],
        default="invoice",  # also when the form is posted without it
    )

    @property
    def pays_online(self) -> bool:
        """Whether the participant chose to pay online (where the form offers it)."""
        return "payment_method" in self._fields and self.payment_method.data == "online"

    def validate(self, extra_validators=None) -> bool:
        """Validate the form; an e-invoice address needs its operator too."""
        valid = super().validate(extra_validators)
        if self.einvoice_address.data and not self.einvoice_operator.data:
            self.einvoice_operator.errors.append(
                _l("Enter the operator of the e-invoice address too.")
            )
            valid = False
        return valid

    def participant_values(self) -> dict:
        """The form's data as the service's Participant takes it ('' becomes None)."""
        from services.training import Participant

        return {name: (getattr(self, name).data or None) for name in Participant.field_names()}


class CalendarFilterForm(PortalForm):
    """The calendar's filters: a GET form (it changes nothing), so no CSRF token."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search"), validators=[Optional(), Length(max=100)])
    topic = SelectField(_l("Topic"), choices=[], validate_choice=False)
    place = SelectField(_l("Place"), choices=[], validate_choice=False)
    date_from = DateField(_l("From date"), validators=[Optional(), SensibleYear()])
    date_to = DateField(_l("To date"), validators=[Optional(), SensibleYear()])

    def validate_date_to(self, field) -> None:
        """Accept an end date only from the start date on."""
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("The end date is before the start date."))


class ServiceCodeForm(PortalForm):
    """Palvelutunnus: see your enrolment by the code in your confirmation email."""

    code = StringField(
        _l("Service code"),
        validators=[DataRequired(_l("Enter the service code.")), Length(max=20)],
        description=_l("The 8 characters at the end of your confirmation email."),
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"},
    )


class ParticipantCancelForm(PortalForm):
    """Cancelling with the code: the email of the enrolment is the second factor."""

    code = StringField(validators=[DataRequired()])
    email = EmailField(
        _l("Email address of the enrolment"),
        validators=[DataRequired(_l("Enter the email address the enrolment was made with."))],
        description=_l("To confirm that the enrolment is yours."),
        render_kw={"autocomplete": "email"},
    )


class CalendarLinkForm(PortalForm):
    """A participant's calendar link, made or revoked with the enrolment's service code
    (the page of the look-up holds it)."""

    code = HiddenField(validators=[DataRequired(), Length(max=20)])


class StaffCancelForm(PortalForm):
    """The staff's cancelling of an enrolment, with the reason shown in the cancellation email."""

    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(_l("Enter the reason for cancelling.")), Length(max=500)],
        description=_l("The participant sees this in the cancellation email."),
    )


def _organiser_id(value: object) -> int | None:
    """Coerce the organiser select's value to an id: the empty choice (the institute) is
    None; anything but plain ASCII digits is refused as no choice."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        raise ValueError("not an id")
    return int(text)


class CourseForm(PortalForm):
    """A course as staff create and edit it; times are local (Europe/Helsinki)."""

    title = StringField(_l("Title"), validators=[DataRequired(REQUIRED), Length(max=200)])
    topic = StringField(_l("Topic"), validators=[DataRequired(REQUIRED), Length(max=100)])
    description = TextAreaField(_l("Description"), validators=[Length(max=10000)])
    starts_at = DateTimeLocalField(
        _l("Starts"), validators=[InputRequired(_l("Enter the start time.")), SensibleYear()]
    )
    ends_at = DateTimeLocalField(
        _l("Ends"), validators=[InputRequired(_l("Enter the end time.")), SensibleYear()]
    )
    remote = BooleanField(_l("Remote course"))
    place = StringField(
        _l("Place"),
        validators=[Length(max=200)],
        description=_l("The address or the room; for a remote course, how to join."),
    )
    price = LocalDecimalField(
        _l("Price (EUR)"),
        places=2,
        validators=[
            InputRequired(_l("Enter the price (0 for free).")),
            Amount(min=Decimal(0)),
        ],
    )
    capacity = IntegerField(
        _l("Seats"),
        validators=[InputRequired(_l("Enter the number of seats.")), Bounds(1, 10_000)],
    )
    enrolment_deadline = DateTimeLocalField(
        _l("Enrolment deadline"),
        validators=[InputRequired(_l("Enter the enrolment deadline.")), SensibleYear()],
    )
    cancellation_deadline = DateTimeLocalField(
        _l("Cancellation deadline"),
        validators=[InputRequired(_l("Enter the cancellation deadline.")), SensibleYear()],
        description=_l("Until this moment participants may cancel with their service code."),
    )
    refund_deadline = DateTimeLocalField(
        _l("Refund deadline (optional)"),
        validators=[Optional(), SensibleYear()],
        description=_l(
            "A course fee paid online is refunded to a participant who cancels by this "
            "moment, and not after it. Empty: always refunded. When the organiser cancels, "
            "the fee is always refunded."
        ),
    )
    organiser_id = SelectField(
        _l("Organiser"),
        coerce=_organiser_id,
        choices=[],
        validate_choice=True,
        description=_l("The seller of the course: its fee is paid online to its merchant ID."),
    )
    is_open = BooleanField(_l("Open for enrolment"), default=True)

    def __init__(self, *args, **kwargs) -> None:
        """The form, its organiser select offering the institute and the organisers (the
        course's own among them, `obj`'s)."""
        super().__init__(*args, **kwargs)
        own = getattr(kwargs.get("obj"), "organiser_id", None)
        institute = _(
            "The training institute (merchant ID %(id)s)",
            id=current_app.config["PAYMENT_COURSE_MERCHANT_ID"],
        )
        self.organiser_id.choices = [SelectChoice("", institute)] + [
            SelectChoice(
                str(organiser.id),
                _("%(name)s (merchant ID %(id)s)", name=organiser.name, id=organiser.merchant_id),
            )
            for organiser in course_organisers.choices(include_id=own)
        ]

    def validate_ends_at(self, field) -> None:
        """Accept an end only after the course starts."""
        if field.data and self.starts_at.data and field.data <= self.starts_at.data:
            raise ValidationError(_l("The course must end after it starts."))

    def validate_enrolment_deadline(self, field) -> None:
        """Accept an enrolment deadline only up to the course's start."""
        if field.data and self.starts_at.data and field.data > self.starts_at.data:
            raise ValidationError(_l("The deadline must be before the course starts."))

    def validate_cancellation_deadline(self, field) -> None:
        """Accept a cancellation deadline only up to the course's start."""
        if field.data and self.starts_at.data and field.data > self.starts_at.data:
            raise ValidationError(_l("The deadline must be before the course starts."))

    validate_refund_deadline = validate_cancellation_deadline

    def validate_place(self, field) -> None:
        """Require a place unless the course is remote."""
        if not self.remote.data and not field.data:
            raise ValidationError(_l("Enter the place, or mark the course as remote."))


class ParticipantFilterForm(PortalForm):
    """The filters of a course's participant list: a search and a status."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search"), validators=[Optional(), Length(max=100)])
    status = SelectField(_l("Status"), choices=[], validate_choice=False)


class CourseOrganiserForm(PortalForm):
    """A course organiser as staff add and edit it: the merchant ID and commission class
    the payment service gave it for the channel."""

    class Meta(TrimmedMeta):
        pass

    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter the organiser's name.")), Length(max=128)],
        render_kw={"autocomplete": "organization"},
    )
    merchant_id = StringField(
        _l("Merchant ID"),
        validators=[DataRequired(MERCHANT_ID), Regexp(r"[0-9]{1,8}\Z", message=MERCHANT_ID)],
        description=_l("The organiser's merchant ID (kauppiastunnus) at the payment service."),
        render_kw={"inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"},
    )
    commission_class = SelectField(
        _l("Commission class"),
        choices=[],
        validate_choice=True,
        description=_l("As agreed with the payment service for the organiser's sales."),
    )

    def __init__(self, *args, **kwargs) -> None:
        """The form, its commission classes those of the channel (PAYMENT_COMMISSION_CLASSES)."""
        super().__init__(*args, **kwargs)
        self.commission_class.choices = [
            SelectChoice(
                key,
                _(
                    "%(id)s (commission %(percent)s %%)",
                    id=key,
                    percent=format_decimal(Decimal(percent)),
                ),
            )
            for key, percent in current_app.config["PAYMENT_COMMISSION_CLASSES"].items()
        ]
