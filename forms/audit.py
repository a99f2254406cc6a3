"""The audit log's filters (the admins' page, blueprints/audit.py)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import EmailField, SearchField, SelectChoice, SelectField
from wtforms.validators import Length, Optional

from forms import PortalForm
from forms.portal import SearchMeta
from forms.validators import Email, TrimmedMeta
from models.audit import AuditAction
from services import audit

ACTION_LABELS = {
    AuditAction.NATIONAL_ID_CHANGED: _l("National identity number changed"),
    AuditAction.HEALTH_OPENED: _l("Self-declaration opened"),
    AuditAction.INVOICE_FORWARDED: _l("Invoice forwarded"),
    AuditAction.PAYMENT_REFUNDED: _l("Payment refunded"),
    AuditAction.PAYMENT_MARKED: _l("Payment marked"),
    AuditAction.PAYOUT_BATCH_RUN: _l("Payout batch run"),
    AuditAction.PAYOUT_FILE_DOWNLOADED: _l("Payout file downloaded"),
    AuditAction.PAYOUT_ACCOUNT_CHANGED: _l("Payout account changed"),
    AuditAction.COURSE_ORGANISER_ADDED: _l("Course organiser added"),
    AuditAction.COURSE_ORGANISER_CHANGED: _l("Course organiser changed"),
    AuditAction.ROLE_GRANTED: _l("Role granted"),
    AuditAction.TWO_FACTOR_ENABLED: _l("Two-factor login turned on"),
    AuditAction.TWO_FACTOR_DISABLED: _l("Two-factor login turned off"),
    AuditAction.TWO_FACTOR_RESET: _l("Two-factor login reset"),
    AuditAction.EXPORT_DOWNLOADED: _l("List exported"),
}
RECORD_TYPE_LABELS = {
    "employee": _l("Employee"),
    "placement": _l("Self-declaration"),
    "sales_invoice": _l("Invoice of the invoice desk"),
    "customer_invoice": _l("Portal invoice"),
    "online_payment": _l("Online payment"),
    "payout_batch": _l("Payout batch"),
    "course_organiser": _l("Course organiser"),
    "user": _l("User"),
    "export": _l("Exported list"),
}


class AuditSearchForm(PortalForm):
    """The log's filters: each one is answered by an index of its own."""

    class Meta(SearchMeta, TrimmedMeta):
        pass

    action = SelectField(_l("Event"), choices=[], default="")
    record_type = SelectField(_l("Record type"), choices=[], default="")
    record_id = SearchField(
        _l("Record id"),
        validators=[Optional(), Length(max=64)],
        description=_l("With the record type: the events of one record."),
    )
    actor = EmailField(
        _l("Done by (email)"),
        validators=[Optional(), Length(max=254), Email()],
        description=_l("The whole email address of the user."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.action.choices = [SelectChoice("", _l("All"))] + [
            SelectChoice(action.value, label) for action, label in ACTION_LABELS.items()
        ]
        self.record_type.choices = [SelectChoice("", _l("Any"))] + [
            SelectChoice(kind, RECORD_TYPE_LABELS.get(kind, kind)) for kind in audit.RECORD_TYPES
        ]

    def validate(self, extra_validators=None) -> bool:
        """Validate the filters; a record's type and id are given together."""
        valid = super().validate(extra_validators)
        # A record is its type and its id together: its index is searched by both.
        if self.record_id.data and not self.record_type.data and not self.record_id.errors:
            self.record_type.errors = [*self.record_type.errors, _("Choose the record type.")]
        if self.record_type.data and not self.record_id.data and not self.record_type.errors:
            self.record_id.errors = [*self.record_id.errors, _("Give the record id too.")]
        return valid and not self.errors
