"""The payment service's payment methods: the name a person reads for a METHOD code.

A paid payment's answer carries METHOD, a number (the seed's worked example, p. 11:
"Maksutapa: 1"). The seed's transcription ends before any list of the codes; these are
the service's own ("Payment Method IDs and Names", Suomen Verkkomaksut's documentation,
now Paytrail's). Codes the service has since withdrawn stay in the table: a payment
keeps the code it was paid with.

Banks, cards and wallets go by their own names in every language; only a name that
describes rather than names (Klarna's invoice and instalments) is translated.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

METHODS: dict[str, str | LazyString] = {
    "1": "Nordea",
    "2": "Osuuspankki",
    "3": "Danske Bank",
    "5": "Ålandsbanken",
    "6": "Handelsbanken",
    "9": "PayPal",
    "10": "S-Pankki",
    "11": _l("Klarna invoice"),  # withdrawn
    "12": _l("Klarna instalments"),  # withdrawn
    "18": "Jousto",
    "30": "Visa",  # withdrawn: cards are paid through Nets (53-56)
    "31": "MasterCard",  # withdrawn
    "34": "Diners Club",  # withdrawn
    "35": "JCB",  # withdrawn
    "50": "Aktia",
    "51": "POP Pankki",
    "52": "Säästöpankki",
    "53": "Visa (Nets)",
    "54": "MasterCard (Nets)",
    "55": "Diners Club (Nets)",
    "56": "American Express (Nets)",
    "58": "MobilePay",
    "60": "Collector Bank",
    "61": "Oma Säästöpankki",
}

# The online banks, in the table's order: what a payer chooses from at the sandbox's bank.
BANKS: tuple[str, ...] = ("1", "2", "3", "5", "6", "10", "50", "51", "52", "61")


def method_name(code: str | None) -> str:
    """The method's name; an unknown code as "Payment method 7"; "" when there is none."""
    if code is None or not str(code).strip():
        return ""
    code = str(code).strip()
    name = METHODS.get(code)
    if name is None:
        # The service may add methods: say what the number is rather than show it bare.
        return _("Payment method %(code)s", code=code)
    return str(name)
