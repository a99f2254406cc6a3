"""Canned replies (valmisvastaukset): texts staff insert into a ticket's reply, written
in each language, with the ticket's fields ({{ number }}, {{ customer }}, …) filled in.

A body is a Jinja template of a deliberately small kind: text, fields and
`{% if field %} … {% else %} … {% endif %}`, nothing else. `check` holds a body to that
when it is saved, and `fill` holds it again and renders it in a sandbox, so that no
attribute, call or filter ever reaches an object of the application. The result is plain
text for the reply's textarea: nothing is escaped.
"""

from __future__ import annotations

from typing import Any

import jinja2
import sqlalchemy as sa
from flask_babel import force_locale, format_datetime, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from extensions import db
from models.support import CannedReply, Ticket
from services.support import TYPE_LABELS, status_link

# The fields a body may use, in the order the staff's help lists them.
FIELDS: dict[str, Any] = {
    "number": _l("the ticket number"),
    "customer": _l("the contact's name (or email address)"),
    "email": _l("the contact's email address"),
    "organisation": _l("the customer's organisation"),
    "type": _l("the type of the contact"),
    "application": _l("the application the contact is about"),
    "status_link": _l("the link to the ticket's status page"),
    "staff": _l("your name"),
    "due": _l("when the next answer is due"),
}

OFFERED_LIMIT = 200  # canned replies a ticket's picker offers at most

# The template nodes a body may have: text, fields and conditions on fields.
_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.If,
    nodes.Not,
    nodes.And,
    nodes.Or,
)

_ENV = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    trim_blocks=True,  # a line of its own with {% if %} leaves no empty line behind
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


class CannedReplyError(ValueError):
    """A stored body that cannot be filled in; the message says why, for staff."""


def field_list() -> str:
    """The known fields as they are written in a body: "{{ number }}, {{ customer }}, …"."""
    return ", ".join(f"{{{{ {name} }}}}" for name in FIELDS)


def check(body: str) -> str | None:
    """Why the body cannot be used as a canned reply (a message to show), or None."""
    try:
        tree = _ENV.parse(body)
    except jinja2.TemplateSyntaxError as error:
        return _(
            "Line %(line)s cannot be read: write a field as %(field)s and end each "
            "%(condition)s with %(end)s.",
            line=error.lineno,
            field="{{ number }}",
            condition="{% if … %}",
            end="{% endif %}",
        )
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES) or (
            isinstance(node, nodes.Name) and node.ctx != "load"
        ):
            return _(
                "Only fields such as %(field)s and conditions such as %(condition)s can be "
                "used, nothing else inside the braces.",
                field="{{ number }}",
                condition="{% if organisation %} … {% endif %}",
            )
    unknown = sorted({node.name for node in tree.find_all(nodes.Name)} - FIELDS.keys())
    if unknown:
        return ngettext(
            "Unknown field %(names)s. The fields are: %(known)s.",
            "Unknown fields %(names)s. The fields are: %(known)s.",
            len(unknown),
            names=", ".join(unknown),
            known=field_list(),
        )
    return None


def values(ticket: Ticket, staff: Any, language: str) -> dict[str, str]:
    """The fields of the ticket, as a reply by `staff` in `language` shows them."""
    with force_locale(language):
        return {
            "number": ticket.number,
            "customer": (ticket.user.name if ticket.user else None) or ticket.email,
            "email": ticket.email,
            "organisation": ticket.organisation.name if ticket.organisation else "",
            "type": str(TYPE_LABELS[ticket.type]),
            "application": ticket.application.name(language),
            "status_link": status_link(ticket, language),
            "staff": getattr(staff, "name", None) or "",
            "due": format_datetime(ticket.due_at, "short") if ticket.due_at else "",
        }


def fill(canned: CannedReply, ticket: Ticket, staff: Any, language: str) -> str:
    """The canned reply's body in `language` (its Finnish one when it has none) with the
    ticket's fields filled in; CannedReplyError if the stored body is not a valid one."""
    if not canned.bodies.get(language):
        language = "fi"
    body = canned.body(language)
    problem = check(body)
    if problem is not None:
        raise CannedReplyError(problem)
    try:
        return _ENV.from_string(body).render(values(ticket, staff, language))
    except jinja2.TemplateError as error:  # checked above; the sandbox is the last word
        raise CannedReplyError(str(error)) from None


def offered(language: str) -> list[tuple[int, str]]:
    """The canned replies in use, as (id, title in `language`), in their order."""
    rows = db.session.execute(
        sa.select(CannedReply.id, CannedReply.titles)
        .where(CannedReply.active.is_(True))
        .order_by(CannedReply.position, CannedReply.id)
        .limit(OFFERED_LIMIT)
    )
    return [(row.id, row.titles.get(language) or row.titles["fi"]) for row in rows]


def ensure_default_canned_replies() -> None:
    """Add the default canned replies when there are none yet (safe to rerun)."""
    if db.session.scalar(sa.select(CannedReply.id).limit(1)) is not None:
        return
    for position, (titles, bodies) in enumerate(DEFAULT_CANNED_REPLIES):
        db.session.add(
            CannedReply(titles=titles, bodies=bodies, position=position * 10, active=True)
        )


DEFAULT_CANNED_REPLIES: tuple[tuple[dict[str, str], dict[str, str]], ...] = (
    (
        {
            "fi": "Kiitos, selvitämme asiaa",
            "sv": "Tack, vi utreder saken",
            "nb": "Takk, vi ser på saken",
            "en": "Thank you, we are looking into it",
        },
        {
            "fi": (
                "Hei {{ customer }},\n\n"
                "Kiitos yhteydenotostasi. Olemme vastaanottaneet tikettisi {{ number }} "
                "({{ type }}, {{ application }}) ja selvitämme asiaa parhaillaan. "
                "Palaamme asiaan mahdollisimman pian.\n\n"
                "Voit seurata tiketin tilaa osoitteessa:\n{{ status_link }}\n\n"
                "Ystävällisin terveisin\n{{ staff }}\n"
            ),
            "sv": (
                "Hej {{ customer }},\n\n"
                "Tack för att du kontaktade oss. Vi har tagit emot ditt ärende {{ number }} "
                "({{ type }}, {{ application }}) och utreder det just nu. "
                "Vi återkommer så snart som möjligt.\n\n"
                "Du kan följa ärendets status här:\n{{ status_link }}\n\n"
                "Med vänliga hälsningar\n{{ staff }}\n"
            ),
            "nb": (
                "Hei {{ customer }},\n\n"
                "Takk for henvendelsen. Vi har mottatt saken din {{ number }} "
                "({{ type }}, {{ application }}) og ser på den nå. "
                "Vi kommer tilbake til deg så snart som mulig.\n\n"
                "Du kan følge med på status for saken her:\n{{ status_link }}\n\n"
                "Med vennlig hilsen\n{{ staff }}\n"
            ),
            "en": (
                "Hello {{ customer }},\n\n"
                "Thank you for contacting us. We have received your ticket {{ number }} "
                "({{ type }}, {{ application }}) and are looking into it. "
                "We will get back to you as soon as we can.\n\n"
                "You can follow the ticket's status here:\n{{ status_link }}\n\n"
                "Kind regards,\n{{ staff }}\n"
            ),
        },
    ),
    (
        {
            "fi": "Tarvitsemme lisätietoja",
            "sv": "Vi behöver mer information",
            "nb": "Vi trenger mer informasjon",
            "en": "We need more information",
        },
        {
            "fi": (
                "Hei {{ customer }},\n\n"
                "Kiitos viestistäsi. Jotta pääsemme selvittämään asiaa (tiketti {{ number }}), "
                "tarvitsemme sinulta vielä lisätietoja:\n\n"
                "- mitä olit tekemässä, kun ongelma ilmeni\n"
                "- mahdollinen virheilmoitus sanatarkasti tai kuvakaappaus siitä\n"
                "- milloin ongelma ilmeni ja toistuuko se\n\n"
                "Voit vastata tähän viestiin tai lisätä tiedot tiketin sivulla:\n"
                "{{ status_link }}\n\n"
                "Ystävällisin terveisin\n{{ staff }}\n"
            ),
            "sv": (
                "Hej {{ customer }},\n\n"
                "Tack för ditt meddelande. För att kunna utreda saken (ärende {{ number }}) "
                "behöver vi lite mer information:\n\n"
                "- vad du höll på med när problemet uppstod\n"
                "- ett eventuellt felmeddelande ordagrant eller en skärmbild av det\n"
                "- när problemet uppstod och om det upprepas\n\n"
                "Du kan svara på det här meddelandet eller lägga till uppgifterna på "
                "ärendets sida:\n{{ status_link }}\n\n"
                "Med vänliga hälsningar\n{{ staff }}\n"
            ),
            "nb": (
                "Hei {{ customer }},\n\n"
                "Takk for meldingen. For at vi skal kunne finne ut av saken (sak {{ number }}), "
                "trenger vi litt mer informasjon:\n\n"
                "- hva du holdt på med da problemet oppstod\n"
                "- en eventuell feilmelding ordrett, eller et skjermbilde av den\n"
                "- når problemet oppstod, og om det skjer igjen\n\n"
                "Du kan svare på denne e-posten eller legge til opplysningene på sakens side:\n"
                "{{ status_link }}\n\n"
                "Med vennlig hilsen\n{{ staff }}\n"
            ),
            "en": (
                "Hello {{ customer }},\n\n"
                "Thank you for your message. To look into this (ticket {{ number }}), "
                "we need a little more information:\n\n"
                "- what you were doing when the problem occurred\n"
                "- the exact error message, if there was one, or a screenshot of it\n"
                "- when the problem occurred, and whether it happens again\n\n"
                "You can reply to this email or add the details on the ticket's page:\n"
                "{{ status_link }}\n\n"
                "Kind regards,\n{{ staff }}\n"
            ),
        },
    ),
    (
        {
            "fi": "Korjattu – tarkistathan",
            "sv": "Åtgärdat – kontrollera gärna",
            "nb": "Rettet – sjekk gjerne",
            "en": "Fixed – please check",
        },
        {
            "fi": (
                "Hei {{ customer }},\n\n"
                "Olemme korjanneet ongelman, jonka kuvasit tiketissä {{ number }}. "
                "Voisitko tarkistaa, toimiiko {{ application }} nyt niin kuin pitää?\n\n"
                "Jos ongelma jatkuu, vastaa tähän viestiin, niin jatkamme selvittämistä.\n\n"
                "Ystävällisin terveisin\n{{ staff }}\n"
            ),
            "sv": (
                "Hej {{ customer }},\n\n"
                "Vi har åtgärdat problemet som du beskrev i ärende {{ number }}. "
                "Kan du kontrollera att {{ application }} nu fungerar som det ska?\n\n"
                "Om problemet kvarstår kan du svara på det här meddelandet, så fortsätter "
                "vi att utreda det.\n\n"
                "Med vänliga hälsningar\n{{ staff }}\n"
            ),
            "nb": (
                "Hei {{ customer }},\n\n"
                "Vi har rettet problemet du beskrev i sak {{ number }}. "
                "Kan du sjekke om {{ application }} nå fungerer som det skal?\n\n"
                "Hvis problemet vedvarer, kan du svare på denne e-posten, så fortsetter vi "
                "å undersøke det.\n\n"
                "Med vennlig hilsen\n{{ staff }}\n"
            ),
            "en": (
                "Hello {{ customer }},\n\n"
                "We have fixed the problem you described in ticket {{ number }}. "
                "Could you check that {{ application }} now works as it should?\n\n"
                "If the problem persists, reply to this email and we will keep looking "
                "into it.\n\n"
                "Kind regards,\n{{ staff }}\n"
            ),
        },
    ),
)
