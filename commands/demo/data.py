"""The demo data of `flask seed-demo`: organisations, departments and accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from extensions import db
from models.auth import Department, Organisation, Role, User
from models.types import utcnow
from services import accounts
from services.timezones import HELSINKI

OPERATOR = "Palveluportaali Oy"


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    name: str
    role: Role
    organisation: str
    language: str
    note: str
    invoicing_number: str | None = None
    username: str | None = None
    departments: tuple[str, ...] = ()  # granted departments; none: the whole organisation


ORGANISATIONS = {
    OPERATOR: {"country": "FI", "language": "fi", "business_id": "1234561-2"},
    # A Finnish state accounting unit (kirjanpitoyksikkö) that orders courses via Handi.
    "Testivirasto": {"country": "FI", "language": "fi", "business_id": "1234562-0"},
    # The Norwegian customer company of the customer-portal seed.
    "Demokunde_Test": {"country": "NO", "language": "nb", "business_id": "987654325"},
    # A sole trader who uses the invoicing service.
    "Toiminimi Testinen": {"country": "FI", "language": "fi", "business_id": "1234563-9"},
}

DEPARTMENTS = {"Demokunde_Test": ["Testbedriften AS", "Bergen TEST"]}

ACCOUNTS = [
    DemoAccount(
        "admin@example.com", "demo-admin-2026", "Aino Admin", Role.ADMIN, OPERATOR, "fi", "admin"
    ),
    DemoAccount(
        "kasittelija@example.com",
        "demo-staff-2026",
        "Kaisa Käsittelijä",
        Role.STAFF,
        OPERATOR,
        "fi",
        "staff: customer service",
    ),
    DemoAccount(
        "kari.nordmann@example.com",
        "demo-staff-2026",
        "Kari Nordmann",
        Role.STAFF,
        OPERATOR,
        "nb",
        "staff: account manager (kundeansvarlig) of Demokunde_Test",
    ),
    DemoAccount(
        "hanne.helse@example.com",
        "demo-helse-2026",
        "Hanne Helse",
        Role.HEALTH,
        OPERATOR,
        "nb",
        "health personnel: reads the employees' self-declarations",
    ),
    DemoAccount(
        "maija.meikalainen@virasto.example.com",
        "demo-virasto-2026",
        "Maija Meikäläinen",
        Role.CUSTOMER,
        "Testivirasto",
        "fi",
        "customer: Testivirasto (state accounting unit)",
    ),
    DemoAccount(
        "matti.virtanen@virasto.example.com",
        "demo-virasto-2026",
        "Matti Virtanen",
        Role.CUSTOMER,
        "Testivirasto",
        "fi",
        "customer: Testivirasto",
    ),
    DemoAccount(
        "test.bruker@demokunde.example.com",
        "demo-kunde-2026",
        "Test Bruker",
        Role.CUSTOMER,
        "Demokunde_Test",
        "nb",
        "customer: Demokunde_Test (Norway), the whole company",
        username="Tester",
    ),
    DemoAccount(
        "bergen.bruker@demokunde.example.com",
        "demo-kunde-2026",
        "Bergen Bruker",
        Role.CUSTOMER,
        "Demokunde_Test",
        "nb",
        "customer: Demokunde_Test, only the department Bergen TEST",
        username="Bergen",
        departments=("Bergen TEST",),
    ),
    DemoAccount(
        "tiina.testinen@toiminimi.example.com",
        "demo-lasku-2026",
        "Tiina Testinen",
        Role.CUSTOMER,
        "Toiminimi Testinen",
        "fi",
        "customer: invoicing-service user 100102",
        invoicing_number="100102",
    ),
]

ACCOUNT_MANAGERS = {"Demokunde_Test": "kari.nordmann@example.com"}


def seed() -> list[DemoAccount]:
    """Create whatever demo data is missing; running it twice changes nothing."""
    orgs = {
        name: accounts.get_or_create_organisation(name, **values)
        for name, values in ORGANISATIONS.items()
    }
    for org_name, departments in DEPARTMENTS.items():
        org = orgs[org_name]
        existing = {d.name for d in org.departments}
        for name in departments:
            if name not in existing:
                db.session.add(Department(organisation=org, name=name))
    for account in ACCOUNTS:
        user = accounts.user_by_email(account.email)
        if user is None:
            user = accounts.create_user(
                account.email,
                account.password,
                name=account.name,
                role=account.role,
                organisation=orgs[account.organisation],
                language=account.language,
            )
        if account.username and user.username is None:
            user.username = account.username
        if account.departments and not user.granted_departments:
            db.session.flush()
            user.granted_departments = [
                d for d in orgs[account.organisation].departments if d.name in account.departments
            ]
        if account.invoicing_number and user.invoicing_number is None:
            taken = db.session.scalar(
                sa.select(User.id).where(User.invoicing_number == account.invoicing_number)
            )
            if taken is None:
                user.invoicing_number = account.invoicing_number
    db.session.flush()
    for org_name, email in ACCOUNT_MANAGERS.items():
        if orgs[org_name].account_manager is None:
            orgs[org_name].account_manager = accounts.user_by_email(email)
    db.session.commit()
    seed_courses()
    seed_course_organisers()
    seed_punchout_buyers()
    seed_tickets()
    seed_portal()
    seed_invoicing()
    return ACCOUNTS


# (title, topic, days from today, start hour, hours, place or None for remote, price,
#  seats, seats taken, waiting, enrolment deadline in days before the start)
# fmt: off
COURSES = [
    ("Julkiset hankinnat käytännössä", "Hankinnat", 10, 9, 6, "Helsinki, Opastinsilta 12", "290.00", 24, 22, 0, 3),
    ("Hankintalain perusteet", "Hankinnat", 45, 9, 4, None, "190.00", 100, 31, 0, 5),
    ("Valtion talousarvio ja kirjanpito", "Talous ja hallinto", 18, 9, 7, "Helsinki, Opastinsilta 12", "340.00", 20, 20, 2, 5),
    ("Matka- ja kululaskut Handissa", "Talous ja hallinto", 4, 13, 3, None, "0.00", 60, 12, 0, -1),
    ("Esihenkilön työoikeus", "Esihenkilötyö", 30, 9, 6, "Tampere, Hatanpään valtatie 24", "390.00", 16, 15, 0, 7),
    ("Valmentava johtaminen", "Esihenkilötyö", 60, 9, 31, "Helsinki, Opastinsilta 12", "690.00", 14, 3, 0, 14),
    ("Tietosuoja virkatyössä", "Tietosuoja", 21, 10, 3, None, "150.00", 200, 88, 0, 2),
    ("Saavutettavat asiakirjat", "Digitaidot", 14, 9, 4, None, "120.00", 40, 37, 0, 3),
    ("Excel talousammattilaisille", "Digitaidot", 35, 9, 6, "Joensuu, Rantakatu 16", "260.00", 12, 6, 0, 7),
    ("Selkeä virkakieli", "Viestintä", 25, 12, 3, None, "90.00", 80, 19, 0, 2),
    ("Kriisiviestintä", "Viestintä", 75, 9, 6, "Helsinki, Opastinsilta 12", "320.00", 18, 2, 0, 10),
    ("Sähköinen arkistointi", "Talous ja hallinto", 90, 9, 5, None, "140.00", 50, 0, 0, 7),
]
# fmt: on

FIRST_NAMES = ["Aino", "Eero", "Helmi", "Juha", "Kaisa", "Lauri", "Minna", "Olli", "Pia", "Sami"]
LAST_NAMES = ["Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Koskinen"]


def seed_courses(now: datetime | None = None) -> None:
    """A dozen courses over the coming months: some nearly full, one full with a queue,
    one past its enrolment deadline."""
    from models.training import Course, Enrolment, EnrolmentEvent, EnrolmentStatus
    from services import codes
    from services.timezones import local_to_utc

    now = now or utcnow()
    today = now.astimezone(HELSINKI).date()
    taken = set(db.session.scalars(sa.select(Enrolment.service_code)))

    def new_code() -> str:
        code = codes.generate(lambda c: c in taken)
        taken.add(code)
        return code

    for index, row in enumerate(COURSES):
        title, topic, days, hour, hours, place, price, seats, booked, waiting, deadline = row
        if db.session.scalar(sa.select(Course.id).where(Course.title == title)):
            continue
        start = local_to_utc(datetime.combine(today + timedelta(days=days), time(hour)))
        course = Course(
            title=title,
            topic=topic,
            description=f"{title}: {topic.lower()}. Kouluttajana toimii alan asiantuntija.",
            starts_at=start,
            ends_at=start + timedelta(hours=hours),
            place=place or "Teams",
            remote=place is None,
            price=Decimal(price),
            capacity=seats,
            seats_taken=booked,
            enrolment_deadline=start - timedelta(days=deadline)
            if deadline > 0
            else now - timedelta(days=1),
            cancellation_deadline=start - timedelta(days=max(deadline, 1)),
            is_open=True,
        )
        db.session.add(course)
        for n in range(booked + waiting):
            first = FIRST_NAMES[(n + index) % len(FIRST_NAMES)]
            last = LAST_NAMES[(n * 3 + index) % len(LAST_NAMES)]
            status = EnrolmentStatus.BINDING if n < booked else EnrolmentStatus.WAITING
            enrolment = Enrolment(
                course=course,
                service_code=new_code(),
                status=status,
                first_name=first,
                last_name=last,
                email=f"{first}.{last}.{n}@virasto.example.com".lower().replace("ä", "a"),
                organisation="Testivirasto",
                created_at=now - timedelta(days=30) + timedelta(minutes=n),
            )
            enrolment.events.append(EnrolmentEvent(actor="demo", to_status=status))
            db.session.add(enrolment)
    db.session.commit()


# A fictional organiser selling one of the courses under a merchant ID of its own (one of
# those the payment sandbox accepts), with its course's title.
COURSE_ORGANISER = ("Aluehallinnon koulutuskeskus", "13467", "1")
ORGANISED_COURSE = "Excel talousammattilaisille"


def seed_course_organisers() -> None:
    """The demo's course organiser, and its course: added once, with the organiser (a
    course staff have since given back to the institute stays the institute's)."""
    from models.training import Course, CourseOrganiser

    name, merchant_id, commission_class = COURSE_ORGANISER
    if db.session.scalar(
        sa.select(CourseOrganiser.id).where(CourseOrganiser.merchant_id == merchant_id)
    ):
        return
    organiser = CourseOrganiser(
        name=name, merchant_id=merchant_id, commission_class=commission_class
    )
    db.session.add(organiser)
    course = db.session.scalar(sa.select(Course).where(Course.title == ORGANISED_COURSE))
    if course is not None and course.organiser_id is None:
        course.organiser = organiser
    db.session.commit()


def seed_punchout_buyers() -> None:
    """The local Handi of the sandbox (cXML), and an SAP OCI buyer with the same secret."""
    from flask import current_app

    from models.punchout import PunchoutBuyer
    from services import punchout

    if not current_app.config["PUNCHOUT_SANDBOX"]:
        return
    secret = current_app.config["PUNCHOUT_SANDBOX_SECRET"]
    org = organisation("Testivirasto")
    for name, domain, identity in (
        ("Handi (hiekkalaatikko)", "networkid", "handi-sandbox"),
        ("SAP OCI (hiekkalaatikko)", punchout.OCI_DOMAIN, "handi-oci"),
    ):
        exists = db.session.scalar(
            sa.select(PunchoutBuyer.id).where(
                PunchoutBuyer.domain == domain, PunchoutBuyer.identity == identity
            )
        )
        if exists is None:
            punchout.add_buyer(name, domain, identity, secret, org.id if org else None)
    db.session.commit()


def _demo_team_members() -> None:
    """The demo handler works in the customer service and maintains the training
    calendar, so that their queue shows what they work on next."""
    from models.support import Application, Team, TeamKind

    kaisa = accounts.user_by_email("kasittelija@example.com")
    if kaisa is None:
        return
    training = sa.select(Application.id).where(Application.part == "training")
    for team in db.session.scalars(
        sa.select(Team).where(
            sa.or_(Team.kind == TeamKind.CUSTOMER_SERVICE, Team.application_id.in_(training))
        )
    ):
        if kaisa not in team.members:
            team.members.append(kaisa)


def seed_tickets() -> None:
    """The contact form's applications, and two tickets of Testivirasto: one new, and one
    that customer service has answered."""
    from models.support import Application, Ticket, TicketStatus, TicketType, Urgency
    from services import support, support_canned

    support.ensure_default_applications()
    support_canned.ensure_default_canned_replies()
    db.session.flush()
    _demo_team_members()
    org = organisation("Testivirasto")
    if org is None or db.session.scalar(
        sa.select(Ticket.id).where(Ticket.organisation_id == org.id).limit(1)
    ):
        db.session.commit()
        return
    applications = {a.part: a for a in db.session.scalars(sa.select(Application))}
    maija = accounts.user_by_email("maija.meikalainen@virasto.example.com")
    kaisa = accounts.user_by_email("kasittelija@example.com")
    first = support.Contact(
        type=TicketType.MALFUNCTION,
        urgency=Urgency.FASTER,
        email=maija.email,
        application=applications["training"],
        sub_application=applications["training"].sub_applications[0],
        target_reference=None,
        message="Osallistujalistan raportti jää latautumaan, kun valitsen kurssin "
        "Julkiset hankinnat käytännössä. Tapahtui tänään klo 9.15 Chromella.",
    )
    support.create_ticket(maija, first, [], "fi")
    second = support.Contact(
        type=TicketType.BILLING,
        urgency=Urgency.NORMAL,
        email=maija.email,
        application=applications["invoices"],
        sub_application=None,
        target_reference="100102-15",
        message="Laskulla on väärä laskutusviite. Voitteko korjata sen muotoon HANKINTA-42?",
    )
    answered = support.create_ticket(maija, second, [], "fi")
    support.reply(
        answered,
        kaisa,
        "Kiitos viestistä! Korjaamme viitteen. Tarvitsemmeko uuden laskun vai riittääkö hyvitys?",
        TicketStatus.WAITING,
        [],
    )
    db.session.commit()


# The seed's examples: employees, and the five invoices with their numbers, dates and sums.
EMPLOYEES = [
    # first, last, email, department, mobile, birth date, gender, fødselsnummer's date digits
    ("Dolly", "Duck", "Dolly.Duck@testeren.no", None, None, None, None, None),
    ("Donald", "Duck", "Donald.Duck@testeren.no", None, "41244845", "2023-05-12", None, "120523"),
    ("test", "yoyo", "test.yoyo@testeren.no", None, None, None, None, None),
    (
        "Donald",
        "Duck",
        "Duck@testikkeibruk.no",
        "Testbedriften AS",
        "12345678",
        "2018-09-13",
        "mann",
        None,
    ),
]
INVOICES = [
    ("2017-118350", "2017-12-31", "2018-01-20", "Testbedriften AS", "1500", "1500"),
    ("2017-118352", "2017-12-19", "2018-01-08", "Bergen TEST", "3000", "3000"),
    ("2017-118359", "2017-12-31", "2018-01-20", "Bergen TEST", "3000", "3000"),
    ("2018-118371", "2018-02-28", "2018-03-20", "Bergen TEST", "1000", "1000"),
    ("2018-118376", "2018-03-06", "2018-03-26", "Testbedriften AS", "5", "5"),
]


def _norwegian_phone(number: str) -> str:
    import phonenumbers

    return phonenumbers.format_number(
        phonenumbers.parse(number, "NO"), phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )


def _demo_national_id(date_digits: str) -> str:
    """A valid fødselsnummer for the date (individual digits 500+: born in the 2000s)."""
    from stdnum.no import fodselsnummer

    for individual in range(500, 1000):
        base = f"{date_digits}{individual:03d}"
        first = fodselsnummer.calc_check_digit1(base)
        number = base + first + fodselsnummer.calc_check_digit2(base + first)
        if fodselsnummer.is_valid(number):
            return number
    raise ValueError(date_digits)


def seed_portal() -> None:
    """Demokunde_Test's orders (307390 of the seed), employees, invoices and a health
    check with free times."""
    from datetime import date

    from models.counters import Counter
    from models.portal import (
        Booking,
        BookingSlot,
        CustomerInvoice,
        Employee,
        Gender,
        OrderEvent,
        OrderStatus,
        PortalOrder,
        ProductGroup,
    )
    from services import portal
    from services.timezones import local_to_utc

    portal.ensure_product_groups()
    org = organisation("Demokunde_Test")
    if org is None or db.session.scalar(
        sa.select(PortalOrder.id).where(PortalOrder.organisation_id == org.id).limit(1)
    ):
        db.session.commit()
        return
    departments = {d.name: d for d in org.departments}
    user = accounts.user_by_email("test.bruker@demokunde.example.com")
    oslo = portal.OSLO
    order = PortalOrder(
        number=307390,
        organisation_id=org.id,
        status=OrderStatus.RECEIVED,
        desired_delivery="Støttesamtaler",
        quantity="4",
        contact="Ola Olsen - tlf 1243254",
        invoice_reference="Merkes med 123",
        location="Oslo",
        description="så raskt som mulig",
        ordered_by_id=user.id if user else None,
        ordered_at=local_to_utc(datetime(2023, 4, 17, 10, 12), oslo),
    )
    order.events.append(
        OrderEvent(
            actor="test.bruker@demokunde.example.com",
            to_status=OrderStatus.RECEIVED,
            at=order.ordered_at,
        )
    )
    db.session.add(order)
    groups = {g.name: g for g in db.session.scalars(sa.select(ProductGroup))}
    check = PortalOrder(
        number=307391,
        organisation_id=org.id,
        department=departments.get("Testbedriften AS"),
        product_group=groups.get("Helsekontroller"),
        status=OrderStatus.PLANNED,
        desired_delivery="Helsekontroll for ansatte",
        quantity="12 ansatte",
        contact="Kari Hansen - tlf 41234567",
        invoice_reference="HMS-2026",
        location="Testbedriften AS, Oslo",
        description="Årlig helsekontroll med blodprøver og syn.",
        ordered_by_id=user.id if user else None,
        ordered_at=utcnow() - timedelta(days=20),
    )
    check.events.append(
        OrderEvent(
            actor="test.bruker@demokunde.example.com",
            to_status=OrderStatus.RECEIVED,
            at=check.ordered_at,
        )
    )
    check.events.append(
        OrderEvent(
            actor="kari.nordmann@example.com",
            from_status=OrderStatus.RECEIVED,
            to_status=OrderStatus.PLANNED,
        )
    )
    db.session.add(check)
    counter = db.session.get(Counter, "portal-order")
    if counter is None:
        db.session.add(Counter(key="portal-order", value=307391))
    else:
        counter.value = max(counter.value, 307391)
    db.session.flush()
    actor = "demo"
    for first, last, email, dep, mobile, born, gender, id_digits in EMPLOYEES:
        employee = Employee(organisation_id=org.id, active=True)
        values = {
            "first_name": first,
            "last_name": last,
            "email": email,
            "mobile": _norwegian_phone(mobile) if mobile else None,
            "birth_date": date.fromisoformat(born) if born else None,
            "gender": Gender(gender) if gender else None,
            "department_id": departments[dep].id if dep else None,
        }
        number = _demo_national_id(id_digits) if id_digits else None
        portal.save_employee(employee, values, number, actor)
    for number, issued, due, payer, total, outstanding in INVOICES:
        db.session.add(
            CustomerInvoice(
                number=number,
                organisation_id=org.id,
                department_id=departments[payer].id if payer in departments else None,
                payer=payer,
                invoice_date=date.fromisoformat(issued),
                due_date=date.fromisoformat(due),
                total=Decimal(total),
                outstanding=Decimal(outstanding),
                lines=[
                    {"description": "Bedriftshelsetjeneste", "quantity": "1", "unit_price": total}
                ],
            )
        )
    today = portal.today()
    db.session.add(
        CustomerInvoice(
            number=f"{today.year}-118501",
            organisation_id=org.id,
            department_id=departments["Testbedriften AS"].id,
            order_id=check.id,
            payer="Testbedriften AS",
            invoice_date=today - timedelta(days=5),
            due_date=today + timedelta(days=15),
            total=Decimal("4500.00"),
            outstanding=Decimal("4500.00"),
            lines=[
                {"description": "Helsekontroll, forskudd", "quantity": "12", "unit_price": "375.00"}
            ],
        )
    )
    start_day = today + timedelta(days=21)
    booking = Booking(
        organisation_id=org.id,
        order_id=check.id,
        title="Helsekontroll",
        place="Helsestasjonen, Storgata 10, 0155 Oslo",
        what_to_bring="Legitimasjon, og briller eller linser om du bruker det. Kom fastende "
        "(ingen mat de siste 8 timene) for blodprøven.",
        deadline=local_to_utc(datetime.combine(start_day - timedelta(days=2), time(16)), oslo),
    )
    for day in range(2):
        for hour in (8, 9, 10, 11):
            start = local_to_utc(
                datetime.combine(start_day + timedelta(days=day), time(hour)), oslo
            )
            booking.slots.append(
                BookingSlot(
                    starts_at=start, ends_at=start + timedelta(minutes=45), capacity=2, taken=0
                )
            )
    db.session.add(booking)
    db.session.commit()


def organisation(name: str) -> Organisation | None:
    return db.session.scalar(sa.select(Organisation).where(Organisation.name == name))


# Tiina's invoices (user 100102): one in each state the desk meets.
# (payer, delivery method, days since sent (None: a draft), state, lines, email, address)
# fmt: off
DEMO_INVOICES = [
    ("Rakennus Virtanen Oy", "sahkoposti", 0, "lahettamaton",
     [("Kirjanpito, marraskuu", "6", "h", "55.00", "25.5")], "reskontra@virtanen.example.com"),
    ("Kahvila Kulma", "posti", 3, "lahettamaton",
     [("Logon suunnittelu", "1", "erä", "480.00", "25.5"),
      ("Käyntikortit 200 kpl", "1", "erä", "65.00", "25.5")], ""),
    ("Oy Esimerkki Ab", "verkkolasku", 1, "korjattava",
     [("Konsultointi", "12", "h", "95.00", "25.5")], ""),
    ("Kirjakauppa Lukunurkka", "sahkoposti", 40, "avoin",
     [("Käännöstyö", "3500", "sana", "0.12", "25.5"),
      ("Kirja: Selkeä virkakieli", "2", "kpl", "30.00", "13.5")], "tilaukset@lukunurkka.example.com"),
    ("Taloyhtiö Koivukuja", "posti", 25, "maksettu",
     [("Isännöintiraportti", "1", "kpl", "250.00", "25.5")], ""),
    ("Jokinen Tmi", "sahkoposti", None, "luonnos",
     [("Verkkosivujen päivitys", "4", "h", "60.00", "25.5")], "jokinen@example.com"),
]
# fmt: on


def seed_invoicing() -> None:
    """Tiina Testinen's invoices: on the desk (due today and late), one waiting for her
    correction, an overdue open receivable, a paid one and a draft."""
    from models.invoicing import (
        DeliveryMethod,
        EventKind,
        InvoiceStatus,
        SalesInvoice,
        SalesInvoiceEvent,
        SalesInvoicePayment,
    )
    from services.invoicing import desk as invoicing
    from services.invoicing import reference

    user = accounts.user_by_email("tiina.testinen@toiminimi.example.com")
    staff = accounts.user_by_email("kasittelija@example.com")
    if (
        user is None
        or user.invoicing_number is None
        or db.session.scalar(
            sa.select(SalesInvoice.id).where(SalesInvoice.user_id == user.id).limit(1)
        )
    ):
        db.session.commit()
        return
    now = utcnow()
    from services.invoicing import payouts

    if not user.payout_iban:  # the account her payouts go to
        user.payout_iban, user.payout_name = "FI5810171000000122", user.name
    for payer, method, days, status, lines, email in DEMO_INVOICES:
        sent_at = now - timedelta(days=days) if days is not None else None
        day = (sent_at or now).astimezone(HELSINKI).date()
        invoice = invoicing.new_invoice(user)
        invoice.invoice_date, invoice.due_date = day, day + timedelta(days=14)
        invoice.delivery_method = DeliveryMethod(method)
        invoice.payer_name, invoice.payer_search = payer, payer.lower()
        invoice.payer_street, invoice.payer_postcode, invoice.payer_city = (
            "Esimerkkikatu 5",
            "00100",
            "Helsinki",
        )
        invoice.payer_email = email
        if method == "verkkolasku":
            invoice.payer_business_id = "1234567-1"
            invoice.payer_einvoice_address, invoice.payer_operator = "003712345671", "003721291126"
        invoicing.set_lines(
            invoice,
            [
                invoicing.LineData(text, Decimal(qty), unit, Decimal(price), Decimal(rate))
                for text, qty, unit, price, rate in lines
            ],
        )
        db.session.add(invoice)
        invoice.events.append(
            SalesInvoiceEvent(kind=EventKind.CREATED, actor=user, at=sent_at or now)
        )
        if sent_at is None:
            continue
        invoice.number = invoicing.next_invoice_number(user.invoicing_number)
        invoice.reference = reference.finnish(invoice.number)
        payouts.fix_fee(invoice)
        invoice.sent_at, invoice.round = sent_at, 1
        invoice.events.append(
            SalesInvoiceEvent(kind=EventKind.SUBMITTED, actor=user, round=1, at=sent_at)
        )
        invoice.status = InvoiceStatus(status)
        if invoice.status == InvoiceStatus.CORRECTION:
            invoice.question = "Laskulta puuttuu tilausnumero. Lisäisitkö sen lisätietoihin?"
            invoice.events.append(SalesInvoiceEvent(
                kind=EventKind.CORRECTION, actor=staff, round=1, text=invoice.question, at=now
            ))  # fmt: skip
        if invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.PAID):
            invoice.forwarded_at = invoice.finalised_at = sent_at + timedelta(hours=2)
            invoice.forward_receipt = "demo"
            for kind in (EventKind.FORWARDED, EventKind.FINALISED):
                invoice.events.append(SalesInvoiceEvent(
                    kind=kind, actor=staff, round=1, at=invoice.forwarded_at
                ))  # fmt: skip
        if invoice.status == InvoiceStatus.PAID:
            invoice.paid_amount = invoice.gross
            invoice.payments.append(
                SalesInvoicePayment(paid_on=day + timedelta(days=10), amount=invoice.gross,
                                    recorded_by=staff)
            )  # fmt: skip
            payouts.refresh(invoice)  # owed to her in the next payout batch
    # The bank's file of the day, imported as staff would: a payment without a reference
    # waits on the desk's bank page for staff to book or return.
    from flask import current_app

    from sandboxes.bank.views import camt054
    from services.invoicing import bank

    db.session.flush()
    iban = "".join(current_app.config["INVOICE_IBAN"].split())
    unknown = [(Decimal("48.00"), "", "Tuntematon Maksaja Oy")]
    bank.import_file(camt054(unknown, iban, now.astimezone()), "camt054-demo.xml", staff)
    db.session.commit()


def open_invoice_payment_link() -> str | None:
    """The payment link of the first open demo invoice, to try online payment at once."""
    from models.invoicing import InvoiceStatus, SalesInvoice
    from services.invoicing import desk as invoicing

    invoice = db.session.scalars(
        sa.select(SalesInvoice)
        .where(SalesInvoice.status == InvoiceStatus.OPEN, SalesInvoice.paid_amount == 0)
        .order_by(SalesInvoice.id)
    ).first()
    return invoicing.payment_link(invoice) if invoice is not None else None
