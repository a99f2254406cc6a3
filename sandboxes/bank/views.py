"""The bank sandbox, under /sandbox/bank: plays the service's bank, which reports the
incoming reference payments to the account as ISO 20022 camt.054 files. It writes such a
file for the demo's open invoices, paying each in full, in part, with too much, or
without a usable reference, as the Finnish banks' guideline lays the file out (version
.001.02: one batch entry, one transaction a payment). Staff then import it at
/staff/invoices/bank as they would the bank's own."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import Response, current_app, render_template, request
from flask.typing import ResponseReturnValue
from lxml import etree

from access import staff_required
from blueprints.shared import Routes
from extensions import db
from models.invoicing import InvoiceStatus, SalesInvoice
from models.types import utcnow
from services.invoicing import reference

routes = Routes()

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"
SHOWN = 50  # open invoices offered at once, the earliest due first
VARIANTS = {
    "full": "each invoice paid in full",
    "partial": "each invoice paid in part (half)",
    "over": "each invoice paid with 10,00 too much",
    "rf": "each invoice paid in full, with its RF reference",
    "unmatched": "payments the desk cannot match: no reference, an unknown one",
}


def _open_invoices() -> list[SalesInvoice]:
    return list(
        db.session.scalars(
            sa.select(SalesInvoice)
            .where(SalesInvoice.status == InvoiceStatus.OPEN)
            .order_by(SalesInvoice.due_date, SalesInvoice.id)
            .limit(SHOWN)
        )
    )


def payments_for(invoices: list[SalesInvoice], variant: str) -> list[tuple[Decimal, str, str]]:
    """The payments (amount, creditor reference, payer) the variant makes of the invoices."""
    if variant == "unmatched":
        return [
            (Decimal("42.00"), "", "Tuntematon Maksaja"),
            (Decimal("17.50"), "1232", "Väärä Viite Oy"),
        ]
    made = []
    for invoice in invoices:
        outstanding = invoice.outstanding
        amount = {
            "partial": (outstanding / 2).quantize(Decimal("0.01")),
            "over": outstanding + Decimal("10.00"),
        }.get(variant, outstanding)
        ref = reference.rf(invoice.reference) if variant == "rf" else invoice.reference
        if amount > 0:
            made.append((amount, ref, invoice.payer_name or "Maksaja"))
    return made


def _element(parent, tag: str, text: str | None = None, **attributes) -> etree._Element:
    node = etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}", **attributes)
    if text is not None:
        node.text = text
    return node


def _path(parent, *tags: str, text: str | None = None, **attributes) -> etree._Element:
    node = parent
    for tag in tags[:-1]:
        node = _element(node, tag)
    return _element(node, tags[-1], text, **attributes)


def camt054(payments: list[tuple[Decimal, str, str]], account: str, now: datetime) -> bytes:
    """A camt.054.001.02 notification of the payments, as one batch entry booked today."""
    stamp = now.strftime("%Y%m%d%H%M%S")
    booked = now.date().isoformat()
    root = etree.Element(f"{{{NAMESPACE}}}Document", nsmap={None: NAMESPACE})
    message = _element(root, "BkToCstmrDbtCdtNtfctn")
    header = _element(message, "GrpHdr")
    _element(header, "MsgId", f"SANDBOX-{stamp}-{secrets.token_hex(3).upper()}")
    _element(header, "CreDtTm", now.isoformat(timespec="seconds"))
    notification = _element(message, "Ntfctn")
    _element(notification, "Id", f"NTF-{stamp}")
    _element(notification, "CreDtTm", now.isoformat(timespec="seconds"))
    _path(notification, "Acct", "Id", "IBAN", text=account)
    entry = _element(notification, "Ntry")
    total = sum((amount for amount, _, _ in payments), Decimal("0.00"))
    _element(entry, "Amt", f"{total:.2f}", Ccy="EUR")
    _element(entry, "CdtDbtInd", "CRDT")
    _element(entry, "RvslInd", "false")
    _element(entry, "Sts", "BOOK")
    _path(entry, "BookgDt", "Dt", text=booked)
    _path(entry, "ValDt", "Dt", text=booked)
    entry_reference = f"{stamp}{secrets.token_hex(4).upper()}"
    _element(entry, "AcctSvcrRef", entry_reference)
    code = _element(entry, "BkTxCd")
    domain = _element(code, "Domn")
    _element(domain, "Cd", "PMNT")
    family = _element(domain, "Fmly")
    _element(family, "Cd", "RCDT")
    _element(family, "SubFmlyCd", "ESCT")
    details = _element(entry, "NtryDtls")
    _path(details, "Btch", "NbOfTxs", text=str(len(payments)))
    for index, (amount, ref, payer) in enumerate(payments, start=1):
        transaction = _element(details, "TxDtls")
        _path(transaction, "Refs", "AcctSvcrRef", text=f"{entry_reference}-{index:04d}")
        _path(transaction, "AmtDtls", "TxAmt", "Amt", text=f"{amount:.2f}", Ccy="EUR")
        _path(transaction, "RltdPties", "Dbtr", "Nm", text=payer[:140])
        if ref:
            creditor = _path(transaction, "RmtInf", "Strd", "CdtrRefInf")
            _path(creditor, "Tp", "CdOrPrtry", "Cd", text="SCOR")
            _element(creditor, "Ref", ref)
        _path(transaction, "RltdDts", "AccptncDtTm", text=now.isoformat(timespec="seconds"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


@routes.get("/")
@staff_required
def index() -> ResponseReturnValue:
    """The open invoices the bank could report paid, and the file's variants."""
    return render_template("sandbox/bank.html", invoices=_open_invoices(), variants=VARIANTS)


@routes.post("/camt054")
@staff_required
def notification() -> ResponseReturnValue:
    """A camt.054 file paying the open invoices in the chosen way, to download."""
    variant = request.form.get("variant", "full")
    if variant not in VARIANTS:
        variant = "full"
    now = utcnow().astimezone()
    data = camt054(
        payments_for(_open_invoices(), variant),
        "".join(current_app.config["INVOICE_IBAN"].split()),  # the account invoices name
        now,
    )
    name = f"camt054-{variant}-{date.today().isoformat()}.xml"
    return Response(
        data,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
