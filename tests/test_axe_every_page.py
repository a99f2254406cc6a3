"""Every page route checked by axe-core, in an empty state and an error state, in each
language (issue 17).

PAGES names every GET route that renders an HTML page, with who may see it and the way to
its error state; EXCLUDED names every other GET route with the reason it has no page.
`test_every_page_route_is_checked_or_excluded` (no browser) fails when a route is in
neither, so a page added later without an axe check fails the suite.

The browser test runs once per language on its own database: the pages without arguments
are visited on a database holding only the accounts (the empty state: no rows), then
`flask seed-demo` adds a few rows of everything and the pages of one record are visited
(a course, a ticket, an invoice…). Each page is shown in its error state too: a form sent
empty or with its fields cleared (the error summary and the field messages), a search for
what is not there, or the page's own refusal (a link that is not valid, a result without
its parameters); see FORM, SEARCH, MISSING and OWN. One browser context per person holds
the login and the language. A language takes about two minutes on two cores.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import pyotp
import pytest
import sqlalchemy as sa
from playwright.sync_api import Error as PlaywrightError

from commands.demo import data as demo
from config import LANGUAGES
from extensions import db
from sandboxes.payment_service import views as payment_sandbox
from services.payments import attempts as payment_attempts
from services.payments import links as payment_links
from tests.fixtures.browser import AccessibleBrowser
from tests.fixtures.invoicing import give_number
from tests.fixtures.payments import CHANNEL_CONFIG
from tests.fixtures.routes import RULES
from tests.fixtures.users import PASSWORD

# --- What the error state of a page is ------------------------------------------------

FORM = "form"  # the page's form sent with its fields cleared: the error summary shows
SEARCH = "search"  # the page's search form sent for what is not there: nothing found
# A record that is not there: the not-found page, one template whatever the route, so
# it is checked once per person. A page of one record has it as its error state, and so
# does a list without a filter, whose "nothing here" is shown in the empty state.
MISSING = "missing"
OWN = "own"  # the page is itself the error state of its route, or the test reaches it


@dataclass(frozen=True)
class Page:
    role: str  # who is logged in: see ACCOUNTS ("anonymous": nobody)
    path: str  # the address; {names} are filled from the demo data (see _demo_ids)
    error: str  # FORM, SEARCH, MISSING or OWN
    why: str = ""  # for OWN: how the error state is reached
    error_path: str = ""  # for OWN: the address of the error state, if it has its own


ADMIN = "admin@example.com"
KUNDE = "test.bruker@demokunde.example.com"  # a customer of the Norwegian company portal
TIINA = "tiina.testinen@toiminimi.example.com"  # an invoicing-service user
MAIJA = "maija.meikalainen@virasto.example.com"  # a customer with support tickets
MATTI = "matti.virtanen@virasto.example.com"  # a customer with two-factor login on
ANONYMOUS = "anonymous"

PAGES: dict[str, Page] = {
    # The front page and public pages.
    "main.index": Page(ANONYMOUS, "/", MISSING),
    "auth.login": Page(ANONYMOUS, "/auth/login", FORM),
    "auth.reset_request": Page(ANONYMOUS, "/auth/reset", FORM),
    "auth.reset": Page(ANONYMOUS, "/auth/reset/{reset_token}", FORM),
    "auth.welcome": Page(ANONYMOUS, "/auth/welcome/{welcome_token}", FORM),
    "training.index": Page(ANONYMOUS, "/training/", SEARCH),
    "training.course": Page(ANONYMOUS, "/training/courses/{course}", MISSING),
    "training.enrol": Page(ANONYMOUS, "/training/courses/{course}/enrol", FORM),
    "training.enrolled": Page(
        ANONYMOUS, "/training/enrolled", OWN, "reached by enrolling; the enrol form's errors"
    ),
    "training.offer": Page(
        ANONYMOUS, "/training/offers/{offer_token}", OWN, "a stale link", "/training/offers/x"
    ),
    "payments.index": Page(ANONYMOUS, "/payments/", MISSING),
    "payments.invoice": Page(ANONYMOUS, "/payments/invoice/{invoice_token}", FORM),
    "payments.course_fee": Page(
        ANONYMOUS, "/payments/course/{course_fee_token}", OWN, "billed by invoice: not payable"
    ),
    "payments.returned": Page(ANONYMOUS, "/payments/return", OWN, "without the bank's answer"),
    "payments.cancelled": Page(ANONYMOUS, "/payments/cancel", OWN, "without the bank's answer"),
    "portal.declaration": Page(ANONYMOUS, "/portal/egenerklaering/{declaration_token}", FORM),
    "punchout.cart": Page(ANONYMOUS, "/punchout/cart", OWN, "without a punchout: gone"),
    "punchout.start": Page(ANONYMOUS, "/punchout/start/{punchout_token}", OWN, "a used link"),
    "punchout.oci": Page(ANONYMOUS, "/punchout/oci", OWN, "wrong credentials: refused"),
    "support.track": Page(ANONYMOUS, "/support/track/{ticket}/{signature}", FORM),
    "support.rate": Page(
        ANONYMOUS,
        "/support/rate/{rated_ticket}/3/{rating_signature}",
        OWN,
        "a comment over 2,000 characters; an unresolved ticket's link shows a message",
    ),
    "payment_sandbox.bank": Page(
        ANONYMOUS, "/sandbox/payment/pay/{bank_token}", OWN, "an unknown payment"
    ),
    # A customer's own pages.
    "auth.profile": Page(MAIJA, "/auth/profile", FORM),
    "auth.two_factor_setup": Page(MAIJA, "/auth/two-factor/setup", FORM),
    "auth.two_factor": Page(MATTI, "/auth/two-factor", FORM),
    "auth.two_factor_recovery": Page(MATTI, "/auth/two-factor/recovery", FORM),
    "auth.recovery_codes": Page(MATTI, "/auth/two-factor/recovery-codes", FORM),
    "auth.two_factor_disable": Page(MATTI, "/auth/two-factor/disable", FORM),
    "support.index": Page(MAIJA, "/support/", SEARCH),
    "support.new": Page(MAIJA, "/support/new", FORM),
    "support.ticket": Page(MAIJA, "/support/tickets/{ticket}", FORM),
    "support.sent": Page(MAIJA, "/support/tickets/{ticket}/sent", MISSING),
    "invoicing.index": Page(TIINA, "/invoices/", SEARCH),
    "invoicing.new": Page(TIINA, "/invoices/new", FORM),
    "invoicing.invoice": Page(TIINA, "/invoices/{sent_invoice}", MISSING),
    "invoicing.edit": Page(TIINA, "/invoices/{draft_invoice}/edit", FORM),
    "invoicing.settings": Page(
        TIINA, "/invoices/reminders", OWN, "two choices, each always chosen: nothing to get wrong"
    ),
    "invoicing.receivables": Page(TIINA, "/invoices/receivables", MISSING),
    "invoicing.payouts": Page(TIINA, "/invoices/payouts", FORM),
    "invoicing.payouts_owed": Page(TIINA, "/invoices/payouts/owed", MISSING),
    "portal.index": Page(KUNDE, "/portal/", MISSING),
    "portal.orders": Page(KUNDE, "/portal/orders", SEARCH),
    "portal.new_order": Page(KUNDE, "/portal/orders/new", FORM),
    "portal.order": Page(KUNDE, "/portal/orders/{order}", MISSING),
    "portal.employees": Page(KUNDE, "/portal/employees", SEARCH),
    "portal.new_employee": Page(KUNDE, "/portal/employees/new", FORM),
    "portal.employee": Page(KUNDE, "/portal/employees/{employee}", MISSING),
    "portal.edit_employee": Page(KUNDE, "/portal/employees/{employee}/edit", FORM),
    "portal.invoices": Page(KUNDE, "/portal/invoices", SEARCH),
    "portal.reports": Page(KUNDE, "/portal/reports", SEARCH),
    "portal.booking": Page(KUNDE, "/portal/bookings/{booking}", FORM),
    # Staff.
    "staff.index": Page(ADMIN, "/staff/", SEARCH),
    "staff.lookup": Page(ADMIN, "/staff/lookup?q=kunde", SEARCH),
    "staff.mail": Page(ADMIN, "/staff/mail", MISSING),
    "staff.mail_detail": Page(ADMIN, "/staff/mail/{mail}", MISSING),
    "audit.index": Page(ADMIN, "/staff/audit/", SEARCH),
    "auth.organisations": Page(ADMIN, "/auth/organisations", MISSING),
    "auth.create_organisation": Page(ADMIN, "/auth/organisations/new", FORM),
    "auth.organisation": Page(ADMIN, "/auth/organisations/{organisation}", FORM),
    "auth.edit_organisation": Page(ADMIN, "/auth/organisations/{organisation}/edit", FORM),
    "auth.users": Page(ADMIN, "/auth/users", SEARCH),
    "auth.create_user": Page(ADMIN, "/auth/users/new", FORM),
    "auth.edit_user": Page(ADMIN, "/auth/users/{user}/edit", FORM),
    "training_staff.courses": Page(ADMIN, "/staff/training/", MISSING),
    "training_staff.create_course": Page(ADMIN, "/staff/training/courses/new", FORM),
    "training_staff.participants": Page(ADMIN, "/staff/training/courses/{course}", SEARCH),
    "training_staff.edit_course": Page(ADMIN, "/staff/training/courses/{course}/edit", FORM),
    "training_staff.enrolment": Page(ADMIN, "/staff/training/enrolments/{enrolment}", FORM),
    "training_staff.organisers": Page(ADMIN, "/staff/training/organisers", FORM),
    "training_staff.edit_organiser": Page(
        ADMIN, "/staff/training/organisers/{organiser}/edit", FORM
    ),
    "support_staff.queue": Page(ADMIN, "/staff/support/", SEARCH),
    "support_staff.ticket": Page(ADMIN, "/staff/support/tickets/{ticket}", FORM),
    "support_staff.applications": Page(ADMIN, "/staff/support/applications", MISSING),
    "support_staff.teams": Page(ADMIN, "/staff/support/teams", MISSING),
    "support_staff.create_team": Page(ADMIN, "/staff/support/teams/new", FORM),
    "support_staff.edit_team": Page(ADMIN, "/staff/support/teams/{team}", FORM),
    "support_staff.canned_replies": Page(ADMIN, "/staff/support/canned", MISSING),
    "support_staff.create_canned_reply": Page(ADMIN, "/staff/support/canned/new", FORM),
    "support_staff.edit_canned_reply": Page(ADMIN, "/staff/support/canned/{canned}", FORM),
    "support_staff.reports": Page(ADMIN, "/staff/support/reports", MISSING),
    "training_staff.calendar": Page(
        ADMIN, "/staff/training/calendar", OWN, "only buttons: no state of errors"
    ),
    "staff.dashboards_page": Page(ADMIN, "/staff/dashboards", MISSING),
    "support_staff.inbound": Page(ADMIN, "/staff/support/inbound", MISSING),
    "support_staff.inbound_mail": Page(ADMIN, "/staff/support/inbound/{inbound_mail}", MISSING),
    "support_staff.create_application": Page(ADMIN, "/staff/support/applications/new", FORM),
    "support_staff.edit_application": Page(
        ADMIN, "/staff/support/applications/{application}", FORM
    ),
    "support_staff.create_sub_application": Page(
        ADMIN, "/staff/support/applications/{application}/sub-applications/new", FORM
    ),
    "support_staff.edit_sub_application": Page(
        ADMIN, "/staff/support/sub-applications/{sub_application}", FORM
    ),
    "tasks.index": Page(ADMIN, "/tasks/", MISSING),
    "tasks.task": Page(ADMIN, "/tasks/{task}", MISSING),
    "invoicing_staff.desk": Page(ADMIN, "/staff/invoices/", MISSING),
    "invoicing_staff.invoice": Page(ADMIN, "/staff/invoices/{sent_invoice_number}", FORM),
    "invoicing_staff.bank_payments": Page(ADMIN, "/staff/invoices/bank", FORM),
    "invoicing_staff.receivables": Page(ADMIN, "/staff/invoices/receivables", MISSING),
    "invoicing_staff.payouts_page": Page(ADMIN, "/staff/invoices/payouts", FORM),
    "invoicing_staff.payout_batch": Page(ADMIN, "/staff/invoices/payouts/{payout_batch}", MISSING),
    "invoicing_staff.ageing_report": Page(ADMIN, "/staff/invoices/ageing", SEARCH),
    "invoicing_staff.search": Page(ADMIN, "/staff/invoices/search", SEARCH),
    "payments_staff.payments_list": Page(ADMIN, "/staff/payments/", SEARCH),
    "payments_staff.payment": Page(ADMIN, "/staff/payments/{payment}", MISSING),
    "payments_staff.refunds": Page(ADMIN, "/staff/payments/refunds", SEARCH),
    "payments_staff.refused": Page(ADMIN, "/staff/payments/refused", MISSING),
    "portal_staff.orders": Page(ADMIN, "/staff/portal/", SEARCH),
    "portal_staff.order": Page(ADMIN, "/staff/portal/orders/{order}", MISSING),
    "portal_staff.invoices": Page(ADMIN, "/staff/portal/invoices", SEARCH),
    "portal_staff.bookings": Page(ADMIN, "/staff/portal/bookings", MISSING),
    "portal_staff.new_booking": Page(ADMIN, "/staff/portal/bookings/new", FORM),
    "portal_staff.booking": Page(ADMIN, "/staff/portal/bookings/{booking}", FORM),
    "punchout_staff.index": Page(ADMIN, "/staff/punchout/", FORM),
    "punchout_staff.buyer": Page(ADMIN, "/staff/punchout/buyers/{buyer}", MISSING),
    "punchout_staff.log_entry": Page(ADMIN, "/staff/punchout/log/{punchout_log}", MISSING),
    "punchout_staff.pending": Page(ADMIN, "/staff/punchout/pending", SEARCH),
    # The sandboxes (stand-ins for outside services).
    "punchout_sandbox.sandbox": Page(ADMIN, "/punchout/sandbox/", MISSING),
    "payment_sandbox.index": Page(ADMIN, "/sandbox/payment/", MISSING),
    "payment_sandbox.merchant": Page(ADMIN, "/sandbox/payment/merchant/13466", MISSING),
    "print_sandbox.print_jobs": Page(ADMIN, "/sandbox/print/", MISSING),
    "operator_sandbox.operator_messages": Page(ADMIN, "/sandbox/einvoice/", MISSING),
    "bank_sandbox.index": Page(ADMIN, "/sandbox/bank/", MISSING),
}

EXCLUDED: dict[str, str] = {
    "tasks.download": "a file download (the export a background task made)",
    "health.healthz": "JSON for the load balancer",
    "health.readyz": "JSON for the load balancer",
    "invoicing.pdf": "a PDF download",
    "invoicing_staff.pdf": "a PDF download",
    "invoicing.reminder_pdf": "a PDF download",
    "invoicing.payout_pdf": "a PDF download (the payout statement)",
    "invoicing_staff.payout_statement": "a PDF download (the payout statement)",
    "invoicing_staff.payout_file": "a SEPA credit transfer XML download (pain.001)",
    "invoicing_staff.staff_pdf": "a PDF download",
    "portal.invoice_pdf": "a PDF download",
    "print_sandbox.print_document": "a PDF download",
    "invoicing_staff.finvoice_xml": "a Finvoice XML download",
    "operator_sandbox.operator_message": "an e-invoice XML download",
    "print_sandbox.job_status": "JSON of the print service's API",
    "portal.reports_csv": "a CSV download",
    "invoicing.receivables_csv": "a CSV download",
    "invoicing_staff.ageing_csv": "a CSV download",
    "training_staff.participants_csv": "a CSV download",
    "invoicing.index_export": "a list's export (CSV or Excel download)",
    "invoicing_staff.desk_export": "a list's export (CSV or Excel download)",
    "invoicing_staff.receivables_export": "a list's export (CSV or Excel download)",
    "invoicing_staff.search_export": "a list's export (CSV or Excel download)",
    "payments_staff.payments_export": "a list's export (CSV or Excel download)",
    "payments_staff.refunds_export": "a list's export (CSV or Excel download)",
    "portal.employees_export": "a list's export (CSV or Excel download)",
    "portal.invoices_export": "a list's export (CSV or Excel download)",
    "portal.orders_export": "a list's export (CSV or Excel download)",
    "portal_staff.orders_export": "a list's export (CSV or Excel download)",
    "portal_staff.invoices_export": "a list's export (CSV or Excel download)",
    "staff.mail_export": "a list's export (CSV or Excel download)",
    "support.index_export": "a list's export (CSV or Excel download)",
    "support_staff.queue_export": "a list's export (CSV or Excel download)",
    "training_staff.courses_export": "a list's export (CSV or Excel download)",
    "training_staff.participants_export": "a list's export (CSV or Excel download)",
    "portal_staff.employee_changes": "JSON for the HR system",
    "payments.notify": "plain text for the payment service's server-to-server call",
    "staff.mail_attachment": "a file download",
    "staff.mail_html": "a mail's HTML part, shown framed in staff.mail_detail (axe checks "
    "the frame there)",
    "support.attachment": "a file download",
    "training.all_courses_feed": "a calendar download",
    "training.topic_feed": "a calendar download",
    "training.feed": "a calendar download",
    "support.track_attachment": "a file download",
    "support_staff.attachment": "a file download",
}


def page_routes() -> set[str]:
    return {rule.endpoint for rule in RULES}


def test_every_page_route_is_checked_or_excluded():
    routes = page_routes()
    unknown = sorted(routes - PAGES.keys() - EXCLUDED.keys())
    assert not unknown, f"GET routes with neither an axe check nor a reason to have none: {unknown}"
    assert not PAGES.keys() & EXCLUDED.keys()
    gone = sorted((PAGES.keys() | EXCLUDED.keys()) - routes)
    assert not gone, f"listed here but no longer routes: {gone}"
    for endpoint, page in PAGES.items():
        assert page.error in (FORM, SEARCH, MISSING, OWN), endpoint
        assert page.error != OWN or page.why, endpoint
        assert not page.error_path or page.error == OWN, endpoint


# --- The browser test -----------------------------------------------------------------

# The _…_journey functions reach these pages in their own way; the loop visits the rest.
JOURNEY_PAGES = {
    "auth.two_factor",
    "auth.two_factor_recovery",
    "auth.recovery_codes",
    "auth.two_factor_disable",
    "training.enrol",
    "training.enrolled",
    "payments.invoice",
    "payments.returned",
    "payments.cancelled",
    "payment_sandbox.bank",
    "punchout.start",
    "punchout.oci",
    "punchout.cart",
}
BUYER = "buyer"  # an anonymous browser in a punchout, kept apart from ANONYMOUS
NOTHING = "zzzz-nothing-like-it"
FIELDS = (
    "input:visible:not([type=hidden]):not([type=checkbox]):not([type=radio])"
    ":not([type=submit]):not([type=button]):not([type=file]):not([readonly]), textarea:visible"
)
SUBMIT = ", ".join(
    f"{button}:visible:not([aria-hidden=true]):not([formnovalidate])"
    for button in ("button[type=submit]", "button:not([type])", "input[type=submit]")
)


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config.update(CHANNEL_CONFIG)  # online payment on: its pages are shown
    app_config["PAYMENT_SANDBOX_NOTIFY_DELAY"] = 3600  # no notify thread racing the test
    return app_config


class Visitor:
    """A browser context of one person in one language; every page it shows is checked."""

    def __init__(self, chromium, base_url: str, served: list[str], language: str, who: str):
        self.context = chromium.new_context(base_url=base_url, locale=f"{language}-FI")
        self.context.set_default_timeout(5000)
        self.browser = AccessibleBrowser(self.context.new_page(), served)
        self.page = self.browser.page
        self.language = language
        self.first = True
        if who not in (ANONYMOUS, BUYER):
            answer = self.context.request.post(
                "/auth/login", form={"email": who, "password": PASSWORD}
            )
            assert answer.ok, (who, answer.status)

    def goto(self, path: str) -> None:
        if self.first:  # the language, kept in the session from here on
            path += ("&" if "?" in path else "?") + f"lang={self.language}"
            self.first = False
        self.browser.goto(path)
        self.assert_language()

    def navigate(self, action: Callable[[], None]) -> None:
        self.browser.navigate(action)
        self.assert_language()

    def assert_language(self) -> None:
        shown = self.page.locator("html").get_attribute("lang")
        if self.first:
            return  # not chosen yet
        if urlsplit(self.page.url).path.startswith("/sandbox/payment/pay/"):
            # The payment service's bank page is in its CULTURE (it speaks no Norwegian).
            culture = payment_attempts.CULTURES.get(self.language, "en_US").lower()
            assert shown in (self.language, payment_sandbox.LANGUAGES[culture]), self.page.url
        else:
            assert shown == self.language, self.page.url

    def send_form(self, fill: Callable | None = None) -> None:
        """Send the page's main form with its fields cleared (or filled by `fill`)."""
        forms = self.page.locator("main form[method=post]")
        typed = forms.filter(has=self.page.locator(FIELDS))  # else a form of choices
        form = typed.first if typed.count() else forms.filter(has=self.page.locator("select")).first
        assert form.count(), f"no form on {self.page.url}"
        if fill is None:
            for field in form.locator(FIELDS).all():
                field.fill("")
            for choice in form.locator("select:visible").all():
                if choice.locator("option[value='']").count():
                    choice.select_option("")
        else:
            fill(form)
        buttons = form.locator(SUBMIT)
        primary = buttons.and_(form.locator(":not(.button--secondary)"))
        self.navigate((primary if primary.count() else buttons).first.click)

    def assert_errors(self) -> None:
        shown = self.page.locator(".error-summary, [aria-invalid=true]").count()
        assert shown, f"no error shown on {self.page.url}"

    def search_nothing(self) -> None:
        """Search for what is not there: a text no row holds, a time after every row."""
        form = self.page.locator("main form[method=get]").first
        for kind, value in (
            ("search", NOTHING),
            ("text", NOTHING),
            ("number", "3650"),
            ("date", "2099-12-31"),
        ):
            field = form.locator(f"input[type={kind}]")
            if field.count():
                field.first.fill(value)
                break
        else:
            choice = form.locator("select").first
            choice.select_option(index=choice.locator("option").count() - 1)
        self.navigate(lambda: form.locator(SUBMIT).first.click())


class Visit:
    """The visitors of one language, one per person, made when first needed."""

    def __init__(self, chromium, base_url: str, served: list[str], language: str):
        self.args = (chromium, base_url, served, language)
        self.visitors: dict[str, Visitor] = {}
        self.missing_seen: set[str] = set()

    def __call__(self, who: str) -> Visitor:
        if who not in self.visitors:
            self.visitors[who] = Visitor(*self.args, who)
        return self.visitors[who]

    def page(self, endpoint: str, ids: dict) -> None:
        spec = PAGES[endpoint]
        visitor = self(spec.role)
        path = spec.path.format(**ids)
        if spec.error == FORM and "{" not in spec.path and not visitor.first:
            visitor.page.goto(path)  # the same page as in the empty state, checked there
        else:
            visitor.goto(path)
        if spec.error == FORM:
            visitor.send_form()
            visitor.assert_errors()
        elif spec.error == SEARCH:
            visitor.search_nothing()
        elif spec.error == MISSING and spec.role not in self.missing_seen:
            # The not-found page is one template whatever the route: once per person.
            self.missing_seen.add(spec.role)
            visitor.goto("/training/courses/999999999")
        elif spec.error == OWN and spec.error_path:
            visitor.goto(spec.error_path)

    def close(self) -> list[str]:
        checked = []
        for visitor in self.visitors.values():
            checked += visitor.browser.checked
            visitor.context.close()
        return checked


def _accounts(make_org, make_user) -> None:
    """The demo's people, with the test password, and nothing else: the empty state."""
    for name, values in demo.ORGANISATIONS.items():
        make_org(name, departments=demo.DEPARTMENTS.get(name, []), **values)
    for account in demo.ACCOUNTS:
        make_user(
            account.email,
            role=account.role,
            org=account.organisation,
            name=account.name,
            language=account.language,
        )


def _two_factor_on(app, email: str) -> str:
    """Turn on the second factor of a user; its secret."""
    from models.types import utcnow
    from services import accounts, two_factor

    secret = two_factor.new_secret()
    earlier = utcnow() - timedelta(minutes=2)  # the code of now stays unspent
    with app.app_context():
        user = accounts.user_by_email(email)
        code = pyotp.TOTP(secret).at(earlier)
        keys = app.config.get("NATIONAL_ID_KEYS") or []
        assert two_factor.enable(user, secret, code, keys, app.config["SECRET_KEY"], earlier)
        db.session.commit()
    return secret


def _seed(runner) -> None:
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output


def _demo_ids(app) -> dict:
    """The records of the demo data the pages show, and the links that open them."""
    from models.auth import Organisation
    from models.invoicing import InvoiceStatus, SalesInvoice
    from models.mail import OutboxMessage
    from models.portal import Booking, Employee
    from models.punchout import PunchoutBuyer
    from models.support import (
        Application,
        CannedReply,
        Rating,
        SubApplication,
        Team,
        Ticket,
        TicketStatus,
    )
    from models.tasks import ItemState, TaskState
    from models.training import Course, CourseOrganiser, Enrolment
    from services import (
        accounts,
        portal,
        punchout,
        support,
        support_mail,
        support_ratings,
        tasks,
        training,
    )
    from services.invoicing import bulk, payouts

    def first(model, *where, order=None):
        query = sa.select(model).where(*where).order_by(order or model.id).limit(1)
        return db.session.scalars(query).one()

    with app.test_request_context():
        maija = accounts.user_by_email(MAIJA)
        key = app.config["SECRET_KEY"]
        course = first(Course, Course.title == "Hankintalain perusteet")
        full = first(Course, Course.title == "Valtion talousarvio ja kirjanpito")
        full.capacity += 1
        db.session.flush()
        assert training.offer_free_seats(full) == 1
        offered = first(
            Enrolment, Enrolment.course_id == full.id, Enrolment.offer_expires_at.is_not(None)
        )
        ticket = first(Ticket, Ticket.organisation_id == maija.organisation_id)
        rated = first(  # the answered one, resolved: its resolution mail asks for a rating
            Ticket, Ticket.organisation_id == maija.organisation_id, Ticket.id != ticket.id
        )
        support.set_status(rated, accounts.user_by_email(ADMIN), TicketStatus.RESOLVED)
        invoices = {i.status: i for i in db.session.scalars(sa.select(SalesInvoice))}
        booking = first(Booking)
        employee = first(Employee, Employee.active.is_(True))
        placement = portal.place(booking.slots[0], employee, "test")
        placement.declaration_token_hash = portal._hash("declaration-token")
        buyer = first(PunchoutBuyer, PunchoutBuyer.identity == "handi-sandbox")
        _session, punchout_token = punchout.open_session(
            buyer, protocol="cxml", return_url="http://127.0.0.1:9/return", buyer_cookie="c"
        )
        stranger = EmailMessage()  # a reply by mail from a stranger: for staff to review
        stranger["From"] = "someone@elsewhere.example"
        stranger["To"] = f"tuki+{ticket.number}@example.com"
        stranger["Subject"] = f"Re: [{ticket.number}]"
        stranger["Message-ID"] = "<axe-review@elsewhere.example>"
        stranger.set_content("Hei, onko tämä jo korjattu?")
        inbound = support_mail.receive(stranger.as_bytes(), "pipe").mail
        batch = payouts.run_batch(  # Tiina's paid demo invoices, paid out
            accounts.user_by_email(ADMIN), payouts.next_execution_date()
        )
        # A bulk forwarding that failed: its page shows the reason, the items, a retry.
        task, _new = tasks.enqueue(
            "invoice-forward",
            "axe-check-failed-forwarding",
            accounts.user_by_email(ADMIN),
            records=bulk.records(list(invoices.values())[:2]),
            language="fi",
        )
        task.state, task.error, task.processed, task.failed_count = TaskState.FAILED, "1/2", 2, 1
        task.items[0].state = ItemState.DONE
        task.items[1].state, task.items[1].error = ItemState.FAILED, "HTTP 503"
        ids = {
            "task": task.id,
            "inbound_mail": inbound.id,
            "payout_batch": batch.id,
            "reset_token": accounts.make_password_token(maija, key),
            "welcome_token": accounts.make_password_token(maija, key, accounts.INVITATION),
            "course": course.id,
            "organiser": first(CourseOrganiser).id,
            "enrolment": first(Enrolment, Enrolment.course_id == course.id).id,
            "offer_token": urlsplit(training.offer_url(offered)).path.rsplit("/", 1)[1],
            "invoice_token": payment_links.invoice_token(invoices[InvoiceStatus.OPEN]),
            "course_fee_token": payment_links.enrolment_token(
                first(Enrolment, Enrolment.course_id == course.id)
            ),
            "declaration_token": "declaration-token",
            "punchout_token": punchout_token,
            "ticket": ticket.number,
            "signature": support.link_signature(ticket),
            "rated_ticket": rated.number,
            "rating_signature": support_ratings.rating_signature(rated, Rating.GOOD),
            "team": first(Team).id,
            "canned": first(CannedReply).id,
            "sent_invoice": invoices[InvoiceStatus.OPEN].id,
            "draft_invoice": invoices[InvoiceStatus.DRAFT].id,
            "sent_invoice_number": invoices[InvoiceStatus.SUBMITTED].number,
            "order": 307391,
            "employee": employee.id,
            "booking": booking.id,
            "mail": first(OutboxMessage).id,
            "organisation": first(Organisation, Organisation.name == "Demokunde_Test").id,
            "user": accounts.user_by_email(KUNDE).id,
            "application": first(Application).id,
            "sub_application": first(SubApplication).id,
            "buyer": buyer.id,
            "punchout_secret": app.config["PUNCHOUT_SANDBOX_SECRET"],
        }
        db.session.commit()
    return ids


def _payment_journeys(visit: Visit, ids: dict) -> None:
    """Cancel at the sandbox bank paying the demo's open invoice; then pay it."""
    payer = visit(ANONYMOUS)
    page = payer.page
    link = PAGES["payments.invoice"].path.format(**ids)

    def contact(form) -> None:
        for field, value in (
            ("#first_name", "Matti"),
            ("#last_name", "Meikäläinen"),
            ("#street", "Yliopistonkatu 1"),
            ("#postcode", "40100"),
            ("#city", "Jyväskylä"),
            ("#email", "matti@example.com"),
        ):
            form.locator(field).fill(value)

    for outcome in ("cancel", "pay"):  # cancelled first: the invoice stays payable
        payer.goto(link)
        if outcome == "cancel":
            payer.send_form()  # the error state
            payer.assert_errors()
        payer.send_form(contact)
        payer.navigate(lambda: page.locator("main form button[type=submit]").first.click())
        assert urlsplit(page.url).path.startswith("/sandbox/payment/pay/")
        ids["bank_token"] = urlsplit(page.url).path.rsplit("/", 1)[1]
        if outcome == "pay":
            page.locator("main input[type=radio]").first.check()
            payer.navigate(
                lambda: page.locator(
                    "main button[name=action][value=pay], main form button[type=submit]"
                ).first.click()
            )
            assert urlsplit(page.url).path == "/payments/return", page.url
        else:
            payer.navigate(
                lambda: page.locator(
                    "main button", has_text=re.compile("Peruuta|Avbryt|Avbryt|Cancel", re.I)
                ).first.click()
            )
            assert urlsplit(page.url).path == "/payments/cancel", page.url
    # Without the bank's answer, and a payment the bank does not know.
    payer.goto("/payments/return")
    payer.goto("/payments/cancel")
    payer.goto("/sandbox/payment/pay/unknown")


def _two_factor_journey(visit: Visit, secret: str) -> None:
    """The second step of a login, its recovery page, then the pages of a user with it on."""
    person = visit(MATTI)  # the password given: the login waits for the code
    for endpoint in ("auth.two_factor_recovery", "auth.two_factor"):
        person.goto(PAGES[endpoint].path)
        person.send_form()
        person.assert_errors()
    person.first = True  # logged in, the page is in the user's language: choose again
    person.send_form(lambda form: form.locator("#code").fill(pyotp.TOTP(secret).now()))
    for endpoint in ("auth.recovery_codes", "auth.two_factor_disable"):
        person.goto(PAGES[endpoint].path)
        person.send_form()
        person.assert_errors()


def _enrol_journey(visit: Visit, ids: dict) -> None:
    person = visit(ANONYMOUS)
    page = person.page
    person.goto(PAGES["training.enrol"].path.format(**ids))
    person.send_form()
    person.assert_errors()

    def details(form) -> None:
        for field, value in (
            ("#first_name", "Eero"),
            ("#last_name", "Esimerkki"),
            ("#email", "eero@example.com"),
            ("#organisation", "Testivirasto"),
            ("#billing_address", "Testivirasto\nPL 1\n00100 Helsinki"),
        ):
            if form.locator(field).count():
                form.locator(field).fill(value)
        radios = form.locator("input[name=payment_method]")
        if radios.count():
            radios.first.check()

    person.send_form(details)
    assert urlsplit(page.url).path == "/training/enrolled", page.url


def _punchout_journey(visit: Visit, ids: dict) -> None:
    buyer = visit(BUYER)
    buyer.goto("/punchout/cart")  # no punchout: gone
    buyer.goto("/punchout/oci?USERNAME=handi-oci&PASSWORD=wrong")  # refused
    path = PAGES["punchout.start"].path.format(**ids)
    buyer.goto(path)  # opens the punchout
    buyer.goto("/punchout/cart")
    buyer.goto(path)  # used already: gone
    secret = ids["punchout_secret"]
    hook = "http://127.0.0.1:9/hook"
    buyer.goto(f"/punchout/oci?USERNAME=handi-oci&PASSWORD={secret}&HOOK_URL={hook}")


def journeys(app, visit, ids: dict, secret: str) -> None:
    """Walk the journeys (PunchOut, enrolment, payments, second factor), then add the
    records they made to `ids`, for the pages of a record."""
    _punchout_journey(visit, ids)
    _enrol_journey(visit, ids)
    _payment_journeys(visit, ids)
    _two_factor_journey(visit, secret)
    with app.app_context():
        from models.payments import OnlinePayment
        from models.punchout import PunchoutLog

        ids["payment"] = db.session.scalars(sa.select(OnlinePayment.order_number)).first()
        ids["punchout_log"] = db.session.scalars(sa.select(PunchoutLog.id)).first()


def _endpoints(app, paths: list[str]) -> set[str]:
    """The routes of the pages at these addresses."""
    from werkzeug.exceptions import HTTPException

    adapter = app.url_map.bind("127.0.0.1")
    found = set()
    for path in paths:
        for method in ("GET", "POST"):  # a form's page may be at its action's address
            try:
                found.add(adapter.match(urlsplit(path).path, method=method)[0])
                break
            except HTTPException:
                continue
    return found


@pytest.mark.browser
# Half the languages are marked for CI's PostgreSQL pass, so that the two passes, run
# side by side, take about as long (the pages do not depend on the database).
@pytest.mark.parametrize(
    "language",
    [
        pytest.param(language, marks=pytest.mark.postgres_pass) if i % 2 else language
        for i, language in enumerate(LANGUAGES)
    ],
)
def test_every_page_has_no_axe_violations(
    language, app, runner, chromium, live_server, served_pages, make_org, make_user
):
    _accounts(make_org, make_user)
    give_number(app, TIINA, "100102")
    visit = Visit(chromium, live_server, served_pages, language)
    loop = [e for e in PAGES if e not in JOURNEY_PAGES]
    failures: list[str] = []
    try:
        # The empty state: the pages without a record, on a database of accounts only.
        for endpoint in loop:
            spec = PAGES[endpoint]
            if "{" not in spec.path:
                visit(spec.role).goto(spec.path)
        _seed(runner)
        secret = _two_factor_on(app, MATTI)
        ids = _demo_ids(app)
        journeys(app, visit, ids, secret)
        # A record's pages, and every page in its error state; all of them, then the
        # failures together.
        for endpoint in loop:
            try:
                visit.page(endpoint, ids)
            except (AssertionError, PlaywrightError) as failure:
                failures.append(f"{endpoint}: {failure}")
    finally:
        checked = visit.close()
    assert not failures, "\n\n".join(failures)
    assert not PAGES.keys() - _endpoints(app, checked), "pages not reached"
    unchecked = [p for p in served_pages if p not in checked]
    assert not unchecked, f"pages shown but not checked by axe: {unchecked}"
