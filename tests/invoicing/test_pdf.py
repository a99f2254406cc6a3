"""The Finnish invoice PDF: read back with pypdf, its facts, its transfer form and its bars."""

from __future__ import annotations

import ast
import dataclasses
import io
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from barcode import Code128
from pypdf import PdfReader

from services.invoicing import bankbarcode, finvoice, invoice_pdf, reference
from services.pdftext import fi_amount, fi_decimal, pdf_text
from tests.fixtures.invoicing import finvoice_invoice

MM = 72 / 25.4  # PDF points in a millimetre

FORM_LABELS = (
    "Saajan tilinumero Mottagarens kontonummer",
    "Saaja Mottagare",
    "Maksajan nimi ja osoite Betalarens namn och adress",
    "Allekirjoitus Underskrift",
    "Tililtä nro Från konto nr",
    "Viitenro Ref.nr",
    "Eräpäivä Förfallodag",
    "Virtuaaliviivakoodi",
)
BILLER = "Laskuttaja: Tiina Testaaja, laskuttajanumero 100102"


def invoice(**changes) -> finvoice.Invoice:
    """The Finvoice tests' invoice with other lines, and a payer without e-invoice details."""
    base = finvoice_invoice()
    values = {
        "buyer": finvoice.Party("Ostaja Oy", "Ostajantie 5 B 12", "33100", "Tampere"),
        "rows": [
            finvoice.Row("Konsultointi", Decimal("12.5"), "h", Decimal("85.00"), Decimal("25.5")),
            finvoice.Row("Kirja", Decimal("2"), "kpl", Decimal("24.90"), Decimal("13.5")),
        ],
        "created_at": None,
        "seller_einvoice": ("", ""),
    }
    values.update(changes)
    return dataclasses.replace(base, **values)


def render(inv: finvoice.Invoice | None = None, **options) -> bytes:
    return invoice_pdf.render(inv or invoice(), **options)


def pages(data: bytes) -> list[str]:
    """The text of each page, whitespace made single spaces (labels span several lines)."""
    reader = PdfReader(io.BytesIO(data))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def barcode_digits(text: str) -> str:
    (code,) = re.findall(r"\b[45]\d{53}\b", text)
    return code


def placed_text(page) -> list[tuple[str, float]]:
    """The text pieces of a page with their height (PDF points from the bottom)."""
    placed: list[tuple[str, float]] = []
    page.extract_text(visitor_text=lambda t, cm, tm, font, size: placed.append((t, tm[5])))
    return placed


def many_rows(count: int) -> list[finvoice.Row]:
    return [
        finvoice.Row(
            f"Rivi {i} " + "pitkä kuvaus " * (i % 9),
            Decimal("1"),
            "kpl",
            Decimal("10.00"),
            Decimal("25.5"),
        )
        for i in range(count)
    ]


# --- the document and its facts -------------------------------------------------------


def test_the_invoice_is_a_pdf_with_title_and_author():
    data = render()
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    assert reader.metadata.title == "Lasku 10010215"
    assert reader.metadata.author == "Toiminimi Testinen"
    assert len(reader.pages) == 1  # two lines leave room for the form on the first page


def test_the_text_has_the_invoice_facts_in_finnish_formats():
    data = render(
        biller=[BILLER],
        seller_contact=["puh. 040 123 4567", "laskutus@example.fi"],
        payment_url="https://example.fi/maksa/abc",
    )
    (text,) = pages(data)
    assert text.startswith("LASKU")
    for expected in (
        "Laskun numero 10010215",
        "Laskun päivämäärä 24.11.2026",
        "Eräpäivä 8.12.2026",
        "Maksuehto 14 pv netto",
        "Viitenumero 1001 02154",
        "RF-viite RF85 1001 0215 4",
        "Viivästyskorko korkolain mukaan",
        "Huomautusaika 7 pv",
        "Y-tunnus 1234563-9",
        "puh. 040 123 4567",
        "laskutus@example.fi",
        BILLER,
        "Ostaja Oy Ostajantie 5 B 12 33100 Tampere",
        "FI49 5000 9420 0287 30",
        "OKOYFIHH",
        "Kiitos tilauksesta",
        "Maksa verkossa: https://example.fi/maksa/abc",
    ):
        assert expected in text, expected
    # the lines: net per line, and the line's VAT added as Finvoice does it
    assert "Konsultointi 12,5 h 85,00 25,5 1 062,50 1 333,44" in text
    assert "Kirja 2 kpl 24,90 13,5 49,80 56,52" in text
    # the VAT breakdown, one row a rate, and the totals
    assert "ALV % Veroton Vero Verollinen" in text
    assert "25,5 1 062,50 270,94 1 333,44" in text
    assert "13,5 49,80 6,72 56,52" in text
    assert "Veroton yhteensä 1 112,30" in text
    assert "ALV yhteensä 277,66" in text
    assert "Yhteensä EUR 1 389,96" in text


def test_the_reference_numbers_match_the_reference_module():
    (text,) = pages(render())
    finnish = reference.finnish("10010215")
    assert reference.grouped(finnish) in text
    assert reference.grouped(reference.rf(finnish)) in text


def test_without_the_optional_parts_nothing_of_them_is_printed():
    (text,) = pages(render(invoice(free_text="")))
    assert "Maksa verkossa" not in text
    assert "Laskuttaja" not in text
    assert "Kiitos" not in text


# --- the transfer form and the bank barcode --------------------------------------------


def test_the_transfer_form_has_its_labels_and_values():
    (text,) = pages(render())
    for label in FORM_LABELS:
        assert text.count(label) == 1, label
    assert "Euro" in text
    assert "Viitenro Ref.nr 1001 02154" in text
    assert "Eräpäivä Förfallodag 8.12.2026" in text
    assert "Euro 1 389,96" in text


def test_the_virtual_barcode_is_version_4_and_carries_the_invoice():
    inv = invoice()
    code = barcode_digits(pages(render(inv))[0])
    assert code == bankbarcode.virtual_barcode(
        inv.iban, inv.reference, Decimal("1389.96"), inv.due_date
    )
    assert code[0] == "4"
    assert code[1:17] == "4950009420028730"  # the IBAN without FI
    assert code[17:25] == "00138996"  # euros and cents
    assert code.endswith("261208")  # the due date


def test_an_rf_reference_gives_a_version_5_barcode():
    rf = reference.rf(reference.finnish("10010215"))
    (text,) = pages(render(invoice(reference=rf)))
    assert barcode_digits(text)[0] == "5"
    assert "RF-viite RF85 1001 0215 4" in text
    assert "Viitenumero 1001 02154" in text
    assert "Viitenro Ref.nr RF85 1001 0215 4" in text  # the form carries what was issued


def test_over_the_barcode_maximum_the_amount_is_left_for_the_payer():
    rows = [finvoice.Row("Kone", Decimal("1"), "kpl", Decimal("1000000.00"), Decimal("25.5"))]
    (text,) = pages(render(invoice(rows=rows)))
    assert "Yhteensä EUR 1 255 000,00" in text
    assert "Euro 1 255 000,00" in text
    assert barcode_digits(text)[17:25] == "00000000"


def test_python_barcode_encodes_the_digits_in_charset_c():
    code = bankbarcode.virtual_barcode(
        "FI49 5000 9420 0287 30", reference.finnish("10010215"), Decimal("1"), date(2026, 12, 8)
    )
    encoded = Code128(code).encoded
    assert encoded[0] == 105  # Start C
    assert len(encoded) == 1 + 27  # two digits a symbol, no change of charset
    assert all(value <= 99 for value in encoded[1:])
    # start, 27 symbols and the check symbol of 11 modules, the stop pattern of 13
    assert len(bankbarcode.code128_bars(code)) == 29 * 11 + 13


def test_bar_rectangles_are_one_for_each_run_of_bars():
    assert invoice_pdf.bar_rectangles("1101110001", 10, 20, module=1, height=5) == [
        (10, 20, 2, 5),
        (13, 20, 3, 5),
        (19, 20, 1, 5),
    ]


def test_the_bars_drawn_are_the_code_128_of_the_digits():
    data = render()
    code = barcode_digits(pages(data)[-1])
    expected = invoice_pdf.bar_rectangles(bankbarcode.code128_bars(code))
    content = PdfReader(io.BytesIO(data)).pages[-1].get_contents().get_data().decode("latin-1")
    drawn = [
        tuple(float(v) for v in match)
        for match in re.findall(r"([\d.]+) ([\d.]+) ([\d.]+) (-?[\d.]+) re f\b", content)
    ]
    assert len(drawn) == len(expected)
    for (x, y, width, height), (px, py, pwidth, pheight) in zip(expected, drawn, strict=True):
        assert px == pytest.approx(x * MM, abs=0.01)
        assert py == pytest.approx((invoice_pdf.PAGE_HEIGHT - y) * MM, abs=0.01)
        assert pwidth == pytest.approx(width * MM, abs=0.01)
        assert pheight == pytest.approx(-height * MM, abs=0.01)


def test_the_barcode_dimensions_and_its_quiet_zones_fit_the_form():
    assert 0.25 <= invoice_pdf.MODULE_MM <= 0.30
    assert invoice_pdf.BAR_HEIGHT_MM >= 13
    assert invoice_pdf.QUIET_ZONE_MM >= 6.4
    length = (29 * 11 + 13) * invoice_pdf.MODULE_MM
    assert invoice_pdf.BARCODE_X - invoice_pdf.QUIET_ZONE_MM > 0
    # right of the symbol, its quiet zone ends before the form's middle rule
    assert invoice_pdf.BARCODE_X + length + invoice_pdf.QUIET_ZONE_MM < invoice_pdf.FORM_MIDDLE
    # under the form's boxes (they end 69.8 mm below its top) and on the sheet
    assert invoice_pdf.BARCODE_Y > invoice_pdf.FORM_TOP + 69.8
    assert invoice_pdf.BARCODE_Y + invoice_pdf.BAR_HEIGHT_MM < invoice_pdf.PAGE_HEIGHT - 5
    assert invoice_pdf.FORM_HEIGHT == pytest.approx(101.6)


def test_a_foreign_account_gets_the_form_without_a_barcode():
    (text,) = pages(render(invoice(iban="DE89 3704 0044 0532 0130 00", bic="COBADEFF")))
    assert "DE89 3704 0044 0532 0130 00" in text
    assert "Virtuaaliviivakoodi" not in text
    assert not re.search(r"\d{54}", text)


# --- many lines, long lines ------------------------------------------------------------


def test_sixty_lines_continue_on_further_pages_and_the_form_is_on_the_last():
    texts = pages(render(invoice(rows=many_rows(60))))
    assert len(texts) >= 2
    numbers = [int(n) for text in texts for n in re.findall(r"\bRivi (\d+)\b", text)]
    assert numbers == list(range(60))  # every line once, in order
    for row in many_rows(60):  # a wrapped row stays together, with its numbers
        whole = " ".join(row.description.split()) + " 1 kpl 10,00 25,5 10,00 12,55"
        assert sum(whole in text for text in texts) == 1, row.description
    for i, text in enumerate(texts):
        assert f"LASKU {i + 1} ({len(texts)})" in text
        if "Rivi " in text:
            assert "Kuvaus Määrä Yks. À-hinta ALV % Veroton Yhteensä" in text
    for label in FORM_LABELS:
        assert [text.count(label) for text in texts] == [0] * (len(texts) - 1) + [1], label
    assert "Yhteensä EUR 753,00" in texts[-1]


def test_the_form_never_overlaps_the_lines_and_gets_a_page_when_needed():
    """Whatever the number of lines, the lines and totals on the last page stay above the
    cut line; in this range the form shares its page with the totals for some counts, and
    for others the lines leave it no room and it gets a page of its own."""
    cut_line = invoice_pdf.FORM_HEIGHT * MM  # in PDF coordinates, from the bottom
    shared = alone = False
    for count in range(1, 31):
        reader = PdfReader(io.BytesIO(render(invoice(rows=many_rows(count), free_text=""))))
        placed = placed_text(reader.pages[-1])
        content = [y for t, y in placed if re.search(r"Rivi|Yhteensä|ALV-erittely", t)]
        assert all(y > cut_line for y in content), count
        assert any("Virtuaaliviivakoodi" in t for t, _ in placed), count
        if any("Yhteensä EUR" in t for t, _ in placed):
            shared = True
        else:
            alone = True
            before = pages(render(invoice(rows=many_rows(count), free_text="")))[-2]
            assert "Yhteensä EUR" in before, count
    assert shared and alone


def test_a_description_longer_than_a_page_is_continued_not_cut():
    words = [f"sana{i}" for i in range(600)]
    rows = [finvoice.Row(" ".join(words), Decimal("1"), "kpl", Decimal("5"), Decimal("25.5"))]
    texts = pages(render(invoice(rows=rows)))
    assert len(texts) >= 2
    assert "Kuvaus Määrä Yks. À-hinta ALV % Veroton Yhteensä sana0 sana1" in texts[0]
    joined = " ".join(texts)
    assert re.findall(r"\bsana(\d+)\b", joined) == [str(i) for i in range(600)]
    assert joined.count("Kuvaus Määrä Yks.") >= 2  # the header row again on the next page


# --- text the core fonts cannot print ------------------------------------------------


def test_text_outside_latin_1_does_not_crash():
    inv = invoice(
        seller=finvoice.Party("Łódź ☃ Oy", "Ulica 1", "00100", "Helsinki"),
        buyer=finvoice.Party("Zoë Ærø", "Tie 2 – B", "00200", "Espoo"),
        rows=[finvoice.Row("Lumiukko ☃ € — …", Decimal("1"), "kpl", Decimal("5"), Decimal("0"))],
        free_text="Kiitos ❤",
    )
    data = render(inv, biller=["Laskuttaja: Łukasz"], seller_contact=["☎ 040 123"])
    (text,) = pages(data)
    assert "?ód? ? Oy" in text
    assert "Zoë Ærø" in text
    assert "Lumiukko ? ? - ..." in text
    assert PdfReader(io.BytesIO(data)).metadata.author == "?ód? ? Oy"


def test_pdf_text_and_finnish_numbers():
    assert pdf_text("Łódź ☃ – … Åsa") == "?ód? ? - ... Åsa"
    assert pdf_text(Decimal("1.5")) == "1.5"
    assert fi_amount(Decimal("1234.5")) == "1 234,50"
    assert fi_amount(Decimal("-1234.5")) == "-1 234,50"
    assert fi_amount(Decimal("1234567.89")) == "1 234 567,89"
    assert fi_amount(Decimal("0.125"), exact=True) == "0,125"
    assert fi_decimal(Decimal("25.50")) == "25,5"
    assert fi_decimal(Decimal("100")) == "100"
    assert fi_decimal(Decimal("3.5")) == "3,5"


def test_the_module_stays_pure():
    """No Flask in the renderer: configuration comes in as arguments."""
    source = Path(invoice_pdf.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not [name for name in imported if name.split(".")[0].startswith("flask")]


def test_a_same_day_due_date_is_paid_at_once():
    (text,) = pages(render(replace(invoice(), due_date=date(2026, 11, 24))))
    assert "Maksuehto heti" in text
    assert "Eräpäivä 24.11.2026" in text
