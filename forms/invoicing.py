"""Forms of the invoice desk: the user's invoice, the staff's search, question and payment."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from babel import Locale
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from stdnum import iban
from stdnum.fi import ytunnus
from wtforms import (
    DateField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from forms import PortalForm, PortalMeta
from forms.portal import SearchMeta
from forms.tasks import TaskForm
from forms.validators import (
    Amount,
    Bounds,
    Email,
    LocalDecimalField,
    SensibleYear,
    TrimmedMeta,
)
from models.invoicing import DeliveryMethod, EventKind, InvoiceStatus
from services import vat

MAX_LINES = 50
DELIVERY_LABELS = {
    DeliveryMethod.POST: _l("Post"),
    DeliveryMethod.EMAIL: _l("Email"),
    DeliveryMethod.EINVOICE: _l("E-invoice"),
}
DELIVERY_HINTS = {
    DeliveryMethod.POST: _l("Printed and posted to the payer's address."),
    DeliveryMethod.EMAIL: _l("A PDF invoice is emailed to the payer's address."),
    DeliveryMethod.EINVOICE: _l(
        "Sent to the payer's e-invoice address through their operator (for companies)."
    ),
}
UNITS = ("kpl", "h", "pv", "kk", "km", "erä")
# An e-invoice address: an OVT code (0037 + business ID digits, an optional suffix) or an IBAN.
OVT = re.compile(r"0037[0-9]{8}[0-9A-Z]{0,5}")
# An operator's code: an OVT code, or a bank's BIC (8 or 11 characters), e.g. E204503.
OPERATOR = re.compile(r"(0037[0-9]{8}[0-9A-Z]{0,5}|[A-Z0-9]{6,11})")
FINNISH_POSTCODE = re.compile(r"[0-9]{5}")
FORM_KEY = re.compile(r"[0-9a-f]{32}")


def vat_choices(day: date) -> list[SelectChoice]:
    """The VAT rates in force on the day, as the form offers them: "25.5" → "25,5 %"."""
    from babel.numbers import format_decimal

    locale = str(get_locale())
    return [
        SelectChoice(str(rate.percent), f"{format_decimal(rate.percent, locale=locale)} %")
        for rate in vat.rates_on(day)
    ]


# CLDR's territories that are no country a letter can be posted to.
NOT_COUNTRIES = {"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB"}


def country_choices() -> list[SelectChoice]:
    """Countries by name in the user's language, Finland first."""
    names = Locale.parse(str(get_locale())).territories
    countries = sorted(
        (
            (code, name)
            for code, name in names.items()
            if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
        ),
        key=lambda item: item[1],
    )
    return [SelectChoice("FI", names["FI"])] + [
        SelectChoice(code, name) for code, name in countries if code != "FI"
    ]


class LineForm(Form):
    """One invoice line; a line left wholly empty is dropped."""

    class Meta(TrimmedMeta, PortalMeta):
        pass

    # 100: what a Finvoice row's ArticleName holds.
    description = StringField(_l("Description"), validators=[Optional(), Length(max=100)])
    quantity = LocalDecimalField(
        _l("Quantity"),
        places=None,
        # Numeric(12, 3) holds more; the invoice's total is bounded in validate_lines.
        validators=[
            Optional(),
            Bounds(
                Decimal("0.001"),
                Decimal("99999999"),
                message=_l("Enter a quantity from %(min)s to %(max)s."),
            ),
        ],
    )
    unit = StringField(_l("Unit"), default="kpl", validators=[Optional(), Length(max=10)])
    unit_price = LocalDecimalField(
        _l("Unit price excl. VAT"),
        places=None,
        validators=[Optional(), Amount()],  # a credit line's price is negative
        description=_l("Euros without VAT, e.g. 120,00"),
    )
    vat_percent = SelectField(_l("VAT rate"), choices=[], validate_choice=False)

    def is_empty(self) -> bool:
        """Whether the line is left blank: no description, quantity or price."""
        return not (self.description.data or self.quantity.raw_data and self.quantity.raw_data[0]
                    or self.unit_price.raw_data and self.unit_price.raw_data[0])  # fmt: skip

    def validate_unit_price(self, field) -> None:
        """Accept a price in euros and cents only."""
        if field.data is not None and field.data != field.data.quantize(Decimal("0.01")):
            raise ValidationError(_l("Enter the price in euros and cents, e.g. 120,50."))

    def validate_quantity(self, field) -> None:
        """Accept a quantity of at most three decimals."""
        if field.data is not None and field.data != field.data.quantize(Decimal("0.001")):
            raise ValidationError(_l("Enter the quantity with at most three decimals."))


class InvoiceForm(PortalForm):
    """Uusi lasku: the payer, dates and terms, lines, free text and the delivery method.

    Saving a draft checks only what is typed; sending (Lähetä) also demands what the
    delivery method needs (see `check_complete`).
    """

    class Meta(TrimmedMeta):
        pass

    delivery_method = RadioField(
        _l("Delivery method"),
        choices=[SelectChoice(m.value, DELIVERY_LABELS[m]) for m in DeliveryMethod],
        default=DeliveryMethod.EMAIL.value,
        validators=[DataRequired(_l("Choose how the invoice is delivered."))],
    )
    payer_name = StringField(_l("Payer's name"), validators=[Optional(), Length(max=70)])
    payer_business_id = StringField(
        _l("Business ID"),
        validators=[Optional(), Length(max=20)],
        description=_l("A company payer's Finnish business ID, e.g. 1234567-8."),
    )
    payer_street = StringField(_l("Street address"), validators=[Optional(), Length(max=35)])
    payer_postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=10)])
    payer_city = StringField(_l("City"), validators=[Optional(), Length(max=35)])
    payer_country = SelectField(_l("Country"), choices=[], default="FI")
    payer_email = EmailField(_l("Payer's email"), validators=[Optional(), Length(max=254), Email()])
    payer_einvoice_address = StringField(
        _l("E-invoice address"),
        validators=[Optional(), Length(max=35)],
        description=_l("The payer's OVT code (e.g. 003712345678) or IBAN."),
    )
    payer_operator = StringField(
        _l("Operator code"),
        validators=[Optional(), Length(max=35)],
        description=_l("The payer's e-invoice operator, e.g. 003721291126 or NDEAFIHH."),
    )
    invoice_date = DateField(
        _l("Invoice date"),
        validators=[DataRequired(_l("Enter the invoice date.")), SensibleYear()],
    )
    payment_days = IntegerField(
        _l("Payment terms (days net)"),
        default=14,
        validators=[
            Optional(),
            Bounds(0, 365, message=_l("Enter 0–365 days.")),
        ],
    )
    due_date = DateField(
        _l("Due date"),
        validators=[Optional(), SensibleYear()],
        description=_l("Leave empty to count it from the payment terms."),
    )
    lines = FieldList(FormField(LineForm), min_entries=1, max_entries=MAX_LINES)
    # The page's key against a double click (secrets.token_hex(16)); anything else is none.
    form_key = HiddenField(filters=[lambda key: key if key and FORM_KEY.fullmatch(key) else ""])
    free_text = TextAreaField(
        _l("Additional information"),
        validators=[Optional(), Length(max=512)],
        description=_l("Printed on the invoice, e.g. the order or the period invoiced."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.payer_country.choices = country_choices()
        day = self.invoice_date.data if isinstance(self.invoice_date.data, date) else None
        choices = (day and vat_choices(day)) or vat_choices(date.today())
        for entry in self.lines:
            entry.form.vat_percent.choices = choices
            if entry.form.vat_percent.data in (None, "None", ""):
                entry.form.vat_percent.data = choices[0].value

    # -- field checks that hold for drafts too

    def validate_payer_business_id(self, field) -> None:
        """Check the payer's Y-tunnus and write it in its standard form."""
        if field.data:
            if not ytunnus.is_valid(field.data):
                raise ValidationError(_l("Enter a valid business ID, e.g. 1234567-8."))
            field.data = ytunnus.format(field.data)

    def validate_payer_einvoice_address(self, field) -> None:
        """Accept an OVT code or an IBAN, compacted."""
        if field.data:
            compact = "".join(field.data.split()).upper()
            if not (OVT.fullmatch(compact) or iban.is_valid(compact)):
                raise ValidationError(_l("Enter an OVT code (0037…) or an IBAN."))
            field.data = compact

    def validate_payer_operator(self, field) -> None:
        """Accept an operator's code, compacted."""
        if field.data:
            compact = "".join(field.data.split()).upper()
            if not OPERATOR.fullmatch(compact):
                raise ValidationError(_l("Enter the operator's code, e.g. 003721291126."))
            field.data = compact

    def validate_due_date(self, field) -> None:
        """Accept a due date from the invoice date to a year after it."""
        if field.data and self.invoice_date.data and field.data < self.invoice_date.data:
            raise ValidationError(_l("The due date cannot be before the invoice date."))
        if (
            field.data
            and self.invoice_date.data
            and (field.data - self.invoice_date.data > timedelta(days=365))
        ):
            raise ValidationError(_l("The due date can be at most a year after the invoice."))

    def validate_lines(self, field) -> None:
        """Check the lines' VAT rates against the invoice date; refuse a negative total."""
        if self.invoice_date.data:
            allowed = {choice.value for choice in vat_choices(self.invoice_date.data)}
            for entry in field:
                if not entry.form.is_empty() and entry.form.vat_percent.data not in allowed:
                    entry.form.vat_percent.errors = list(entry.form.vat_percent.errors) + [
                        _l("Choose a VAT rate in force on the invoice date.")
                    ]
                    raise ValidationError(_l("Check the VAT rates of the lines."))
        try:
            lines = [
                vat.Line(
                    line.quantity.data or 1, line.unit_price.data, Decimal(line.vat_percent.data)
                )
                for line in self.filled_lines()
                if line.unit_price.data is not None and not line.errors
            ]
        except ArithmeticError:
            raise ValidationError(_l("Check the VAT rates of the lines.")) from None
        if lines:
            gross = vat.totals(lines).gross
            if gross < 0:
                raise ValidationError(_l("The invoice's total cannot be negative."))
            if gross >= Decimal("1000000000"):
                raise ValidationError(_l("The invoice's total is too large."))

    # -- the method's demands, checked when the invoice is sent

    def check_complete(self) -> bool:
        """Add an error to each field that sending needs and that is empty; True when none."""
        method = self.delivery_method.data
        required = [self.payer_name]
        if method in (DeliveryMethod.POST, DeliveryMethod.EINVOICE):
            required += [self.payer_street, self.payer_postcode, self.payer_city]
        if method == DeliveryMethod.EMAIL:
            required.append(self.payer_email)
        if method == DeliveryMethod.EINVOICE:
            required += [self.payer_einvoice_address, self.payer_operator]
        complete = True
        for field in required:
            if not field.data:
                field.errors = list(field.errors) + [_l("Sending the invoice needs this.")]
                complete = False
        if (
            self.payer_country.data == "FI"
            and self.payer_postcode.data
            and not FINNISH_POSTCODE.fullmatch(self.payer_postcode.data)
        ):
            self.payer_postcode.errors = list(self.payer_postcode.errors) + [
                _l("A Finnish postcode has five digits.")
            ]
            complete = False
        if method == DeliveryMethod.EINVOICE:  # the Finvoice schema's shortest values
            for field in (self.payer_name, self.payer_street, self.payer_city):
                if field.data and len(field.data) < 2:
                    field.errors = list(field.errors) + [_l("Enter at least two characters.")]
                    complete = False
        lines = [entry.form for entry in self.lines if not entry.form.is_empty()]
        if not lines:
            self.lines.errors = list(self.lines.errors) + [str(_l("Add at least one line."))]
            complete = False
        for line in lines:
            for field in (line.description, line.quantity, line.unit_price):
                if field.data in (None, ""):
                    field.errors = list(field.errors) + [_l("Sending the invoice needs this.")]
                    complete = False
        return complete

    def filled_lines(self) -> list[LineForm]:
        """The lines that are not left blank."""
        return [entry.form for entry in self.lines if not entry.form.is_empty()]


class InvoiceFilterForm(PortalForm):
    """The user's own invoices by status."""

    Meta = SearchMeta

    status = SelectField(_l("Status"), choices=[], validate_choice=False)


class InvoiceSearchForm(PortalForm):
    """Myyntilaskut: the staff's search."""

    Meta = SearchMeta

    reference = SearchField(
        _l("Reference number"),
        validators=[Optional(), Length(max=25)],
        description=_l("End with % to find every reference that begins so, e.g. 100102%."),
    )
    number = SearchField(_l("Invoice number"), validators=[Optional(), Length(max=20)])
    user_number = SearchField(_l("Invoicing number"), validators=[Optional(), Length(max=6)])
    payer = SearchField(
        _l("Payer"),
        validators=[Optional(), Length(max=70)],
        description=_l("The beginning of the payer's name."),
    )
    status = SelectField(_l("Status"), choices=[], validate_choice=False)
    date_from = DateField(_l("Invoice date from"), validators=[Optional(), SensibleYear()])
    date_to = DateField(_l("Invoice date to"), validators=[Optional(), SensibleYear()])
    overdue = SelectField(
        _l("Overdue"),
        choices=[SelectChoice("", _l("All")), SelectChoice("1", _l("Overdue only"))],
        validate_choice=False,
    )


class AgeingFilterForm(PortalForm):
    """The receivables' ageing for staff: of every user, or of one by invoicing number."""

    Meta = SearchMeta

    user_number = SearchField(
        _l("Invoicing number"),
        validators=[Optional(), Length(max=6, message=_l("An invoicing number has 6 digits."))],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        description=_l("The user's 6-digit number; empty for every user."),
    )

    def validate_user_number(self, field) -> None:
        """Accept six digits (spaces around them are taken away)."""
        if field.data and not re.fullmatch(r"[0-9]{6}", field.data):
            raise ValidationError(_l("An invoicing number has 6 digits."))


class CorrectionForm(PortalForm):
    """The staff's question that returns an invoice to its user for correcting."""

    class Meta(TrimmedMeta):
        pass

    question = TextAreaField(
        _l("Question to the user"),
        validators=[DataRequired(_l("Write what needs correcting.")), Length(max=4000)],
        description=_l("Mailed to the user, who corrects the invoice and sends it again."),
    )


class PaymentForm(PortalForm):
    """A payment of an invoice as the staff register it."""

    class Meta(TrimmedMeta):
        pass

    paid_on = DateField(
        _l("Payment date"),
        validators=[DataRequired(_l("Enter the payment date.")), SensibleYear()],
    )
    amount = LocalDecimalField(
        _l("Amount (EUR)"),
        places=None,
        validators=[
            DataRequired(_l("Enter the amount paid.")),
            Amount(min=Decimal("0.01")),
        ],
    )

    def validate_amount(self, field) -> None:
        """Accept an amount in euros and cents only."""
        if field.data is not None and field.data != field.data.quantize(Decimal("0.01")):
            raise ValidationError(_l("Enter the amount in euros and cents."))


# Common e-invoice operators and banks receiving Finvoice, for the operator code's list.
EINVOICE_OPERATORS = (
    ("003721291126", "Maventa"),
    ("003723327487", "Apix Messaging"),
    ("003703575029", "CGI"),
    ("003701011385", "Tieto"),
    ("E204503", "OpusCapita"),
    ("BAWCFI22", "Basware"),
    ("NDEAFIHH", "Nordea"),
    ("OKOYFIHH", "OP"),
    ("DABAFIHH", "Danske Bank"),
    ("HANDFIHH", "Handelsbanken"),
    ("AABAFI22", "Ålandsbanken"),
    ("SBANFIHH", "S-Pankki"),
    ("HELSFIHH", "Aktia"),
    ("ITELFIHH", "Säästöpankki / Oma Säästöpankki"),
    ("POPFFI22", "POP Pankki"),
)

EVENT_LABELS = {
    EventKind.CREATED: _l("Created"),
    EventKind.SUBMITTED: _l("Sent to be checked"),
    EventKind.CORRECTION: _l("Marked for correction"),
    EventKind.FORWARD_FAILED: _l("Forwarding failed"),
    EventKind.FORWARDED: _l("Forwarded"),
    EventKind.FINALISED: _l("Finalised: the invoice went out"),
    EventKind.PAYMENT: _l("Payment received"),
    EventKind.PAID: _l("Paid in full"),
    EventKind.REMINDER: _l("Payment reminder sent"),
    EventKind.CREDITED: _l("Credited"),
    EventKind.REFUND_RETURNED: _l("Credit returned to the payer"),
}

STATUS_LABELS = {
    InvoiceStatus.DRAFT: _l("Draft"),
    InvoiceStatus.SUBMITTED: _l("Waiting to be forwarded"),
    InvoiceStatus.FORWARDING: _l("Being forwarded"),
    InvoiceStatus.CORRECTION: _l("Needs correction"),
    InvoiceStatus.FORWARDED: _l("Forwarded"),
    InvoiceStatus.OPEN: _l("Open receivable"),
    InvoiceStatus.PAID: _l("Paid"),
    InvoiceStatus.CREDITED: _l("Credited"),
    InvoiceStatus.CREDIT_UNSENT: _l("Credit note, not yet sent"),
    InvoiceStatus.CREDIT_SENDING: _l("Credit note being sent"),
    InvoiceStatus.CREDIT_SENT: _l("Credit note sent"),
}


class ReminderSettingsForm(PortalForm):
    """How the user's overdue invoices are reminded: by hand or automatically, how often."""

    mode = RadioField(
        _l("Payment reminders"),
        choices=[
            SelectChoice("manual", _l("I send reminders myself from the invoice's page")),
            SelectChoice("automatic", _l("The service sends reminders automatically")),
        ],
        validators=[DataRequired(_l("Choose how reminders are sent."))],
    )
    limit = SelectField(
        _l("Reminders at most per invoice"),
        choices=[],
        coerce=int,
        description=_l("Automatic reminders stop after this many."),
    )


class BankFileForm(TaskForm):
    """A bank report of incoming payments (camt.054 or camt.053), uploaded by staff."""

    file = FileField(
        _l("Bank file (camt.054 or camt.053)"),
        validators=[FileRequired(_l("Choose the bank's file."))],
        description=_l("The XML file of incoming reference payments from the bank."),
    )


class AllocateForm(PortalForm):
    """The invoice staff book a waiting bank payment on, by its number."""

    class Meta(TrimmedMeta):
        pass

    invoice_number = StringField(
        _l("Invoice number"),
        validators=[DataRequired(_l("Enter the invoice number.")), Length(max=19)],
    )


class BankNoteForm(PortalForm):
    """How staff return a bank payment, or its overpaid part, to the payer."""

    class Meta(TrimmedMeta):
        pass

    note = StringField(
        _l("How it is returned"),
        validators=[DataRequired(_l("Say how it is returned.")), Length(max=200)],
        description=_l("For example: returned to the payer's account FI… on 4.12."),
    )


class CreditLineForm(Form):
    """What to credit of one line of the invoice: a quantity, or an amount excl. VAT."""

    class Meta(TrimmedMeta, PortalMeta):
        pass

    line_id = HiddenField()
    quantity = LocalDecimalField(
        _l("Quantity to credit"),
        places=None,
        validators=[
            Optional(),
            Bounds(
                Decimal("0.001"),
                Decimal("99999999"),
                message=_l("Enter a quantity from %(min)s to %(max)s."),
            ),
        ],
    )
    amount = LocalDecimalField(
        _l("or amount excl. VAT (EUR)"),
        places=None,
        validators=[Optional(), Amount(min=Decimal("0.01"))],
    )

    def validate_quantity(self, field) -> None:
        """Accept a quantity of at most three decimals."""
        if field.data is not None and field.data != field.data.quantize(Decimal("0.001")):
            raise ValidationError(_l("Enter the quantity with at most three decimals."))

    def validate_amount(self, field) -> None:
        """Accept an amount in euros and cents, and not beside a quantity."""
        if field.data is None:
            return
        if field.data != field.data.quantize(Decimal("0.01")):
            raise ValidationError(_l("Enter the amount in euros and cents."))
        if self.quantity.data is not None:
            raise ValidationError(_l("Enter a quantity or an amount, not both."))


class CreditForm(PortalForm):
    """Hyvitä: credit a forwarded invoice in full, or some of its lines."""

    class Meta(TrimmedMeta):
        pass

    scope = RadioField(
        _l("What is credited"),
        choices=[
            SelectChoice("full", _l("The whole invoice")),
            SelectChoice("part", _l("Some lines")),
        ],
        default="full",
        validators=[DataRequired(_l("Choose what is credited."))],
    )
    lines = FieldList(FormField(CreditLineForm), _l("Lines to credit"), max_entries=MAX_LINES)
    reason = TextAreaField(
        _l("Reason"),
        validators=[Optional(), Length(max=500)],
        description=_l("Printed on the credit note, for example what was wrong."),
    )

    def validate_lines(self, field) -> None:
        """Some lines: at least one of them with a quantity or an amount."""
        if self.scope.data != "part":
            return
        if not any(
            entry.form.quantity.data is not None or entry.form.amount.data is not None
            for entry in field.entries
        ):
            raise ValidationError(_l("Enter a quantity or an amount for a line to credit."))


class PayoutAccountForm(PortalForm):
    """The account the invoicing user's payouts are paid to."""

    class Meta(TrimmedMeta):
        pass

    iban = StringField(
        _l("Account number (IBAN)"),
        validators=[DataRequired(_l("Enter the account number.")), Length(max=42)],
        description=_l("For example FI21 1234 5600 0007 85."),
    )
    name = StringField(
        _l("Account holder"),
        validators=[DataRequired(_l("Enter the account holder's name.")), Length(max=70)],
    )

    def validate_iban(self, field) -> None:
        """Accept a valid IBAN, compacted and in capitals."""
        compact = "".join((field.data or "").split()).upper()
        if not iban.is_valid(compact):
            raise ValidationError(
                _l("Enter a valid IBAN account number, such as FI21 1234 5600 0007 85.")
            )
        field.data = compact


class PayoutBatchForm(PortalForm):
    """The staff's payout batch: the day the bank pays, and the form's one-time key."""

    execution_date = DateField(
        _l("Payment date"),
        validators=[DataRequired(_l("Enter the payment date.")), SensibleYear()],
        description=_l("A banking day after today: the bank pays the users on it."),
    )
    form_key = HiddenField(filters=[lambda key: key if key and FORM_KEY.fullmatch(key) else ""])
