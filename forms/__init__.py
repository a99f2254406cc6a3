"""WTForms classes, one module per part, mirroring the seeds' forms."""

from __future__ import annotations

from functools import cache
from typing import Any

from babel.support import Translations
from flask import current_app, has_request_context
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms.i18n import messages_path

from forms.rendering import render_widget


@cache
def _wtforms_messages(locale: str) -> Translations:
    """WTForms' own messages ("Not a valid date") in a language, read once."""
    return Translations.load(messages_path(), [locale], domain="wtforms")


class RenderingMeta:
    """A form Meta whose fields render through `forms.rendering` (subforms take it too)."""

    def render_field(self, field: Any, render_kw: dict) -> Any:
        html = render_widget(field, render_kw)
        return super().render_field(field, render_kw) if html is None else html


class PortalForm(FlaskForm):
    """The base of the portal's forms: Flask-WTF's, with WTForms' messages read once per
    language instead of once per request, and fields rendered by `forms.rendering`."""

    class Meta(RenderingMeta):
        def get_translations(self, form: FlaskForm) -> Any:
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            if not has_request_context():
                return None
            return _wtforms_messages(str(get_locale()))
