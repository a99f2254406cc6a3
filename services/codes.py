"""Codes that people read out and type in: service codes of enrolments."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

# No look-alikes: no 0/O, 1/I/L, 2/Z, 5/S, 8/B (as pretix's order codes do it).
ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
LENGTH = 8

# Never a word among the letters: rude, or just unfortunate to read out on the phone.
# Checked as substrings, in Finnish, Swedish, Norwegian and English.
BANNED = frozenset(
    """
    ANAL ARSE CUNT CUM DAMN DICK DUMB FAG FUCK FUK FAN HATE HELV HOMO HUOR HORA HORE JAEVL
    JEVEL JVLA KAKKA KUK KUKK KUSI KYRP KYRPA MATU NAZI NEEKER NEGER NEGR NIG PAKK PASKA
    PERK PERKE PEDO PISS PORN PORR PRUT PUTA RAPE RUMP RUNK SATAN SEX SHIT SUCK TAPA TAPPA
    TERR TWAT VITT VITU VITTU WANK WTF KYRVA HITLER NATSI ANUS PENIS PEPPU TISSI TUTT
    """.split()
)

_SEPARATORS = re.compile(r"[\s\-_.]+")


def generate(exists: Callable[[str], bool], length: int = LENGTH) -> str:
    """Return a new random code from the alphabet that no ban word spoils and `exists` denies."""
    for _ in range(100):
        code = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if is_clean(code) and not exists(code):
            return code
    raise RuntimeError("no free code found in 100 tries")  # 25**8 codes: practically never


def is_clean(code: str) -> bool:
    """True if no banned word stands in the code."""
    return not any(word in code for word in BANNED)


def normalise(entered: str) -> str | None:
    """The code as stored, from what a person typed (any case, spaces or dashes); or None."""
    code = _SEPARATORS.sub("", entered or "").upper()
    if len(code) != LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code
