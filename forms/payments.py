"""Forms of online payment: the payer's details for the payment service, the staff's search."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    EmailField,
    HiddenField,
    SearchField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from forms import PortalForm
from forms.invoicing import FINNISH_POSTCODE, country_choices
from forms.portal import SearchMeta
from forms.validators import Email, TrimmedMeta
from models.payments import PaymentPurpose, PaymentState, RefundState

STATE_LABELS = {
    PaymentState.CREATED: _l("Waiting for payment"),
    PaymentState.PAID: _l("Paid"),
    PaymentState.CANCELLED: _l("Cancelled"),
    PaymentState.FAILED: _l("Failed"),
}
PURPOSE_LABELS = {
    PaymentPurpose.INVOICE: _l("Invoice"),
    PaymentPurpose.COURSE_FEE: _l("Course fee"),
}

REFUND_STATE_LABELS = {
    RefundState.DUE: _l("To be refunded"),
    RefundState.REFUNDED: _l("Refunded"),
}


class NoBar:
    """The payment service takes no "|" in any value (its checksum's separator)."""

    def __call__(self, form, field) -> None:
        if field.data and "|" in field.data:
            raise ValidationError(_l('Remove the character "|".'))


class MultiCheckboxField(SelectMultipleField):
    """A choice of several, as a group of checkboxes (forms.rendering draws it as a
    fieldset, each box with its label)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class PayerForm(PortalForm):
    """Maksajan tiedot: the CONTACT_* fields the payment service asks of every payer."""

    class Meta(TrimmedMeta):
        pass

    first_name = StringField(
        _l("First name"),
        validators=[DataRequired(_l("Enter your first name.")), Length(max=64), NoBar()],
        render_kw={"autocomplete": "given-name"},
    )
    last_name = StringField(
        _l("Last name"),
        validators=[DataRequired(_l("Enter your last name.")), Length(max=64), NoBar()],
        render_kw={"autocomplete": "family-name"},
    )
    company = StringField(
        _l("Company"),
        validators=[Optional(), Length(max=128), NoBar()],
        render_kw={"autocomplete": "organization"},
    )
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=254), Email()],
        description=_l("The receipt is sent to this address."),
        render_kw={"autocomplete": "email"},
    )
    street = StringField(
        _l("Street address"),
        validators=[DataRequired(_l("Enter your street address.")), Length(max=128), NoBar()],
        render_kw={"autocomplete": "street-address"},
    )
    postcode = StringField(
        _l("Postcode"),
        validators=[
            DataRequired(_l("Enter your postcode.")),
            Length(max=16),
            Regexp(r"^[0-9]+$", message=_l("The payment service takes a postcode of digits.")),
        ],
        render_kw={"autocomplete": "postal-code", "inputmode": "numeric"},
    )
    city = StringField(
        _l("City"),
        validators=[DataRequired(_l("Enter your city.")), Length(max=64), NoBar()],
        render_kw={"autocomplete": "address-level2"},
    )
    country = SelectField(_l("Country"), choices=[], default="FI")
    # The payer's other open items to pay in the same payment (set by the view).
    also = MultiCheckboxField(_l("Pay these at the same time"), coerce=int, choices=[])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.country.choices = country_choices()

    def validate_postcode(self, field) -> None:
        """Accept only five digits as a Finnish postcode."""
        if self.country.data == "FI" and field.data and not FINNISH_POSTCODE.fullmatch(field.data):
            raise ValidationError(_l("A Finnish postcode has five digits."))

    def contact_values(self) -> dict:
        """The payer's details by CONTACT_FIELDS name, empty ones as ""."""
        return {name: getattr(self, name).data or "" for name in CONTACT_FIELDS}


CONTACT_FIELDS = ("first_name", "last_name", "company", "email", "street", "postcode", "city")
CONTACT_FIELDS += ("country",)


class PaymentSearchForm(PortalForm):
    """The staff's search of online payments: an order number or payment ID, a status."""

    class Meta(SearchMeta):
        pass

    q = SearchField(
        _l("Order number or payment ID"),
        validators=[Optional(), Length(max=64)],
        description=_l("E.g. VM100001, or the payment service's PAID id."),
    )
    state = SelectField(_l("Status"), choices=[], default="")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.state.choices = [SelectChoice("", _l("All"))] + [
            SelectChoice(state.value, label) for state, label in STATE_LABELS.items()
        ]


class RefundSearchForm(PortalForm):
    """The refund queue: those still to be refunded first, or those refunded."""

    class Meta(SearchMeta):
        pass

    state = SelectField(_l("Status"), choices=[], default=RefundState.DUE.value)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.state.choices = [
            SelectChoice(state.value, label) for state, label in REFUND_STATE_LABELS.items()
        ]


class RefundForm(PortalForm):
    """Staff made the refund in the payment service's merchant panel."""

    class Meta(TrimmedMeta):
        pass

    refund_id = HiddenField()  # which of the payment's refunds (one an enrolment)

    reference = StringField(
        _l("Refund reference"),
        validators=[DataRequired(_l("Enter the reference of the refund.")), Length(max=100)],
        description=_l(
            "The refund's reference in the payment service's merchant panel, or the archive "
            "reference of a bank transfer."
        ),
        render_kw={"autocomplete": "off"},
    )
