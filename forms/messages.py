"""WTForms' own messages, marked so that the portal's catalog carries them too.

`forms.FormMessages` looks a WTForms message up in the portal's catalog first and in
WTForms' catalog after it. WTForms' catalogs lack some of these in Finnish and bokmål,
and word others unlike the portal ("Pakollinen." where the portal says "Tämä kenttä on
pakollinen."): translated here, they read as the rest of the page. `pybabel extract`
finds them through `N_` and `ngettext`; nothing calls `_marked`.
"""

from __future__ import annotations

from flask_babel import ngettext


def N_(message: str) -> str:  # the name pybabel looks for
    """The message unchanged: marks it for pybabel to extract."""
    return message


# The messages fields and validators of the portal's forms can give (tests/test_forms.py
# names which field or validator gives which).
MESSAGES = (
    N_("This field is required."),
    N_("Not a valid integer value."),
    N_("Not a valid decimal value."),
    N_("Not a valid date value."),
    N_("Not a valid datetime value."),
    N_("Not a valid time value."),
    N_("Not a valid choice."),
    N_("Invalid Choice: could not coerce."),
    N_("Invalid choice(s): one or more data inputs could not be coerced."),
    N_("Field must be between %(min)d and %(max)d characters long."),
    N_("Number must be at least %(min)s."),
    N_("Number must be at most %(max)s."),
    N_("Number must be between %(min)s and %(max)s."),
    N_("Invalid input."),
    N_("Invalid field name '%(other_name)s'."),
    N_("Field must be equal to %(other_name)s."),
)


def _marked() -> None:
    ngettext(
        "Field must be at least %(min)d character long.",
        "Field must be at least %(min)d characters long.",
        1,
    )
    ngettext(
        "Field cannot be longer than %(max)d character.",
        "Field cannot be longer than %(max)d characters.",
        1,
    )
    ngettext(
        "Field must be exactly %(max)d character long.",
        "Field must be exactly %(max)d characters long.",
        1,
    )
    ngettext(
        "'%(value)s' is not a valid choice for this field.",
        "'%(value)s' are not valid choices for this field.",
        1,
    )
