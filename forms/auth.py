"""Forms of logging in, password reset and the profile (omat tiedot)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from stdnum.exceptions import ValidationError as InvalidNumber
from stdnum.fi import ytunnus
from stdnum.no import orgnr
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SearchField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from config import LANGUAGES
from forms import PortalForm
from forms.validators import Email, OrganisationField
from models.auth import Role
from services import two_factor
from services.accounts import MIN_PASSWORD_LENGTH


def language_choices() -> list[SelectChoice]:
    """The portal's languages for a select, each named in itself."""
    # Each language named in itself, with lang= so screen readers pronounce it right.
    return [
        SelectChoice(code, label, render_kw={"lang": code}) for code, label in LANGUAGES.items()
    ]


class LoginForm(PortalForm):
    """The login's first step: email address and password, and whether to stay logged in."""

    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password."))],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(_l("Keep me logged in on this device"))
    next = HiddenField()


# What authenticator apps and password managers fill in, and phones' number pads.
CODE_INPUT = {
    "autocomplete": "one-time-code",
    "inputmode": "numeric",
    "autocapitalize": "off",
    "spellcheck": "false",
}


class TwoFactorForm(PortalForm):
    """The second step of a login: the code the user's authenticator app shows."""

    code = StringField(
        _l("Authentication code"),
        validators=[
            DataRequired(_l("Enter the code your authenticator app shows.")),
            Length(max=20, message=_l("The code has 6 digits.")),
        ],
        description=_l("The 6-digit code of Palveluportaali in your authenticator app."),
        render_kw=CODE_INPUT,
    )

    def validate_code(self, field: StringField) -> None:
        """Accept only a code of six digits."""
        if two_factor.normalise_code(field.data) is None:
            raise ValidationError(_l("The code has 6 digits."))


class RecoveryCodeForm(PortalForm):
    """A login's second step with one of the recovery codes instead of the app."""

    code = StringField(
        _l("Recovery code"),
        validators=[
            DataRequired(_l("Enter one of your recovery codes.")),
            Length(max=40, message=_l("A recovery code has 10 letters and digits.")),
        ],
        description=_l("One of the codes you saved when you set up two-factor login."),
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )

    def validate_code(self, field: StringField) -> None:
        """Accept only a code of the recovery codes' form."""
        if two_factor.normalise_recovery_code(field.data) is None:
            raise ValidationError(_l("A recovery code has 10 letters and digits."))


class TwoFactorSetupForm(TwoFactorForm):
    """Confirming a new authenticator app with its first code."""

    code = StringField(
        _l("Code from the app"),
        validators=[
            DataRequired(_l("Enter the code your authenticator app shows.")),
            Length(max=20, message=_l("The code has 6 digits.")),
        ],
        description=_l("The 6-digit code the app shows after you added the account."),
        render_kw=CODE_INPUT,
    )
    # The secret shown on the page, encrypted and bound to the user: nothing is stored
    # before the code confirms it.
    secret_token = HiddenField()


class TwoFactorConfirmForm(PortalForm):
    """Proof that the owner is at the keyboard before the second factor is changed."""

    proof = PasswordField(
        _l("Your password or a code from your app"),
        validators=[
            DataRequired(_l("Enter your password or the code your app shows.")),
            Length(max=200),
        ],
        render_kw={"autocomplete": "current-password"},
    )


class PasswordResetRequestForm(PortalForm):
    """The email address a link for setting a new password is sent to."""

    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Enter your email address.")), Email(), Length(max=254)],
        description=_l("We will send a link for setting a new password to this address."),
        render_kw={"autocomplete": "email"},
    )


class PasswordResetForm(PortalForm):
    """A new password, typed twice, from the link of the password reset mail."""

    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(_l("Enter a new password.")),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=_l(
                    "The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH
                ),
            ),
        ],
        description=_l("At least %(n)d characters.", n=MIN_PASSWORD_LENGTH),
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(_l("Enter the new password again.")),
            EqualTo("password", _l("The passwords do not match.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ProfileForm(PortalForm):
    """The user's own details (omat tiedot): name, email address and language."""

    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter your name.")), Length(max=200)],
        render_kw={"autocomplete": "name"},
    )
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Enter your email address.")), Email(), Length(max=254)],
        description=_l("Confirmations and replies are sent here; the contact form uses it too."),
        render_kw={"autocomplete": "email"},
    )
    language = SelectField(_l("Language"), choices=language_choices())


class LanguageForm(PortalForm):
    """The language switcher in the header: one button per language."""

    language = SelectField(choices=language_choices())
    next = HiddenField()


def _optional_id(value: object) -> int | None:
    """Coerce a select's value to a database id; the empty choice is None."""
    if value in (None, "", "None"):
        return None
    return int(value)


class UserForm(PortalForm):
    """An account as an admin creates or edits it."""

    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Enter the email address.")), Email(), Length(max=254)],
        description=_l("A new user gets an email with a link for choosing a password."),
    )
    name = StringField(
        _l("Name"), validators=[DataRequired(_l("Enter the name.")), Length(max=200)]
    )
    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice(Role.CUSTOMER.value, _l("Customer")),
            SelectChoice(Role.STAFF.value, _l("Staff")),
            SelectChoice(Role.HEALTH.value, _l("Health personnel")),
            SelectChoice(Role.ADMIN.value, _l("Administrator")),
        ],
    )
    organisation = OrganisationField(
        _l("Organisation"),
        validators=[Length(max=200)],  # may be empty: validate_organisation decides
        description=_l("Its name or business ID; the beginning of the name will do."),
    )
    username = StringField(
        _l("Username"),
        validators=[Optional(), Length(max=50)],
        description=_l("Shown after the name in the customer portal; the email if empty."),
    )
    granted_department_ids = SelectMultipleField(
        _l("Departments"),
        coerce=int,
        choices=[],  # the organisation's, set by the view for the page
        validate_choice=False,  # checked against the organisation the form names
        description=_l(
            "A customer user sees only these departments (and those below them) in the "
            "customer portal; none chosen: the whole organisation. The organisation's "
            "departments are offered once the user belongs to it."
        ),
    )
    language = SelectField(_l("Language"), choices=language_choices())
    active = BooleanField(_l("Active: may log in"), default=True)

    def validate_granted_department_ids(self, field) -> None:
        """Accept only departments of the user's organisation."""
        import sqlalchemy as sa

        from extensions import db
        from models.auth import Department

        ids = set(field.data or [])
        if field.errors or not ids:
            return
        if len(ids) > 1000 or not all(0 < i < 2**31 for i in ids):  # sent by no form of ours
            raise ValidationError(_l("Choose departments of the user's organisation."))
        organisation = self.organisation.picked
        of_it = (
            0
            if organisation is None
            else db.session.scalar(
                sa.select(sa.func.count())
                .select_from(Department)
                .where(Department.id.in_(ids), Department.organisation_id == organisation.id)
            )
        )
        if of_it != len(ids):  # one query, however many were sent
            raise ValidationError(_l("Choose departments of the user's organisation."))

    def validate_organisation(self, field: OrganisationField) -> None:
        """Require the organisation of a customer user."""
        if self.role.data == Role.CUSTOMER.value and field.picked is None and not field.errors:
            raise ValidationError(_l("Choose the organisation of a customer user."))


BUSINESS_ID_FORMATS = {"FI": ytunnus, "NO": orgnr}


class OrganisationForm(PortalForm):
    """An organisation as an admin creates or edits it."""

    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter the name of the organisation.")), Length(max=200)],
    )
    country = SelectField(
        _l("Country"),
        choices=[SelectChoice("FI", _l("Finland")), SelectChoice("NO", _l("Norway"))],
    )
    business_id = StringField(
        _l("Business ID"),
        validators=[Optional(), Length(max=20)],
        description=_l("Finland: Y-tunnus, e.g. 1234567-8. Norway: organisasjonsnummer, 9 digits."),
    )
    language = SelectField(
        _l("Language of its users"),
        choices=language_choices(),
        description=_l("New users of the organisation get this language."),
    )
    account_manager_id = SelectField(
        _l("Account manager"), coerce=_optional_id, choices=[], validate_choice=True
    )

    def validate_business_id(self, field: StringField) -> None:
        """Check the business ID by its country's rules and write it in its form."""
        if not field.data:
            return
        module = BUSINESS_ID_FORMATS.get(self.country.data)
        if module is None:
            return  # the country field says what is wrong
        try:
            module.validate(field.data)
        except InvalidNumber as exc:
            raise ValidationError(_l("This is not a valid business ID of the country.")) from exc
        field.data = module.format(field.data)


class DepartmentForm(PortalForm):
    """A department of an organisation, under another department or directly under it."""

    name = StringField(
        _l("Department"),
        validators=[DataRequired(_l("Enter the name of the department.")), Length(max=200)],
    )
    parent_id = SelectField(
        _l("Part of"),
        coerce=_optional_id,
        choices=[],
        description=_l("Leave empty for a department directly under the organisation."),
    )


class UserSearchForm(PortalForm):
    """The search of the account list: a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    q = SearchField(_l("Search by name, email or organisation"), validators=[Length(max=100)])
