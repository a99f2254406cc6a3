"""Payment reminders (maksumuistutus): the late-payment interest of the Interest Act for
known dates and rates, the reminder's figures, the consumer's fee cap, every delivery
method, the user's manual or automatic choice and the job that sends them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from extensions import db
from models.invoicing import InvoiceStatus, SalesInvoice, SalesInvoiceReminder
from services import accounts
from services.invoicing import desk, finvoice, interest, reminders
from tests.fixtures import invoicing as invoicing_fixtures
from tests.fixtures.invoicing import (
    PAYER_EMAIL,
    TIINA,
    forward,
    helsinki_today,
    invoice_row,
    mails,
    open_invoice,
    page,
    pdf_text,
    print_jobs,
    sent_invoice,
)

app_config = invoicing_fixtures.app_config  # the sandboxes mounted
staff = invoicing_fixtures.staff
tiina = invoicing_fixtures.tiina
olli = invoicing_fixtures.olli
TABLE = interest.Rates.configured()

# ---------------------------------------------------------------- the interest


def test_a_consumers_interest_runs_from_the_day_after_the_due_date_at_each_half_years_rate():
    # 1 000 € due 15.6.2025, unpaid on 15.7.2025: 15 days in June at 3,5 + 7 = 10,5 %, and
    # 15 days in July at 2,5 + 7 = 9,5 % (the reference rate changed on 1.7.2025).
    accrued = interest.late_interest(
        Decimal("1000.00"), date(2025, 6, 15), date(2025, 7, 15), business=False, rates=TABLE
    )
    assert [(p.start, p.end, p.rate) for p in accrued.periods] == [
        (date(2025, 6, 16), date(2025, 6, 30), Decimal("10.5")),
        (date(2025, 7, 1), date(2025, 7, 15), Decimal("9.5")),
    ]
    # 1000 × 10,5 % × 15/365 + 1000 × 9,5 % × 15/365 = 4,3151 + 3,9041
    assert accrued.amount == Decimal("8.22")
    assert not accrued.assumed


def test_between_businesses_the_rate_is_eight_points_over_the_reference_rate():
    accrued = interest.late_interest(
        Decimal("1000.00"), date(2024, 2, 29), date(2024, 3, 30), business=True, rates=TABLE
    )
    # 30 days at 4,5 + 8 = 12,5 %: 1000 × 0,125 × 30/365 = 10,27
    assert accrued.rates == (Decimal("12.5"),) and accrued.amount == Decimal("10.27")


def test_a_part_payment_bears_interest_to_its_day_and_the_rest_on():
    # 500 € paid on 30.6.2025 stops bearing interest from 1.7.
    accrued = interest.late_interest(
        Decimal("1000.00"),
        date(2025, 6, 15),
        date(2025, 7, 15),
        payments=[(date(2025, 6, 30), Decimal("500.00")), (date(2025, 6, 1), Decimal("100"))],
        business=False,
        rates=TABLE,
    )
    # paid before the due date: never bore interest; 900 × 10,5 % × 15/365 + 400 × 9,5 %
    # × 15/365 = 3,8836 + 1,5616
    assert [p.balance for p in accrued.periods] == [Decimal("900.00"), Decimal("400.00")]
    assert accrued.amount == Decimal("5.45")


def test_nothing_is_due_on_a_paid_or_not_yet_due_invoice():
    paid = interest.late_interest(
        Decimal("100"), date(2025, 1, 10), date(2025, 3, 1),
        payments=[(date(2025, 1, 10), Decimal("100"))], business=False, rates=TABLE,
    )  # fmt: skip
    not_due = interest.late_interest(
        Decimal("100"), date(2025, 3, 10), date(2025, 3, 1), business=False, rates=TABLE
    )
    assert paid.amount == not_due.amount == Decimal("0.00")


def test_a_half_year_missing_from_the_table_takes_the_last_rate_and_says_so():
    day = date(2040, 8, 1)
    assert TABLE.reference(day)[1] is True
    added = interest.Rates.configured(f"2040-07-01=1.5,{date(2041, 1, 1).isoformat()}=2")
    assert added.reference(day) == (Decimal("1.5"), False)
    accrued = interest.late_interest(
        Decimal("100"), date(2040, 7, 1), date(2040, 7, 31), business=False, rates=TABLE
    )
    assert accrued.assumed


@pytest.mark.parametrize("setting", ["2026-07-02=2.5", "2026-07-01", "July=2", "2026-07-01=lots"])
def test_a_reference_rate_setting_that_is_not_half_years_and_rates_is_refused(setting):
    with pytest.raises(interest.RateTableError):
        interest.parse_setting(setting)


def test_the_table_has_every_half_year_since_it_begins():
    starts = sorted(interest.published_rates())
    for earlier, later in zip(starts, starts[1:], strict=False):
        assert interest.half_year(earlier + timedelta(days=190)) == later


# ---------------------------------------------------------------- the reminders


def make_overdue(app: Flask, number: str, days: int, **columns) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(SalesInvoice)
            .where(SalesInvoice.number == number)
            .values(due_date=helsinki_today() - timedelta(days=days), **columns)
        )
        db.session.commit()


def remind(client: FlaskClient, number: str, app: Flask | None = None):
    if app is None:  # staff
        return client.post(f"/staff/invoices/{number}/reminders")
    return client.post(f"/invoices/{invoice_row(app, number).id}/reminders")


def reminder_rows(app: Flask, number: str) -> list[SalesInvoiceReminder]:
    with app.app_context():
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        rows = list(invoice.reminders)
        for row in rows:
            db.session.expunge(row)
        return rows


def expected_interest(app: Flask, principal: str, days: int, business: bool = False) -> Decimal:
    today = helsinki_today()
    with app.app_context():
        rates = reminders.rates(app.config)
    return interest.late_interest(
        Decimal(principal), today - timedelta(days=days), today, business=business, rates=rates
    ).amount


def test_staff_remind_an_overdue_invoice_by_email_with_interest_and_fee(app, tiina, staff):
    number = open_invoice(app, tiina, staff)  # 125,49 € by email
    make_overdue(app, number, 30)
    page_text = page(staff.get(f"/staff/invoices/{number}"))
    assert "Send a payment reminder" in page_text
    response = remind(staff, number)
    assert response.status_code == 302
    assert "Reminder 1 was sent" in page(staff.get(response.location))
    [reminder] = reminder_rows(app, number)
    owed = expected_interest(app, "125.49", 30)
    assert owed > 0
    assert (reminder.balance, reminder.interest, reminder.fee) == (
        Decimal("125.49"), owed, Decimal("5.00"),
    )  # fmt: skip
    assert reminder.total == Decimal("130.49") + owed
    assert reminder.due_date == helsinki_today() + timedelta(days=14)
    row = invoice_row(app, number)
    assert row.reminder_count == 1 and row.charges == owed + Decimal("5.00")
    [mail] = mails(app, "invoicing_reminder")
    assert mail.recipients == [PAYER_EMAIL]
    assert mail.attachments == [(f"maksumuistutus-{number}-1.pdf", "application/pdf")]
    assert f"{reminder.total:.2f}".replace(".", ",") in mail.body
    text = pdf_text(staff.get(f"/staff/invoices/{number}/reminders/1.pdf").data)
    assert "MAKSUMUISTUTUS" in text and "Muistutusmaksu" in text and "Viivästyskorko9,5%" in text
    assert f"{reminder.total:.2f}".replace(".", ",") in text
    assert ("reminder", 1, "1. " + f"{reminder.total:.2f}") == desk_event(app, number)[:3]


def desk_event(app: Flask, number: str) -> tuple:
    with app.app_context():
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        event = invoice.events[-1]
        return (event.kind.value, int(event.text.split(".")[0]), event.text.rsplit(" ", 1)[0])


def test_paying_the_reminders_total_pays_the_invoice_in_full(app, tiina, staff):
    number = open_invoice(app, tiina, staff)
    make_overdue(app, number, 20)
    remind(staff, number)
    [reminder] = reminder_rows(app, number)
    with app.test_request_context():
        invoice = db.session.scalars(sa.select(SalesInvoice).filter_by(number=number)).one()
        with pytest.raises(desk.PaymentError):  # more than the reminder's total
            desk.record_payment(invoice, reminder.total + 1, helsinki_today(), None, source="bank")
        desk.record_payment(invoice, reminder.total, helsinki_today(), None, source="bank")
        db.session.commit()
    row = invoice_row(app, number)
    assert row.status == InvoiceStatus.PAID and row.next_reminder_on is None


def test_a_consumers_fee_is_capped_at_five_euros_a_business_pays_the_business_fee(
    app, tiina, staff
):
    app.config.update(INVOICE_REMINDER_FEE="9.00", INVOICE_REMINDER_FEE_BUSINESS="12.00")
    consumer = open_invoice(app, tiina, staff)
    make_overdue(app, consumer, 10)
    business = open_invoice(app, tiina, staff)
    make_overdue(app, business, 10, payer_business_id="1234567-1")
    remind(staff, consumer)
    remind(staff, business)
    [to_consumer] = reminder_rows(app, consumer)
    [to_business] = reminder_rows(app, business)
    assert to_consumer.fee == Decimal("5.00")
    assert to_business.fee == Decimal("12.00")
    assert to_business.interest == expected_interest(app, "125.49", 10, business=True)
    assert to_business.interest > to_consumer.interest


def test_the_next_reminder_waits_for_the_previous_ones_due_date_and_stops_at_the_limit(
    app, tiina, staff
):
    number = open_invoice(app, tiina, staff)
    make_overdue(app, number, 40)
    remind(staff, number)
    response = remind(staff, number)  # at once again: the first gives 14 days to pay
    assert "The next reminder can be sent from" in page(staff.get(response.location))
    assert len(reminder_rows(app, number)) == 1
    # Three weeks later (the first reminder's due date passed), a second: its interest is
    # what accrued since, the first's deducted.
    first = reminder_rows(app, number)[0]
    with app.app_context():
        db.session.execute(
            sa.update(SalesInvoiceReminder).values(due_date=helsinki_today() - timedelta(days=1))
        )
        db.session.commit()
    remind(staff, number)
    second = reminder_rows(app, number)[1]
    assert second.number == 2
    assert second.balance == first.total
    assert second.interest == expected_interest(app, "125.49", 40) - first.interest
    app.config["INVOICE_REMINDER_MAX"] = 2
    with app.app_context():
        db.session.execute(
            sa.update(SalesInvoiceReminder).values(due_date=helsinki_today() - timedelta(days=1))
        )
        db.session.commit()
    response = remind(staff, number)
    assert "all the reminders allowed" in page(staff.get(response.location))
    assert len(reminder_rows(app, number)) == 2


def test_an_invoice_not_yet_due_or_paid_is_not_reminded(app, tiina, staff):
    number = open_invoice(app, tiina, staff)  # due in 14 days
    assert "Send a payment reminder" not in page(staff.get(f"/staff/invoices/{number}"))
    response = remind(staff, number)
    assert "The next reminder can be sent from" in page(staff.get(response.location))
    make_overdue(app, number, 5)
    invoicing_fixtures.pay(staff, number, "125,49")
    response = remind(staff, number)
    assert "Only an open receivable can be reminded" in page(staff.get(response.location))
    assert reminder_rows(app, number) == [] and mails(app, "invoicing_reminder") == []


def test_a_posted_invoice_is_reminded_through_the_print_service(app, live_server, tiina, staff):
    number = sent_invoice(tiina, app, "posti", payer_name="Kahvila Kulma")
    forward(staff, number)
    make_overdue(app, number, 15)
    remind(staff, number)
    [reminder] = reminder_rows(app, number)
    jobs = {job.stem: job for job in print_jobs(app)}
    assert len(jobs) == 2
    reminder_job = jobs[reminder.receipt]
    text = pdf_text(reminder_job.read_bytes())
    assert "MAKSUMUISTUTUS" in text and "KahvilaKulma" in text and number in text
    assert f"{reminder.total:.2f}".replace(".", ",") in text
    assert mails(app, "invoicing_reminder") == []


def test_an_einvoice_is_reminded_as_a_valid_finvoice_reminder(app, live_server, tiina, staff):
    number = sent_invoice(tiina, app, "verkkolasku", payer_name="Oy Esimerkki Ab")
    forward(staff, number)
    make_overdue(app, number, 15)
    remind(staff, number)
    [reminder] = reminder_rows(app, number)
    folder = invoicing_fixtures.Path(app.config["INVOICE_SANDBOX_DIR"]) / "einvoice"
    messages = sorted(p for p in folder.glob("OP-*.xml") if not p.name.endswith(".frame.xml"))
    assert len(messages) == 2
    [message] = [m.read_bytes() for m in messages if m.stem == reminder.receipt]
    assert finvoice.errors(message) == []
    root = etree.fromstring(message)
    assert root.findtext("InvoiceDetails/InvoiceTypeText") == "MAKSUMUISTUTUS"
    assert root.findtext("InvoiceDetails/OriginalInvoiceNumber") == number
    assert root.findtext("InvoiceDetails/InvoiceTotalVatIncludedAmount") == (
        f"{reminder.total:.2f}".replace(".", ",")
    )
    assert root.findtext("EpiDetails/EpiPaymentInstructionDetails/EpiRemittanceInfoIdentifier") == (
        invoice_row(app, number).reference
    )


def test_a_failed_posting_records_nothing(app, tiina, staff, monkeypatch):
    number = sent_invoice(tiina, app, "sahkoposti")
    forward(staff, number)
    make_overdue(app, number, 15, delivery_method="posti")  # the print service is not up
    response = remind(staff, number)
    assert "The reminder could not be sent" in page(staff.get(response.location))
    assert reminder_rows(app, number) == []
    assert invoice_row(app, number).charges == 0


def test_the_user_reminds_their_own_invoice_and_no_one_elses(app, tiina, olli, staff):
    number = open_invoice(app, tiina, staff)
    make_overdue(app, number, 20)
    assert "Send a payment reminder" in page(tiina.get(f"/invoices/{invoice_row(app, number).id}"))
    assert remind(olli, number, app).status_code == 404
    assert reminder_rows(app, number) == []
    response = remind(tiina, number, app)
    assert response.status_code == 302
    assert "Reminder 1 was sent" in page(tiina.get(response.location))
    pdf = tiina.get(f"/invoices/{invoice_row(app, number).id}/reminders/1.pdf")
    assert pdf.mimetype == "application/pdf"
    assert olli.get(f"/invoices/{invoice_row(app, number).id}/reminders/1.pdf").status_code == 404


def test_a_reminder_needs_the_forms_token(app, tiina, staff):
    number = open_invoice(app, tiina, staff)
    make_overdue(app, number, 20)
    app.config["WTF_CSRF_ENABLED"] = True
    assert remind(staff, number).status_code == 400
    assert reminder_rows(app, number) == []


# ---------------------------------------------------------------- automatic reminders


def settings(client: FlaskClient, mode: str, limit: int = 1):
    return client.post("/invoices/reminders", data={"mode": mode, "limit": str(limit)})


def test_the_job_sends_automatic_reminders_up_to_the_users_limit(app, tiina, staff):
    manual = open_invoice(app, tiina, staff)
    make_overdue(app, manual, 30)
    with app.test_request_context():
        assert reminders.run_job().startswith("0 reminders sent")  # manual: none
    assert settings(tiina, "automatic", 1).status_code == 302
    assert invoice_row(app, manual).next_reminder_on == helsinki_today()
    with app.test_request_context():
        report = reminders.run_job()
    assert report.startswith("1 reminders sent"), report
    [reminder] = reminder_rows(app, manual)
    assert reminder.automatic and reminder.sent_by_id is None
    assert invoice_row(app, manual).next_reminder_on is None  # its one reminder went
    with app.test_request_context():
        assert reminders.run_job().startswith("0 reminders sent")


def test_a_new_invoice_of_an_automatic_user_is_scheduled_after_its_due_date(app, tiina, staff):
    settings(tiina, "automatic", 2)
    number = open_invoice(app, tiina, staff)
    after = timedelta(days=app.config["INVOICE_REMINDER_AFTER_DAYS"])
    due = invoice_row(app, number).due_date
    assert invoice_row(app, number).next_reminder_on == due + after
    # Its due date moved back (as if the days went by): the job sends the first, and
    # schedules the second after the first's due date.
    make_overdue(app, number, 30, next_reminder_on=helsinki_today())
    with app.test_request_context():
        assert reminders.run_job().startswith("1 reminders sent")
    [first] = reminder_rows(app, number)
    assert invoice_row(app, number).next_reminder_on == first.due_date + after


def test_the_settings_page_refuses_an_unknown_choice(app, tiina):
    response = settings(tiina, "sometimes", 9)
    assert response.status_code == 422
    with app.app_context():
        assert accounts.user_by_email(TIINA).invoice_reminders == "manual"


def test_the_jobs_query_walks_the_reminders_index(app):
    with app.app_context():
        query = (
            sa.select(SalesInvoice.id)
            .where(SalesInvoice.next_reminder_on.is_not(None))
            .where(SalesInvoice.next_reminder_on <= helsinki_today())
            .order_by(SalesInvoice.next_reminder_on, SalesInvoice.id)
            .limit(100)
        )
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the plan of PostgreSQL is checked in tests/test_postgres.py")
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = " ".join(
            str(row) for row in db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))
        )
        assert "ix_sales_invoice_reminder_due" in plan
