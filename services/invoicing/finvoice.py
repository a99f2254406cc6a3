"""Finvoice 3.0 e-invoices (Finance Finland), built with lxml. Pure logic.

The message follows the schema's element order; the tests validate every message built
here against Finance Finland's Finvoice3.0.xsd.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from lxml import etree

from services import vat

VERSION = "3.0"
# Finvoice's credit note (hyvityslasku): its type code and text. Its amounts are negative
# (a minus sign before the number: "-125,49"), and it names the invoice it credits.
CREDIT_NOTE_CODE = "INV02"
CREDIT_NOTE_TEXT = "HYVITYSLASKU"


@dataclass(frozen=True)
class Party:
    """The seller or the buyer of an e-invoice, with its e-invoice mailbox where known."""

    name: str
    street: str
    postcode: str
    town: str
    country: str = "FI"  # ISO 3166 alpha-2
    business_id: str | None = None  # Y-tunnus, e.g. 1234561-2
    einvoice_address: str | None = None  # OVT/IBAN of the e-invoice mailbox
    operator: str | None = None  # the e-invoice operator's code (välittäjätunnus)


@dataclass(frozen=True)
class Row:
    """One row of an invoice: quantity, unit, price without VAT and VAT rate."""

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal  # VAT excluded
    vat_percent: Decimal


@dataclass(frozen=True)
class Invoice:
    """What a Finvoice message says: the invoice's numbers, dates, parties and rows."""

    number: str
    invoice_date: date
    due_date: date
    reference: str  # Finnish reference (or RF)
    seller: Party
    buyer: Party
    rows: list[Row]
    iban: str
    bic: str
    free_text: str = ""
    currency: str = "EUR"
    message_id: str = ""
    created_at: datetime | None = None
    seller_einvoice: tuple[str, str] = ("", "")  # our own address and operator
    extra: dict = field(default_factory=dict)
    # What the document is: Finvoice's type code and text (INV01 LASKU, an invoice), and
    # for a document about another invoice (a credit note, a reminder) that invoice's
    # number and date.
    type_code: str = "INV01"
    type_text: str = "LASKU"
    original_number: str = ""
    original_date: date | None = None


def _amount(value: Decimal) -> str:
    """Finvoice amounts: a comma as the decimal mark, two decimals."""
    return f"{vat.money(value):.2f}".replace(".", ",")


def _quantity(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.replace(".", ",")


def _percent(value: Decimal) -> str:
    return format(value.normalize(), "f").replace(".", ",")


def _date(parent, tag: str, value: date) -> None:
    element = etree.SubElement(parent, tag, Format="CCYYMMDD")
    element.text = value.strftime("%Y%m%d")


def _text(parent, tag: str, value, **attributes) -> etree._Element:
    element = etree.SubElement(parent, tag, **attributes)
    element.text = str(value)
    return element


def _money(parent, tag: str, value: Decimal, currency: str) -> None:
    _text(parent, tag, _amount(value), AmountCurrencyIdentifier=currency)


def _address(parent, tag: str, prefix: str, party: Party) -> None:
    address = etree.SubElement(parent, tag)
    _text(address, f"{prefix}StreetName", party.street[:35])
    _text(address, f"{prefix}TownName", party.town[:35])
    _text(address, f"{prefix}PostCodeIdentifier", party.postcode)
    _text(address, "CountryCode", party.country)


def build(invoice: Invoice) -> bytes:
    """The Finvoice 3.0 message of the invoice, as UTF-8 XML bytes."""
    totals = vat.totals(
        vat.Line(row.quantity, row.unit_price, row.vat_percent) for row in invoice.rows
    )
    cur = invoice.currency
    root = etree.Element("Finvoice", Version=VERSION)

    transmission = etree.SubElement(root, "MessageTransmissionDetails")
    sender = etree.SubElement(transmission, "MessageSenderDetails")
    own_address, own_operator = invoice.seller_einvoice
    _text(sender, "FromIdentifier", own_address or invoice.seller.business_id or "")
    _text(sender, "FromIntermediator", own_operator or "")
    receiver = etree.SubElement(transmission, "MessageReceiverDetails")
    _text(receiver, "ToIdentifier", invoice.buyer.einvoice_address or "")
    _text(receiver, "ToIntermediator", invoice.buyer.operator or "")
    details = etree.SubElement(transmission, "MessageDetails")
    _text(details, "MessageIdentifier", invoice.message_id or invoice.number)
    created = invoice.created_at or datetime.now().astimezone()
    _text(details, "MessageTimeStamp", created.replace(microsecond=0).isoformat())

    seller = etree.SubElement(root, "SellerPartyDetails")
    if invoice.seller.business_id:
        _text(seller, "SellerPartyIdentifier", invoice.seller.business_id)
    _text(seller, "SellerOrganisationName", invoice.seller.name[:70])
    if invoice.seller.business_id:
        _text(seller, "SellerOrganisationTaxCode", _vat_number(invoice.seller.business_id))
    _address(seller, "SellerPostalAddressDetails", "Seller", invoice.seller)
    information = etree.SubElement(root, "SellerInformationDetails")
    account = etree.SubElement(information, "SellerAccountDetails")
    _text(
        account, "SellerAccountID", invoice.iban.replace(" ", ""), IdentificationSchemeName="IBAN"
    )
    _text(account, "SellerBic", invoice.bic, IdentificationSchemeName="BIC")

    buyer = etree.SubElement(root, "BuyerPartyDetails")
    if invoice.buyer.business_id:
        _text(buyer, "BuyerPartyIdentifier", invoice.buyer.business_id)
    _text(buyer, "BuyerOrganisationName", invoice.buyer.name[:70])
    _address(buyer, "BuyerPostalAddressDetails", "Buyer", invoice.buyer)

    info = etree.SubElement(root, "InvoiceDetails")
    _text(info, "InvoiceTypeCode", invoice.type_code)
    _text(info, "InvoiceTypeText", invoice.type_text)
    _text(info, "OriginCode", "Original")
    _text(info, "InvoiceNumber", invoice.number)
    _date(info, "InvoiceDate", invoice.invoice_date)
    if invoice.original_number:
        _text(info, "OriginalInvoiceNumber", invoice.original_number)
    if invoice.original_date:
        _date(info, "OriginalInvoiceDate", invoice.original_date)
    _money(info, "InvoiceTotalVatExcludedAmount", totals.net, cur)
    _money(info, "InvoiceTotalVatAmount", totals.vat, cur)
    _money(info, "InvoiceTotalVatIncludedAmount", totals.gross, cur)
    for row in totals.rows:
        specification = etree.SubElement(info, "VatSpecificationDetails")
        _money(specification, "VatBaseAmount", row.base, cur)
        _text(specification, "VatRatePercent", _percent(row.percent))
        if row.percent == 0:
            _text(specification, "VatCode", "Z")
        _money(specification, "VatRateAmount", row.vat, cur)
    if invoice.free_text:
        _text(info, "InvoiceFreeText", invoice.free_text[:512])
    if invoice.type_code != CREDIT_NOTE_CODE:  # a credit note has no terms: nothing to pay
        terms = etree.SubElement(info, "PaymentTermsDetails")
        days = (invoice.due_date - invoice.invoice_date).days
        _text(terms, "PaymentTermsFreeText", f"{days} pv netto")
        _date(terms, "InvoiceDueDate", invoice.due_date)

    for number, row in enumerate(invoice.rows, start=1):
        line = vat.Line(row.quantity, row.unit_price, row.vat_percent)
        element = etree.SubElement(root, "InvoiceRow")
        _text(element, "ArticleName", row.description[:100])
        _text(element, "DeliveredQuantity", _quantity(row.quantity), QuantityUnitCode=row.unit)
        _text(element, "UnitPriceAmount", _amount(row.unit_price), AmountCurrencyIdentifier=cur)
        _text(element, "RowPositionIdentifier", number)
        _text(element, "RowVatRatePercent", _percent(row.vat_percent))
        line_vat = vat.money(line.net * row.vat_percent / Decimal(100))
        _money(element, "RowVatAmount", line_vat, cur)
        _money(element, "RowVatExcludedAmount", line.net, cur)
        _money(element, "RowAmount", line.net + line_vat, cur)

    epi = etree.SubElement(root, "EpiDetails")
    identification = etree.SubElement(epi, "EpiIdentificationDetails")
    _date(identification, "EpiDate", invoice.invoice_date)
    _text(identification, "EpiReference", invoice.number)
    parties = etree.SubElement(epi, "EpiPartyDetails")
    bfi = etree.SubElement(parties, "EpiBfiPartyDetails")
    _text(bfi, "EpiBfiIdentifier", invoice.bic, IdentificationSchemeName="BIC")
    beneficiary = etree.SubElement(parties, "EpiBeneficiaryPartyDetails")
    _text(beneficiary, "EpiNameAddressDetails", invoice.seller.name[:35])
    if invoice.seller.business_id:
        _text(beneficiary, "EpiBei", invoice.seller.business_id)
    _text(beneficiary, "EpiAccountID", invoice.iban.replace(" ", ""),
          IdentificationSchemeName="IBAN")  # fmt: skip
    payment = etree.SubElement(epi, "EpiPaymentInstructionDetails")
    scheme = "ISO" if invoice.reference.upper().startswith("RF") else "SPY"
    _text(payment, "EpiRemittanceInfoIdentifier", invoice.reference.replace(" ", ""),
          IdentificationSchemeName=scheme)  # fmt: skip
    _money(payment, "EpiInstructedAmount", totals.gross, cur)
    _text(payment, "EpiCharge", "SLEV", ChargeOption="SLEV")
    _date(payment, "EpiDateOptionDate", invoice.due_date)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _vat_number(business_id: str) -> str:
    """The EU VAT number of a Finnish business ID: 1234561-2 → FI12345612."""
    return "FI" + business_id.replace("-", "")


# Finance Finland's schema (Finvoice3.0.xsd, "Modified 17.12.2020"), kept unchanged.
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "Finvoice3.0.xsd"


@lru_cache(maxsize=4)
def schema(path: str | Path = SCHEMA_PATH) -> etree.XMLSchema:
    """Finance Finland's schema, to check a message before it is sent."""
    return etree.XMLSchema(etree.parse(str(path)))


def errors(message: bytes, path: str | Path = SCHEMA_PATH) -> list[str]:
    """What the schema finds wrong in a message (empty when it is valid)."""
    checker = schema(path)
    if checker.validate(etree.fromstring(message)):
        return []
    return [f"line {e.line}: {e.message}" for e in checker.error_log]
