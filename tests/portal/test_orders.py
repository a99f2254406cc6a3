"""The customer portal over HTTP: orders, searched, placed, followed and handled by staff."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from extensions import db
from models.auth import Department
from models.counters import Counter
from models.mail import OutboxMessage
from models.portal import OrderEvent, OrderStatus, PortalOrder
from tests.fixtures import portal as portal_fixtures
from tests.fixtures.app import page_link
from tests.fixtures.mail import deliver_mail
from tests.fixtures.portal import (
    BERGEN,
    COMPANY,
    CUSTOMER,
    MANAGER,
    ORDER_FORM,
    TESTBEDRIFTEN,
    add_booking,
    add_order,
    count,
    field_error,
    get_order_id,
    get_order_status,
    group_id,
    listed_orders,
    location,
    make_manager,
    select_options,
    text,
    utc,
)

# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

# The portal's world (tests/fixtures/portal.py).
company = portal_fixtures.company
customer = portal_fixtures.customer
invoices = portal_fixtures.invoices
staff = portal_fixtures.staff


# ================================================================= 1. orders


@pytest.fixture
def searchable_orders(app, company) -> dict[str, int]:
    """Four orders of the company, one of another company; numbers by name."""
    c = company
    add_order(
        app,
        c.id,
        300010,
        at=utc(2024, 1, 10),
        group="Helsekontroller",
        description="Årlig helsekontroll",
    )
    add_order(
        app,
        c.id,
        300011,
        at=utc(2024, 2, 14, 23, 30),
        status=OrderStatus.PLANNED,
        department_id=c.dept_testbedriften,
        group="Kurs og opplæring",
    )
    add_order(
        app,
        c.id,
        300012,
        at=utc(2024, 3, 20),
        status=OrderStatus.DELIVERED,
        department_id=c.dept_bergen,
    )
    # 22:30 UTC on 31 March is 00:30 on 1 April in Oslo (summer time).
    add_order(app, c.id, 300013, at=utc(2024, 3, 31, 22, 30), status=OrderStatus.CANCELLED)
    add_order(app, c.other_id, 300014, at=utc(2024, 2, 1))
    return {"company": 300010, "testbedriften": 300011, "bergen": 300012, "april": 300013}


def search_orders(client, **args) -> list[int]:
    response = client.get("/portal/orders", query_string=args)
    assert response.status_code == 200
    return sorted(listed_orders(text(response)))


def test_the_order_list_shows_the_companys_orders_newest_first(customer, searchable_orders):
    html = text(customer.get("/portal/orders"))
    assert listed_orders(html) == [300013, 300012, 300011, 300010]  # not 300014: another's


def test_orders_are_found_by_number(customer, searchable_orders):
    assert search_orders(customer, number="300011") == [300011]
    assert search_orders(customer, number=" 300012 ") == [300012]
    assert search_orders(customer, number="300014") == []  # another company's
    assert search_orders(customer, number="abc") == []
    assert search_orders(customer, number="999999999999") == []


def test_orders_are_found_by_date_in_norwegian_days(customer, searchable_orders):
    # 300011 was ordered at 23:30 UTC on 14 February: 15 February in Oslo.
    assert search_orders(customer, date_from="2024-02-15") == [300011, 300012, 300013]
    assert search_orders(customer, date_to="2024-02-14") == [300010]
    assert search_orders(customer, date_from="2024-02-15", date_to="2024-02-15") == [300011]
    # 300013 is 1 April in Oslo, although still 31 March in UTC.
    assert search_orders(customer, date_to="2024-03-31") == [300010, 300011, 300012]
    assert search_orders(customer, date_from="2024-04-01") == [300013]


def test_orders_are_found_by_status(customer, searchable_orders):
    assert search_orders(customer, status="planlagt") == [300011]
    assert search_orders(customer, status="levert") == [300012]
    assert search_orders(customer, status="behandles") == []
    assert search_orders(customer, status="") == [300010, 300011, 300012, 300013]


def test_orders_are_found_by_department_or_company(customer, company, searchable_orders):
    assert search_orders(customer, department="company") == [300010, 300013]
    assert search_orders(customer, department=str(company.dept_bergen)) == [300012]
    assert search_orders(customer, department=str(company.dept_testbedriften)) == [300011]
    html = text(customer.get("/portal/orders"))
    assert select_options(html, "department") == {
        "": "All",
        "company": COMPANY,
        str(company.dept_bergen): BERGEN,
        str(company.dept_testbedriften): TESTBEDRIFTEN,
    }


def test_orders_are_found_by_product_group(app, customer, searchable_orders):
    assert search_orders(customer, product_group=str(group_id(app, "Helsekontroller"))) == [300010]
    assert search_orders(customer, product_group=str(group_id(app, "Kurs og opplæring"))) == [
        300011
    ]
    assert search_orders(customer, product_group=str(group_id(app, "Helsekontroller") + 99)) == []


def test_order_filters_combine(customer, company, searchable_orders):
    assert search_orders(customer, date_from="2024-02-01", department="company") == [300013]
    assert search_orders(customer, status="mottatt", date_to="2024-03-31") == [300010]


def test_orders_sort_by_number_date_and_status(customer, searchable_orders):
    def listed(**args):
        return listed_orders(text(customer.get("/portal/orders", query_string=args)))

    assert listed(sort="number", dir="asc") == [300010, 300011, 300012, 300013]
    assert listed(sort="number", dir="desc") == [300013, 300012, 300011, 300010]
    assert listed(sort="date", dir="asc") == [300010, 300011, 300012, 300013]
    assert listed(sort="date", dir="desc") == [300013, 300012, 300011, 300010]
    by_status = listed(sort="status", dir="asc")
    assert listed(sort="status", dir="desc") == list(reversed(by_status))
    status = {300010: "mottatt", 300011: "planlagt", 300012: "levert", 300013: "avbestilt"}
    lifecycle = [s.value for s in OrderStatus]  # received → … → delivered, cancelled
    assert [status[n] for n in by_status] == sorted(status.values(), key=lifecycle.index)
    # Nonsense falls back to the newest first.
    assert listed(sort="drop table", dir="sideways") == [300013, 300012, 300011, 300010]


def test_sort_links_keep_the_filters(customer, searchable_orders):
    html = text(customer.get("/portal/orders?status=mottatt&sort=number&dir=asc"))
    links = re.findall(r'href="(/portal/orders\?[^"]*sort=[^"]*)"', html)
    assert links and all("status=mottatt" in link for link in links)
    number_link = next(link for link in links if "sort=number" in link)
    assert "dir=desc" in number_link  # a second click turns the order


def test_orders_come_25_to_a_page(app, customer, company):
    for n in range(30):
        add_order(app, company.id, 300100 + n, at=utc(2024, 1, 1) + timedelta(hours=n))
    first = text(customer.get("/portal/orders?sort=number&dir=asc"))
    assert listed_orders(first) == list(range(300100, 300125))
    next_link = page_link(first)
    assert "after=" in next_link and "sort=number" in next_link and "dir=asc" in next_link
    second = text(customer.get(next_link))
    assert listed_orders(second) == list(range(300125, 300130))
    last = text(customer.get("/portal/orders?sort=number&dir=asc&last=1"))
    assert listed_orders(last) == list(range(300105, 300130))
    assert customer.get("/portal/orders?after=x").status_code == 404
    assert customer.get("/portal/orders?before=0").status_code == 404
    newest = text(customer.get("/portal/orders"))
    assert listed_orders(newest) == list(range(300129, 300104, -1))


def test_a_new_order_needs_its_required_fields(app, customer):
    empty = {key: "" for key in ORDER_FORM}
    response = customer.post("/portal/orders/new", data=empty)
    assert response.status_code == 200
    html = text(response)
    assert field_error(html, "desired_delivery") == "Describe the delivery you want."
    assert field_error(html, "quantity") == "Give the quantity or scope."
    assert field_error(html, "contact") == "Give the contact person's name and phone number."
    assert field_error(html, "location") == "Give the place of the delivery."
    assert field_error(html, "department") is not None
    assert field_error(html, "invoice_reference") is None
    assert field_error(html, "description") is None
    assert count(app, PortalOrder) == 0
    assert count(app, OutboxMessage) == 0
    assert count(app, Counter) == 0


def test_a_new_order_may_not_name_a_department_of_another_company(app, customer, company):
    with app.app_context():
        foreign = db.session.scalar(
            sa.select(Department.id).where(Department.organisation_id == company.other_id)
        )
    response = customer.post("/portal/orders/new", data={**ORDER_FORM, "department": foreign})
    assert response.status_code == 200
    assert field_error(text(response), "department") is not None
    assert count(app, PortalOrder) == 0


def test_a_new_order_gets_a_number_and_mails_the_user_and_the_account_manager(
    app, smtp_server, customer, company, make_user
):
    make_manager(app, make_user, company)
    response = customer.post(
        "/portal/orders/new", data={**ORDER_FORM, "department": str(company.dept_bergen)}
    )
    assert response.status_code == 302
    assert location(response) == "/portal/orders/300001"
    order = text(customer.get("/portal/orders/300001"))
    assert "Order 300001" in order and "Førstehjelpskurs" in order and BERGEN in order
    assert "Received" in order
    with app.app_context():
        saved = db.session.scalar(sa.select(PortalOrder))
        assert (saved.number, saved.department_id, saved.status) == (
            300001,
            company.dept_bergen,
            OrderStatus.RECEIVED,
        )
        assert saved.ordered_by.email == CUSTOMER
        assert (saved.invoice_reference, saved.description) == ("Prosjekt 77", "Helst i mai.")

    deliver_mail(app)
    by_recipient = {m["To"]: m for m in smtp_server.messages}
    assert set(by_recipient) == {CUSTOMER, MANAGER}
    to_user = smtp_server.text_of(by_recipient[CUSTOMER])
    assert "300001" in to_user and "Førstehjelpskurs" in to_user
    assert "http://portal.test/portal/orders/300001" in to_user
    to_manager = smtp_server.text_of(by_recipient[MANAGER])
    assert "300001" in to_manager
    for value in ("Førstehjelpskurs", "12 ansatte", "Ola Olsen - tlf 41234567", "Storgata 1"):
        assert value in to_manager
    assert COMPANY in to_manager and BERGEN in to_manager
    assert "http://portal.test/staff/portal/orders/300001" in to_manager

    second = customer.post("/portal/orders/new", data=ORDER_FORM)
    assert location(second) == "/portal/orders/300002"


def test_without_an_account_manager_only_the_user_is_mailed(app, smtp_server, customer):
    assert customer.post("/portal/orders/new", data=ORDER_FORM).status_code == 302
    deliver_mail(app)
    assert [m["To"] for m in smtp_server.messages] == [CUSTOMER]


def test_the_order_numbers_continue_an_existing_counter(app, customer):
    with app.app_context():
        db.session.add(Counter(key="portal-order", value=307391))
        db.session.commit()
    response = customer.post("/portal/orders/new", data=ORDER_FORM)
    assert location(response) == "/portal/orders/307392"


def test_the_order_page_lists_its_bookings_and_its_status_history(app, customer, staff, company):
    customer.post("/portal/orders/new", data=ORDER_FORM)
    order_id = get_order_id(app, 300001)
    booking_id, _ = add_booking(app, company.id, order_id=order_id, title="Helsekontroll vår")
    add_booking(app, company.id, title="Annen timeavtale")  # not of this order
    group = group_id(app, "Helsekontroller")

    response = staff.post(
        "/staff/portal/orders/300001/status",
        data={"status": "planlagt", "product_group": str(group)},
    )
    assert response.status_code == 302
    html = text(customer.get("/portal/orders/300001"))
    assert f'href="/portal/bookings/{booking_id}"' in html and "Helsekontroll vår" in html
    assert "Annen timeavtale" not in html
    details = re.search(r'<dl class="details">.*?</dl>', html, re.S).group(0)
    assert "Planned" in details and "Helsekontroller" in details
    history = re.search(r"Status history</h2>.*?</table>", html, re.S).group(0)
    assert re.findall(r"badge--order-(\w+)", history) == ["mottatt", "planlagt"]


def test_staff_change_the_status_and_the_customer_sees_it(app, customer, staff, company):
    add_order(app, company.id, 300050, at=utc(2024, 5, 1))
    staff_page = text(staff.get("/staff/portal/orders/300050"))
    assert "Order 300050" in staff_page
    for status, label in [("behandles", "Being processed"), ("levert", "Delivered")]:
        response = staff.post(
            "/staff/portal/orders/300050/status", data={"status": status, "product_group": ""}
        )
        assert location(response) == "/staff/portal/orders/300050"
        details = re.search(
            r'<dl class="details">.*?</dl>', text(customer.get("/portal/orders/300050")), re.S
        ).group(0)
        assert label in details
    # The same status again (a double click) records no second change.
    staff.post("/staff/portal/orders/300050/status", data={"status": "levert"})
    with app.app_context():
        events = db.session.scalars(
            sa.select(OrderEvent.to_status)
            .join(PortalOrder)
            .where(PortalOrder.number == 300050)
            .order_by(OrderEvent.id)
        ).all()
        assert events == [OrderStatus.RECEIVED, OrderStatus.IN_PROGRESS, OrderStatus.DELIVERED]
    assert search_orders(customer, status="levert") == [300050]
    bad = staff.post("/staff/portal/orders/300050/status", data={"status": "slettet"})
    assert bad.status_code == 400
    assert (
        staff.post("/staff/portal/orders/999999/status", data={"status": "levert"}).status_code
        == 404
    )


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/staff/portal/"),
        ("get", "/staff/portal/orders/300050"),
        ("post", "/staff/portal/orders/300050/status"),
        ("get", "/staff/portal/bookings"),
        ("get", "/staff/portal/bookings/new"),
        ("get", "/staff/portal/invoices"),
        ("get", "/staff/portal/employee-changes.json"),
    ],
)
def test_customers_get_403_in_the_staff_portal(app, customer, company, method, url):
    add_order(app, company.id, 300050, at=utc(2024, 5, 1))
    response = getattr(customer, method)(url, data={"status": "levert"})
    assert response.status_code == 403
    assert get_order_status(app, 300050) == OrderStatus.RECEIVED
