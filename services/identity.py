"""Norwegian national identity numbers (fødselsnummer, D-nummer): checked, encrypted,
and only ever shown masked. Pure logic: the keys and the day are passed in.

Employees of the customer portal's (Norwegian) companies take only these: no Finnish
henkilötunnus is asked of anyone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date

from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError
from stdnum.no import fodselsnummer

# An employee's age: from 15, the Working Environment Act's age for ordinary work
# (arbeidsmiljøloven § 11-1), to 100, an age no one is employed at. A number that works
# out older (the individual numbers 500–749 give births in 1854–1899) or younger is a typo.
YOUNGEST_EMPLOYEE, OLDEST_EMPLOYEE = 15, 100


class InvalidNumber(ValueError):
    """Why a number is refused: length, checksum, date, birth_date or age (never the
    number)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def validate(number: str, birth_date: date | None = None, today: date | None = None) -> str:
    """The 11 digits of a valid fødselsnummer or D-nummer (both check digits right),
    consistent with the birth date when one is given, and, given `today`, of someone of
    an employee's age (`employee_age`); raises InvalidNumber."""
    compact = fodselsnummer.compact(number or "")
    if len(compact) != 11 or not (compact.isascii() and compact.isdigit()):
        raise InvalidNumber("length")
    try:
        fodselsnummer.validate(compact)
        born = fodselsnummer.get_birth_date(compact)
    except InvalidChecksum as exc:
        raise InvalidNumber("checksum") from exc
    except (InvalidFormat, InvalidLength) as exc:
        raise InvalidNumber("length") from exc
    except ValidationError as exc:  # InvalidComponent: no real birth date in it
        raise InvalidNumber("date") from exc
    if birth_date is not None and born != birth_date:
        raise InvalidNumber("birth_date")
    if today is not None and not employee_age(born, today):
        raise InvalidNumber("age")
    return compact


def age(born: date, today: date) -> int:
    """Whole years from `born` to `today` (negative for a birth date still to come)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def employee_age(born: date, today: date) -> bool:
    """Whether someone born on the day can be a working employee today."""
    return YOUNGEST_EMPLOYEE <= age(born, today) <= OLDEST_EMPLOYEE


def birth_date_of(number: str) -> date:
    """The birth date a fødselsnummer or D-nummer gives."""
    return fodselsnummer.get_birth_date(number)


def mask(number: str) -> str:
    """The six date digits and five stars: 120523*****."""
    return number[:6] + "*****"


def _derive(secret: str, purpose: bytes) -> bytes:
    # cryptography is imported where it is used: it is heavy, and most processes never
    # see a national identity number.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret.encode()
    )


class Vault:
    """Encrypts numbers with the first key and reads them with any (to rotate keys, put
    the new key first and keep the old one after it until everything is re-encrypted)."""

    def __init__(self, keys: list[str], digest_secret: str) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        if not keys:
            raise ValueError("at least one key is needed")
        self.keys = list(keys)
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._digest_key = _derive(digest_secret, b"national-id-digest")

    @classmethod
    def from_secret(cls, secret: str) -> Vault:
        """A vault whose key is derived from the application's secret (development)."""
        key = base64.urlsafe_b64encode(_derive(secret, b"national-id-encryption"))
        return cls([key.decode()], secret)

    def encrypt(self, number: str) -> str:
        """The number encrypted with the first key, as text to store."""
        return self._fernet.encrypt(number.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """The number in an encrypted token, or None when no key opens it."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            return None

    def digest(self, number: str) -> str:
        """A keyed hash: equal numbers give equal digests, which reveal nothing."""
        return hmac.new(self._digest_key, number.encode(), hashlib.sha256).hexdigest()
