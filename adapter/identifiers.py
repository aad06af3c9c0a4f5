"""Swedish identifier systems: accepted aliases, normalisation and checks (DESIGN.md, "Wire").

Pure Python: raises `InvalidIdentifier` with a message; callers turn it into an issue.
"""

from __future__ import annotations

import re
from datetime import date

BASE = "https://meddelandecenter-adapter.github.io/fhir"

HSA_ID = "urn:oid:1.2.752.29.4.19"
HSA_ID_RIVTA = "urn:oid:1.2.752.129.2.1.4.1"
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
PERSONNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER = "http://electronichealth.se/identifier/samordningsnummer"
SAMORDNINGSNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.3"
RESERVNUMMER = "http://electronichealth.se/identifier/nationelltReservnummer"
LMA_NUMMER = "http://electronichealth.se/identifier/LMA-nummer"
ORGANISATIONSNUMMER = "urn:oid:2.5.4.97"
KOMMUNKOD = f"{BASE}/NamingSystem/kommunkod"
INBOX_ID = f"{BASE}/NamingSystem/inbox"
# Where an inbox lives in Millennium: a user's Millennium Practitioner id, a pool's Millennium Group
# id (a shared inbox outside Millennium may have a Group that mirrors it there). adapter/millennium.
MILLENNIUM_PRACTITIONER = f"{BASE}/NamingSystem/millennium-practitioner"
MILLENNIUM_GROUP = f"{BASE}/NamingSystem/millennium-group"
# Millennium's id of a Communication imported from it: the duplicate key of the imported message.
MILLENNIUM_COMMUNICATION = f"{BASE}/NamingSystem/millennium-communication"

# Accepted on input, emitted in the HL7 Sweden form.
SYSTEM_ALIASES = {
    HSA_ID_RIVTA: HSA_ID,
    PERSONNUMMER_OID: PERSONNUMMER,
    SAMORDNINGSNUMMER_OID: SAMORDNINGSNUMMER,
}

_HSA_PATTERN = re.compile(r"^SE\d{10}-[A-Z0-9]{1,31}$")
_INBOX_PATTERN = re.compile(r"^(?P<hsa>[^#]+)#(?P<suffix>[a-z0-9][a-z0-9-]{0,62})$")


class InvalidIdentifier(ValueError):
    """The identifier's value does not fit its system."""


def canonical_system(system: str | None) -> str | None:
    """Return the emitted form of an identifier system (aliases folded)."""
    if system is None:
        return None
    return SYSTEM_ALIASES.get(system, system)


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = int(char)
        if index % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def normalise_hsa_id(value: str) -> str:
    """Upper-case, trim and check the shape `SE<organisation number>-<local part>`."""
    normalised = value.strip().upper()
    if not _HSA_PATTERN.match(normalised):
        raise InvalidIdentifier(f"'{value}' is not an HSA-id (SE + 10 digits + '-' + local part)")
    return normalised


def _normalise_personal_number(value: str, *, coordination: bool) -> str:
    digits = value.strip().replace("-", "").replace("+", "")
    kind = "samordningsnummer" if coordination else "personnummer"
    if not (digits.isascii() and digits.isdigit()) or len(digits) != 12:
        raise InvalidIdentifier(f"a {kind} has 12 digits (YYYYMMDDNNNC)")
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    if coordination:
        day -= 60
    try:
        date(year, month, day)
    except ValueError:
        raise InvalidIdentifier(f"the {kind} does not start with a valid date") from None
    if not luhn_valid(digits[2:]):
        raise InvalidIdentifier(f"the {kind} fails the Luhn check")
    return digits


def normalise_organisation_number(value: str) -> str:
    """Ten digits with a valid Luhn check digit; the hyphen is dropped."""
    digits = value.strip().replace("-", "")
    if not (digits.isascii() and digits.isdigit()) or len(digits) != 10 or not luhn_valid(digits):
        raise InvalidIdentifier("an organisation number has 10 digits and a valid check digit")
    return digits


def normalise_inbox_id(value: str) -> str:
    """`<unit HSA-id>#<suffix>` with the HSA-id normalised."""
    match = _INBOX_PATTERN.match(value.strip())
    if not match:
        raise InvalidIdentifier("an inbox identifier is '<unit HSA-id>#<lower-case suffix>'")
    return f"{normalise_hsa_id(match['hsa'])}#{match['suffix']}"


_MILLENNIUM_ID = re.compile(r"^[A-Za-z0-9.\-]{1,64}$")


def normalise_millennium_id(value: str) -> str:
    """A Millennium resource id (e.g. `12724066`, `472894781.0.-4.0`): trimmed, 1 to 64 of [A-Za-z0-9.-]."""
    trimmed = value.strip()
    if not _MILLENNIUM_ID.match(trimmed):
        raise InvalidIdentifier("a Millennium id has 1 to 64 letters, digits, '.' and '-'")
    return trimmed


def _normalise_kommunkod(value: str) -> str:
    if not (len(value) == 4 and value.isascii() and value.isdigit()):
        raise InvalidIdentifier("a kommunkod is SCB's four digits")
    return value


_NORMALISERS = {
    HSA_ID: normalise_hsa_id,
    PERSONNUMMER: lambda v: _normalise_personal_number(v, coordination=False),
    SAMORDNINGSNUMMER: lambda v: _normalise_personal_number(v, coordination=True),
    RESERVNUMMER: str.strip,  # accepted as given: no check digit (DESIGN.md)
    LMA_NUMMER: str.strip,
    ORGANISATIONSNUMMER: normalise_organisation_number,
    KOMMUNKOD: _normalise_kommunkod,
    INBOX_ID: normalise_inbox_id,
    MILLENNIUM_PRACTITIONER: normalise_millennium_id,
    MILLENNIUM_GROUP: normalise_millennium_id,
}


def normalise(system: str | None, value: str | None) -> tuple[str | None, str | None]:
    """Return (system, value) in emitted form; raise InvalidIdentifier on a bad value."""
    system = canonical_system(system)
    if value is None or system not in _NORMALISERS:
        return system, value
    return system, _NORMALISERS[system](value)
