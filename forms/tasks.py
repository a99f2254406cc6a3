"""The forms that start background work: each carries an idempotency key, made when the
form is shown, so that the same click sent twice finds the task the first one queued."""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Regexp

from forms import PortalForm
from forms.validators import TrimmedMeta


def new_key() -> str:
    """A fresh idempotency key for one showing of a form."""
    return secrets.token_urlsafe(16)


class TaskForm(PortalForm):
    """A button that starts background work: its CSRF token and idempotency key."""

    # Made afresh for each showing; a click must send it (InputRequired reads the sent
    # value, not the default), so that one missing its key is refused, never given one.
    key = HiddenField(
        validators=[InputRequired(), Regexp(r"^[A-Za-z0-9_-]{16,64}$")], default=new_key
    )


class ExportTaskForm(TaskForm):
    """An export prepared in the background: the address of the list's download."""

    target = HiddenField(validators=[DataRequired(), Length(max=2000)])


class CancelCourseForm(TaskForm):
    """Cancel a course: every enrolment and place in line ends, each participant told."""

    class Meta(TrimmedMeta):
        pass

    reason = TextAreaField(
        _l("Reason, told to the participants"),
        validators=[DataRequired(_l("Say why the course is cancelled.")), Length(max=500)],
    )
