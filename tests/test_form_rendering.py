"""Fields written by forms.rendering are the HTML WTForms and the former Jinja macro wrote."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import date

import flask_babel
import pytest
from flask import Flask
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateField,
    FileField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectFieldBase
from wtforms.i18n import get_translations
from wtforms.meta import DefaultMeta
from wtforms.validators import DataRequired, Length, NumberRange, Optional

import forms
from forms import PortalForm

# The field macro of _form.html as it was in Jinja: render_field must write the same.
MACRO = """
{% macro _describedby(field, hint) -%}
{%- set ids = [] -%}
{%- if hint or field.description %}{% set _ = ids.append(field.id ~ "-hint") %}{% endif -%}
{%- if field.errors %}{% set _ = ids.append(field.id ~ "-error") %}{% endif -%}
{{ ids|join(" ") }}
{%- endmacro %}
{% macro _hint_and_errors(field, hint) -%}
{% if hint or field.description %}<p class="hint" id="{{ field.id }}-hint">{{ hint or field.description }}</p>{% endif %}
{% if field.errors %}
<p class="field-error" id="{{ field.id }}-error">
  {% for error in field.errors %}<span class="visually-hidden">{{ _("Error:") }} </span>{{ error }}{% if not loop.last %}<br>{% endif %}{% endfor %}
</p>
{% endif %}
{%- endmacro %}
{% macro field(field, hint=None, class_="") -%}
{% set required = field.flags.required %}
{% set describedby = _describedby(field, hint) %}
{% if field.type in ("BooleanField",) %}
<div class="form-field form-field--checkbox{% if field.errors %} form-field--error{% endif %} {{ class_ }}">
  {{ field(aria_describedby=describedby or False, aria_invalid="true" if field.errors else False, **kwargs) }}
  <label for="{{ field.id }}">{{ field.label.text }}{% if required %} <span class="required" aria-hidden="true">*</span>{% endif %}</label>
  {{ _hint_and_errors(field, hint) }}
</div>
{% elif field.type in ("RadioField", "MultiCheckboxField") %}
<fieldset class="form-field form-field--radios{% if field.errors %} form-field--error{% endif %} {{ class_ }}"{% if describedby %} aria-describedby="{{ describedby }}"{% endif %}>
  <legend>{{ field.label.text }}{% if required %} <span class="required" aria-hidden="true">*</span>{% endif %}</legend>
  {{ _hint_and_errors(field, hint) }}
  {% for option in field %}
  <div class="radio">{{ option(**kwargs) }} {{ option.label() }}</div>
  {% endfor %}
</fieldset>
{% else %}
<div class="form-field{% if field.errors %} form-field--error{% endif %} {{ class_ }}">
  <label for="{{ field.id }}">{{ field.label.text }}{% if required %} <span class="required" aria-hidden="true">*</span>{% endif %}</label>
  {{ _hint_and_errors(field, hint) }}
  {{ field(aria_describedby=describedby or False,
           aria_invalid="true" if field.errors else False,
           aria_required="true" if required else False,
           required=False, **kwargs) }}
</div>
{% endif %}
{%- endmacro %}
"""  # noqa: E501

CALLS = {
    "plain": "{{ field(f) }}",
    "hint": '{{ field(f, hint="A <hint> & more", class_="wide") }}',
    "attributes": '{{ field(f, inputmode="numeric", data_sub_target="x<", rows=3, id="given") }}',
}
WIDGET_CALLS = [{}, {"class_": "c", "aria_describedby": "z", "required": False, "disabled": True}]
CHOICES = [
    SelectChoice("", "All"),
    SelectChoice("1", "One <1>"),
    SelectChoice("2", "Two", render_kw={"lang": "en"}),
    SelectChoice('va"l<u>e&', "Quoted"),
]
NUMBERED = [SelectChoice(1, "One <1>"), SelectChoice(2, "Two", render_kw={"lang": "en"})]


def _portal_forms() -> list[type]:
    found = []
    for module in pkgutil.iter_modules(forms.__path__):
        members = vars(importlib.import_module(f"forms.{module.name}")).values()
        found += [
            cls
            for cls in members
            if inspect.isclass(cls)
            and issubclass(cls, PortalForm)
            and cls.__module__ == f"forms.{module.name}"
        ]
    return found


def _filled(cls: type, submitted: bool) -> PortalForm:
    """The form fresh, or posted with awkward values and with errors on every field."""
    if not submitted:
        form = cls()
    else:
        data = MultiDict()
        for name, _ in cls._unbound_fields:
            data.add(name, 'va"l<u>e&')
            data.add(name, "2")
        form = cls(formdata=data)
    for field in form:
        if isinstance(field, SelectFieldBase) and not field.choices:
            field.choices = CHOICES if getattr(field, "coerce", str) is str else NUMBERED
        if submitted:
            field.errors = ["Bad <value>"]
    return form


def _wtforms(field, **kwargs) -> str:
    """The control as WTForms' own Meta writes it."""
    return DefaultMeta.render_field(field.meta, field, kwargs)


@pytest.fixture
def rendering(app: Flask):
    with app.test_request_context("/", method="POST"):
        yield app.jinja_env.from_string(MACRO)


@pytest.mark.parametrize("cls", _portal_forms(), ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("submitted", [False, True], ids=["fresh", "posted"])
def test_every_field_is_written_as_before(app, rendering, cls, submitted):
    form = _filled(cls, submitted)
    macro = rendering.module.field
    for field in form:
        if field.type in ("FormField", "FieldList"):
            continue
        for kwargs in WIDGET_CALLS:
            assert field(**kwargs) == _wtforms(field, **kwargs), field.name
        for name, call in CALLS.items():
            new = app.jinja_env.from_string(call).render(
                f=field, field=app.jinja_env.globals["render_field"]
            )
            old = app.jinja_env.from_string(call).render(f=field, field=macro)
            assert new == old, (field.name, name)


class EveryWidget(PortalForm):
    """Fields of every kind the fast path writes, with the flags WTForms turns into
    attributes."""

    class Meta:
        csrf = False

    text = StringField("Text", validators=[DataRequired(), Length(min=2, max=9)])
    secret = PasswordField("Secret", validators=[DataRequired()])
    kept_secret = PasswordField("Kept", widget=PasswordField.widget.__class__(hide_value=False))
    hidden = HiddenField(default='x"y')
    agree = BooleanField("Agree", default=True)
    day = DateField("Day", validators=[Optional()])
    count = IntegerField("Count", validators=[NumberRange(min=1, max=5)])
    note = TextAreaField("Note", validators=[Length(max=20)], render_kw={"rows": 2})
    choice = SelectField("Choice", choices=CHOICES, default="2")
    many = SelectMultipleField("Many", choices=CHOICES, default=["1", "2"])
    grouped = SelectField(
        "Grouped", choices=[SelectChoice("a", "A", optgroup="G"), SelectChoice("b", "B")]
    )
    yes_no = SelectField(
        "Yes or no", choices=[SelectChoice(True, "Yes"), SelectChoice(False, "No")]
    )
    pick = RadioField("Pick", choices=CHOICES[1:], default="1")
    upload = FileField("Upload")
    uploads = MultipleFileField("Uploads", render_kw={"accept": "image/png"})


def test_every_widget_kind_is_written_as_wtforms_writes_it(app):
    with app.test_request_context("/"):
        form = EveryWidget(data={"day": date(2027, 1, 7), "count": 3, "note": "<b>&"})
        form.day.flags.min = date(2027, 1, 1)
        form.day.flags.max = lambda: date(2027, 12, 31)
        form.text.flags.pattern = "[a-z]+"
        for field in form:
            for kwargs in [*WIDGET_CALLS, {"value": Markup('a"b'), "data_x": 0, "id": None}]:
                assert field(**kwargs) == _wtforms(field, **kwargs), field.name
        for option in form.pick:
            assert option(class_="r") == _wtforms(option, class_="r")


@pytest.mark.parametrize("language", ["fi", "sv", "nb", "en"])
def test_wtforms_messages_are_in_the_users_language(app, language):
    english = "Not a valid integer value."
    for _ in range(2):  # read once, then kept
        with app.test_request_context("/", headers={"Accept-Language": language}):
            # The portal's catalog first, WTForms' after it (forms.FormMessages).
            ours = flask_babel.get_translations().gettext(english)
            expected = ours if ours != english else get_translations([language]).gettext(english)
            form = EveryWidget(formdata=MultiDict({"count": "many"}))
            form.validate()
            assert form.count.errors[0] == expected
            assert (expected == english) is (language == "en")
