"""The benchmark's data: invoicing users and their invoices, courses and enrolments,
tickets, and customer-portal companies, generated with bulk SQL into a migrated database.

Every count scales with the number of invoicing users (500 invoices each, five of them on
the desk), so a data set 100 times bigger has the same shape: user 100102 has the same
500 invoices in each, and the desk holds 1 % of the invoices. The values keep the models'
rules: 6-digit invoicing numbers, invoice numbers made of the user's number and a running
number (with counter rows to continue them), references with the Finnish check digit,
service codes of the code alphabet without banned words, ticket numbers running per year,
statuses spread over five years. Left out, as no measured page reads them: invoice and
enrolment histories, payment rows, bookings, and employees' identity numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bench.sqlgen import (
    Sql,
    among,
    finnish_check_digit,
    insert_select,
    next_id,
    quote,
    table,
    when,
)
from models.types import search_key

# Bump when the generated data changes: cached data sets are made again.
GENERATOR_VERSION = 4

PASSWORD = "bench-password-2026"
STAFF_EMAIL = "kasittelija@bench.example.com"
CUSTOMER_EMAIL = "asiakas@bench.example.com"  # sends the contact form
FIRST_INVOICING_NUMBER = 100100  # so that every data set has user 100102 (the seed's)
SEARCH_PREFIX = "100102"
INVOICES_PER_USER = 500
BENCH_COURSE = "Avoin verkkokurssi (suorituskykytesti)"  # takes the enrolments posted
ENROLMENTS_PER_COURSE = 50
DAY = 86_400
YEAR = 365 * DAY


@dataclass(frozen=True)
class Shape:
    """The size of a data set."""

    name: str
    invoicing_users: int
    enrolments: int
    tickets: int
    companies: tuple[int, ...]  # the customer-portal companies: rows in each list

    @property
    def invoices(self) -> int:
        return self.invoicing_users * INVOICES_PER_USER

    @property
    def desk(self) -> int:
        return self.invoicing_users * (INVOICES_PER_USER // 100)


def portal_email(rows: int) -> str:
    """The customer user of the portal company with `rows` rows in each list."""
    return f"kunde.{rows}@bench.example.no"


# (title, topic) of the calendar's courses
COURSES = (
    ("Julkiset hankinnat käytännössä", "Hankinnat"),
    ("Hankintalain perusteet", "Hankinnat"),
    ("Valtion talousarvio ja kirjanpito", "Talous ja hallinto"),
    ("Matka- ja kululaskut Handissa", "Talous ja hallinto"),
    ("Esihenkilön työoikeus", "Esihenkilötyö"),
    ("Valmentava johtaminen", "Esihenkilötyö"),
    ("Tietosuoja virkatyössä", "Tietosuoja"),
    ("Saavutettavat asiakirjat", "Digitaidot"),
    ("Excel talousammattilaisille", "Digitaidot"),
    ("Selkeä virkakieli", "Viestintä"),
    ("Kriisiviestintä", "Viestintä"),
)
PLACES = ("Helsinki, Opastinsilta 12", "Tampere, Hatanpään valtatie 24", "Joensuu, Rantakatu 16")
FIRST_NAMES = ("Aino", "Eero", "Helmi", "Juha", "Kaisa", "Lauri", "Minna", "Olli", "Pia", "Sami")
LAST_NAMES = ("Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Koskinen")
AGENCIES = ("Verohallinto", "Tilastokeskus", "Maanmittauslaitos", "Opetushallitus", "Traficom")
PAYERS = (
    "Rakennus Virtanen Oy",
    "Kahvila Kulma",
    "Oy Esimerkki Ab",
    "Kirjakauppa Lukunurkka",
    "Taloyhtiö Koivukuja",
    "Jokinen Tmi",
    "Äänitys Äijälä Oy",
    "Metsänhoito Korpela",
    "Siivous Säihke Oy",
    "Öljyhuolto Österberg",
    "Konsultointi Laine Ky",
    "Puutarha Ruusu",
)
STREETS = ("Esimerkkikatu 5", "Hämeenkatu 10", "Kauppakatu 3 B 12", "Rantatie 7")
POSTAL = (("00100", "Helsinki"), ("33100", "Tampere"), ("80100", "Joensuu"), ("20100", "Turku"))
LINES = ("Kirjanpito", "Konsultointi", "Käännöstyö", "Logon suunnittelu", "Isännöinti")
MESSAGES = (
    "Osallistujalistan raportti jää latautumaan, kun valitsen kurssin.",
    "Laskulla on väärä laskutusviite. Voitteko korjata sen?",
    "Miten saan lisättyä uuden käyttäjän organisaatiollemme?",
    "Toivoisimme raporttiin myös osastokohtaiset summat.",
)
NORWEGIAN_FIRST = ("Ola", "Kari", "Nils", "Ingrid", "Lars", "Sigrid", "Per", "Astrid", "Bjørn")
NORWEGIAN_LAST = ("Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen")
DEPARTMENTS = ("Oslo", "Bergen", "Trondheim", "Stavanger", "Tromsø", "Kristiansand")
SUB_DEPARTMENTS = ("Oslo sentrum", "Oslo vest")
DELIVERIES = ("Helsekontroll for ansatte", "Støttesamtaler", "Kurs i førstehjelp", "Ergonomi")
CITIES = ("Oslo", "Bergen", "Trondheim", "Stavanger")


def _choose(sql: Sql, values: tuple[str, ...] | list[str], index: str) -> str:
    return sql.choose([quote(value) for value in values], index)


def _person(sql: Sql, index: str, first: tuple[str, ...], last: tuple[str, ...]) -> str:
    """A person's name picked by an index (the last name varies slower than the first)."""
    return (
        f"{_choose(sql, first, index)} || ' ' || {_choose(sql, last, f'({index}) / {len(first)}')}"
    )


class Generator:
    """Fills one migrated, empty database with a data set of the given shape."""

    def __init__(self, conn: Connection, shape: Shape, anchor: int) -> None:
        self.conn = conn
        self.shape = shape
        self.sql = Sql(conn.dialect.name)
        self.anchor = anchor  # the generation time, epoch seconds: "now" in the data
        self.password_hash = _password_hash()

    def ago(self, seconds: str) -> str:
        return self.sql.ts(f"{self.anchor} - ({seconds})")

    def day_ago(self, seconds: str) -> str:
        return self.sql.day(f"{self.anchor} - ({seconds})")

    def insert_one(self, name: str, /, **values) -> int:
        """Insert one row through the model's table (its defaults apply); return its id."""
        result = self.conn.execute(sa.insert(table(name)).values(**values))
        return result.inserted_primary_key[0]

    def organisation(self, name: str, **values) -> int:
        return self.insert_one(
            "organisation", name=name, name_search=search_key(name, 200), **values
        )

    # ---------------------------------------------------------------- people

    def people(self) -> None:
        """The staff, the contact-form customer and the invoicing users with their firms."""
        from models.auth import Role

        operator = self.organisation("Palveluportaali Oy", country="FI")
        agency = self.organisation("Bench Virasto", country="FI")
        self.staff_id = self.insert_one(
            "user",
            email=STAFF_EMAIL,
            name="Kaisa Käsittelijä",
            password_hash=self.password_hash,
            role=Role.STAFF,
            organisation_id=operator,
        )
        self.insert_one(
            "user",
            email=CUSTOMER_EMAIL,
            name="Maija Meikäläinen",
            password_hash=self.password_hash,
            role=Role.CUSTOMER,
            organisation_id=agency,
        )
        sql, users = self.sql, self.shape.invoicing_users
        self.org_base = next_id(self.conn, "organisation")
        insert_select(
            self.conn,
            "organisation",
            {
                "id": f"{self.org_base} + i",
                "name": f"'Toiminimi Bench ' || {sql.zpad('i', 5)}",
                "name_search": f"'toiminimi bench ' || {sql.zpad('i', 5)}",
                "country": "'FI'",
                "language": "'fi'",
                "created_at": self.ago(f"6 * {YEAR}"),
            },
            sql.series(users),
        )
        self.user_base = next_id(self.conn, "user")
        insert_select(
            self.conn,
            "user",
            {
                "id": f"{self.user_base} + i",
                "email": self.invoicing_email("i"),
                "name": _person(sql, "i * 7", FIRST_NAMES, LAST_NAMES),
                "password_hash": quote(self.password_hash),
                "language": "'fi'",
                "role": quote(Role.CUSTOMER.value),
                "organisation_id": f"{self.org_base} + i",
                "invoicing_number": sql.text(f"{FIRST_INVOICING_NUMBER - 1} + i"),
                "session_token": sql.zpad("i", 32),
                "created_at": self.ago(f"6 * {YEAR}"),
            },
            sql.series(users),
        )

    def invoicing_email(self, index: str) -> str:
        return f"'lasku.' || {self.sql.zpad(index, 5)} || '@bench.example.com'"

    # ---------------------------------------------------------------- invoices

    def invoices(self) -> None:
        """500 invoices per user over five years: paid, open, a few forwarded or back for
        correction, five on the desk sent within two days, and five drafts."""
        from models.invoicing import DeliveryMethod, InvoiceStatus

        sql, per = self.sql, INVOICES_PER_USER
        drafts = desk = per // 100
        sent = per - drafts  # running numbers 1 … sent
        old = sent - desk  # sent before the desk's two days
        opened = per * 8 // 100
        status = (
            f"CASE WHEN j >= {sent} THEN '{InvoiceStatus.DRAFT}' "
            f"WHEN j >= {old} THEN '{InvoiceStatus.SUBMITTED}' "
            f"WHEN j = {old - 1} THEN '{InvoiceStatus.CORRECTION}' "
            f"WHEN j = {old - 2} AND k % 10 = 0 THEN '{InvoiceStatus.FORWARDED}' "
            f"WHEN j >= {old - 2 - opened} THEN '{InvoiceStatus.OPEN}' "
            f"ELSE '{InvoiceStatus.PAID}' END"
        )
        step = 5 * YEAR // old
        age = (  # seconds from the sending (a draft: its saving) to the data's "now"
            f"CASE WHEN j >= {sent} THEN ({per - 1} - j) * 21600 + (k * 37) % 3600 "
            f"WHEN j >= {old} THEN ({sent - 1} - j) * 28800 + (k * 7919) % 28800 "
            f"ELSE 2 * {DAY} + ({old - 1} - j) * {step} + (k * 7919) % {DAY} END"
        )
        digits = (
            "CASE WHEN j < 9 THEN 10 WHEN j < 99 THEN 100 WHEN j < 999 THEN 1000 ELSE 10000 END"
        )
        numbered = (
            f"(SELECT b.*, ({FIRST_INVOICING_NUMBER} + k) * ({digits}) + j + 1 AS n, "
            f"2000 + (i * 7919) % 250000 AS net, "
            f"CASE WHEN {self.anchor} - age < {_epoch(2024, 9, 1)} THEN 240 ELSE 255 END AS rate "
            f"FROM (SELECT a.*, {status} AS st, {age} AS age FROM "
            f"(SELECT i, (i - 1) / {per} AS k, (i - 1) % {per} AS j "
            f"FROM {sql.series(self.shape.invoices)}) AS a) AS b) AS c"
        )
        vat = "((net * rate + 500) / 1000)"
        methods = [
            m.value for m in (DeliveryMethod.POST, DeliveryMethod.EMAIL, DeliveryMethod.EINVOICE)
        ]
        method = _choose(sql, methods, "i")
        by_email = f"{method} = '{DeliveryMethod.EMAIL}'"
        by_einvoice = f"{method} = '{DeliveryMethod.EINVOICE}'"
        forwarded = among("st", [InvoiceStatus.FORWARDED, InvoiceStatus.OPEN, InvoiceStatus.PAID])
        finalised = among("st", [InvoiceStatus.OPEN, InvoiceStatus.PAID])
        is_draft = among("st", [InvoiceStatus.DRAFT])
        payer = "(i * 7919) % 10007"
        self.invoice_base = next_id(self.conn, "sales_invoice")
        insert_select(
            self.conn,
            "sales_invoice",
            {
                "id": f"{self.invoice_base} + i",
                "user_id": f"{self.user_base} + k + 1",
                "user_number": sql.text(f"{FIRST_INVOICING_NUMBER} + k"),
                "number": when(is_draft, "NULL", sql.text("n")),
                "reference": when(
                    is_draft, "NULL", f"{sql.text('n')} || {sql.text(finnish_check_digit('n'))}"
                ),
                "status": "st",
                "delivery_method": method,
                "payer_name": _choose(sql, PAYERS, payer),
                "payer_search": _choose(sql, [p.lower() for p in PAYERS], payer),
                "payer_business_id": when(by_einvoice, "'1234567-1'", "''"),
                "payer_street": _choose(sql, STREETS, "i / 3"),
                "payer_postcode": _choose(sql, [code for code, _ in POSTAL], "i / 5"),
                "payer_city": _choose(sql, [city for _, city in POSTAL], "i / 5"),
                "payer_email": when(
                    by_email,
                    f"'reskontra.' || {sql.text('i % 997')} || '@asiakas.example.com'",
                    "''",
                ),
                "payer_einvoice_address": when(by_einvoice, "'003712345671'", "''"),
                "payer_operator": when(by_einvoice, "'003721291126'", "''"),
                "invoice_date": self.day_ago("age"),
                "payment_days": "14",
                "due_date": self.day_ago(f"age - 14 * {DAY}"),
                "net": sql.money("net"),
                "vat": sql.money(vat),
                "gross": sql.money(f"net + {vat}"),
                "paid_amount": sql.money(
                    when(among("st", [InvoiceStatus.PAID]), f"net + {vat}", "0")
                ),
                "created_at": self.ago("age + 3600"),
                "updated_at": self.ago("age"),
                "sent_at": when(is_draft, "NULL", self.ago("age")),
                "forwarded_at": when(forwarded, self.ago("age - 7200")),
                "finalised_at": when(finalised, self.ago("age - 7200")),
                "forward_receipt": when(forwarded, f"'bench-' || {sql.text('i')}", "''"),
                "question": when(
                    among("st", [InvoiceStatus.CORRECTION]),
                    quote("Laskulta puuttuu tilausnumero. Lisäisitkö sen lisätietoihin?"),
                    "''",
                ),
                "round": when(is_draft, "0", "1"),
            },
            numbered,
        )
        line_base = next_id(self.conn, "sales_invoice_line")
        insert_select(
            self.conn,
            "sales_invoice_line",
            {
                "id": f"{line_base} + id - {self.invoice_base}",
                "invoice_id": "id",
                "position": "0",
                "description": _choose(sql, LINES, "id"),
                "quantity": "1",
                "unit": "'kpl'",
                "unit_price": "net",
                "vat_percent": "CASE WHEN invoice_date < '2024-09-01' THEN 24 ELSE 25.5 END",
            },
            "sales_invoice",
            where=f"id > {self.invoice_base}",
        )

    # ---------------------------------------------------------------- training

    def training(self) -> None:
        """Courses from four years back to four months ahead, 50 enrolments each (a few
        cancelled), and the open course with room for every enrolment the bench posts."""
        from models.training import SEAT_HOLDING, EnrolmentStatus
        from services import codes

        sql, count = self.sql, self.shape.enrolments
        courses = -(-count // ENROLMENTS_PER_COURSE)
        span = 4 * YEAR + 120 * DAY
        start = f"({self.anchor} - {4 * YEAR} + (c - 1) * {span // courses})"
        self.course_base = next_id(self.conn, "course")
        insert_select(
            self.conn,
            "course",
            {
                "id": f"{self.course_base} + c",
                "title": _choose(sql, [title for title, _ in COURSES], "c"),
                "description": f"{_choose(sql, [t for t, _ in COURSES], 'c')} || "
                "': kouluttajana toimii alan asiantuntija.'",
                "topic": _choose(sql, [topic for _, topic in COURSES], "c"),
                "starts_at": sql.ts(start),
                "ends_at": sql.ts(f"{start} + 6 * 3600"),
                "place": when("c % 3 = 0", "'Teams'", _choose(sql, PLACES, "c")),
                "remote": "(c % 3 = 0)",
                "price": sql.choose(["0", "120", "190", "290", "390"], "c"),
                "capacity": "60",
                "seats_taken": "0",  # counted below from the enrolments
                "enrolment_deadline": sql.ts(f"{start} - 3 * {DAY}"),
                "cancellation_deadline": sql.ts(f"{start} - 7 * {DAY}"),
                "is_open": "(1 = 1)",
                "created_at": sql.ts(f"{start} - 90 * {DAY}"),
            },
            f"(SELECT i AS c FROM {sql.series(courses)}) AS s",
        )
        alphabet, length = codes.ALPHABET, codes.LENGTH
        code_space = len(alphabet) ** length
        # A bijection of the running number onto the code space: unique, random-looking.
        scrambled = f"((i * 48271 + 1234567) % {code_space})"
        code = " || ".join(
            sql.pick(alphabet, f"(x / {len(alphabet) ** p}) % {len(alphabet)}")
            for p in range(length)
        )
        per = ENROLMENTS_PER_COURSE
        kept = per - 3
        enrolment_start = f"({self.anchor} - {4 * YEAR} + c0 * {span // courses})"
        insert_select(
            self.conn,
            "enrolment",
            {
                "id": f"{next_id(self.conn, 'enrolment')} + i",
                "course_id": f"{self.course_base} + c0 + 1",
                "service_code": code,
                "status": when(
                    f"j < {kept}", quote(EnrolmentStatus.BINDING), quote(EnrolmentStatus.CANCELLED)
                ),
                "source": "'web'",
                "first_name": _choose(sql, FIRST_NAMES, "i"),
                "last_name": _choose(sql, LAST_NAMES, "i / 10"),
                "email": f"'osallistuja.' || {sql.text('i')} || '@' || "
                f"{_choose(sql, [a.lower() for a in AGENCIES], 'i')} || '.example.fi'",
                "organisation": _choose(sql, AGENCIES, "i"),
                "language": "'fi'",
                "cancel_reason": when(f"j < {kept}", "NULL", quote("Osallistuja perui.")),
                "created_at": sql.ts(f"{enrolment_start} - 60 * {DAY} + j * 3600"),
            },
            f"(SELECT i, (i - 1) / {per} AS c0, (i - 1) % {per} AS j, {scrambled} AS x "
            f"FROM {sql.series(count)}) AS s",
        )
        self.conn.execute(
            sa.text(
                "UPDATE course SET seats_taken = (SELECT COUNT(*) FROM enrolment "
                f"WHERE enrolment.course_id = course.id AND {among('status', SEAT_HOLDING)}) "
                f"WHERE id > {self.course_base}"
            )
        )
        self._clean_service_codes()
        opens = datetime.fromtimestamp(self.anchor + 300 * DAY, UTC)
        self.insert_one(
            "course",
            title=BENCH_COURSE,
            topic="Digitaidot",
            description="Verkkokurssi, johon suorituskykytesti ilmoittaa osallistujia.",
            starts_at=opens,
            ends_at=opens + timedelta(hours=3),
            place="Teams",
            remote=True,
            capacity=10_000_000,
            enrolment_deadline=datetime.fromtimestamp(self.anchor + 290 * DAY, UTC),
            cancellation_deadline=datetime.fromtimestamp(self.anchor + 290 * DAY, UTC),
        )

    def _clean_service_codes(self) -> None:
        """Give a new code to the few generated codes that hold a banned word."""
        from services import codes

        words = [w for w in codes.BANNED if set(w) <= set(codes.ALPHABET)]
        enrolment = table("enrolment")
        spoiled = self.conn.scalars(
            sa.select(enrolment.c.id).where(
                sa.or_(*(enrolment.c.service_code.contains(word) for word in words))
            )
        ).all()
        taken = set(self.conn.scalars(sa.select(enrolment.c.service_code)))
        for enrolment_id in spoiled:
            code = codes.generate(taken.__contains__)
            taken.add(code)
            self.conn.execute(
                sa.update(enrolment).where(enrolment.c.id == enrolment_id).values(service_code=code)
            )

    # ---------------------------------------------------------------- support

    def support(self) -> None:
        """The contact form's applications, and tickets of the invoicing users' firms over
        four years, numbered per year; the newest 5 % still open."""
        from models.support import EntryKind, TicketStatus, TicketType, Urgency
        from services.timezones import utc_to_local

        sql, count = self.sql, self.shape.tickets
        application = table("support_application")
        # The migrations add the portal's parts as applications.
        applications = self.conn.scalars(
            sa.select(application.c.id).where(application.c.active).order_by(application.c.id)
        ).all()
        per_year = -(-count // 4)
        this_year = utc_to_local(datetime.fromtimestamp(self.anchor, UTC)).year  # as the app
        starts = [_epoch(this_year - 3 + y, 1, 1) for y in range(4)]
        spans = [min(YEAR, self.anchor - s) for s in starts]
        created = sql.choose(
            [f"{s} + n * {span // per_year}" for s, span in zip(starts, spans, strict=True)], "y"
        )
        users, open_from = self.shape.invoicing_users, count - count // 20
        ticket_base = next_id(self.conn, "ticket")
        still_open = [TicketStatus.NEW, TicketStatus.IN_PROGRESS, TicketStatus.WAITING]
        status = when(
            f"i <= {open_from}", quote(TicketStatus.RESOLVED), _choose(sql, still_open, "i")
        )
        insert_select(
            self.conn,
            "ticket",
            {
                "id": f"{ticket_base} + i",
                "number": f"'T-' || {sql.text(f'{this_year - 3} + y')} || '-' || "
                f"{sql.zpad('n', 6)}",
                "organisation_id": f"{self.org_base} + i % {users} + 1",
                "user_id": f"{self.user_base} + i % {users} + 1",
                "email": self.invoicing_email(f"i % {users} + 1"),
                "language": "'fi'",
                "type": _choose(sql, [t.value for t in TicketType], "i"),
                "urgency": when("i % 10 = 0", quote(Urgency.FASTER), quote(Urgency.NORMAL)),
                "application_id": sql.choose([str(a) for a in applications], "i / 7"),
                "status": "st",
                "assignee_id": when(among("st", [TicketStatus.NEW]), "NULL", str(self.staff_id)),
                "link_nonce": sql.zpad("i", 32),
                "created_at": sql.ts("created"),
                "updated_at": sql.ts(f"created + {DAY}"),
                "resolved_at": when(
                    among("st", [TicketStatus.RESOLVED]), sql.ts(f"created + {DAY}")
                ),
            },
            f"(SELECT s1.*, {status} AS st, {created} AS created FROM "
            f"(SELECT i, (i - 1) / {per_year} AS y, (i - 1) % {per_year} + 1 AS n "
            f"FROM {sql.series(count)}) AS s1) AS s2",
        )
        insert_select(
            self.conn,
            "ticket_entry",
            {
                "id": f"{next_id(self.conn, 'ticket_entry')} + ticket.id - {ticket_base}",
                "ticket_id": "ticket.id",
                "kind": quote(EntryKind.CUSTOMER),
                "author_id": "ticket.user_id",
                "author_name": '"user".name',
                "body": _choose(sql, MESSAGES, "ticket.id"),
                "created_at": "ticket.created_at",
            },
            'ticket JOIN "user" ON "user".id = ticket.user_id',
            where=f"ticket.id > {ticket_base}",
        )

    # ---------------------------------------------------------------- customer portal

    def portal(self) -> None:
        """Norwegian companies, each with departments, a customer user and the same number
        of orders, employees and invoices over five years."""
        from models.auth import Role

        self.order_number = 400_000
        self.invoice_number = 200_000
        for rows in self.shape.companies:
            org = self.organisation(
                f"Bench Kunde {rows} AS",
                country="NO",
                language="nb",
                business_id="987654325",
                account_manager_id=self.staff_id,
            )
            departments = [
                self.insert_one("department", organisation_id=org, name=n) for n in DEPARTMENTS
            ]
            for name in SUB_DEPARTMENTS:
                departments.append(
                    self.insert_one(
                        "department", organisation_id=org, parent_id=departments[0], name=name
                    )
                )
            user = self.insert_one(
                "user",
                email=portal_email(rows),
                name="Test Bruker",
                username="Tester",
                password_hash=self.password_hash,
                role=Role.CUSTOMER,
                organisation_id=org,
                language="nb",
            )
            names = list(DEPARTMENTS + SUB_DEPARTMENTS)
            self._company_rows(rows, org, user, departments, names)
            self.order_number += rows
            self.invoice_number += rows

    def _company_rows(
        self, rows: int, org: int, user: int, departments: list[int], names: list[str]
    ) -> None:
        from models.portal import Gender, OrderStatus

        sql = self.sql
        step = 5 * YEAR // rows
        age = f"(({rows} - i) * {step} + (i * 7919) % 3600)"
        department = when("i % 10 = 0", "NULL", sql.choose([str(d) for d in departments], "i"))
        groups = [str(g) for g in self.conn.scalars(sa.select(table("product_group").c.id))]
        recent = rows - max(rows // 50, 1)
        pending = [OrderStatus.RECEIVED, OrderStatus.IN_PROGRESS, OrderStatus.PLANNED]
        status = when(
            f"i > {recent}",
            _choose(sql, pending, "i"),
            when("i % 33 = 0", quote(OrderStatus.CANCELLED), quote(OrderStatus.DELIVERED)),
        )
        series = sql.series(rows)
        insert_select(
            self.conn,
            "portal_order",
            {
                "id": f"{next_id(self.conn, 'portal_order')} + i",
                "number": f"{self.order_number} + i",
                "organisation_id": str(org),
                "department_id": department,
                "product_group_id": sql.choose(groups + ["NULL"], "i"),
                "status": status,
                "desired_delivery": _choose(sql, DELIVERIES, "i"),
                "quantity": f"{sql.text('1 + i % 20')} || ' ansatte'",
                "contact": f"{_person(sql, 'i', NORWEGIAN_FIRST, NORWEGIAN_LAST)} || ' - tlf 4' "
                f"|| {sql.zpad('(i * 7919) % 10000000', 7)}",
                "invoice_reference": f"'Prosjekt ' || {sql.text('i % 500')}",
                "location": _choose(sql, CITIES, "i"),
                "description": "'Etter avtale med kundeansvarlig.'",
                "ordered_by_id": str(user),
                "ordered_at": self.ago(age),
            },
            series,
        )
        first = [n.lower() for n in NORWEGIAN_FIRST]
        last = [n.lower().replace("ø", "o") for n in NORWEGIAN_LAST]
        insert_select(
            self.conn,
            "employee",
            {
                "id": f"{next_id(self.conn, 'employee')} + i",
                "organisation_id": str(org),
                "department_id": department,
                "first_name": _choose(sql, NORWEGIAN_FIRST, "i"),
                "last_name": _choose(sql, NORWEGIAN_LAST, f"i / {len(NORWEGIAN_FIRST)}"),
                "email": f"{_choose(sql, first, 'i')} || '.' || "
                f"{_choose(sql, last, f'i / {len(NORWEGIAN_FIRST)}')} || '.' || {sql.text('i')} "
                f"|| '@kunde{rows}.example.no'",
                "mobile": "'+47 4' || "
                + " || ' ' || ".join(
                    [sql.zpad("(i * 7) % 10", 1)]
                    + [sql.zpad(f"(i * {m}) % 100", 2) for m in (13, 31, 1)]
                ),
                "birth_date": sql.day(f"{_epoch(1960, 1, 1)} + (i * 28278749) % {40 * YEAR}"),
                "gender": sql.choose([quote(Gender.FEMALE), quote(Gender.MALE), "NULL"], "i"),
                "active": "(i % 20 <> 0)",
                "deactivated_on": when("i % 20 = 0", self.day_ago(f"(i % 700) * {DAY}")),
                "created_at": self.ago(age),
                "updated_at": self.ago(age),
            },
            series,
        )
        total = "(50000 + (i * 7919) % 5000000)"
        amount = f"{sql.text(f'{total} / 100')} || '.' || {sql.zpad(f'{total} % 100', 2)}"
        insert_select(
            self.conn,
            "customer_invoice",
            {
                "id": f"{next_id(self.conn, 'customer_invoice')} + i",
                "number": f"{sql.text(sql.year(f'{self.anchor} - {age}'))} || '-' || "
                f"{sql.text(f'{self.invoice_number} + i')}",
                "organisation_id": str(org),
                "department_id": department,
                "payer": when(
                    "i % 10 = 0", quote(f"Bench Kunde {rows} AS"), _choose(sql, names, "i")
                ),
                "invoice_date": self.day_ago(age),
                "due_date": self.day_ago(f"{age} - 20 * {DAY}"),
                "currency": "'NOK'",
                "total": sql.money(total),
                "outstanding": sql.money(when(f"i > {rows - rows // 10}", total, "0")),
                "lines": sql.json(
                    '\'[{"description": "Bedriftshelsetjeneste", "quantity": "1", '
                    f'"unit_price": "\' || {amount} || \'"}}]\''
                ),
                "created_at": self.ago(age),
            },
            series,
        )

    # ---------------------------------------------------------------- counters

    def counters(self) -> None:
        """The counter rows the app continues from: invoicing numbers, each user's invoice
        numbers, ticket numbers per year and order numbers."""
        sql = self.sql
        statements = [
            "SELECT 'invoicing:user-number', CAST(MAX(invoicing_number) AS INTEGER) FROM \"user\"",
            "SELECT 'invoicing:invoice:' || user_number, COUNT(number) FROM sales_invoice "
            "GROUP BY user_number",
            f"SELECT 'ticket:' || substr(number, 3, 4), MAX({sql.integer('substr(number, 8)')}) "
            "FROM ticket GROUP BY substr(number, 3, 4)",
            "SELECT 'portal-order', MAX(number) FROM portal_order",
        ]
        for select in statements:
            self.conn.execute(sa.text(f'INSERT INTO counter ("key", value) {select}'))


def _epoch(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, tzinfo=UTC).timestamp())


def _password_hash() -> str:
    from services.accounts import hash_password

    return hash_password(PASSWORD)


def generate(engine: Engine, shape: Shape, log=print) -> float:
    """Fill a migrated, empty database with the data set; return the seconds it took."""
    started = time.perf_counter()
    anchor = int(time.time()) // 3600 * 3600
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # The file is thrown away if anything fails: no journal is needed meanwhile.
            for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-262144"):
                conn.exec_driver_sql(f"PRAGMA {pragma}")
        else:
            conn.exec_driver_sql("SET synchronous_commit = off")
        generator = Generator(conn, shape, anchor)
        for step in ("people", "invoices", "training", "support", "portal", "counters"):
            step_started = time.perf_counter()
            getattr(generator, step)()
            conn.commit()
            log(f"    {step:9} {time.perf_counter() - step_started:6.1f} s")
        check(conn, shape)
    if engine.dialect.name == "postgresql":
        # What autovacuum would do soon after such a load: statistics, visibility map.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return time.perf_counter() - started


def check(conn: Connection, shape: Shape) -> None:
    """Refuse a data set whose counts or codes are not what the shape promises."""
    from models.invoicing import InvoiceStatus
    from services import codes
    from services.invoicing.desk import reference

    def count(name: str, where: str = "") -> int:
        return conn.scalar(sa.text(f'SELECT COUNT(*) FROM "{name}" {where}'))

    expected = {
        "sales_invoice": shape.invoices,
        "sales_invoice_line": shape.invoices,
        "enrolment": shape.enrolments,
        "ticket": shape.tickets,
        "ticket_entry": shape.tickets,
        "portal_order": sum(shape.companies),
        "employee": sum(shape.companies),
        "customer_invoice": sum(shape.companies),
    }
    for name, rows in expected.items():
        if count(name) != rows:
            raise RuntimeError(f"{name}: {count(name)} rows, expected {rows}")
    desk = count("sales_invoice", f"WHERE status = '{InvoiceStatus.SUBMITTED}'")
    if desk != shape.desk:
        raise RuntimeError(f"{desk} invoices on the desk, expected {shape.desk}")
    samples = conn.execute(
        sa.text(
            "SELECT number, reference FROM sales_invoice WHERE number IS NOT NULL AND id % 997 = 0"
        )
    ).all()
    for number, ref in samples:
        if ref[:-1] != number or reference.finnish(number) != ref:
            raise RuntimeError(f"invoice {number} has the reference {ref}")
    for code in conn.scalars(sa.text("SELECT service_code FROM enrolment WHERE id % 97 = 0")):
        if codes.normalise(code) != code or not codes.is_clean(code):
            raise RuntimeError(f"bad service code {code}")
