"""Forms of logging in, password reset and the profile (omat tiedot)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, Length

from config import LANGUAGES
from forms.validators import Email
from services.accounts import MIN_PASSWORD_LENGTH


def language_choices() -> list[SelectChoice]:
    # Each language named in itself, with lang= so screen readers pronounce it right.
    return [
        SelectChoice(code, label, render_kw={"lang": code}) for code, label in LANGUAGES.items()
    ]


class LoginForm(FlaskForm):
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


class PasswordResetRequestForm(FlaskForm):
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Enter your email address.")), Email(), Length(max=254)],
        description=_l("We will send a link for setting a new password to this address."),
        render_kw={"autocomplete": "email"},
    )


class PasswordResetForm(FlaskForm):
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


class ProfileForm(FlaskForm):
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


class LanguageForm(FlaskForm):
    """The language switcher in the header: one button per language."""

    language = SelectField(choices=language_choices())
    next = HiddenField()
