"""The staff's dashboards: each chart's table holds the figures of the data, every query
is bounded, and only staff see them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from extensions import db
from models.auth import Role
from models.training import Course, Enrolment, EnrolmentStatus
from models.types import utcnow
from services import dashboards
from tests.fixtures.app import recorded_statements
from tests.fixtures.users import login


def _enrolment(course_id: int, n: int, status: EnrolmentStatus, created_at) -> Enrolment:
    return Enrolment(
        course_id=course_id,
        service_code=f"DSH{n:05d}",
        status=status,
        first_name="Osallistuja",
        last_name=str(n),
        email=f"osallistuja{n}@example.com",
        organisation="Testivirasto",
        created_at=created_at,
    )


@pytest.fixture
def data(app, make_course):
    now = utcnow()
    soon = make_course(title="Hankinnat", capacity=4, starts_at=now + timedelta(days=3))
    later = make_course(title="Talousarvio", capacity=2, starts_at=now + timedelta(days=9))
    make_course(title="Mennyt", capacity=5, starts_at=now - timedelta(days=3))
    with app.app_context():
        rows = [
            _enrolment(soon.id, 1, EnrolmentStatus.BINDING, now),
            _enrolment(soon.id, 2, EnrolmentStatus.BINDING, now - timedelta(weeks=3)),
            _enrolment(later.id, 3, EnrolmentStatus.BINDING, now),
            _enrolment(later.id, 4, EnrolmentStatus.BINDING, now),
            _enrolment(later.id, 5, EnrolmentStatus.WAITING, now),
            _enrolment(later.id, 6, EnrolmentStatus.BINDING, now - timedelta(weeks=30)),
        ]
        db.session.add_all(rows)
        db.session.get(Course, soon.id).seats_taken = 2
        db.session.get(Course, later.id).seats_taken = 2
        db.session.commit()
    return {"soon": soon.id, "later": later.id}


def test_the_fill_rates_and_waiting_lists_of_the_next_courses(app, data):
    with app.test_request_context():
        chart = dashboards.course_fill()
    assert chart.categories == ["Hankinnat", "Talousarvio"]  # the past course is not next
    assert chart.values == [[2, 2, 0], [2, 0, 1]]  # taken, free, waiting


def test_enrolments_per_week_count_the_last_twelve_weeks_only(app, data):
    with app.test_request_context():
        chart = dashboards.enrolments_per_week()
    assert len(chart.categories) == dashboards.WEEKS
    assert chart.values[-1] == [4, 1]  # this week: four, one of them waiting
    assert chart.values[-4] == [1, 0]  # three weeks ago
    assert sum(v[0] for v in chart.values) == 5  # thirty weeks ago is outside


def test_the_page_shows_every_chart_with_its_figures_for_staff_only(app, data, make_user):
    make_user("kaisa@example.com", role=Role.STAFF, org="Palveluportaali Oy", language="en")
    make_user("maija@example.com")
    staff = login(app, "kaisa@example.com")
    with recorded_statements(app) as statements:
        page = staff.get("/staff/dashboards").get_data(as_text=True)
    assert page.count("<figure") == 5 and page.count("<svg") >= 2
    fill = page[page.index('id="chart-fill-caption"') :].split("</table>")[0]
    cells = re.findall(r"<t[hd][^>]*>(?:<a [^>]*>)?([^<]*)", fill.split("<tbody>")[1])
    assert cells[:8] == ["Hankinnat", "2", "2", "0", "Talousarvio", "2", "0", "1"]
    # Every query reads a bounded range or a page: nothing walks a whole table.
    for sql, _params in statements:
        if sql.lstrip().startswith("SELECT") and " FROM course" in sql:
            assert "LIMIT" in sql or "starts_at >=" in sql, sql
        if (
            " FROM enrolment" in sql
            or " FROM sales_invoice" in sql
            or " FROM online_payment" in sql
        ):
            assert ">=" in sql or " IN " in sql, sql
    customer = login(app, "maija@example.com")
    assert customer.get("/staff/dashboards").status_code == 403


def test_every_figure_is_read_through_an_index(app, data, make_user):
    """No dashboard query scans a large table: on PostgreSQL by its plans (sequential scans
    off, as tests/test_scale.py does), on SQLite by EXPLAIN QUERY PLAN."""
    from tests.fixtures.scale import problems_of

    make_user("kaisa@example.com", role=Role.STAFF, org="Palveluportaali Oy", language="en")
    staff = login(app, "kaisa@example.com")
    with recorded_statements(app) as statements:
        assert staff.get("/staff/dashboards").status_code == 200
    big = ("enrolment", "sales_invoice", "online_payment", "ticket")
    selects = [
        (sql, params)
        for sql, params in statements
        if sql.lstrip().startswith("SELECT") and any(f"FROM {t} " in sql + " " for t in big)
    ]
    assert len(selects) >= 4
    assert not problems_of(app, selects)
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            return
        for sql, params in selects:
            plan = " | ".join(
                str(row[-1])
                for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
            )
            scans = re.findall(r"\bSCAN (\w+)\b(?! USING)", plan)
            assert not [t for t in scans if t in big], (plan, sql)
