"""Forms of the PunchOut staff pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from forms import PortalForm


class BuyerForm(PortalForm):
    """A PunchOut buyer as staff add or edit it: its name and Sender credential."""

    name = StringField(
        _l("Name"), validators=[DataRequired(_l("Enter the name of the buyer.")), Length(max=200)]
    )
    domain = StringField(
        _l("Credential domain"),
        validators=[DataRequired(_l("Enter the credential domain.")), Length(max=100)],
        description=_l("The domain of the Sender credential, e.g. NetworkID; 'oci' for SAP OCI."),
    )
    identity = StringField(
        _l("Credential identity"),
        validators=[DataRequired(_l("Enter the credential identity.")), Length(max=200)],
        description=_l("The Identity of the Sender credential, or the OCI USERNAME."),
    )
    secret = PasswordField(
        _l("Shared secret"),
        validators=[
            DataRequired(_l("Enter the shared secret.")),
            Length(min=8, max=200, message=_l("The shared secret must have 8 to 200 characters.")),
        ],
        description=_l("Stored only as a hash: note it down for the buyer now."),
        render_kw={"autocomplete": "new-password"},
    )


class OrderNumberForm(PortalForm):
    """The order number by which staff approve an enrolment without an OrderRequest."""

    order_number = StringField(
        _l("Order number of the procurement system"),
        validators=[DataRequired(_l("Enter the order number.")), Length(max=100)],
        description=_l("Approves the enrolment: it becomes binding with this billing reference."),
    )
