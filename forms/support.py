"""Forms of the contact form (Yhteydenotto) and its tickets, for customers and staff."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    SearchField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from forms import PortalForm
from forms.payments import MultiCheckboxField
from forms.validators import Bounds, Email, TrimmedMeta
from models.support import TicketStatus, TicketType, Urgency

MAX_MESSAGE = 10_000


def _screenshots(label=None) -> MultipleFileField:
    return MultipleFileField(
        label or _l("Screenshots"),
        description=_l("At most 3 images (PNG, JPEG, GIF or WebP)."),
        render_kw={"accept": "image/png,image/jpeg,image/gif,image/webp"},
    )


class ContactForm(PortalForm):
    """Yhteydenotto. The organisation is not a field: it is the one the user is logged in to."""

    class Meta(TrimmedMeta):
        pass

    type = SelectField(
        _l("Type"),
        choices=[],  # set with each type's guidance by the view
        validators=[DataRequired(_l("Choose what the contact is about."))],
    )
    urgency = SelectField(
        _l("Processing speed"),
        choices=[],
        default=Urgency.NORMAL.value,
        validators=[DataRequired(_l("Choose the processing speed."))],
    )
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Enter your email address.")), Email(), Length(max=254)],
        description=_l("The confirmation and our replies go to this address."),
        render_kw={"autocomplete": "email"},
    )
    application = SelectField(
        _l("Application"),
        choices=[],
        validators=[DataRequired(_l("Choose the application the contact is about."))],
    )
    sub_application = SelectField(
        _l("Sub-application"),
        choices=[],
        validate_choice=False,  # checked against the chosen application in validate()
        description=_l("For the application's reports, choose Report."),
    )
    target_reference = StringField(
        _l("Target reference"),
        validators=[Length(max=100)],
        description=_l(
            "For example an invoice number, order number or service code: "
            "an exact reference speeds up handling."
        ),
    )
    message = TextAreaField(
        _l("Message"),
        validators=[DataRequired(_l("Write your message.")), Length(max=MAX_MESSAGE)],
        render_kw={"rows": 8},
    )
    screenshots = _screenshots(_l("Screenshot"))

    def validate(self, extra_validators=None) -> bool:
        """Validate the form; the sub-application must be one of the chosen application's."""
        valid = super().validate(extra_validators)
        chosen = self.sub_application.data or ""
        allowed = {choice.value for choice in self.sub_application.choices}
        if chosen and chosen not in allowed:
            self.sub_application.errors.append(
                _l("Choose a sub-application of the chosen application.")
            )
            valid = False
        return valid


class TicketMessageForm(PortalForm):
    """The contact adds a message and images to an open ticket."""

    class Meta(TrimmedMeta):
        pass

    message = TextAreaField(
        _l("Message"),
        validators=[DataRequired(_l("Write your message.")), Length(max=MAX_MESSAGE)],
        render_kw={"rows": 5},
    )
    screenshots = _screenshots()


def status_choices() -> list[SelectChoice]:
    """The ticket statuses with their labels, for a select."""
    from services.support import STATUS_LABELS

    return [SelectChoice(status.value, STATUS_LABELS[status]) for status in TicketStatus]


class StaffReplyForm(PortalForm):
    """Staff's reply, mailed to the contact, and the status the ticket goes to."""

    class Meta(TrimmedMeta):
        pass

    message = TextAreaField(
        _l("Reply"),
        validators=[DataRequired(_l("Write your reply.")), Length(max=MAX_MESSAGE)],
        render_kw={"rows": 6},
    )
    status = SelectField(
        _l("Status after the reply"), choices=[], default=TicketStatus.WAITING.value
    )
    screenshots = _screenshots(_l("Images"))


class NoteForm(PortalForm):
    """An internal note, seen by staff only."""

    class Meta(TrimmedMeta):
        pass

    note = TextAreaField(
        _l("Internal note"),
        validators=[DataRequired(_l("Write the note.")), Length(max=MAX_MESSAGE)],
        description=_l("Only staff see internal notes."),
        render_kw={"rows": 3},
    )


class ContactLinkForm(PortalForm):
    """Correct the contact's address and send them a new status link."""

    class Meta(TrimmedMeta):
        pass

    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Enter the email address.")), Email(), Length(max=254)],
        description=_l(
            "A new link to the status page goes to this address; the old link stops working."
        ),
    )


class StatusForm(PortalForm):
    """The staff's change of a ticket's status."""

    status = SelectField(_l("Status"), choices=[])


class QueueFilterForm(PortalForm):
    """The staff queue's filters: a GET form."""

    class Meta:
        csrf = False

    status = SelectField(_l("Status"), choices=[], validate_choice=False, default="open")
    type = SelectField(_l("Type"), choices=[], validate_choice=False)
    application = SelectField(_l("Application"), choices=[], validate_choice=False)
    # Whose tickets: the default is what the staff member works on next (theirs and their
    # teams' unassigned ones), then only theirs, their teams', the unassigned, all.
    scope = SelectField(_l("Whose"), choices=[], validate_choice=False, default="next")
    # The organisation: blueprints.company_filter (a name typed, not a list of them all).


class AssignForm(PortalForm):
    """Give the ticket to a colleague or a team: "user:<id>" or "team:<id>"."""

    assignee = SelectField(
        _l("Give the ticket to"),
        choices=[],
        validators=[DataRequired(_l("Choose a colleague or a team."))],
    )


class MergeForm(PortalForm):
    """Merge this duplicate into the ticket it repeats."""

    class Meta(TrimmedMeta):
        pass

    into = StringField(
        _l("Ticket number of the original"),
        validators=[
            DataRequired(_l("Enter the number of the ticket to merge into.")),
            Length(max=40),
        ],
        description=_l(
            "The conversation moves there and this ticket is closed as its duplicate. "
            "Both must be of the same organisation."
        ),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )


class CcForm(PortalForm):
    """Copy a colleague of the customer's organisation on the ticket's mail."""

    class Meta(TrimmedMeta):
        pass

    email = EmailField(
        _l("Colleague's email address"),
        validators=[
            DataRequired(_l("Enter the colleague's email address.")),
            Email(),
            Length(max=254),
        ],
        description=_l("A user of the customer's organisation: they get the ticket's mail too."),
    )


class TicketListFilterForm(PortalForm):
    """The organisation's own ticket list: a GET form."""

    class Meta:
        csrf = False

    status = SelectField(_l("Status"), choices=[], validate_choice=False, default="")
    q = SearchField(_l("Ticket number or text"), validators=[Optional(), Length(max=100)])


class ApplicationForm(PortalForm):
    """An application or sub-application: its name in each language, order and use."""

    class Meta(TrimmedMeta):
        pass

    name_fi = StringField(
        _l("Name in Finnish"),
        validators=[DataRequired(_l("Enter the name in Finnish.")), Length(max=100)],
    )
    name_sv = StringField(_l("Name in Swedish"), validators=[Length(max=100)])
    name_nb = StringField(_l("Name in Norwegian"), validators=[Length(max=100)])
    name_en = StringField(_l("Name in English"), validators=[Length(max=100)])
    position = IntegerField(
        _l("Position in the list"),
        default=0,
        validators=[Optional(), Bounds(0, 10_000)],
    )
    active = BooleanField(_l("In use"), default=True)

    LANGUAGES = ("fi", "sv", "nb", "en")

    def names(self) -> dict[str, str]:
        """The names given, by language code."""
        fields = {code: getattr(self, f"name_{code}") for code in self.LANGUAGES}
        return {code: field.data for code, field in fields.items() if field.data}

    def fill(self, names: dict) -> None:
        """Fill the name fields from names by language code."""
        for code in self.LANGUAGES:
            getattr(self, f"name_{code}").data = names.get(code, "")


class TeamForm(ApplicationForm):
    """A team: its name in each language, whom it serves, its address and members."""

    position = None  # teams are listed the customer service first, then by application
    kind = SelectField(_l("Team"), choices=[], validators=[DataRequired()])
    application = SelectField(
        _l("Application it maintains"),
        choices=[],
        description=_l("New tickets of the application go to this team."),
    )
    email = EmailField(
        _l("Team's email address"),
        validators=[Optional(), Email(), Length(max=254)],
        description=_l("Told of the team's new tickets; without one, each member is."),
    )
    members = MultiCheckboxField(_l("Members"), choices=[], coerce=int)


def type_choices(blank_label) -> list[SelectChoice]:
    """The ten types in the seed's order, each option carrying its guidance."""
    from services.support import TYPE_GUIDANCE, TYPE_LABELS

    return [SelectChoice("", blank_label)] + [
        SelectChoice(t.value, TYPE_LABELS[t], render_kw={"data-guidance": TYPE_GUIDANCE[t]})
        for t in TicketType
    ]


# ---------------------------------------------------------------- added by other parts


class RatingCommentForm(PortalForm):
    """The customer's optional comment on their rating of a resolved ticket."""

    class Meta(TrimmedMeta):
        pass

    comment = TextAreaField(
        _l("Comment"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Tell us, if you like, what went well or what we could do better."),
        render_kw={"rows": 4},
    )


def _canned_template(form, field) -> None:
    """Refuse a body that is not a canned reply's template (services.support_canned)."""
    from wtforms.validators import ValidationError

    from services import support_canned

    problem = support_canned.check(field.data) if field.data else None
    if problem is not None:
        raise ValidationError(problem)


def _canned_body(label, *validators) -> TextAreaField:
    return TextAreaField(
        label,
        validators=[*validators, Length(max=MAX_MESSAGE), _canned_template],
        description=_l(
            "Fields such as {{ customer }} are filled in from the ticket when the reply is used."
        ),
        render_kw={"rows": 10},
    )


class CannedReplyForm(PortalForm):
    """A canned reply (valmisvastaus): its title and body in each language, order and use."""

    class Meta(TrimmedMeta):
        pass

    title_fi = StringField(
        _l("Title in Finnish"),
        validators=[DataRequired(_l("Enter the title in Finnish.")), Length(max=100)],
        description=_l("Staff choose the reply by its title; customers do not see it."),
    )
    body_fi = _canned_body(_l("Text in Finnish"), DataRequired(_l("Write the text in Finnish.")))
    title_sv = StringField(_l("Title in Swedish"), validators=[Length(max=100)])
    body_sv = _canned_body(_l("Text in Swedish"))
    title_nb = StringField(_l("Title in Norwegian"), validators=[Length(max=100)])
    body_nb = _canned_body(_l("Text in Norwegian"))
    title_en = StringField(_l("Title in English"), validators=[Length(max=100)])
    body_en = _canned_body(_l("Text in English"))
    position = IntegerField(
        _l("Position in the list"),
        default=0,
        validators=[Optional(), Bounds(0, 10_000)],
    )
    active = BooleanField(_l("In use"), default=True)

    LANGUAGES = ("fi", "sv", "nb", "en")

    def titles(self) -> dict[str, str]:
        """The titles given, by language code."""
        return self._by_language("title")

    def bodies(self) -> dict[str, str]:
        """The texts given, by language code."""
        return self._by_language("body")

    def fill(self, record) -> None:
        """Fill the fields from a canned reply."""
        for code in self.LANGUAGES:
            getattr(self, f"title_{code}").data = record.titles.get(code, "")
            getattr(self, f"body_{code}").data = record.bodies.get(code, "")
        self.position.data = record.position
        self.active.data = record.active

    def _by_language(self, prefix: str) -> dict[str, str]:
        fields = {code: getattr(self, f"{prefix}_{code}") for code in self.LANGUAGES}
        return {code: field.data for code, field in fields.items() if field.data}
