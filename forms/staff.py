"""Forms of the staff area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SearchField
from wtforms.validators import DataRequired, Length

from forms import PortalForm


class LookupForm(PortalForm):
    """The look-up box: a GET form (it changes nothing), so no CSRF token."""

    class Meta:
        csrf = False

    code = SearchField(
        _l("Code"),
        validators=[DataRequired(_l("Paste a code to look up.")), Length(max=100)],
        description=_l(
            "A service code, ticket number, order number, invoice number or reference number."
        ),
    )


class ActionForm(PortalForm):
    """A form with nothing but its CSRF token, for buttons that change state."""
