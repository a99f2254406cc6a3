"""The helpdesk in headless Chromium, axe checking every page: the queue of what a staff
member works on next, a ticket answered with a canned reply, given to a colleague,
copied to the customer's colleague, and a duplicate merged into it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Role, User
from models.mail import OutboxMessage
from models.support import Application, Team, Ticket, TicketStatus, TicketType, Urgency
from services import support, support_canned
from tests.fixtures.users import PASSWORD

pytestmark = pytest.mark.browser


def _log_in(browser, email: str) -> None:
    page = browser.page
    browser.goto("/auth/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    browser.navigate(lambda: page.locator("form.form button[type=submit]").click())


def _submit(browser, action: str) -> None:
    """Send the ticket page's form that posts to `action` (…/give, …/copies, …/merge)."""
    button = browser.page.locator(f"main form[action$='{action}'] button[type=submit]")
    browser.navigate(lambda: button.click())


def _ticket(app, user_email: str, message: str, **fields) -> str:
    with app.test_request_context():
        user = db.session.scalar(sa.select(User).where(User.email == user_email))
        training = db.session.scalar(sa.select(Application).where(Application.part == "training"))
        contact = support.Contact(
            type=fields.get("type", TicketType.MALFUNCTION),
            urgency=fields.get("urgency", Urgency.NORMAL),
            email=user.email,
            application=training,
            sub_application=None,
            target_reference=None,
            message=message,
        )
        ticket = support.create_ticket(user, contact, [], "fi")
        db.session.commit()
        return ticket.number


def test_the_queue_and_a_ticket_handled_as_a_helpdesk(browser_page, app, make_user):
    make_user("maija@example.com", org="Testivirasto", name="Maija Meikäläinen")
    make_user("pekka@example.com", org="Testivirasto", name="Pekka Virtanen")
    make_user("kaisa@example.com", role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa")
    make_user("olli@example.com", role=Role.STAFF, org="Palveluportaali Oy", name="Olli")
    with app.app_context():
        support.ensure_default_applications()
        support_canned.ensure_default_canned_replies()
        db.session.flush()
        kaisa = db.session.scalar(sa.select(User).where(User.email == "kaisa@example.com"))
        training = db.session.scalar(sa.select(Application).where(Application.part == "training"))
        team = db.session.scalar(sa.select(Team).where(Team.application_id == training.id))
        team.members.append(kaisa)
        db.session.commit()
        team_id = team.id
    idea = _ticket(app, "maija@example.com", "Kalenteriin voisi lisätä hakutoiminnon.",
                   type=TicketType.DEVELOPMENT_IDEA)  # fmt: skip
    urgent = _ticket(app, "maija@example.com", "Ilmoittautuminen ei toimi lainkaan.",
                     urgency=Urgency.FASTER)  # fmt: skip
    duplicate = _ticket(app, "pekka@example.com", "Ilmoittautumislomake antaa virheen.")
    browser = browser_page
    page = browser.page

    # Kaisa's queue: her team's unassigned tickets, the one due first at the top.
    _log_in(browser, "kaisa@example.com")
    browser.goto("/staff/support/")
    rows = page.locator("main table tbody tr")
    assert rows.count() == 3
    assert urgent in rows.first.inner_text()  # faster than normal: due first
    assert idea in rows.last.inner_text()  # a development idea is due last
    assert page.locator("#scope").input_value() == "next"
    page.select_option("#scope", "mine")
    browser.navigate(lambda: page.locator("main form[role=search] button[type=submit]").click())
    assert "T-" not in page.locator("main table tbody").inner_text()  # nothing is hers yet

    # The urgent ticket: its due time shown, answered from a canned reply.
    browser.goto(f"/staff/support/tickets/{urgent}")
    assert page.locator(".details .due").count() == 1
    page.select_option("#canned", index=0)
    browser.navigate(
        lambda: page.locator("main form[method=get] button[type=submit]").first.click()
    )
    filled = page.locator("#reply-message").input_value()
    assert urgent in filled or "Maija" in filled  # the ticket's fields are filled in
    browser.navigate(
        lambda: page.locator("main form[action$='/reply'] button[type=submit]").click()
    )
    assert page.locator(".flash--success").is_visible()

    # Pekka, Maija's colleague, is copied; a stranger's address is refused with a message.
    page.fill("#cc-email", "nobody@elsewhere.example")
    _submit(browser, "/copies")
    assert page.locator(".error-summary").is_visible()
    page.fill("#cc-email", "pekka@example.com")
    _submit(browser, "/copies")
    assert "pekka@example.com" in page.locator(".details").inner_text()

    # The duplicate merged into it: its message moves into this ticket's conversation.
    browser.goto(f"/staff/support/tickets/{duplicate}")
    page.fill("#merge-into", urgent)
    _submit(browser, "/merge")
    assert page.url.endswith(f"/staff/support/tickets/{urgent}")
    assert "Ilmoittautumislomake antaa virheen" in page.locator(".thread").inner_text()

    # The idea is given to Olli, who is told by mail.
    browser.goto(f"/staff/support/tickets/{idea}")
    page.select_option("#give-assignee", label="Olli")
    _submit(browser, "/give")
    assert page.locator(".flash--success").is_visible()
    assert "Olli" in page.locator(".details").inner_text()

    # The team's tickets are now Kaisa's own (the urgent one) and Olli's idea.
    browser.goto("/staff/support/?scope=team&status=")
    assert page.locator("main table tbody tr").count() == 3  # the merged duplicate, resolved

    with app.app_context():
        tickets = {t.number: t for t in db.session.scalars(sa.select(Ticket))}
        assert tickets[duplicate].merged_into_id == tickets[urgent].id
        assert tickets[duplicate].status == TicketStatus.RESOLVED
        assert tickets[urgent].first_response_at is not None
        assert tickets[urgent].team_id == team_id
        told = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.template == "support_assigned")
        )
        assert told.recipients == ["olli@example.com"]
        reply = db.session.scalar(
            sa.select(OutboxMessage)
            .where(OutboxMessage.template == "support_reply")
            .order_by(OutboxMessage.id.desc())
        )
        assert reply.recipients == ["maija@example.com"]  # Pekka was copied after it
