"""A Finnish invoice (lasku) as PDF, with the banks' transfer form and bank barcode.

The invoice desk issues invoices in the service's own name on behalf of its users; many
payers still pay from paper or from a PDF, so the document follows what Finnish payers
and their banks expect: the payer's address where a C5/DL window envelope shows it, the
facts block (number, dates, terms, reference, late interest, complaint period), the lines
with their VAT, the VAT breakdown per rate, and at the bottom of the last page the
bank transfer form (tilisiirtolomake) of Finanssiala's standard with the bank barcode
(pankkiviivakoodi) that a bank's app or scanner reads instead of typing.

Pure: no Flask, no database. Configuration (the biller lines, the seller's contact lines,
a payment link) comes in as arguments. fpdf2 with the core fonts only (Helvetica), so all
text goes through `pdftext.pdf_text` (Latin-1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING

from services import vat
from services.invoicing import bankbarcode, finvoice, reference
from services.pdftext import fi_amount, fi_decimal, pdf_text

if TYPE_CHECKING:
    from fpdf import FPDF

PAGE_WIDTH = 210.0  # A4, mm
PAGE_HEIGHT = 297.0
MARGIN = 15.0  # left, right and bottom margin of the content
CONTINUATION_TOP = 30.0  # where the content starts below the header of a further page

# The payer's address where the window of a C5/DL window envelope shows it: the window
# begins about 20 mm from the left edge and 45 mm from the top.
ADDRESS_X = 20.0
ADDRESS_Y = 50.0
ADDRESS_WIDTH = 85.0
# Nothing but the address in the window (it shows through, about 45–90 mm from the top):
# the lines table starts below it.
TABLE_TOP = 95.0

# The bank transfer form (Finanssiala, "Tilisiirtolomakkeen standardi"): 101.6 mm high
# (4 in), the full width of the sheet, at the bottom of the page. The rules of its boxes
# are 0.5 mm; the y values below are measured from the form's top edge.
FORM_HEIGHT = 101.6
FORM_TOP = PAGE_HEIGHT - FORM_HEIGHT
FORM_LEFT = 5.0  # the rules start and end inside what a printer prints
FORM_RIGHT = 205.0
FORM_LABEL_RIGHT = 19.0  # the labels of the left part are right-aligned against this
FORM_COLUMN = 20.0  # the rule between the labels and the recipient's account and name
FORM_MIDDLE = 111.4  # the rule between the recipient/payer part and the right part
FORM_RULE = 0.5
FORM_THIN_RULE = 0.13  # the signature line

# The bank barcode: Code 128 (charset C, two digits a symbol) of the 54 digits of the
# virtual barcode. The text of Finanssiala's Pankkiviivakoodi-opas (v5.3) was not at hand
# when this was written, so these are the commonly used values, to be checked against it:
# module (narrowest bar) 0.25 mm, bars at least 13 mm high, a quiet zone of at least 6.4 mm
# on both sides. The symbol is 332 modules:
# 83 mm, 95.8 mm with its quiet zones, placed in the bottom part of the form, under the
# boxes and left of the middle, where nothing else is printed.
MODULE_MM = 0.25
BAR_HEIGHT_MM = 13.0
QUIET_ZONE_MM = 6.4
BARCODE_X = FORM_COLUMN  # the first bar; the quiet zone lies left of it (13.6–20 mm)
BARCODE_Y = FORM_TOP + 75.0

TABLE_COLUMNS = (  # title, width (mm), alignment; 180 mm in all
    ("Kuvaus", 68.0, "L"),
    ("Määrä", 16.0, "R"),
    ("Yks.", 12.0, "L"),
    ("À-hinta", 22.0, "R"),
    ("ALV %", 14.0, "R"),
    ("Veroton", 24.0, "R"),
    ("Yhteensä", 24.0, "R"),
)
ROW_LINE = 4.5  # height of a text line in the lines table
TABLE_RIGHT = MARGIN + sum(width for _, width, _ in TABLE_COLUMNS)

LATE_INTEREST = "korkolain mukaan"
COMPLAINT_PERIOD = "7 pv"
TRANSFER_TERMS = (
    "Maksu välitetään saajalle maksujenvälityksen ehtojen mukaisesti ja vain maksajan "
    "ilmoittaman tilinumeron perusteella.",
    "Betalningen förmedlas till mottagaren enligt villkoren för betalningsförmedling och "
    "endast till det kontonummer som betalaren angivit.",
)


@cache
def _document_class() -> type[FPDF]:
    """The invoice's document class, made on first use: fpdf2 is slow to import."""
    from fpdf import FPDF

    class _Document(FPDF):
        """An A4 page with the document's header ("LASKU", "HYVITYSLASKU", …) and the page
        number on every page, the invoice number too on the pages after the first."""

        def __init__(self, number: str, title: str = "LASKU") -> None:
            super().__init__(orientation="P", unit="mm", format="A4")
            self.invoice_number = number
            self.heading = title

        def header(self) -> None:
            self.set_text_color(0)
            self.set_font("Helvetica", "B", 16)
            self.set_xy(110, 10)
            self.cell(60, 8, pdf_text(self.heading))
            self.set_font("Helvetica", size=9)
            self.set_xy(170, 11)
            self.cell(TABLE_RIGHT - 170, 6, f"{self.page_no()} ({{nb}})", align="R")
            if self.page_no() > 1:
                self.set_xy(110, 18)
                label = (
                    "Hyvityslaskun numero" if self.heading == "HYVITYSLASKU" else "Laskun numero"
                )
                self.cell(90, 5, pdf_text(f"{label} {self.invoice_number}"))
            self.set_xy(self.l_margin, self.t_margin)

    return _Document


def render(
    invoice: finvoice.Invoice,
    *,
    biller: Sequence[str] = (),
    seller_contact: Sequence[str] = (),
    payment_url: str | None = None,
    settlement: Sequence[str] = (),
) -> bytes:
    """The invoice as PDF bytes: Finnish, A4, the transfer form on the last page.

    `biller` are the lines that name who invoices on whose behalf (e.g. "Laskuttaja: …,
    laskuttajanumero …"); `seller_contact` the seller's phone, e-mail and the like;
    `payment_url` a link to pay online, printed when given. A credit note (its rows
    negative) names the invoice it credits, prints `settlement` (how the credit is
    settled, see `settlement_lines`) and has no transfer form: there is nothing to pay.
    """
    credit_note = invoice.type_code == finvoice.CREDIT_NOTE_CODE
    totals = vat.totals(
        vat.Line(row.quantity, row.unit_price, row.vat_percent) for row in invoice.rows
    )
    pdf = _document_class()(invoice.number, invoice.type_text)
    pdf.set_title(pdf_text(f"{invoice.type_text.capitalize()} {invoice.number}"))
    pdf.set_author(pdf_text(invoice.seller.name))
    pdf.set_lang("fi")
    # The same invoice gives the same bytes: a retried forwarding is the same print job.
    if invoice.created_at is not None:
        pdf.set_creation_date(invoice.created_at)
    pdf.set_margins(left=MARGIN, top=CONTINUATION_TOP, right=PAGE_WIDTH - TABLE_RIGHT)
    pdf.set_auto_page_break(True, margin=MARGIN)
    pdf.add_page()

    spilled_contacts = _seller(pdf, invoice.seller, seller_contact)
    _payer(pdf, invoice.buyer)
    facts_end = _facts(pdf, invoice, biller)
    pdf.set_y(max(TABLE_TOP, facts_end + 6))
    _rows(pdf, invoice.rows)
    _totals(pdf, totals, invoice.currency)
    _notes(pdf, invoice.free_text, payment_url, spilled_contacts, settlement)
    if credit_note:
        return bytes(pdf.output())

    if pdf.get_y() > FORM_TOP - 6:  # no room left for the form: it gets a page of its own
        pdf.add_page()
    _transfer_form(pdf, invoice, totals.gross)
    return bytes(pdf.output())


def settlement_lines(
    original_number: str, amount: Decimal, refund: Decimal, *, in_full: bool
) -> list[str]:
    """How a credit note of `amount` (VAT included) is settled: taken off what the payer
    still owes on the invoice, and what of it they had paid already (`refund`) returned."""
    lines = ["Hyvityslaskulla ei ole maksettavaa."]
    deducted = amount - refund
    if in_full and not refund:
        lines.append(f"Lasku {original_number} on hyvitetty kokonaan: sitä ei tarvitse maksaa.")
    elif deducted > 0:
        lines.append(
            f"Hyvitys {fi_amount(deducted)} EUR vähennetään laskun {original_number} "
            "maksettavasta summasta."
        )
    if refund > 0:
        lines.append(
            f"Laskusta {original_number} jo maksettu {fi_amount(refund)} EUR palautetaan "
            "maksajan tilille."
        )
    return lines


def fi_date(day: date) -> str:
    """A date the Finnish way, without leading zeros: 8.12.2026."""
    return f"{day.day}.{day.month}.{day.year}"


def references(invoice_reference: str) -> tuple[str, str]:
    """The Finnish reference and its RF form, both grouped for reading, whichever of the
    two the invoice carries (the payer's bank may want either)."""
    compact = re.sub(r"\s+", "", invoice_reference).upper()
    if compact.startswith("RF"):
        return reference.grouped(reference.finnish_of_rf(compact)), reference.grouped(compact)
    return reference.grouped(compact), reference.grouped(reference.rf(compact))


def grouped_iban(iban: str) -> str:
    """An IBAN in groups of four for reading: FI49 5000 9420 0287 30."""
    compact = re.sub(r"\s+", "", iban).upper()
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def virtual_barcode(invoice: finvoice.Invoice, amount: Decimal) -> str | None:
    """The 54 digits of the bank barcode, or None when the account is not Finnish (the
    barcode only carries a Finnish IBAN)."""
    if not re.sub(r"\s+", "", invoice.iban).upper().startswith("FI"):
        return None
    return bankbarcode.virtual_barcode(invoice.iban, invoice.reference, amount, invoice.due_date)


def bar_rectangles(
    modules: str,
    x: float = BARCODE_X,
    y: float = BARCODE_Y,
    *,
    module: float = MODULE_MM,
    height: float = BAR_HEIGHT_MM,
) -> list[tuple[float, float, float, float]]:
    """The bars of a barcode as rectangles (x, y, width, height) in mm: one for each run of
    "1" modules, so a bar two modules wide is one rectangle, not two touching ones."""
    return [
        (x + run.start() * module, y, len(run.group()) * module, height)
        for run in re.finditer("1+", modules)
    ]


# --- the parts of the page ------------------------------------------------------------


def _seller(pdf: FPDF, seller: finvoice.Party, contacts: Sequence[str]) -> list[str]:
    """The seller top left; the contact lines that do not fit above the envelope window
    are returned, to be printed after the totals."""
    pdf.set_xy(MARGIN, 12)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(90, 5, pdf_text(seller.name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    for line in _postal_lines(seller)[1:]:
        pdf.cell(90, 4.2, pdf_text(line), new_x="LMARGIN", new_y="NEXT")
    if seller.business_id:
        pdf.cell(90, 4.2, pdf_text(f"Y-tunnus {seller.business_id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    left = list(contacts)
    while left and pdf.get_y() + 3.8 <= ADDRESS_Y - 6:
        pdf.cell(90, 3.8, pdf_text(left.pop(0)), new_x="LMARGIN", new_y="NEXT")
    return left


def _postal_lines(party: finvoice.Party) -> list[str]:
    lines = [party.name, party.street, f"{party.postcode} {party.town}".strip()]
    if party.country and party.country.upper() != "FI":
        lines.append(party.country.upper())
    return [line for line in lines if line]


def _payer(pdf: FPDF, buyer: finvoice.Party) -> None:
    """The payer's name and address in the envelope window."""
    pdf.set_xy(ADDRESS_X, ADDRESS_Y)
    name, *rest = _postal_lines(buyer)
    pdf.set_font("Helvetica", "B", 10)
    pdf.multi_cell(ADDRESS_WIDTH, 4.5, pdf_text(name), align="L", new_x="LEFT", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    for line in rest:
        pdf.multi_cell(ADDRESS_WIDTH, 4.5, pdf_text(line), align="L", new_x="LEFT", new_y="NEXT")


def _facts(pdf: FPDF, invoice: finvoice.Invoice, biller: Sequence[str]) -> float:
    """The facts block right of the window, then the biller lines; returns where it ends."""
    finnish, rf = references(invoice.reference)
    days = (invoice.due_date - invoice.invoice_date).days
    facts: tuple[tuple[str, str], ...] = (
        ("Laskun numero", invoice.number),
        ("Laskun päivämäärä", fi_date(invoice.invoice_date)),
        ("Eräpäivä", fi_date(invoice.due_date)),
        ("Maksuehto", f"{days} pv netto" if days > 0 else "heti"),
        ("Viitenumero", finnish),
        ("RF-viite", rf),
        ("Viivästyskorko", LATE_INTEREST),
        ("Huomautusaika", COMPLAINT_PERIOD),
    )
    if invoice.type_code == finvoice.CREDIT_NOTE_CODE:
        facts = (
            ("Hyvityslaskun numero", invoice.number),
            ("Päivämäärä", fi_date(invoice.invoice_date)),
            ("Hyvitettävä lasku", invoice.original_number),
            ("Laskun päivämäärä", fi_date(invoice.original_date or invoice.invoice_date)),
            ("Viitenumero", finnish),
        )
    pdf.set_y(22)
    for label, value in facts:
        pdf.set_x(110)
        pdf.set_font("Helvetica", size=9)
        pdf.cell(35, 5, pdf_text(label))
        pdf.set_font("Helvetica", "B" if label in ("Eräpäivä", "Viitenumero") else "", 9)
        pdf.cell(TABLE_RIGHT - 145, 5, pdf_text(value), new_x="LMARGIN", new_y="NEXT")
    if biller:
        pdf.ln(2)
        pdf.set_font("Helvetica", size=8)
        for line in biller:
            pdf.set_x(110)
            pdf.multi_cell(
                TABLE_RIGHT - 110, 3.8, pdf_text(line), align="L", new_x="LMARGIN", new_y="NEXT"
            )
    return pdf.get_y()


def _table_header(pdf: FPDF) -> None:
    pdf.set_font("Helvetica", "B", 8.5)
    top = pdf.get_y()
    pdf.set_x(MARGIN)
    for title, width, align in TABLE_COLUMNS:
        pdf.cell(width, 6, pdf_text(title), align=align)
    pdf.set_line_width(0.3)
    pdf.line(MARGIN, top + 6, TABLE_RIGHT, top + 6)
    pdf.set_xy(MARGIN, top + 7)
    pdf.set_font("Helvetica", size=9)


def _rows(pdf: FPDF, rows: Sequence[finvoice.Row]) -> None:
    """The lines table. A long description wraps; a row that does not fit on the page
    moves to the next one (with the header row again), and a description longer than a
    whole page continues there instead of being cut."""
    from fpdf.enums import MethodReturnValue

    _table_header(pdf)
    widths = [width for _, width, _ in TABLE_COLUMNS]
    limit = pdf.h - MARGIN
    full_page = int((limit - CONTINUATION_TOP - 7) // ROW_LINE)
    for row in rows:
        line = vat.Line(row.quantity, row.unit_price, row.vat_percent)
        row_vat = vat.money(line.net * row.vat_percent / Decimal(100))  # as Finvoice does
        numbers = (
            fi_decimal(row.quantity),
            row.unit,
            fi_amount(row.unit_price, exact=True),
            fi_decimal(row.vat_percent),
            fi_amount(line.net),
            fi_amount(line.net + row_vat),
        )
        lines = pdf.multi_cell(
            widths[0],
            ROW_LINE,
            pdf_text(row.description),
            align="L",
            dry_run=True,
            output=MethodReturnValue.LINES,
        ) or [""]
        first = True
        while lines:
            room = int((limit - pdf.get_y()) // ROW_LINE)
            # keep a row together when a page can hold it; a longer one starts right here
            if room < (len(lines) if len(lines) <= full_page else 3):
                pdf.add_page()
                pdf.set_y(CONTINUATION_TOP)
                _table_header(pdf)
                room = int((limit - pdf.get_y()) // ROW_LINE)
            chunk, lines = lines[:room], lines[room:]
            top = pdf.get_y()
            for i, text in enumerate(chunk):
                pdf.set_xy(MARGIN, top + i * ROW_LINE)
                pdf.cell(widths[0], ROW_LINE, text)
            if first:
                pdf.set_xy(MARGIN + widths[0], top)
                for (_, width, align), value in zip(TABLE_COLUMNS[1:], numbers, strict=True):
                    pdf.cell(width, ROW_LINE, pdf_text(value), align=align)
                first = False
            pdf.set_xy(MARGIN, top + len(chunk) * ROW_LINE + 1)
    pdf.set_line_width(0.3)
    pdf.line(MARGIN, pdf.get_y(), TABLE_RIGHT, pdf.get_y())
    pdf.ln(3)


def _ensure_room(pdf: FPDF, height: float) -> None:
    if pdf.get_y() + height > pdf.h - MARGIN:
        pdf.add_page()
        pdf.set_y(CONTINUATION_TOP)


def _totals(pdf: FPDF, totals: vat.Totals, currency: str) -> None:
    """The VAT breakdown per rate (ALV-erittely) on the left and the invoice's totals on
    the right, side by side to leave the last page room for the transfer form."""
    columns = (("ALV %", 16.0), ("Veroton", 26.0), ("Vero", 26.0), ("Verollinen", 26.0))
    _ensure_room(pdf, max(5 * (len(totals.rows) + 2), 3 * 6) + 4)
    top = pdf.get_y()
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 5, "ALV-erittely", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 8.5)
    for title, width in columns:
        pdf.cell(width, 5, pdf_text(title), align="R")
    pdf.ln(5)
    pdf.set_font("Helvetica", size=9)
    for row in totals.rows:
        values = (
            fi_decimal(row.percent),
            fi_amount(row.base),
            fi_amount(row.vat),
            fi_amount(row.base + row.vat),
        )
        for (_, width), value in zip(columns, values, strict=True):
            pdf.cell(width, 5, value, align="R")
        pdf.ln(5)
    breakdown_end = pdf.get_y()

    summary = (
        ("Veroton yhteensä", totals.net, ""),
        ("ALV yhteensä", totals.vat, ""),
        (f"Yhteensä {currency}", totals.gross, "B"),
    )
    pdf.set_y(top + 5)
    for label, amount, style in summary:
        pdf.set_font("Helvetica", style, 10 if style else 9)
        pdf.set_x(TABLE_RIGHT - 75)
        pdf.cell(45, 6, pdf_text(label), align="R")
        pdf.cell(30, 6, fi_amount(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(breakdown_end, pdf.get_y()) + 4)


def _notes(
    pdf: FPDF,
    free_text: str,
    payment_url: str | None,
    contacts: Sequence[str],
    settlement: Sequence[str] = (),
) -> None:
    """The invoice's free text, the link to pay online and any contact lines left over;
    on a credit note, how the credit is settled."""
    width = TABLE_RIGHT - MARGIN
    if settlement:
        _ensure_room(pdf, 5 * (len(settlement) + 1))
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(width, 5, pdf_text("Hyvityksen suoritus"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=9)
        for line in settlement:
            pdf.multi_cell(width, 4.5, pdf_text(line), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.set_font("Helvetica", size=9)
    if free_text:
        _ensure_room(pdf, 5)
        pdf.multi_cell(width, 4.5, pdf_text(free_text), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    if payment_url:
        _ensure_room(pdf, 5)
        pdf.multi_cell(
            width, 4.5, pdf_text(f"Maksa verkossa: {payment_url}"), align="L",
            new_x="LMARGIN", new_y="NEXT",
        )  # fmt: skip
        pdf.ln(2)
    if contacts:
        _ensure_room(pdf, 5 * (len(contacts) + 1))
        pdf.set_font("Helvetica", size=8)
        for line in contacts:
            pdf.multi_cell(width, 4, pdf_text(line), align="L", new_x="LMARGIN", new_y="NEXT")


# --- the bank transfer form -----------------------------------------------------------


def _label(pdf: FPDF, lines: Sequence[str], top: float, *, x: float | None = None) -> None:
    """A bilingual label of the form, one word group a line: right-aligned in the left
    column, or left-aligned at x."""
    pdf.set_font("Helvetica", size=6.5)
    for i, text in enumerate(lines):
        if x is None:
            pdf.set_xy(FORM_LEFT - 2, FORM_TOP + top + i * 2.7)
            pdf.cell(FORM_LABEL_RIGHT - FORM_LEFT + 2, 2.7, pdf_text(text), align="R")
        else:
            pdf.set_xy(x, FORM_TOP + top + i * 2.7)
            pdf.cell(20, 2.7, pdf_text(text))


def _value(pdf: FPDF, x: float, top: float, text: str, *, bold: bool = False, width=86.0):
    pdf.set_font("Helvetica", "B" if bold else "", 10 if bold else 9)
    pdf.set_xy(x, FORM_TOP + top)
    pdf.cell(width, 4.2, pdf_text(text))


def _transfer_form(pdf: FPDF, invoice: finvoice.Invoice, amount: Decimal) -> None:
    """The tilisiirtolomake at the bottom of the current page, with the bank barcode."""
    pdf.set_auto_page_break(False)  # everything here is placed; none of it may break
    pdf.set_draw_color(0)
    pdf.set_text_color(0)

    # the cut line above the form
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=1.5, gap=1.5)
    pdf.line(0, FORM_TOP, PAGE_WIDTH, FORM_TOP)
    pdf.set_dash_pattern()

    # the boxes
    y = FORM_TOP
    pdf.set_line_width(FORM_RULE)
    pdf.line(FORM_MIDDLE, y, FORM_MIDDLE, y + 69.8)
    pdf.line(FORM_COLUMN, y, FORM_COLUMN, y + 31.7)
    pdf.line(FORM_LEFT, y + 16.9, FORM_MIDDLE, y + 16.9)
    pdf.line(FORM_LEFT, y + 31.7, FORM_MIDDLE, y + 31.7)
    pdf.line(FORM_MIDDLE, y + 52.8, FORM_RIGHT, y + 52.8)
    pdf.line(FORM_LEFT, y + 61.3, FORM_RIGHT, y + 61.3)
    pdf.line(FORM_LEFT, y + 69.8, FORM_RIGHT, y + 69.8)
    pdf.line(FORM_COLUMN, y + 61.3, FORM_COLUMN, y + 69.8)
    pdf.line(131.4, y + 52.8, 131.4, y + 69.8)
    pdf.line(158.0, y + 61.3, 158.0, y + 69.8)
    pdf.set_line_width(FORM_THIN_RULE)
    pdf.line(FORM_COLUMN + 2, y + 57.1, FORM_MIDDLE - 3, y + 57.1)  # the signature line

    # the labels (the standard's wording, Finnish and Swedish), each followed by its value
    with pdf.rotation(90, x=3.5, y=FORM_TOP + 68):
        pdf.set_font("Helvetica", "B", 7)
        pdf.text(3.5, FORM_TOP + 68, "TILISIIRTO GIRERING")
    _label(pdf, ("Saajan", "tilinumero", "Mottagarens", "kontonummer"), 2.0)
    _label(pdf, ("IBAN",), 1.0, x=FORM_COLUMN + 2)
    _value(pdf, FORM_COLUMN + 2, 6.5, grouped_iban(invoice.iban), bold=True, width=58)
    _label(pdf, ("BIC",), 1.0, x=82.0)
    _value(pdf, 82.0, 6.5, invoice.bic, bold=True, width=28)
    _label(pdf, ("Saaja", "Mottagare"), 19.0)
    recipient = _postal_lines(invoice.seller)
    _value(pdf, FORM_COLUMN + 2, 18.3, recipient[0], bold=True)
    _value(pdf, FORM_COLUMN + 2, 22.8, recipient[1] if len(recipient) > 1 else "")
    _value(pdf, FORM_COLUMN + 2, 26.9, ", ".join(recipient[2:]))
    _label(pdf, ("Maksajan", "nimi ja", "osoite", "Betalarens", "namn och", "adress"), 33.5)
    for i, line in enumerate(_postal_lines(invoice.buyer)[:4]):
        _value(pdf, FORM_COLUMN + 2, 33.5 + i * 4.2, line, bold=i == 0)
    _label(pdf, ("Allekirjoitus", "Underskrift"), 55.5)
    _label(pdf, ("Tililtä nro", "Från konto nr"), 62.6)
    pdf.set_font("Helvetica", size=8)
    pdf.set_xy(FORM_MIDDLE + 3, FORM_TOP + 3)
    pdf.cell(85, 4, pdf_text(f"Laskun numero {invoice.number}"))
    _label(pdf, ("Viitenro", "Ref.nr"), 54.0, x=FORM_MIDDLE + 1)
    _value(pdf, 133.0, 55.0, reference.grouped(invoice.reference), bold=True, width=70)
    _label(pdf, ("Eräpäivä", "Förfallodag"), 62.6, x=FORM_MIDDLE + 1)
    _value(pdf, 133.0, 63.6, fi_date(invoice.due_date), bold=True, width=24)
    _label(pdf, ("Euro",), 62.6, x=159.0)
    pdf.set_font("Helvetica", "B", 10)
    pdf.set_xy(165.0, FORM_TOP + 63.6)
    pdf.cell(FORM_RIGHT - 2 - 165.0, 4.2, fi_amount(amount), align="R")

    # the bottom part: the transfer terms, the virtual barcode and its bars
    pdf.set_font("Helvetica", size=6)
    pdf.set_xy(FORM_MIDDLE + 1, FORM_TOP + 72)
    for text in TRANSFER_TERMS:
        pdf.multi_cell(
            FORM_RIGHT - FORM_MIDDLE - 1, 2.5, pdf_text(text), align="L",
            new_x="LEFT", new_y="NEXT",
        )  # fmt: skip
    code = virtual_barcode(invoice, amount)
    if code is None:
        return
    pdf.set_xy(FORM_MIDDLE + 1, FORM_TOP + 86)
    pdf.set_font("Helvetica", size=6.5)
    pdf.cell(60, 3, "Virtuaaliviivakoodi")
    pdf.set_xy(FORM_MIDDLE + 1, FORM_TOP + 89.5)
    pdf.set_font("Helvetica", size=8)
    pdf.cell(FORM_RIGHT - FORM_MIDDLE - 1, 3.5, code)
    pdf.set_fill_color(0)
    for x, top, width, height in bar_rectangles(bankbarcode.code128_bars(code)):
        pdf.rect(x, top, width, height, style="F")
