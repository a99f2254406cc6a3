"""An invoice of the customer portal as PDF (fpdf2), in Norwegian, amounts in NOK.

The seller, its organisation number and its account come from configuration
(PORTAL_SELLER_*, the address too); the payer pays with the invoice's KID (services.portal_kid).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from babel.numbers import format_decimal
from flask import current_app
from flask_babel import force_locale
from stdnum.no import kontonr, orgnr

from models.portal import CustomerInvoice
from services.pdftext import pdf_text


def seller_lines(config: Mapping) -> list[str]:
    """The seller as printed: name, address, and the organisation number with MVA (the
    seller is registered for VAT; bokføringsforskriften § 5-1-1)."""
    number = orgnr.format(config["PORTAL_SELLER_ORGANISATION_NUMBER"])
    address = config.get("PORTAL_SELLER_ADDRESS") or ()
    return [config["PORTAL_SELLER_NAME"], *address, f"Org.nr. {number} MVA"]


def payment_line(invoice: CustomerInvoice, config: Mapping) -> str:
    """Where to pay, and with what: the account and the KID (the invoice number, should an
    invoice have no KID)."""
    account = kontonr.format(config["PORTAL_SELLER_ACCOUNT"])
    if invoice.reference:
        return f"Betales til kontonummer {account}. Oppgi KID {invoice.reference} ved betaling."
    return f"Betales til kontonummer {account}. Oppgi fakturanummer {invoice.number} ved betaling."


def _nok(amount) -> str:
    return format_decimal(Decimal(amount), "#,##0.00", locale="nb_NO").replace("\xa0", " ")


def _date(value) -> str:
    return value.strftime("%d.%m.%Y")


def render(invoice: CustomerInvoice, config: Mapping | None = None) -> bytes:
    """The invoice: seller and payer, number and dates, lines, total and what is owed."""
    from fpdf import FPDF  # slow to import: on first use

    from services.portal import INVOICE_STATUS_LABELS, invoice_status

    config = config or current_app.config
    seller = seller_lines(config)
    pdf = FPDF(format="A4")
    pdf.set_title(pdf_text(f"Faktura {invoice.number}"))
    pdf.set_author(pdf_text(seller[0]))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, "FAKTURA", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for line in seller:
        pdf.cell(0, 5, pdf_text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(95, 5, "Betaler")
    pdf.cell(0, 5, "Faktura", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    facts = [
        ("Fakturanummer", invoice.number),
        ("Fakturadato", _date(invoice.invoice_date)),
        ("Forfallsdato", _date(invoice.due_date)),
    ]
    if invoice.reference:
        facts.append(("KID", invoice.reference))
    payer = [invoice.payer, invoice.organisation.name if invoice.department_id else ""]
    for i, (label, value) in enumerate(facts):
        pdf.cell(95, 5, pdf_text(payer[i] if i < len(payer) else ""))
        pdf.cell(35, 5, pdf_text(label))
        pdf.cell(0, 5, pdf_text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font("Helvetica", "B", 10)
    widths = (95, 25, 35, 35)
    for width, title, align in zip(
        widths, ("Beskrivelse", "Antall", "Pris", "Beløp"), "LRRR", strict=True
    ):
        pdf.cell(width, 7, pdf_text(title), border="B", align=align)
    pdf.ln()
    pdf.set_font("Helvetica", size=10)
    lines = invoice.lines or [
        {"description": "Tjenester", "quantity": "1", "unit_price": str(invoice.total)}
    ]
    for line in lines:
        quantity = Decimal(str(line.get("quantity", "1")))
        price = Decimal(str(line.get("unit_price", "0")))
        pdf.cell(widths[0], 6, pdf_text(line.get("description", ""))[:60])
        pdf.cell(widths[1], 6, pdf_text(format_decimal(quantity, locale="nb_NO")), align="R")
        pdf.cell(widths[2], 6, _nok(price), align="R")
        pdf.cell(widths[3], 6, _nok(quantity * price), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 10)
    for label, amount in (("Totalt NOK", invoice.total), ("Utestående NOK", invoice.outstanding)):
        pdf.cell(sum(widths[:3]), 7, pdf_text(label), align="R")
        pdf.cell(widths[3], 7, _nok(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.ln(6)
    with force_locale("nb"):  # the invoice is Norwegian, whoever downloads it
        status = str(INVOICE_STATUS_LABELS[invoice_status(invoice)])
    pdf.cell(0, 6, pdf_text(f"Status: {status}"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, pdf_text(payment_line(invoice, config)), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
