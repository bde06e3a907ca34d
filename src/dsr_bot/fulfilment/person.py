"""Who a fulfilment is about, and the normal forms used to find them.

A data subject is matched by e-mail address, and by phone number when one is given. Names
are never a match key on their own: two customers can share a name, and handing one
namesake's data to the other would itself be a personal-data breach (Art. 4(12)).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_BAD_ADDRESS_CHARS = re.compile(r"[\s<>,;\"]")


def normalise_email(address: str) -> str:
    """The form stored and compared: trimmed, angle brackets removed, lower-cased.

    RFC 5321 §2.4 lets a server treat the local part case-sensitively, but no mail system a
    company uses does, and an opt-out that misses `Anna@` because we stored `anna@` would
    break Art. 21(3). Raises ValueError for anything that is not one bare address.
    """
    value = address.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    value = value.lower()
    local, sep, domain = value.rpartition("@")
    if not sep or not local or "." not in domain or _BAD_ADDRESS_CHARS.search(value):
        raise ValueError("not a single bare e-mail address")
    return value


def email_sha256(address: str) -> str:
    """Hex SHA-256 of the normalised address: what marketing tools match hashed lists on."""
    return hashlib.sha256(normalise_email(address).encode("utf-8")).hexdigest()


def phone_key(number: str, country_code: str = "46") -> str:
    """The national significant number: `+46 8-22 40 20`, `0046 8 224020`, `08-22 40 20`
    all become `8224020`, so a number is found however it was typed (ITU-T E.164)."""
    digits = re.sub(r"\D", "", number)
    if number.strip().startswith("+"):
        digits = digits.removeprefix(country_code) if digits.startswith(country_code) else digits
    elif digits.startswith("00" + country_code):
        digits = digits[2 + len(country_code) :]
    return digits.lstrip("0")


@dataclass(frozen=True)
class Person:
    """The data subject as the case knows them. `email` is normalised on creation."""

    email: str
    phone: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalise_email(self.email))
        if self.phone is not None and not re.sub(r"\D", "", self.phone):
            object.__setattr__(self, "phone", None)
