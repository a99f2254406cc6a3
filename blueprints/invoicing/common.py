"""What the invoice desk's public and staff pages share."""

from __future__ import annotations

from flask import Response

from models.invoicing import SalesInvoice
from services.invoicing import desk as invoicing


def pdf_response(invoice: SalesInvoice) -> Response:
    return Response(
        invoicing.pdf(invoice),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoicing.file_stem(invoice)}.pdf"'},
    )
