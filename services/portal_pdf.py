"""An invoice of the customer portal as PDF (fpdf2), in Norwegian, amounts in NOK."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_decimal
from flask_babel import force_locale

from models.portal import CustomerInvoice
from services.pdftext import pdf_text

SELLER = ("Palveluportaali Norge AS", "Postboks 1234 Sentrum", "0106 Oslo", "Org.nr. 999 999 999")


def _nok(amount) -> str:
    return format_decimal(Decimal(amount), "#,##0.00", locale="nb_NO").replace("\xa0", " ")


def _date(value) -> str:
    return value.strftime("%d.%m.%Y")


def render(invoice: CustomerInvoice) -> bytes:
    """The invoice: seller and payer, number and dates, lines, total and what is owed."""
    from fpdf import FPDF  # slow to import: on first use

    from services.portal import INVOICE_STATUS_LABELS, invoice_status

    pdf = FPDF(format="A4")
    pdf.set_title(pdf_text(f"Faktura {invoice.number}"))
    pdf.set_author(pdf_text(SELLER[0]))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, "FAKTURA", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for line in SELLER:
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
        ("KID", invoice.reference or "-"),
    ]
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
    pdf.cell(
        0, 6, pdf_text("Betales til kontonummer 1234.56.78903. Oppgi KID ved betaling."),
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    return bytes(pdf.output())
