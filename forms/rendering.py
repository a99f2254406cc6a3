"""Form fields as HTML, the accessible way `templates/_form.html` describes.

WTForms builds every attribute through `Markup.format`, which costs several times the
markup itself; `render_widget` writes the same markup for the widgets the portal uses (and
leaves any other widget to WTForms), and `render_field` is the `field` macro of
`_form.html` in Python: a form page renders a dozen fields on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import gettext
from markupsafe import Markup, escape
from wtforms import widgets
from wtforms.fields import Field
from wtforms.fields.choices import Choice
from wtforms.fields.core import Flags
from wtforms.widgets.core import clean_key

REQUIRED_MARK = Markup(' <span class="required" aria-hidden="true">*</span>')


_NAMES: dict[str, str] = {}  # "aria_describedby" -> "aria-describedby", escaped


def _name(key: str) -> str:
    name = _NAMES.get(key)
    if name is None:
        name = _NAMES[key] = str(escape(clean_key(key)))
    return name


def attributes(**kwargs: Any) -> str:
    """HTML attributes exactly as WTForms' `html_params` writes them, only faster."""
    parts = []
    for key, value in sorted(kwargs.items()):
        if value is True:
            parts.append(_name(key))
        elif value is not False:
            value = str(escape(value)).replace('"', "&quot;")
            parts.append(f'{_name(key)}="{value}"')
    return " ".join(parts)


def _add_validation_attrs(widget: Any, field: Field, kwargs: dict, call: bool) -> None:
    """The field's flags that the widget writes as attributes (required, maxlength…)."""
    flags = vars(field.flags)
    for key in widget.validation_attrs:
        if key in flags and key not in kwargs:
            value = flags[key]
            kwargs[key] = value() if call and callable(value) else value


def _input(widget: Any, field: Field, kwargs: dict) -> Markup:
    kwargs.setdefault("id", field.id)
    kwargs.setdefault("type", widget.input_type)
    if "value" not in kwargs:
        kwargs["value"] = field._value()
    datalist = getattr(field, "_datalist", None)
    if datalist is not None and "list" not in kwargs:
        kwargs["list"] = datalist if isinstance(datalist, str) else datalist.id
    _add_validation_attrs(widget, field, kwargs, call=True)
    return Markup(f"<input {attributes(name=field.name, **kwargs)}>")


def _password(widget: Any, field: Field, kwargs: dict) -> Markup:
    if widget.hide_value:
        kwargs["value"] = ""
    return _input(widget, field, kwargs)


def _checkbox(widget: Any, field: Field, kwargs: dict) -> Markup:
    if getattr(field, "checked", field.data):
        kwargs.setdefault("checked", True)
    return _input(widget, field, kwargs)


def _radio(widget: Any, field: Field, kwargs: dict) -> Markup:
    if field.checked:
        kwargs.setdefault("checked", True)
    return _input(widget, field, kwargs)


def _file(widget: Any, field: Field, kwargs: dict) -> Markup:
    kwargs["value"] = False  # browsers ignore the value of a file input
    if widget.multiple:
        kwargs["multiple"] = True
    return _input(widget, field, kwargs)


def _textarea(widget: Any, field: Field, kwargs: dict) -> Markup:
    kwargs.setdefault("id", field.id)
    _add_validation_attrs(widget, field, kwargs, call=False)
    params = attributes(name=field.name, **kwargs)
    return Markup(f"<textarea {params}>\r\n{escape(field._value())}</textarea>")


def _select(widget: Any, field: Field, kwargs: dict) -> Markup | None:
    if field.has_groups():
        return None  # optgroups: WTForms writes them
    choices = list(field.iter_choices())
    if not all(type(choice) is Choice for choice in choices):
        return None
    kwargs.setdefault("id", field.id)
    if widget.multiple:
        kwargs["multiple"] = True
    _add_validation_attrs(widget, field, kwargs, call=False)
    html = [f"<select {attributes(name=field.name, **kwargs)}>"]
    for choice in choices:
        value = str(choice.value) if isinstance(choice.value, bool) else choice.value
        options = {"value": value, **(choice.render_kw or {})}
        if choice.selected:
            options["selected"] = True
        label = escape(choice.label or choice.value)
        html.append(f"<option {attributes(**options)}>{label}</option>")
    html.append("</select>")
    return Markup("".join(html))


def _date_time(widget: Any, field: Field, kwargs: dict) -> Markup:
    date_format = getattr(field, "format", None)
    if date_format is not None:
        date_format = date_format[0] if isinstance(date_format, list) else date_format
        for attr in ("min", "max"):
            value = kwargs.get(attr, getattr(field.flags, attr, None))
            if callable(value):
                value = value()
            if hasattr(value, "strftime"):
                kwargs[attr] = value.strftime(date_format)
    return _input(widget, field, kwargs)


def _number(widget: Any, field: Field, kwargs: dict) -> Markup:
    for attr in ("step", "min", "max"):
        value = getattr(widget, attr)
        if value is not None:
            kwargs.setdefault(attr, value)
    return _input(widget, field, kwargs)


Renderer = Callable[[Any, Field, dict], Markup | None]

# What each of WTForms' widget methods writes; a widget class whose own `__call__` is
# none of these (a subclass that renders differently) is left to WTForms.
_BY_METHOD: dict[Callable, Renderer] = {
    widgets.Input.__call__: _input,
    widgets.PasswordInput.__call__: _password,
    widgets.CheckboxInput.__call__: _checkbox,
    widgets.RadioInput.__call__: _radio,
    widgets.FileInput.__call__: _file,
    widgets.DateInput.__call__: _date_time,
    widgets.NumberInput.__call__: _number,
    widgets.TextArea.__call__: _textarea,
    widgets.Select.__call__: _select,
}
_RENDERERS: dict[type, Renderer] = {
    cls: _BY_METHOD[cls.__call__]
    for cls in vars(widgets.core).values()
    if isinstance(cls, type) and cls.__call__ in _BY_METHOD
}


def render_widget(field: Field, render_kw: dict) -> Markup | None:
    """The field's control as WTForms' widget would write it, or None for a widget this
    module does not know (the caller then asks the widget)."""
    render = _RENDERERS.get(type(field.widget))
    if render is None or not isinstance(field.flags, Flags):
        return None
    kwargs = {clean_key(k): v for k, v in render_kw.items()}
    if field.render_kw is not None:
        kwargs = dict({clean_key(k): v for k, v in field.render_kw.items()}, **kwargs)
    return render(field.widget, field, kwargs)


# --- The field macro -----------------------------------------------------------------


def _hint_and_errors(field: Field, hint: Markup) -> str:
    html = f'<p class="hint" id="{escape(field.id)}-hint">{hint}</p>' if hint else ""
    html += "\n"
    if field.errors:
        marker = f'<span class="visually-hidden">{Markup(gettext("Error:"))} </span>'
        errors = "<br>".join(marker + str(escape(error)) for error in field.errors)
        html += f'\n<p class="field-error" id="{escape(field.id)}-error">\n  {errors}\n</p>\n'
    return html


def _radio_option(option: Field, hint: object, kwargs: dict) -> str:
    """One button of a radio group with its label, and its own hint if it has one (tied
    to the button, read after its label)."""
    if not hint:
        return f'\n  <div class="radio">{option(**kwargs)} {option.label()}</div>\n  '
    hint_id = escape(option.id + "-hint")
    control = option(**{**kwargs, "aria_describedby": hint_id})
    return (
        f'\n  <div class="radio">{control} {option.label()}\n'
        f'    <p class="hint" id="{hint_id}">{escape(hint)}</p></div>\n  '
    )


def render_field(
    field: Field,
    hint: object = None,
    class_: str = "",
    option_hints: Mapping[object, object] | None = None,
    **kwargs: Any,
) -> Markup:
    """One form field with its label, hint and errors, tied together for screen readers:
    `{{ field(form.email) }}`; keyword arguments go to the control. A radio group's
    `option_hints` map a choice's value to a hint shown under that choice's label."""
    required = field.flags.required
    hint = hint or field.description
    hint = Markup("") if hint is None else escape(hint)  # a lazy text translated once
    ids = []
    if hint:
        ids.append(field.id + "-hint")
    if field.errors:
        ids.append(field.id + "-error")
    describedby = escape(" ".join(ids))
    error_class = " form-field--error" if field.errors else ""
    classes = f"{error_class} {escape(class_)}"
    label = escape(field.label.text) + (REQUIRED_MARK if required else "")
    field_id = escape(field.id)
    invalid = "true" if field.errors else False
    if field.type == "BooleanField":
        control = field(aria_describedby=describedby or False, aria_invalid=invalid, **kwargs)
        html = (
            f'<div class="form-field form-field--checkbox{classes}">\n  {control}\n'
            f'  <label for="{field_id}">{label}</label>\n'
            f"  {_hint_and_errors(field, hint)}\n</div>\n"
        )
    elif field.type in ("RadioField", "MultiCheckboxField"):
        described = f' aria-describedby="{describedby}"' if describedby else ""
        option_hints = option_hints or {}
        options = "".join(
            _radio_option(option, option_hints.get(option.data), kwargs) for option in field
        )
        html = (
            f'<fieldset class="form-field form-field--radios{classes}"{described}>\n'
            f"  <legend>{label}</legend>\n"
            f"  {_hint_and_errors(field, hint)}\n  {options}\n</fieldset>\n"
        )
    else:
        control = field(
            aria_describedby=describedby or False,
            aria_invalid=invalid,
            aria_required="true" if required else False,
            required=False,
            **kwargs,
        )
        html = (
            f'<div class="form-field{classes}">\n'
            f'  <label for="{field_id}">{label}</label>\n'
            f"  {_hint_and_errors(field, hint)}\n  {control}\n</div>\n"
        )
    return Markup("\n\n\n" + html)
