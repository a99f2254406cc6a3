"""Finvoice 3.0 messages: every one the portal builds is valid by Finance Finland's schema."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from lxml import etree

from services import finvoice, reference
from tests.fixtures.app import IN_CI, ROOT

SHARED_SCHEMA = ROOT.parent / "shared" / "schemas" / "Finvoice3.0.xsd"


@pytest.fixture(scope="module")
def schema_path():
    """The schema as Finance Finland publishes it, beside the project; the copy the
    portal ships must be the same file."""
    if not SHARED_SCHEMA.exists():
        if IN_CI:
            pytest.fail(f"{SHARED_SCHEMA} is missing: CI has the shared schemas beside the project")
        pytest.skip(f"{SHARED_SCHEMA} is not beside the project: checking with the shipped copy")
    assert SHARED_SCHEMA.read_bytes() == finvoice.SCHEMA_PATH.read_bytes()
    return SHARED_SCHEMA


def invoice(**changes) -> finvoice.Invoice:
    values = {
        "number": "10010215",
        "invoice_date": date(2026, 11, 24),
        "due_date": date(2026, 12, 8),
        "reference": reference.finnish("10010215"),
        "seller": finvoice.Party(
            "Toiminimi Testinen", "Testikatu 1", "00100", "Helsinki", business_id="1234563-9"
        ),
        "buyer": finvoice.Party(
            "Ostaja Oy",
            "Ostajantie 5 B 12",
            "33100",
            "Tampere",
            business_id="1234561-2",
            einvoice_address="003712345612",
            operator="003721291126",
        ),
        "rows": [
            finvoice.Row("Konsultointi", Decimal("3.5"), "h", Decimal("80.00"), Decimal("25.5")),
            finvoice.Row("Kirja", Decimal("1"), "kpl", Decimal("20"), Decimal("13.5")),
            finvoice.Row("Lehti", Decimal("2"), "kpl", Decimal("4.95"), Decimal("10")),
            finvoice.Row("Vientimyynti", Decimal("1"), "kpl", Decimal("100"), Decimal("0")),
        ],
        "iban": "FI49 5000 9420 0287 30",
        "bic": "OKOYFIHH",
        "free_text": "Kiitos tilauksesta",
        "created_at": datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        "seller_einvoice": ("003712345639", "003721291126"),
    }
    values.update(changes)
    return finvoice.Invoice(**values)


def test_the_message_is_valid_finvoice_3(schema_path):
    assert finvoice.errors(finvoice.build(invoice()), schema_path) == []


def test_an_rf_reference_and_a_single_row_are_valid_too(schema_path):
    message = finvoice.build(
        invoice(reference=reference.rf(reference.finnish("10010215")), rows=invoice().rows[:1])
    )
    assert finvoice.errors(message, schema_path) == []
    root = etree.fromstring(message)
    remittance = root.find("EpiDetails/EpiPaymentInstructionDetails/EpiRemittanceInfoIdentifier")
    assert remittance.get("IdentificationSchemeName") == "ISO"


def test_the_shipped_schema_finds_errors():
    broken = finvoice.build(invoice()).replace(b"<InvoiceNumber>", b"<InvoiceNumbr>", 1)
    broken = broken.replace(b"</InvoiceNumber>", b"</InvoiceNumbr>", 1)
    assert finvoice.errors(broken)


def test_the_totals_and_the_payment_agree():
    root = etree.fromstring(finvoice.build(invoice()))
    details = root.find("InvoiceDetails")
    # 3.5 × 80 = 280.00 (+71.40); 20.00 (+2.70); 9.90 (+0.99); 100.00 (+0.00)
    assert details.findtext("InvoiceTotalVatExcludedAmount") == "409,90"
    assert details.findtext("InvoiceTotalVatAmount") == "75,09"
    assert details.findtext("InvoiceTotalVatIncludedAmount") == "484,99"
    payment = root.find("EpiDetails/EpiPaymentInstructionDetails")
    assert payment.findtext("EpiInstructedAmount") == "484,99"
    assert payment.findtext("EpiRemittanceInfoIdentifier") == "100102154"
    assert payment.findtext("EpiDateOptionDate") == "20261208"
    receiver = root.find("MessageTransmissionDetails/MessageReceiverDetails")
    assert (receiver.findtext("ToIdentifier"), receiver.findtext("ToIntermediator")) == (
        "003712345612",
        "003721291126",
    )
    assert [row.findtext("RowVatRatePercent") for row in root.findall("InvoiceRow")] == [
        "25,5",
        "13,5",
        "10",
        "0",
    ]
