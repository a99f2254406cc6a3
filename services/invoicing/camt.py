"""The bank's reports of incoming payments: ISO 20022 camt.054 (BankToCustomerDebitCredit-
Notification, in which Finnish banks deliver incoming reference payments) and camt.053
(BankToCustomerStatement, the daily statement), read into the credits they report.

Both carry entries (`Ntry`) in the same shape. A reference payment is a credit
(`CdtDbtInd` CRDT) that is booked (`Sts` BOOK) and not a reversal (`RvslInd`); a batch
entry of the bank's reference payments holds one `TxDtls` a payment. Each payment is
named by the bank's own reference (`AcctSvcrRef`: the transaction's, else the entry's),
which the import keeps unique, and carries the payer's structured creditor reference
(`RmtInf/Strd/CdtrRefInf/Ref`: a Finnish national or an RF reference), its amount, the
booking date and the payer's name.

The XML is read as hostile: size-limited, no DTD, no entities, no network."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from lxml import etree

from services.safe_xml import hardened_parser

MAX_BYTES = 20_000_000
NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:(camt\.05[34])\.001\.(\d\d)")
ROOTS = {"camt.054": "BkToCstmrDbtCdtNtfctn", "camt.053": "BkToCstmrStmt"}
REPORTS = {"camt.054": "Ntfctn", "camt.053": "Stmt"}


class CamtError(ValueError):
    """A file that is not a bank report the import can read: the message says why."""

    def __init__(self, message) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Credit:
    """One incoming payment as the bank reports it."""

    bank_reference: str  # AcctSvcrRef: unique for the bank's account
    amount: Decimal
    currency: str
    booked_on: date
    reference: str  # the creditor reference as given (compact, upper case); "" if none
    payer_name: str
    reversal: bool = False  # the bank took back an earlier credit


@dataclass(frozen=True)
class Report:
    """What a file reports: its kind, the bank's message id, the account, the credits."""

    kind: str  # camt.054 or camt.053
    message_id: str
    account: str  # the IBAN the entries are on
    credits: list[Credit]
    skipped: int  # entries that are no booked credit (debits, pending): nothing to book


def _parse_xml(data: bytes) -> etree._Element:
    if not data.strip():
        raise CamtError(_l("The file is empty."))
    if len(data) > MAX_BYTES:
        raise CamtError(_l("The file is larger than %(size)s MB.", size=MAX_BYTES // 1_000_000))
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise CamtError(_l("The file declares a DTD or entities, which a bank report does not."))
    parser = hardened_parser()
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise CamtError(_l("The file is not well-formed XML: %(reason)s", reason=exc.msg)) from exc
    if root is None:
        raise CamtError(_l("The file is empty."))
    return root


def _text(node: etree._Element | None, path: str, ns: dict[str, str]) -> str:
    found = node.find(path, ns) if node is not None else None
    return " ".join((found.text or "").split()) if found is not None else ""


def _amount(node: etree._Element | None, ns: dict[str, str]) -> tuple[Decimal, str] | None:
    if node is None:
        return None
    try:
        amount = Decimal((node.text or "").strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:
        return None
    return amount, (node.get("Ccy") or "").upper()


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _booked(entry: etree._Element, ns: dict[str, str]) -> bool:
    # Sts is a code in .02 (BOOK) and a choice in later versions (Sts/Cd BOOK).
    status = _text(entry, "c:Sts", ns) or _text(entry, "c:Sts/c:Cd", ns)
    return status == "BOOK"


def parse(data: bytes) -> Report:
    """The credits a camt.054 or camt.053 file reports; CamtError when it is none."""
    root = _parse_xml(data)
    match = NAMESPACE.fullmatch(etree.QName(root).namespace or "")
    if etree.QName(root).localname != "Document" or not match:
        raise CamtError(_l("The file is not an ISO 20022 camt.054 or camt.053 document."))
    kind = match.group(1)
    ns = {"c": etree.QName(root).namespace}
    message = root.find(f"c:{ROOTS[kind]}", ns)
    if message is None:
        raise CamtError(_l("The file is not an ISO 20022 camt.054 or camt.053 document."))
    message_id = _text(message, "c:GrpHdr/c:MsgId", ns)
    if not message_id:
        raise CamtError(_l("The file has no message identification (GrpHdr/MsgId)."))
    credits: list[Credit] = []
    skipped = 0
    account = ""
    for report in message.findall(f"c:{REPORTS[kind]}", ns):
        account = account or _text(report, "c:Acct/c:Id/c:IBAN", ns)
        for position, entry in enumerate(report.findall("c:Ntry", ns), start=1):
            found = _credits(entry, ns, position)
            skipped += found is None
            credits.extend(found or ())
    seen: set[str] = set()
    for credit in credits:
        if credit.bank_reference in seen:
            raise CamtError(
                _l(
                    "The bank reference %(reference)s is in the file twice.",
                    reference=credit.bank_reference,
                )
            )
        seen.add(credit.bank_reference)
    return Report(kind, message_id[:35], account, credits, skipped)


def _credits(entry: etree._Element, ns: dict[str, str], position: int) -> list[Credit] | None:
    """The payments of a booked credit entry (one a transaction); None for any other."""
    if _text(entry, "c:CdtDbtInd", ns) != "CRDT" or not _booked(entry, ns):
        return None
    reversal = _text(entry, "c:RvslInd", ns).lower() == "true"
    entry_amount = _amount(entry.find("c:Amt", ns), ns)
    booked_on = _day(_text(entry, "c:BookgDt/c:Dt", ns) or _text(entry, "c:BookgDt/c:DtTm", ns))
    entry_reference = _text(entry, "c:AcctSvcrRef", ns)
    if entry_amount is None or booked_on is None:
        raise CamtError(
            _l("Entry %(position)s has no valid amount or booking date.", position=position)
        )
    details = entry.findall("c:NtryDtls/c:TxDtls", ns)
    if not details and entry.find("c:NtryDtls/c:Btch", ns) is not None:
        return None  # a batch the statement sums up: its payments come in the camt.054
    if not details:
        if not entry_reference:
            raise CamtError(
                _l("Entry %(position)s has no bank reference (AcctSvcrRef).", position=position)
            )
        return [Credit(entry_reference, *entry_amount, booked_on, "", "", reversal)]
    credits = []
    for index, transaction in enumerate(details, start=1):
        bank_reference = _text(transaction, "c:Refs/c:AcctSvcrRef", ns)
        if not bank_reference:
            if not entry_reference:
                raise CamtError(
                    _l("Entry %(position)s has no bank reference (AcctSvcrRef).", position=position)
                )
            # The entry's reference names a single payment; a batch's each its own.
            bank_reference = entry_reference if len(details) == 1 else f"{entry_reference}/{index}"
        amount = _amount(transaction.find("c:AmtDtls/c:TxAmt/c:Amt", ns), ns)
        amount = amount or _amount(transaction.find("c:Amt", ns), ns)
        if amount is None:
            if len(details) != 1:
                raise CamtError(
                    _l("A payment of entry %(position)s has no valid amount.", position=position)
                )
            amount = entry_amount
        reference = _text(transaction, "c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref", ns)
        payer = _text(transaction, "c:RltdPties/c:Dbtr/c:Nm", ns) or _text(
            transaction, "c:RltdPties/c:Dbtr/c:Pty/c:Nm", ns
        )
        credits.append(
            Credit(
                bank_reference[:35],
                *amount,
                booked_on,
                re.sub(r"\s+", "", reference).upper()[:35],
                payer[:140],
                reversal,
            )
        )
    return credits
