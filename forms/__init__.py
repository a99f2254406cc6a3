"""WTForms classes, one module per part, mirroring the seeds' forms."""

from __future__ import annotations

from functools import cache
from typing import Any

from babel.support import Translations
from flask import current_app, has_request_context
from flask_babel import get_locale
from flask_babel import get_translations as portal_translations
from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    FileField,
    FormField,
    HiddenField,
    PasswordField,
    TextAreaField,
)
from wtforms.i18n import messages_path

from forms.rendering import render_widget
from forms.validators import NoControlCharacters


@cache
def _wtforms_messages(locale: str) -> Translations:
    """WTForms' own messages ("Not a valid date") in a language, read once."""
    return Translations.load(messages_path(), [locale], domain="wtforms")


class FormMessages:
    """WTForms' own messages in the page's language: the portal's catalog where it
    translates one (forms/messages.py marks them for it), WTForms' catalog otherwise.

    WTForms' catalogs lack some messages in some languages ("Not a valid time value."
    in Finnish and bokmål) and word others unlike the portal; ours comes first so that
    every message a user sees can be put right in one place.
    """

    def __init__(self, ours: Any, theirs: Translations) -> None:
        self.ours, self.theirs = ours, theirs

    def gettext(self, string: str) -> str:
        """The message from the portal's catalog, or else from WTForms'."""
        text = self.ours.gettext(string)
        return text if text != string else self.theirs.gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The singular or plural message from the portal's catalog, or else WTForms'."""
        text = self.ours.ngettext(singular, plural, n)
        if text not in (singular, plural):
            return text
        return self.theirs.ngettext(singular, plural, n)


class RenderingMeta:
    """A form Meta whose fields render through `forms.rendering` (subforms take it too)."""

    def render_field(self, field: Any, render_kw: dict) -> Any:
        """The field's control as `forms.rendering` writes it, or as its widget does."""
        html = render_widget(field, render_kw)
        return super().render_field(field, render_kw) if html is None else html


class PortalMeta(RenderingMeta):
    """What every form of the portal and every subform (a `FormField`'s form) shares:
    fields rendered by `forms.rendering`, WTForms' messages in the page's language, and
    text fields that refuse control characters with a field message of their own."""

    def bind_field(self, form: Any, unbound_field: Any, options: dict) -> Any:
        """Bind the field, refusing control characters in what is typed into it."""
        field = super().bind_field(form, unbound_field, options)
        # A subform's or a list's own fields are checked by the subform's Meta; a
        # password is never stored as typed (and one set before must still log in); a
        # hidden field is the page's, not typed, and a message on it would be unseen (its
        # form or view checks it: `next` is a safe path, an invoice's form_key hex).
        if not isinstance(field, FieldList | FormField | FileField | PasswordField | HiddenField):
            check = NoControlCharacters(multiline=isinstance(field, TextAreaField))
            field.validators = [check, *field.validators]
        return field

    def get_translations(self, form: Any) -> Any:
        """WTForms' messages in the page's language, the portal's catalog first."""
        if not current_app.config.get("WTF_I18N_ENABLED", True):
            return super().get_translations(form)
        if not has_request_context():
            return None
        return FormMessages(portal_translations(), _wtforms_messages(str(get_locale())))


class PortalForm(FlaskForm):
    """The base of the portal's forms: Flask-WTF's, with `PortalMeta` (WTForms' messages
    read once per language instead of once per request and put in the portal's words,
    fields rendered by `forms.rendering`, control characters refused)."""

    class Meta(PortalMeta):
        pass
