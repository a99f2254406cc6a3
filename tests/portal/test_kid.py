"""KID on the customer portal's invoices: made, checked with python-stdnum, backfilled,
printed with the configured seller and account, and found again by customers and staff."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from pypdf import PdfReader
from stdnum import luhn
from stdnum.no import kontonr

import config as portal_config
from extensions import db
from models.portal import CustomerInvoice
from services import portal, portal_kid, portal_pdf, registry
from tests.fixtures import portal as portal_fixtures
from tests.fixtures.app import ROOT
from tests.fixtures.portal import add_invoice

MIGRATIONS = str(ROOT / "migrations")
KID_REVISION = "f38c3e2a7d03"

NUMBER_AND_KID = sa.select(CustomerInvoice.number, CustomerInvoice.reference)

company = portal_fixtures.company
customer = portal_fixtures.customer
staff = portal_fixtures.staff
# Cheap Argon2 parameters for every test here: they log users in, and check no passwords.

SELLER = {
    "PORTAL_SELLER_NAME": "Bedriftshelse Vest AS",
    "PORTAL_SELLER_ORGANISATION_NUMBER": "988077917",
    "PORTAL_SELLER_ACCOUNT": "76940512057",
    "PORTAL_SELLER_ADDRESS": ("Kaigaten 4", "5016 Bergen"),
}


def stdnum_accepts(kid: str, algorithm: str) -> bool:
    """python-stdnum's verdict: its Luhn for MOD10; for MOD11 (no KID module in
    python-stdnum) its Norwegian account number, whose control digit is the same MOD11."""
    if algorithm == "mod10":
        return luhn.is_valid(kid)
    assert len(kid) == 11, "kontonr checks 11 digits"
    return kontonr.is_valid(kid)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def revision_before(revision: str) -> str:
    """The schema just before a migration, wherever it was chained."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return ScriptDirectory.from_config(config).get_revision(revision).down_revision


def kid_of(app, number: str) -> str | None:
    with app.app_context():
        return db.session.scalar(
            sa.select(CustomerInvoice.reference).where(CustomerInvoice.number == number)
        )


# ---------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("base", "algorithm", "kid"),
    [
        ("1234", "mod10", "12344"),  # the banks' worked examples
        ("1234", "mod11", "12343"),
        ("2017118350", "mod10", "20171183500"),
        ("0", "mod11", "00"),  # 11 − 0 = 11: 0
    ],
)
def test_the_control_digit_of_the_banks_examples(base, algorithm, kid):
    assert portal_kid.make(base, algorithm, 0) == kid
    assert portal_kid.is_valid(kid, algorithm)


def test_mod11_gives_a_dash_when_the_rest_is_one():
    # 6·2 = 12, 12 mod 11 = 1, 11 − 1 = 10: no digit, the dash.
    assert portal_kid.mod11_check_digit("6") == "-"
    assert portal_kid.make("6", "mod11", 0) == "6-"
    assert portal_kid.is_valid("6-", "mod11")
    assert not portal_kid.is_valid("6-", "mod10")


@pytest.mark.parametrize("algorithm", portal_kid.ALGORITHMS)
def test_every_kid_made_is_one_stdnum_accepts(algorithm):
    for n in range(0, 200_000, 997):
        kid = portal_kid.for_invoice(
            f"2026-{n:06d}", {"PORTAL_KID_ALGORITHM": algorithm, "PORTAL_KID_LENGTH": 11}
        )
        assert len(kid) == 11 and kid.startswith(f"2026{n:06d}")
        assert portal_kid.is_valid(kid, algorithm, 11)
        assert stdnum_accepts(kid, algorithm) == kid[-1].isdigit()
        wrong = kid[:-1] + str((int(kid[-1]) + 1) % 10) if kid[-1].isdigit() else kid[:-1] + "0"
        assert not portal_kid.is_valid(wrong, algorithm)
        assert not stdnum_accepts(wrong, algorithm)


def test_the_length_is_padded_and_enforced():
    assert portal_kid.make("42", "mod10", 6) == "00042" + luhn.calc_check_digit("00042")
    assert portal_kid.make("42", "mod10", 0) == "42" + luhn.calc_check_digit("42")
    with pytest.raises(portal_kid.InvalidKid):
        portal_kid.make("1234567", "mod10", 6)
    with pytest.raises(portal_kid.InvalidKid):
        portal_kid.for_invoice("R-", {"PORTAL_KID_ALGORITHM": "mod10", "PORTAL_KID_LENGTH": 11})
    kid = portal_kid.make("42", "mod10", 6)
    assert portal_kid.is_valid(kid, "mod10", 6) and not portal_kid.is_valid(kid, "mod10", 7)
    for bad in ("", "1", "12 a4", "1-23", "1" * 26):
        assert not portal_kid.is_valid(bad, "mod10")
        assert not portal_kid.is_valid(bad, "mod11")


# ---------------------------------------------------------------- every invoice has one


@pytest.mark.parametrize("algorithm", portal_kid.ALGORITHMS)
def test_every_invoice_created_gets_a_kid_of_the_configured_algorithm(
    app_config, algorithm, request
):
    app_config["PORTAL_KID_ALGORITHM"] = algorithm
    app = request.getfixturevalue("app")
    org = request.getfixturevalue("make_org")("Demokunde_Test", country="NO", language="nb")
    add_invoice(app, org.id, "2024-000101", issued=date(2024, 1, 10), due=date(2024, 2, 1))
    with app.app_context():
        # In bulk too, as imports and the scale tests insert them.
        db.session.execute(
            sa.insert(CustomerInvoice),
            [
                {
                    "number": f"2024-{n:06d}",
                    "organisation_id": org.id,
                    "payer": "Testbedriften AS",
                    "invoice_date": date(2024, 1, 1),
                    "due_date": date(2024, 1, 21),
                    "total": Decimal("100.00"),
                    "outstanding": Decimal("100.00"),
                }
                for n in range(200, 230)
            ],
        )
        db.session.commit()
        rows = db.session.execute(NUMBER_AND_KID)
        kids = dict(rows.all())
    assert len(kids) == 31
    for number, kid in kids.items():
        assert kid == portal_kid.for_invoice(
            number, {"PORTAL_KID_ALGORITHM": algorithm, "PORTAL_KID_LENGTH": 11}
        )
        assert portal_kid.is_valid(kid, algorithm, 11), number
        assert stdnum_accepts(kid, algorithm) or kid.endswith("-"), number
    assert len(set(kids.values())) == len(kids)


@pytest.mark.parametrize("algorithm", portal_kid.ALGORITHMS)
def test_the_demo_invoices_have_kids(app_config, algorithm, request):
    app_config["PORTAL_KID_ALGORITHM"] = algorithm
    app = request.getfixturevalue("app")
    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        kids = dict(db.session.execute(NUMBER_AND_KID).all())
    assert "2017-118350" in kids
    for number, kid in kids.items():
        assert portal_kid.is_valid(kid, algorithm, 11), (number, kid)
        assert stdnum_accepts(kid, algorithm) or kid.endswith("-"), (number, kid)


def test_a_kid_given_with_the_invoice_is_kept(app, make_org):
    org = make_org("Demokunde_Test", country="NO", language="nb")
    with app.app_context():
        db.session.add(
            CustomerInvoice(
                number="2024-000300",
                organisation_id=org.id,
                payer="Testbedriften AS",
                invoice_date=date(2024, 1, 1),
                due_date=date(2024, 1, 21),
                total=Decimal("100.00"),
                outstanding=Decimal("100.00"),
                reference="12344",
            )
        )
        db.session.commit()
    assert kid_of(app, "2024-000300") == "12344"


def test_two_invoices_cannot_share_a_kid(app, make_org):
    org = make_org("Demokunde_Test", country="NO", language="nb")
    add_invoice(app, org.id, "2024-000101", issued=date(2024, 1, 10), due=date(2024, 2, 1))
    with app.app_context():
        db.session.add(
            CustomerInvoice(
                number="2024-000102",
                organisation_id=org.id,
                payer="Testbedriften AS",
                invoice_date=date(2024, 1, 1),
                due_date=date(2024, 1, 21),
                total=Decimal("100.00"),
                outstanding=Decimal("100.00"),
                reference=kid_of(app, "2024-000101"),
            )
        )
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()


# ---------------------------------------------------------------- the backfill


@pytest.mark.parametrize("algorithm", portal_kid.ALGORITHMS)
def test_the_migration_gives_existing_invoices_their_kids(app_config, algorithm, request):
    app_config["PORTAL_KID_ALGORITHM"] = algorithm
    app = request.getfixturevalue("app")
    org = request.getfixturevalue("make_org")("Demokunde_Test", country="NO", language="nb")
    config = {"PORTAL_KID_ALGORITHM": algorithm, "PORTAL_KID_LENGTH": 11}
    valid = portal_kid.for_invoice("1999-000001", config)  # a KID that is some other number's
    given = (
        {
            "2017-118350": None,
            "2017-118352": "",
            "2017-118359": "123",  # not a KID the bank accepts
            "2018-118371": f"{valid[:4]} {valid[4:]}",  # valid, typed with a space
        }
        | {f"2019-{n:06d}": None for n in range(2500)}
    )  # more than one batch
    invoice = sa.table(  # the table as the migration finds it
        "customer_invoice",
        sa.column("number", sa.String),
        sa.column("organisation_id", sa.Integer),
        sa.column("payer", sa.String),
        sa.column("invoice_date", sa.Date),
        sa.column("due_date", sa.Date),
        sa.column("currency", sa.String),
        sa.column("total", sa.Numeric(12, 2)),
        sa.column("outstanding", sa.Numeric(12, 2)),
        sa.column("lines", sa.JSON),
        sa.column("reference", sa.String),
        sa.column("created_at", sa.DateTime),
    )
    with app.app_context():
        db.session.remove()
        downgrade(directory=MIGRATIONS, revision=revision_before(KID_REVISION))
        try:
            with db.engine.begin() as connection:
                assert "ix_customer_invoice_reference" not in {
                    index["name"]
                    for index in sa.inspect(connection).get_indexes("customer_invoice")
                }
                connection.execute(
                    invoice.insert(),
                    [
                        {
                            "number": number,
                            "organisation_id": org.id,
                            "payer": "Testbedriften AS",
                            "invoice_date": date(2018, 1, 1),
                            "due_date": date(2018, 1, 21),
                            "currency": "NOK",
                            "total": Decimal("100.00"),
                            "outstanding": Decimal("100.00"),
                            "lines": [],
                            "reference": reference,
                            "created_at": portal.utcnow().replace(tzinfo=None),
                        }
                        for number, reference in given.items()
                    ],
                )
        finally:
            upgrade(directory=MIGRATIONS, revision="heads")
        kids = dict(db.session.execute(NUMBER_AND_KID).all())
    assert kids["2018-118371"] == valid  # kept, without the space
    for number in set(given) - {"2018-118371"}:
        assert kids[number] == portal_kid.for_invoice(number, config), number
        assert stdnum_accepts(kids[number], algorithm) or kids[number].endswith("-")
    assert len(set(kids.values())) == len(given)


# ---------------------------------------------------------------- the PDF


def test_the_pdf_prints_the_kid_and_the_configured_seller_and_account(app_config, request):
    app_config.update(SELLER)
    app = request.getfixturevalue("app")
    c = request.getfixturevalue("company")
    add_invoice(app, c.id, "2024-000101", issued=date(2024, 1, 10), due=date(2024, 2, 1))
    kid = kid_of(app, "2024-000101")
    client = request.getfixturevalue("customer")
    with client.get("/portal/invoices/2024-000101.pdf") as response:
        assert response.status_code == 200
        printed = pdf_text(response.data)
    assert f"KID {kid}" in printed
    assert "KID -" not in printed
    assert f"Oppgi KID {kid} ved betaling" in printed
    assert "Bedriftshelse Vest AS" in printed
    assert "Org.nr. 988 077 917 MVA" in printed
    assert "Betales til kontonummer 7694.05.12057" in printed
    assert "Kaigaten 4" in printed and "5016 Bergen" in printed
    for old in ("Palveluportaali Norge AS", "999 999 999", "1234.56.78903", "0106 Oslo"):
        assert old not in printed
    assert PdfReader(io.BytesIO(response.data)).metadata.author == "Bedriftshelse Vest AS"


def test_the_pdf_of_an_invoice_without_a_kid_asks_for_the_number(app, make_org):
    org = make_org("Demokunde_Test", country="NO", language="nb")
    invoice_id = add_invoice(app, org.id, "2024-000101", issued=date(2024, 1, 1), due=date.max)
    with app.app_context():
        invoice = db.session.get(CustomerInvoice, invoice_id)
        invoice.reference = None
        printed = pdf_text(portal_pdf.render(invoice))
    assert "Oppgi fakturanummer 2024-000101 ved betaling" in printed
    assert "KID" not in printed
    assert "Palveluportaali Norge AS" in printed and "Org.nr. 123 456 785 MVA" in printed
    assert "Postboks 1234 Sentrum" in printed and "0106 Oslo" in printed
    assert "kontonummer 8601.11.17947" in printed


# ---------------------------------------------------------------- search


def test_the_invoice_list_finds_an_invoice_by_its_kid(app, company):
    today = portal.today()
    for n in (101, 102, 103):
        add_invoice(app, company.id, f"2024-000{n}", issued=date(2024, 1, n - 100), due=today)
    add_invoice(app, company.other_id, "2024-000199", issued=date(2024, 1, 1), due=today)
    kid = kid_of(app, "2024-000102")
    with app.app_context():

        def found(text: str, org_id: int = company.id) -> list[str]:
            return list(
                db.session.scalars(
                    sa.select(CustomerInvoice.number).where(
                        CustomerInvoice.organisation_id == org_id,
                        portal_kid.number_or_kid(text),
                    )
                )
            )

        assert found(kid) == ["2024-000102"]
        assert found(f" {kid[:4]} {kid[4:8]} {kid[8:]} ") == ["2024-000102"]  # as grouped
        assert found("2024-000102") == ["2024-000102"]  # the number still
        assert found(kid[:-1]) == []
        assert found(kid_of(app, "2024-000199")) == []  # another company's: not through
        assert found("2024-000199", company.other_id) == ["2024-000199"]
        assert found("x' OR 1=1 --") == []
        assert portal_kid.by_kid(kid).number == "2024-000102"
        assert portal_kid.by_kid("") is None and portal_kid.by_kid("KID") is None


def test_the_kid_search_reads_its_index(app, company):
    add_invoice(app, company.id, "2024-000101", issued=date(2024, 1, 1), due=date(2024, 2, 1))
    kid = kid_of(app, "2024-000101")
    stmt = sa.select(CustomerInvoice.id).where(CustomerInvoice.reference == kid)
    with app.app_context(), db.engine.connect() as connection:
        sql = str(stmt.compile(connection, compile_kwargs={"literal_binds": True}))
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SET LOCAL enable_seqscan = off"))
            plan = connection.execute(sa.text(f"EXPLAIN {sql}")).scalars().all()
        else:
            plan = [row[-1] for row in connection.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}"))]
    assert any("ix_customer_invoice_reference" in line for line in plan), plan


def test_staff_find_an_invoice_by_its_kid(app, company, staff):
    add_invoice(app, company.id, "2024-000101", issued=date(2024, 1, 1), due=date(2024, 2, 1))
    kid = kid_of(app, "2024-000101")
    with app.test_request_context():
        [hit] = portal_kid.staff_lookup(kid)
        assert "2024-000101" in hit.label and kid in hit.label
        assert hit.url == f"/staff/portal/invoices?company={company.id}"
        assert portal_kid.staff_lookup(kid[:-1] + "x") == []
        assert portal_kid.staff_lookup("2024-000101") == []  # the number's own look-up
    if portal_kid.staff_lookup not in registry.lookups(app):  # until the part wires it
        portal_kid.setup_app(app)
    response = staff.get("/staff/lookup", query_string={"code": f" {kid} "})
    assert response.headers["Location"] == f"/staff/portal/invoices?company={company.id}"


# ---------------------------------------------------------------- configuration


def test_the_seller_and_the_kid_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORTAL_SELLER_NAME", "Bedriftshelse Vest AS")
    monkeypatch.setenv("PORTAL_SELLER_ORGANISATION_NUMBER", "988 077 917")
    monkeypatch.setenv("PORTAL_SELLER_ACCOUNT", "7694.05.12057")
    monkeypatch.setenv("PORTAL_KID_ALGORITHM", "MOD11")
    monkeypatch.setenv("PORTAL_KID_LENGTH", "15")
    settings = portal_config.from_environment("/nonexistent")
    assert settings["PORTAL_SELLER_NAME"] == "Bedriftshelse Vest AS"
    assert settings["PORTAL_SELLER_ORGANISATION_NUMBER"] == "988077917"
    assert settings["PORTAL_SELLER_ACCOUNT"] == "76940512057"
    assert (settings["PORTAL_KID_ALGORITHM"], settings["PORTAL_KID_LENGTH"]) == ("mod11", 15)
    assert len(portal_kid.for_invoice("2024-000101", settings)) == 15


def test_the_development_defaults_are_valid_examples(monkeypatch):
    for name in ("ORGANISATION_NUMBER", "ACCOUNT", "NAME"):
        monkeypatch.delenv(f"PORTAL_SELLER_{name}", raising=False)
    for name in ("ALGORITHM", "LENGTH"):
        monkeypatch.delenv(f"PORTAL_KID_{name}", raising=False)
    settings = portal_config.from_environment("/nonexistent")
    assert kontonr.is_valid(settings["PORTAL_SELLER_ACCOUNT"])
    from stdnum.no import orgnr

    assert orgnr.is_valid(settings["PORTAL_SELLER_ORGANISATION_NUMBER"])
    assert (settings["PORTAL_KID_ALGORITHM"], settings["PORTAL_KID_LENGTH"]) == ("mod10", 11)


def test_the_sellers_address_is_read_line_by_line(monkeypatch):
    monkeypatch.setenv("PORTAL_SELLER_ADDRESS", " Kaigaten 4 ;5016 Bergen; ")
    settings = portal_config.from_environment("/nonexistent")
    assert settings["PORTAL_SELLER_ADDRESS"] == ("Kaigaten 4", "5016 Bergen")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORTAL_SELLER_ACCOUNT", "1234.56.78904", "PORTAL_SELLER_ACCOUNT must be a Norwegian"),
        ("PORTAL_SELLER_ACCOUNT", "NO93 8601 1117 947", "PORTAL_SELLER_ACCOUNT must be"),
        ("PORTAL_SELLER_ACCOUNT", "8601111794", "PORTAL_SELLER_ACCOUNT must be"),
        (
            "PORTAL_SELLER_ORGANISATION_NUMBER",
            "988 077 918",
            "PORTAL_SELLER_ORGANISATION_NUMBER must be a Norwegian organisation number",
        ),
        ("PORTAL_SELLER_ORGANISATION_NUMBER", "98807791", "PORTAL_SELLER_ORGANISATION_NUMBER"),
        ("PORTAL_KID_ALGORITHM", "luhn", "PORTAL_KID_ALGORITHM must be one of mod10, mod11"),
        ("PORTAL_KID_LENGTH", "1", "PORTAL_KID_LENGTH must be 0 or 2 to 25"),
        ("PORTAL_KID_LENGTH", "26", "PORTAL_KID_LENGTH must be 0 or 2 to 25"),
        ("PORTAL_KID_LENGTH", "eleven", "PORTAL_KID_LENGTH must be a whole number"),
        ("PORTAL_SELLER_ADDRESS", "a; b; c; d; e", "PORTAL_SELLER_ADDRESS must be one to four"),
        ("PORTAL_SELLER_ADDRESS", "Gate " + "x" * 60, "PORTAL_SELLER_ADDRESS must be one to four"),
    ],
)
def test_a_bad_seller_or_kid_setting_is_named(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=message):
        portal_config.from_environment("/nonexistent")


def test_a_kid_longer_than_the_agreed_length_is_refused_not_truncated(app_config, request):
    app_config["PORTAL_KID_LENGTH"] = 6
    app = request.getfixturevalue("app")
    org = request.getfixturevalue("make_org")("Demokunde_Test", country="NO", language="nb")
    with pytest.raises(sa.exc.StatementError, match="does not fit a KID of 6 digits"):
        add_invoice(app, org.id, "2024-000101", issued=date(2024, 1, 1), due=date(2024, 2, 1))
    add_invoice(app, org.id, "R-42", issued=date(2024, 1, 1), due=date(2024, 2, 1))
    assert kid_of(app, "R-42") == portal_kid.make("42", "mod10", 6)
