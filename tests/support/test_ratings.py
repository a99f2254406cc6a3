"""The one-click rating of a resolved ticket, from the links of its resolution mail, and
the staff's report of the ratings and targets per month and team."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import render_template

from extensions import db
from models.auth import Role
from models.mail import OutboxMessage
from models.support import Rating, Team, TeamKind, Ticket, TicketStatus, TicketType
from services import outbox, support, support_ratings
from tests.fixtures import support as support_fixtures
from tests.fixtures.app import recorded_statements
from tests.fixtures.users import PASSWORD

applications = support_fixtures.applications

BASE = "http://portal.test"


@pytest.fixture
def make_ticket(app, make_org, applications):
    """A factory of tickets with their fields set directly: make_ticket(status=…, …)."""
    organisation = make_org("Testivirasto")
    counter = iter(range(1, 10_000))

    def make(**values) -> str:
        now = datetime.now(UTC)
        fields = {
            "number": f"T-2026-{next(counter):06d}",
            "organisation_id": organisation.id,
            "email": "maija@example.com",
            "language": "fi",
            "type": TicketType.SUPPORT_REQUEST,
            "application_id": applications["training"][0],
            "status": TicketStatus.RESOLVED,
            "link_nonce": secrets.token_hex(16),
            "created_at": now,
            "updated_at": now,
            "resolved_at": now,
        }
        fields.update(values)
        with app.app_context():
            db.session.add(Ticket(**fields))
            db.session.commit()
        return fields["number"]

    return make


def ticket_row(app, number: str) -> Ticket:
    with app.app_context():
        ticket = support.by_number(number)
        db.session.expunge(ticket)
        return ticket


def link(app, number: str, value: Rating, language: str | None = None) -> str:
    """The path of the ticket's rating link, as the mail gives it (without BASE_URL)."""
    with app.app_context():
        url = support_ratings.rating_url(support.by_number(number), value, language)
    assert url.startswith(BASE)
    return url.removeprefix(BASE)


# ---------------------------------------------------------------- the links


def test_the_links_are_plain_data_best_first_in_the_mails_language(app, make_ticket):
    number = make_ticket()
    with app.test_request_context():
        ticket = support.by_number(number)
        links = support_ratings.rating_links(ticket, "en")
        finnish = support_ratings.rating_links(ticket, "fi")
    assert [item["value"] for item in links] == [3, 2, 1]
    assert [item["label"] for item in links] == ["Good", "Okay", "Poor"]
    assert all(type(item["label"]) is str for item in links)
    for item in links:
        assert re.fullmatch(
            rf"{BASE}/support/rate/{number}/{item['value']}/[\w.-]+\?lang=en", item["url"]
        )
    assert all(item["url"].endswith("?lang=fi") for item in finnish)
    assert len({item["url"] for item in links}) == 3  # a signature per value
    assert outbox.dump_context(links) == links  # the mail worker gets it as it is


def test_a_click_rates_the_resolved_ticket_and_a_second_changes_it(app, client, make_ticket):
    number = make_ticket()
    response = client.get(link(app, number, Rating.GOOD))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = response.get_data(as_text=True)
    assert number in page
    assert 'name="comment"' in page
    others = set(re.findall(r'href="(/support/rate/[^"]+)"', page))
    assert others == {link(app, number, Rating.OKAY), link(app, number, Rating.POOR)}
    first = ticket_row(app, number)
    assert first.rating == Rating.GOOD and first.rated_at is not None

    client.get(link(app, number, Rating.GOOD))  # the same link again changes nothing
    assert ticket_row(app, number).rated_at == first.rated_at

    assert client.get(link(app, number, Rating.POOR)).status_code == 200
    second = ticket_row(app, number)
    assert second.rating == Rating.POOR and second.rated_at >= first.rated_at


def test_a_head_request_of_a_link_checker_rates_nothing(app, client, make_ticket):
    number = make_ticket()
    assert client.head(link(app, number, Rating.POOR)).status_code == 200
    assert ticket_row(app, number).rating is None


def test_the_link_opens_the_page_in_the_mails_language(app, client, make_ticket):
    number = make_ticket()
    response = client.get(link(app, number, Rating.OKAY, "en"))
    assert response.status_code == 302  # the language kept, the address given again without it
    assert response.headers["Location"] == link(app, number, Rating.OKAY)
    assert ticket_row(app, number).rating is None  # not rated before the page is opened
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<html lang="en"' in page and "Okay" in page
    assert ticket_row(app, number).rating == Rating.OKAY


def test_the_comment_is_saved(app, client, make_ticket):
    number = make_ticket()
    path = link(app, number, Rating.OKAY)
    client.get(path)
    response = client.post(path, data={"comment": "  Vastaus tuli nopeasti, kiitos.  "})
    assert response.status_code == 303 and response.headers["Location"] == path
    saved = ticket_row(app, number)
    assert (saved.rating, saved.rating_comment) == (Rating.OKAY, "Vastaus tuli nopeasti, kiitos.")
    client.post(path, data={"comment": ""})  # sent empty: the comment given stays
    assert ticket_row(app, number).rating_comment == "Vastaus tuli nopeasti, kiitos."


def test_a_comment_over_2000_characters_is_refused(app, client, make_ticket):
    number = make_ticket()
    path = link(app, number, Rating.GOOD)
    response = client.post(path, data={"comment": "x" * 2001})
    assert response.status_code == 400
    assert 'href="#comment"' in response.get_data(as_text=True)  # the error summary
    assert ticket_row(app, number).rating_comment is None


def test_the_comment_needs_the_csrf_token(app, client, make_ticket):
    number = make_ticket()
    path = link(app, number, Rating.GOOD)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.get(path).get_data(as_text=True)
        refused = client.post(path, data={"comment": "Ilman avainta"})
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        accepted = client.post(path, data={"comment": "Avaimen kanssa", "csrf_token": token})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert refused.status_code == 400
    assert accepted.status_code == 303
    assert ticket_row(app, number).rating_comment == "Avaimen kanssa"


def test_a_forged_or_borrowed_link_is_not_found(app, client, make_ticket):
    number, other = make_ticket(), make_ticket()
    path = link(app, number, Rating.GOOD)
    signature = path.rsplit("/", 1)[1]
    assert client.get(path + "x").status_code == 404
    assert client.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB")).status_code == 404
    # The signature of one value does not rate with another, nor another ticket.
    assert client.get(f"/support/rate/{number}/1/{signature}").status_code == 404
    assert client.get(f"/support/rate/{other}/3/{signature}").status_code == 404
    assert client.get(f"/support/rate/{number}/4/{signature}").status_code == 404
    assert client.get(f"/support/rate/{number}/0/{signature}").status_code == 404
    assert client.get(f"/support/rate/T-2026-999999/3/{signature}").status_code == 404
    assert (
        client.post(f"/support/rate/{other}/3/{signature}", data={"comment": "x"}).status_code
        == 404
    )
    # The status link's signature is no rating link's.
    with app.app_context():
        status = support.link_signature(support.by_number(number))
    assert client.get(f"/support/rate/{number}/3/{status}").status_code == 404
    assert ticket_row(app, number).rating is None
    assert ticket_row(app, other).rating is None


def test_a_new_link_nonce_revokes_the_rating_links(app, client, make_ticket):
    number = make_ticket()
    old = link(app, number, Rating.GOOD)
    with app.app_context():
        support.by_number(number).link_nonce = secrets.token_hex(16)
        db.session.commit()
    assert client.get(old).status_code == 404
    assert ticket_row(app, number).rating is None
    assert client.get(link(app, number, Rating.GOOD)).status_code == 200


@pytest.mark.parametrize(
    "status", [TicketStatus.NEW, TicketStatus.IN_PROGRESS, TicketStatus.WAITING]
)
def test_a_ticket_that_is_not_resolved_is_not_rated(app, client, make_ticket, status):
    number = make_ticket(status=status, resolved_at=None)
    path = link(app, number, Rating.POOR)
    response = client.get(path)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert number in page and 'name="comment"' not in page
    assert client.post(path, data={"comment": "x"}).status_code == 409
    row = ticket_row(app, number)
    assert (row.rating, row.rated_at, row.rating_comment) == (None, None, None)


def test_record_refuses_an_open_ticket_and_the_last_rating_counts(app, make_ticket):
    open_number, resolved_number = make_ticket(status=TicketStatus.NEW), make_ticket()
    with app.app_context():
        assert support_ratings.record(support.by_number(open_number), Rating.GOOD) is False
        resolved = support.by_number(resolved_number)
        assert support_ratings.record(resolved, Rating.GOOD, "Hyvä") is True
        assert support_ratings.record(resolved, Rating.OKAY) is True
        assert (resolved.rating, resolved.rating_comment) == (Rating.OKAY, "Hyvä")
        assert support.by_number(open_number).rating is None


def test_the_page_shows_nothing_personal(app, client, make_ticket):
    number = make_ticket(email="salainen.osoite@example.com")
    page = client.get(link(app, number, Rating.GOOD)).get_data(as_text=True)
    assert number in page
    assert "salainen.osoite" not in page and "Testivirasto" not in page


# ---------------------------------------------------------------- the mail


def test_the_resolution_mail_offers_the_three_links(app, make_ticket):
    number = make_ticket(language="en")
    with app.test_request_context():
        ticket = support.by_number(number)
        context = {
            "ticket": {"number": number, "status": ticket.status, "target_reference": None},
            "entry": None,
            "facts": support.summary(ticket, "en"),
            "organisation": "Testivirasto",
            "status_url": support.status_link(ticket, "en"),
            "ticket_url": f"{BASE}/support/tickets/{number}",
            "rating_urls": support_ratings.rating_links(ticket, "en"),
        }
        message = outbox.queue_mail(
            "support_resolved", ticket.email, language="en", context=context, render_in_worker=True
        )
        text, html = outbox.bodies(message)
        without_text = render_template(
            "mail/support_resolved.txt", **{**context, "rating_urls": []}
        )
        db.session.rollback()
    assert "How did we do?" in text
    for item in context["rating_urls"]:
        assert f"{item['label']}: {item['url']}" in text
        assert f'<a href="{item["url"]}"' in html
        assert re.search(rf'<a href="{re.escape(item["url"])}"[^>]*>{item["label"]}</a>', html)
    assert "How did we do?" in html
    assert "How did we do?" not in without_text and "/support/rate/" not in without_text
    assert number in text  # the rest of the mail as it was
    assert "/support/track/" in text


def test_the_resolution_mail_links_rate_the_ticket(app, client, make_ticket):
    number = make_ticket(language="en")
    with app.test_request_context():
        [good, _okay, _poor] = support_ratings.rating_links(support.by_number(number), "en")
    response = client.get(good["url"].removeprefix(BASE), follow_redirects=True)
    assert response.status_code == 200
    assert ticket_row(app, number).rating == Rating.GOOD


# ---------------------------------------------------------------- the report


@pytest.fixture
def teams(app):
    with app.app_context():
        service = Team(
            kind=TeamKind.CUSTOMER_SERVICE, names={"fi": "Asiakaspalvelu", "en": "Customer service"}
        )
        maintenance = Team(kind=TeamKind.MAINTENANCE, names={"fi": "Ylläpito"})
        db.session.add_all([service, maintenance])
        db.session.commit()
        return {"service": service.id, "maintenance": maintenance.id}


# The report's moment: mid-December 2026 in Helsinki.
NOW = datetime(2026, 12, 15, 10, 0, tzinfo=UTC)


def at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.fixture
def reported(make_ticket, teams):
    """Tickets with known ratings, teams and targets around the report's year."""
    hour = timedelta(hours=1)
    service, maintenance = teams["service"], teams["maintenance"]
    december = at(2026, 12, 3)
    # December, the customer service: four resolved, three rated.
    make_ticket(
        team_id=service,
        resolved_at=december,
        rating=Rating.GOOD,
        first_response_due=december - 5 * hour,
        first_response_at=december - 6 * hour,  # in time
        resolution_due=december + hour,  # in time
    )
    make_ticket(
        team_id=service,
        resolved_at=december,
        rating=Rating.GOOD,
        first_response_due=december - 5 * hour,
        first_response_at=december - 4 * hour,  # late
        resolution_due=december - hour,  # late
    )
    make_ticket(
        team_id=service,
        resolved_at=december,
        rating=Rating.POOR,
        first_response_due=december - 5 * hour,  # no first response recorded: not measured
    )
    make_ticket(team_id=service, resolved_at=december)  # not rated, no targets
    # December, the maintenance team: one, rated okay.
    make_ticket(
        team_id=maintenance,
        resolved_at=december,
        rating=Rating.OKAY,
        resolution_due=december,  # due at the very moment: in time
    )
    # The first of December, 00:30 in Helsinki, is still November 30th in UTC.
    make_ticket(team_id=maintenance, resolved_at=datetime(2026, 11, 30, 22, 30, tzinfo=UTC))
    # November in Helsinki (23:30 on the 30th) though the 30th, 21:30 UTC.
    make_ticket(
        team_id=maintenance,
        resolved_at=datetime(2026, 11, 30, 21, 30, tzinfo=UTC),
        rating=Rating.POOR,
    )
    # Without a team, in January 2026 (the report's first month).
    make_ticket(team_id=None, resolved_at=at(2026, 1, 10), rating=Rating.GOOD)
    # June, the customer service.
    make_ticket(team_id=service, resolved_at=at(2026, 6, 1), rating=Rating.GOOD)
    # Left out: resolved before the twelve months, and one open again.
    make_ticket(team_id=service, resolved_at=at(2025, 12, 20), rating=Rating.GOOD)
    make_ticket(team_id=service, status=TicketStatus.IN_PROGRESS, resolved_at=None)


def test_the_report_counts_per_month_and_team(app, reported, teams):
    with app.app_context():
        rows = support_ratings.report(12, now=NOW)

    def figures(row):
        return (
            row.resolved,
            row.rated,
            row.good,
            row.okay,
            row.poor,
            row.first_response_met,
            row.first_response_measured,
            row.resolution_met,
            row.resolution_measured,
        )

    shown = [(row.month and row.month.isoformat(), row.team_id, figures(row)) for row in rows]
    service, maintenance = teams["service"], teams["maintenance"]
    assert shown == [
        ("2026-12-01", service, (4, 3, 2, 0, 1, 1, 2, 1, 2)),
        ("2026-12-01", maintenance, (2, 1, 0, 1, 0, 0, 0, 1, 1)),
        ("2026-11-01", maintenance, (1, 1, 0, 0, 1, 0, 0, 0, 0)),
        ("2026-06-01", service, (1, 1, 1, 0, 0, 0, 0, 0, 0)),
        ("2026-01-01", None, (1, 1, 1, 0, 0, 0, 0, 0, 0)),
        (None, None, (9, 7, 4, 1, 2, 1, 2, 2, 3)),
    ]
    december = rows[0]
    assert december.team_name("en") == "Customer service"
    assert rows[1].team_name("en") == "Ylläpito"  # no English name: the Finnish one
    assert december.share_good == pytest.approx(2 / 3)
    assert december.first_response_share == 0.5 and december.resolution_share == 0.5
    assert rows[2].first_response_share is None
    assert rows[-1].is_total and rows[-1].share_good == pytest.approx(4 / 7)


def test_the_report_is_one_query_bounded_by_the_resolution_time(app, reported):
    with app.app_context(), recorded_statements(app) as statements:
        support_ratings.report(12, now=NOW)
    ticket_queries = [s for s, _ in statements if "FROM ticket" in s]
    assert len(ticket_queries) == 1
    assert "GROUP BY" in ticket_queries[0] and "resolved_at >=" in ticket_queries[0]
    assert len(statements) <= 2  # and the teams' names


def test_the_report_merged_duplicates_are_left_out(app, make_ticket, teams):
    into = make_ticket(team_id=teams["service"], resolved_at=at(2026, 12, 1))
    with app.app_context():
        original = support.by_number(into)
        make_ticket(
            team_id=teams["service"], resolved_at=at(2026, 12, 1), merged_into_id=original.id
        )
        rows = support_ratings.report(12, now=NOW)
    assert [(row.team_id, row.resolved) for row in rows] == [(teams["service"], 1), (None, 1)]


def test_the_month_boundaries_are_helsinki_calendar_months():
    starts = support_ratings.month_starts(3, datetime(2026, 12, 31, 22, 30, tzinfo=UTC))
    # 00:30 on New Year's Day in Helsinki: January is the current month.
    assert [d.isoformat() for d in starts] == [
        "2026-11-01",
        "2026-12-01",
        "2027-01-01",
        "2027-02-01",
    ]


# ---------------------------------------------------------------- the report's page


@pytest.fixture
def staff_client(app, make_user):
    make_user("kaisa@example.com", role=Role.STAFF, org="Palveluportaali Oy", name="Kaisa")
    client = app.test_client()
    client.post("/auth/login", data={"email": "kaisa@example.com", "password": PASSWORD})
    return client


def test_the_report_page_shows_the_figures_to_staff(app, staff_client, make_ticket, teams):
    now = datetime.now(UTC)
    make_ticket(team_id=teams["service"], resolved_at=now, rating=Rating.GOOD)
    make_ticket(team_id=teams["service"], resolved_at=now, rating=Rating.POOR)
    make_ticket(team_id=teams["service"], resolved_at=now, resolution_due=now)
    response = staff_client.get("/staff/support/reports")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count("<h1>") == 1 and "<caption" in page
    assert 'scope="col"' in page and 'class="staff-nav"' in page
    assert "Asiakaspalvelu" in page
    assert "50\N{NO-BREAK SPACE}%" in page  # one good of two rated, the Finnish way
    assert "100\N{NO-BREAK SPACE}%" in page  # the one resolution with a target met it
    total = re.search(r'<tr data-row="total">(.*?)</tr>', page, re.S).group(1)
    assert [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<td[^>]*>.*?</td>", total, re.S)
    ][:5] == ["3", "2", "1", "0", "1"]


def test_the_report_page_renders_without_tickets(staff_client):
    response = staff_client.get("/staff/support/reports")
    assert response.status_code == 200
    assert 'data-row="total"' in response.get_data(as_text=True)


def test_customers_and_strangers_cannot_see_the_report(app, client, make_user, auth):
    assert client.get("/staff/support/reports").status_code in (302, 401)
    make_user("maija@example.com")
    auth.login("maija@example.com")
    assert client.get("/staff/support/reports").status_code == 403


def test_no_mail_is_sent_by_rating(app, client, make_ticket):
    number = make_ticket()
    client.get(link(app, number, Rating.GOOD))
    client.post(link(app, number, Rating.GOOD), data={"comment": "Hyvä"})
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
