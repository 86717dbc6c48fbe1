"""Realistic fakes for the ``surrogate`` operator: same type, same layout, valid checksums.

Every fake is drawn from a random generator seeded with the value's HMAC digest (see
:class:`afinar.data.mask.Masker`), so one value always gets the same fake. Fakes avoid real
people's data where a reserved space exists: e-mail domains are RFC 2606 ``example.*`` names and
IP addresses come from the documentation ranges (RFC 5737, RFC 3849).
"""

from __future__ import annotations

import random
import re
import string

from afinar.data.pii import _MONTHS, IBAN_LENGTHS, NIF_LETTERS, cif_control, iban_mod97, luhn_valid

__all__ = ["surrogate"]

FIRST = (
    "Lucía Martín Sofía Hugo Valeria Daniel Carmen Pablo Elena Javier Paula Diego Marta Álvaro Laura "
    "Sergio Emma Oliver Ava Noah Mia Liam Grace Ethan Chloe Lucas Ruby Henry Isla Jack"
).split()
LAST = (
    "García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Ruiz Navarro Molina Ortega "
    "Delgado Castro Smith Johnson Brown Taylor Wilson Evans Walker Wright Hughes Clarke Turner Parker"
).split()
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "correo.example")
"""Reserved for documentation by RFC 2606: no real mailbox receives these."""


def _shape(rng: random.Random, value: str, keep: int = 0) -> str:
    """Each letter and digit after the first ``keep`` characters redrawn within its class."""
    out = list(value)
    for i in range(keep, len(out)):
        c = out[i]
        if c.isdigit():
            out[i] = rng.choice(string.digits)
        elif c.isascii() and c.isupper():
            out[i] = rng.choice(string.ascii_uppercase)
        elif c.isascii() and c.islower():
            out[i] = rng.choice(string.ascii_lowercase)
    return "".join(out)


def _digits_into(value: str, digits: str) -> str:
    """``value`` with its digits replaced, in order, by ``digits`` (separators kept)."""
    it = iter(digits)
    return "".join(next(it) if c.isdigit() else c for c in value)


def _name(rng: random.Random, value: str) -> str:
    words = value.split()
    return " ".join([rng.choice(FIRST)] + [rng.choice(LAST) for _ in words[1:]])


def _email(rng: random.Random, value: str) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    plain = (
        first.lower().translate(str.maketrans("áéíóúñ", "aeioun"))
        + "."
        + last.lower().translate(str.maketrans("áéíóúñ", "aeioun"))
    )
    return f"{plain}{rng.randrange(100)}@{rng.choice(DOMAINS)}"


def _card(rng: random.Random, value: str) -> str:
    d = re.sub(r"\D", "", value)
    body = d[:4] + "".join(rng.choice(string.digits) for _ in range(len(d) - 5))
    check = next(c for c in string.digits if luhn_valid(body + c))
    return _digits_into(value, body + check)


def _iban(rng: random.Random, value: str) -> str:
    compact = value.replace(" ", "")
    country = compact[:2]
    bban = _shape(rng, compact[4 : IBAN_LENGTHS[country]])
    check = 98 - iban_mod97(country + "00" + bban)
    new = f"{country}{check:02d}{bban}"
    it = iter(new)
    return "".join(c if c == " " else next(it) for c in value)


def _nif(rng: random.Random, value: str) -> str:
    n = rng.randrange(10_000_000, 100_000_000)
    return _digits_into(value[:-1], str(n)) + NIF_LETTERS[n % 23]


def _nie(rng: random.Random, value: str) -> str:
    prefix = value[0]
    n = rng.randrange(1_000_000, 10_000_000)
    letter = NIF_LETTERS[int(str("XYZ".index(prefix)) + str(n)) % 23]
    return prefix + _digits_into(value[1:-1], str(n)) + letter


def _cif(rng: random.Random, value: str) -> str:
    body = "".join(rng.choice(string.digits) for _ in range(7))
    digit, letter = cif_control(body)
    control = digit if value[-1].isdigit() else letter
    return value[0] + _digits_into(value[1:-1], body) + control


def _ssn(rng: random.Random, value: str) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    digits = f"{area:03d}{rng.randrange(1, 100):02d}{rng.randrange(1, 10000):04d}"
    return _digits_into(value, digits)


def _phone(rng: random.Random, value: str) -> str:
    m = re.match(r"(\+|00)(\d{1,3})", value)
    head = m.group(0) if m else ""
    rest = value[len(head) :]
    d = re.sub(r"\D", "", rest)
    new = d[0] + "".join(rng.choice(string.digits) for _ in d[1:])
    if len(d) == 10:  # NANP: exchange code starts 2-9
        new = new[:3] + rng.choice("23456789") + new[4:]
    return head + _digits_into(rest, new)


def _ip(rng: random.Random, value: str) -> str:
    if ":" in value:
        return f"2001:db8::{rng.randrange(1, 0xFFFF):x}:{rng.randrange(1, 0xFFFF):x}"
    net = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    return f"{net}.{rng.randrange(1, 255)}"


def _date(rng: random.Random, value: str) -> str:
    year, month, day = rng.randrange(1950, 2006), rng.randrange(1, 13), rng.randrange(1, 29)
    found = [m.group(0) for n in _MONTHS if (m := re.search(rf"(?i)\b{n}\b", value))]
    if found:  # "12 de marzo de 1985", "March 12, 1985": swap the month for one of the same list
        name = max(found, key=len)
        lists = [
            lst.split()
            for lst in (
                "january february march april may june july august september october november december",
                "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
                "jan feb mar apr may jun jul aug sep oct nov dec",
                "ene feb mar abr may jun jul ago sep oct nov dic",
            )
        ]
        same = next(lst for lst in lists if name.lower() in lst)
        new = same[month - 1]
        new = new.capitalize() if name[0].isupper() else new
        value = re.sub(rf"(?i)\b{name}\b", new, value, count=1)
        value = re.sub(r"\b\d{4}\b", str(year), value, count=1)
        return re.sub(r"\b\d{1,2}\b", str(day), value, count=1)
    parts = re.findall(r"\d+", value)
    if len(parts[0]) == 4:  # 1985-03-12
        return f"{year}{value[4]}{month:02d}{value[7]}{day:02d}"
    seps = re.findall(r"\D", value)
    return f"{day:02d}{seps[0]}{month:02d}{seps[1]}{year}"


def _credentials(rng: random.Random, value: str) -> str:
    user, _, password = value.partition(":")
    return f"{_shape(rng, user)}:{_shape(rng, password)}"


_PREFIXES = re.compile(
    r"^(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|gh[pousr]_|github_pat_|xox[abposr]-|"
    r"(?:sk|rk)_(?:live|test)_|https://hooks\.slack\.com/services/|-----BEGIN [A-Z ]*-----)"
)

_BY_TYPE = {
    "PERSON": _name,
    "EMAIL": _email,
    "CREDIT_CARD": _card,
    "IBAN": _iban,
    "ES_NIF": _nif,
    "ES_NIE": _nie,
    "ES_CIF": _cif,
    "US_SSN": _ssn,
    "PHONE": _phone,
    "IP_ADDRESS": _ip,
    "DATE_OF_BIRTH": _date,
    "URL_CREDENTIALS": _credentials,
}


def surrogate(kind: str, value: str, digest: bytes) -> str:
    """A fake ``kind`` shaped like ``value``; the same ``digest`` always gives the same fake."""
    rng = random.Random(int.from_bytes(digest, "big"))
    make = _BY_TYPE.get(kind)
    if make is not None:
        return make(rng, value)
    if kind == "JWT":  # the header only names the algorithm; payload and signature are redrawn
        head, _, rest = value.partition(".")
        return f"{head}.eyJ{_shape(rng, rest[3:])}"
    # other secrets: keep the vendor prefix so the text still says what it was, redraw the rest
    m = _PREFIXES.match(value)
    fake = _shape(rng, value, m.end() if m else 0)
    if kind == "PRIVATE_KEY":  # keep the END line intact too
        head, _, tail = value.rpartition("-----END")
        fake = fake[: len(head)] + "-----END" + tail
    return fake
