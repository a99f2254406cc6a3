"""A payout statement (tilityserittely) as PDF: what one payout batch paid one invoicing
user, invoice by invoice, with the service's fee and its VAT.

Rendered in the locale in force (the caller sets the user's language). fpdf2 with the
core fonts only, so every text goes through `pdftext.pdf_text` (Latin-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from flask import current_app
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _

from services.pdftext import pdf_text

if TYPE_CHECKING:
    from models.invoicing import Payout, PayoutLine

LEFT = 15.0
WIDTH = 180.0
# The lines' table: invoice number, payer, the payer's money, the fee, the user's part.
COLUMNS = (32.0, 64.0, 28.0, 28.0, 28.0)


def _amount(value) -> str:
    return format_decimal(Decimal(value), format="#,##0.00") + " €"


def render(payout: Payout, lines: Sequence[PayoutLine], fee_vat: Decimal) -> bytes:
    """The statement of `payout` with its `lines`; `fee_vat` is the VAT in its fee."""
    from fpdf import FPDF

    config = current_app.config
    batch = payout.batch
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(pdf_text(_("Payout statement %(number)s", number=batch.number)))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(WIDTH, 9, pdf_text(_("Payout statement")), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    seller = f"{config['INVOICE_SELLER_NAME']}, {config['INVOICE_SELLER_BUSINESS_ID']}"
    facts = [
        (_("From"), seller),
        (_("To"), f"{payout.user.name} ({payout.user.invoicing_number})"),
        (_("Payout batch"), batch.number),
        (_("Paid on"), format_date(batch.execution_date)),
        (_("To the account"), f"{payout.iban} ({payout.account_name})"),
        (_("Message"), f"Tilitys {batch.number} / {payout.user.invoicing_number}"),
    ]
    for label, value in facts:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(40, 6, pdf_text(label))
        pdf.set_font("Helvetica", size=10)
        pdf.cell(WIDTH - 40, 6, pdf_text(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    headings = (_("Invoice"), _("Payer"), _("Paid by the payer"), _("Service fee"), _("To you"))
    _row(pdf, headings, bold=True)
    for line in lines:
        invoice = line.invoice
        _row(
            pdf,
            (
                invoice.number or "",
                invoice.payer_name,
                _amount(line.base),
                _amount(line.fee),
                _amount(line.amount),
            ),
        )
    pdf.ln(3)
    totals = [
        (_("Paid by the payers"), payout.base),
        (_("Service fee, VAT included"), payout.fee),
        (
            _(
                "Of which VAT %(rate)s %%",
                rate=format_decimal(Decimal(config["INVOICE_SERVICE_FEE_VAT_PERCENT"])),
            ),
            fee_vat,
        ),
        (_("Paid to you"), payout.amount),
    ]
    for label, value in totals:
        bold = value is payout.amount
        pdf.set_font("Helvetica", "B" if bold else "", 10)
        pdf.cell(WIDTH - COLUMNS[-1], 6, pdf_text(label), align="R")
        pdf.cell(COLUMNS[-1], 6, pdf_text(_amount(value)), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=8)
    pdf.multi_cell(
        WIDTH,
        4,
        pdf_text(
            _(
                "A negative line takes back what an earlier payout paid of an invoice that "
                "was credited since. Reminder fees and interest are the service's costs of "
                "collecting and are not paid out."
            )
        ),
    )
    return bytes(pdf.output())


def _row(pdf, cells: Sequence[str], *, bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", 9)
    for index, (text, width) in enumerate(zip(cells, COLUMNS, strict=True)):
        last = index == len(COLUMNS) - 1
        align = "R" if index >= 2 else "L"
        value = pdf_text(text)
        while value and pdf.get_string_width(value) > width - 1:
            value = value[:-1]
        pdf.cell(
            width,
            6,
            value,
            border="B",
            align=align,
            new_x="LMARGIN" if last else "RIGHT",
            new_y="NEXT" if last else "TOP",
        )
