"""Finvoice 3.0 messages: every one the portal builds is valid by Finance Finland's schema."""

from __future__ import annotations

import pytest
from lxml import etree

from services.invoicing import finvoice, reference
from tests.fixtures.app import IN_CI, ROOT
from tests.fixtures.invoicing import finvoice_invoice

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


def test_the_message_is_valid_finvoice_3(schema_path):
    assert finvoice.errors(finvoice.build(finvoice_invoice()), schema_path) == []


def test_an_rf_reference_and_a_single_row_are_valid_too(schema_path):
    message = finvoice.build(
        finvoice_invoice(
            reference=reference.rf(reference.finnish("10010215")), rows=finvoice_invoice().rows[:1]
        )
    )
    assert finvoice.errors(message, schema_path) == []
    root = etree.fromstring(message)
    remittance = root.find("EpiDetails/EpiPaymentInstructionDetails/EpiRemittanceInfoIdentifier")
    assert remittance.get("IdentificationSchemeName") == "ISO"


def test_the_shipped_schema_finds_errors():
    broken = finvoice.build(finvoice_invoice()).replace(b"<InvoiceNumber>", b"<InvoiceNumbr>", 1)
    broken = broken.replace(b"</InvoiceNumber>", b"</InvoiceNumbr>", 1)
    assert finvoice.errors(broken)


def test_the_totals_and_the_payment_agree():
    root = etree.fromstring(finvoice.build(finvoice_invoice()))
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
