"""Text for PDFs drawn with fpdf2's built-in (core) fonts, shared by the portal's PDFs.

The core fonts (Helvetica and friends) only know Latin-1: fpdf2 refuses any other
character with an exception, so one stray "Łódź" or "☃" in a customer's name would
break the whole document. Everything printed goes through `pdf_text`, which keeps
what Latin-1 has (æ, ø, å, ä, ö, é …), maps the common typographic characters to their
plain look-alikes and turns the rest into "?" rather than failing.
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_decimal

# Typographic characters outside Latin-1 that have an obvious plain form.
_PLAIN = str.maketrans(
    {
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2212": "-",  # minus sign (CLDR uses it for negative numbers in some locales)
        "\u2026": "...",  # ellipsis
        "\u202f": " ",  # narrow no-break space (CLDR group separator in some locales)
    }
)


def pdf_text(value) -> str:
    """Text the PDF's built-in fonts can print (Latin-1: æ, ø, å, ä and ö included);
    anything else becomes "?" instead of an exception in the middle of a document."""
    text = str(value).translate(_PLAIN)
    return text.encode("latin-1", "replace").decode("latin-1")


def fi_amount(value, *, exact: bool = False) -> str:
    """A sum the Finnish way, "1 234,56": a space between thousands, a comma for the
    decimals, at least two of them. With `exact`, further decimals are kept (unit prices
    such as 0,125 €) instead of being rounded away in print."""
    text = format_decimal(
        Decimal(value), "#,##0.00", locale="fi_FI", decimal_quantization=not exact
    )
    return _plain_spaces(text)


def fi_decimal(value) -> str:
    """A quantity or a percentage the Finnish way with just the decimals it has:
    3.5 → "3,5", 25.50 → "25,5", 2.00 → "2"."""
    number = Decimal(value).normalize()
    return _plain_spaces(format_decimal(number, locale="fi_FI", decimal_quantization=False))


def _plain_spaces(text: str) -> str:
    # CLDR groups thousands with a no-break space; a plain one prints (and extracts) the same.
    return text.replace("\xa0", " ").replace("\u202f", " ")
