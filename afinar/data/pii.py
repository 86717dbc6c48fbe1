"""Find personal data and secrets in Spanish and English text.

Each entity type has a pattern that proposes candidates and, where the format has one, a
checksum that must hold (Luhn for cards, mod-97 for IBAN, the check letter of a DNI/NIE, the
control character of a CIF). Types whose format alone is ambiguous need context: an unformatted
9-digit number is a phone only next to a phone cue word, a date is a date of birth only after a
birth cue, a capitalized name is a person only after a cue word (Mr, Sra., cliente, my name is,
...) or as the value of a ``name``-like field. Overlapping candidates keep the most specific.

Used by ``afinar data check`` (counts by type, never the values) and ``afinar data mask``.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import re
from collections import Counter
from dataclasses import dataclass

from afinar.data.names import FIRST_NAMES
from afinar.names import PII_TYPES

__all__ = ["SECRET_TYPES", "TYPES", "Span", "cif_valid", "detect", "iban_valid", "luhn_valid", "nie_valid", "nif_valid"]

TYPES = PII_TYPES
"""Most specific first: when two candidates overlap, the one whose type comes first wins."""
SECRET_TYPES = frozenset(TYPES[:8])


@dataclass(frozen=True)
class Span:
    """``text[start:end]`` is an entity of ``type`` (one of :data:`TYPES`)."""

    start: int
    end: int
    type: str


# ---------------------------------------------------------------- checksums


def luhn_valid(digits: str) -> bool:
    """The Luhn check (ISO/IEC 7812) on a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# IBAN length per country (ISO 13616 registry, SWIFT release 2024).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_mod97(iban: str) -> int:
    """``int(rearranged IBAN) mod 97``; 1 for a valid IBAN (ISO 7064 MOD 97-10)."""
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97


def iban_valid(iban: str) -> bool:
    """Country length and mod-97 of a compact (no spaces) upper-case IBAN."""
    return IBAN_LENGTHS.get(iban[:2]) == len(iban) and iban[2:4].isdigit() and iban_mod97(iban) == 1


NIF_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
"""DNI/NIF check letter: ``NIF_LETTERS[number % 23]`` (Real Decreto 1553/2005)."""


def nif_valid(value: str) -> bool:
    """Spanish DNI/NIF: 8 digits and the check letter."""
    return len(value) == 9 and value[:8].isdigit() and NIF_LETTERS[int(value[:8]) % 23] == value[8]


def nie_valid(value: str) -> bool:
    """Spanish NIE: X/Y/Z (read as 0/1/2), 7 digits and the NIF check letter."""
    return len(value) == 9 and value[0] in "XYZ" and nif_valid(str("XYZ".index(value[0])) + value[1:])


def cif_control(body: str) -> tuple[str, str]:
    """The control digit and letter of a CIF's 7-digit body (Orden EHA/451/2008)."""
    even = sum(int(d) for d in body[1::2])
    odd = sum(sum(divmod(int(d) * 2, 10)) for d in body[0::2])
    digit = (10 - (even + odd) % 10) % 10
    return str(digit), "JABCDEFGHI"[digit]


def cif_valid(value: str) -> bool:
    """Spanish CIF: organisation letter, 7 digits, control digit or letter as the letter demands."""
    if len(value) != 9 or value[0] not in "ABCDEFGHJNPQRSUVW" or not value[1:8].isdigit():
        return False
    digit, letter = cif_control(value[1:8])
    if value[0] in "PQRSNW":
        return value[8] == letter
    if value[0] in "ABEH":
        return value[8] == digit
    return value[8] in (digit, letter)


def _card_brand_ok(digits: str) -> bool:
    """Issuer prefixes and lengths of the major card networks (Visa, Mastercard, Amex, Discover,
    Diners, JCB, UnionPay, Maestro); a Luhn-valid order number outside them is not a card."""
    n, p2, p4 = len(digits), int(digits[:2]), int(digits[:4])
    return (
        (digits[0] == "4" and n in (13, 16, 19))
        or ((51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16)
        or (p2 in (34, 37) and n == 15)
        or ((digits.startswith("6011") or p2 == 65 or 644 <= int(digits[:3]) <= 649) and n in (16, 19))
        or ((p2 == 36 or 300 <= int(digits[:3]) <= 305) and n == 14)
        or (3528 <= p4 <= 3589 and 16 <= n <= 19)
        or (p2 == 62 and 16 <= n <= 19)
        or (p2 in (50, 56, 57, 58, 63, 67) and 12 <= n <= 19)
    )


def _ssn_valid(digits: str) -> bool:
    """SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000."""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(s)
    return -sum(c / len(s) * math.log2(c / len(s)) for c in counts.values())


# ---------------------------------------------------------------- patterns

_B = r"(?<![\w@.+-])"  # left boundary: not inside a word, an address or a longer number
_E = r"(?![\w@-]|\.\w)"  # right boundary
_SEP = r"[ .-]?"

_PHONE_CUE = re.compile(
    r"(?i)\b(tel[ée]?f?o?n?o?s?|tlf|tfno|m[óo]vil(es)?|celular|llam(ar|e|a|ad|adme)|contact[oa]r?|whats\s?app|"
    r"marca[rd]?|phones?|call|callback|call back|cell|mobile|fax|sms|text\s+me|reach|ring|dial|contact|rellamada)\b"
)
_BIRTH_CUE = re.compile(
    r"(?i)(born|birth\s?day|date\s+of\s+birth|d\.?o\.?b\.?|birthdate|naci(do|da|ó|miento)|"
    r"f\.?\s?nac\.?|cumpleaños|cumple)"
)
_VERSION_CUE = re.compile(r"(?i)(\bv|version|versi[óo]n|build|release|firmware|\bver\.?)(\s+[a-z]+)?\s*$")

_MONTHS = {
    m: i + 1
    for names in (
        "january february march april may june july august september october november december",
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
        "jan feb mar apr may jun jul aug sep oct nov dec",
        "ene feb mar abr may jun jul ago sep oct nov dic",
    )
    for i, m in enumerate(names.split())
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))

_PATTERNS: dict[str, re.Pattern] = {
    "PRIVATE_KEY": re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.DOTALL),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"),
    "AWS_KEY": re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
    "GITHUB_TOKEN": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})\b"),
    "SLACK_TOKEN": re.compile(
        r"\bxox[abposr]-[0-9A-Za-z-]{10,}|https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"
    ),
    "STRIPE_KEY": re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,}\b"),
    "URL_CREDENTIALS": re.compile(r"\b[a-z][a-z0-9+.-]*://([^\s:/@]+:[^\s/@]+)@[\w.-]+"),
    "SECRET": re.compile(
        r"(?i)\b(?:[\w-]*(?:passw(?:or)?d|pwd|contrase[ñn]a|clave|secret|secreto|token|api[_-]?key|"
        r"access[_-]?key|auth[_-]?key|private[_-]?key|credential)s?)"
        r"(?:[ _-](?:api|de api|de acceso|secreta|privada|key))?"
        r"[\"']?\s*(?:[:=]|is|es|:=|=>)\s*[\"']?"
        r"([^\s\"',;<>]{6,})"
    ),
    "EMAIL": re.compile(r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}\b"),
    "IBAN": re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}"),
    "CREDIT_CARD": re.compile(_B + r"\d(?:[ -]?\d){11,18}" + _E),
    "ES_NIE": re.compile(r"\b[XYZ][ -]?\d{7}[ -]?[A-Z]\b"),
    "ES_NIF": re.compile(_B + r"\d{8}[ -]?[A-Z]\b"),
    "ES_CIF": re.compile(r"\b[ABCDEFGHJNPQRSUVW][ -]?\d{7}[0-9A-J]\b"),
    "US_SSN": re.compile(_B + r"\d{3}([- ])\d{2}\1\d{4}" + _E + r"|(?i:ssn|social security)\D{0,20}?(\d{9})\b"),
    "IP_ADDRESS": re.compile(
        r"(?<![\w.:])(?:(?:\d{1,3}\.){3}\d{1,3}|(?=[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:)[0-9A-Fa-f:]{2,39}"
        r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?)(?![\w.:]*\w)"
    ),
    "DATE_OF_BIRTH": re.compile(
        rf"(?i)\b(?:(\d{{1,2}})[/.-](\d{{1,2}})[/.-](\d{{4}})|(\d{{4}})-(\d{{2}})-(\d{{2}})|"
        rf"(\d{{1,2}})(?:\s+de)?\s+({_MONTH})\.?(?:\s+de|,)?\s+(\d{{4}})|({_MONTH})\.?\s+(\d{{1,2}}),?\s+(\d{{4}}))\b"
    ),
    "PHONE": re.compile(
        r"(?<![\w+/.-])(?:(?:\+|00)(\d{1,3})[ .-]?)?((?:\(0\) ?)?\(?\d{2,4}\)?(?:[ .-]?\d{2,4}){1,4})(?![\w/-]|\.\d)"
    ),
}

_NAME_WORD = r"[A-ZÁÉÍÓÚÑÜ][a-záéíóúñüç'’]+(?:-[A-ZÁÉÍÓÚÑÜ][a-záéíóúñüç]+)?"
_PARTICLE = r"(?:de(?:l| la| los)?|la|y|van|von|da|di|du|le)"
_FULL_NAME = rf"{_NAME_WORD}(?:\s+(?:{_PARTICLE}\s+)?{_NAME_WORD}){{0,3}}"
_PERSON_CUE = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Miss|Dr|Dra|Prof|D|Dña)\.?|(?i:\b(?:sr|sra|srta)\.?|\b(?:mister|don|doña|señor|señora|señorita))|"
    r"(?i:\b(?:my name is|name is|named|called|me llamo|mi nombre es|se llama|soy|i am|i'm|dear|estimad[oa]|"
    r"hola|hello|hi|this is|speaking|cliente|customer|client|paciente|patient|empleado|empleada|employee|"
    r"contacto|contact|"
    r"atendido por|atendida por|handled by|signed|firmado|firma|attn|att|usuario|user|titular|holder|"
    r"(?:le )?atiende|(?:le )?escribe|compañer[oa]|colleague|beneficiar(?:y|io|ia)|responsable|encargad[oa]|"
    r"agente|agent|asesor[a]?|advisor|gerente|manager|supervisor[a]?|técnic[oa]|technician|comercial|"
    r"by|por|con|with|from|de parte de|on behalf of|para|to|for)\b:?))"
    rf"[ \t]+({_FULL_NAME})"
)
_GIVEN_NAME_PAIR = re.compile(rf"\b({_NAME_WORD})[ \t]+({_FULL_NAME})")
# A person is the subject of what people do in records: "Oriana Matas left a voicemail",
# "Luis Gil llamó ayer". Two or three capitalized words right before such a verb.
_NAME_THEN_VERB = re.compile(
    rf"({_FULL_NAME})[ \t]+(?:has |had |was |will |ha |había |)(?:called|rang|phoned|wrote|emailed|e-mailed|said|"
    r"asked|left|requested|complained|reported|approved|signed|confirmed|paid|visited|returned|ordered|bought|"
    r"sent|replied|answered|cancell?ed|llamó|escribió|dijo|pidió|dejó|solicitó|reclamó|confirmó|aprobó|firmó|"
    r"pagó|compró|devolvió|visitó|preguntó|envió|respondió|contestó|canceló)\b"
)
_NAME_FIELD = re.compile(
    r"(?i)[\"']?\b(?:full_?name|first_?name|last_?name|name|nombre(?:_completo)?|apellidos?|customer(?:_name)?|"
    r"cliente|client_name|patient(?:_name)?|paciente|contact_name|holder|titular|employee(?:_name)?|empleado)"
    r"[\"']?\s*[:=]\s*[\"']?([^\"'\n,;{}\[\]]{2,60})"
)
# Capitalized words that follow cue words but are not names.
_NOT_NAMES = {
    w.lower()
    for w in (
        "Service Services Support Team Sir Madam Madame Customer Customers Client Clients Equipo Servicio "
        "Atención Soporte Señor Señora Cliente Clientes Usuario Usuarios Todos All Everyone Friend Friends "
        "Amigo Amigos Manager Admin Administrator Department Departamento Sales Ventas Store Tienda Company "
        "Empresa The El La Los Las Un Una A An This That Este Esta Our Nuestro Nuestra Your Su Sus Mi My "
        "Monday Tuesday Wednesday Thursday Friday Saturday Sunday Lunes Martes Miércoles Jueves Viernes "
        "Sábado Domingo January February March April May June July August September October November "
        "December Enero Febrero Marzo Abril Mayo Junio Julio Agosto Septiembre Octubre Noviembre Diciembre "
        "Hello Hola Hi Thanks Gracias Please Por Favor Order Pedido Invoice Factura Account Cuenta Product "
        "Producto Ticket Issue Error Report Informe Data Datos Name Nombre Email Phone Teléfono Spain España "
        "Amazon Google Microsoft Visa Mastercard "
        "Python Java Linux Windows Excel API JSON SQL Sr Sra Srta Mr Mrs Ms Miss Dr Dra Prof Don Doña Dña"
    ).split()
}
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\*+|x+|\.+|-+|<[^>]*>|\[[^\]]*\]|\$\{?\w+\}?|%\w+%|\{\{.*\}\}|redacted|"
    r"changeme|password|contraseña|secret|none|null|true|false|undefined|your[_-]?\w*)$"
)


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _compact(s: str) -> str:
    return s.replace(" ", "").replace("-", "")


# ---------------------------------------------------------------- per-type checks


def _iban(text: str, m: re.Match) -> Span | None:
    raw = m.group(0)
    length = IBAN_LENGTHS.get(raw[:2])
    if length is None:
        return None
    # The pattern runs greedily into the next upper-case word; keep exactly the country's length.
    count, end = 0, m.start()
    for ch in raw:
        end += 1
        count += ch != " "
        if count == length:
            break
    value = raw[: end - m.start()].replace(" ", "")
    if count != length or not iban_valid(value) or (end < len(text) and text[end].isalnum()):
        return None
    return Span(m.start(), end, "IBAN")


def _card(text: str, m: re.Match) -> Span | None:
    d = _digits(m.group(0))
    seps = set(re.sub(r"\d", "", m.group(0)))
    if len(seps) > 1 or not (13 <= len(d) <= 19) or not luhn_valid(d) or not _card_brand_ok(d):
        return None
    return Span(m.start(), m.end(), "CREDIT_CARD")


def _check_id(kind: str, valid) -> callable:
    def check(text: str, m: re.Match) -> Span | None:
        return Span(m.start(), m.end(), kind) if valid(_compact(m.group(0))) else None

    return check


def _ssn(text: str, m: re.Match) -> Span | None:
    if m.group(2):  # an unformatted number after an SSN cue
        return Span(m.start(2), m.end(2), "US_SSN") if _ssn_valid(m.group(2)) else None
    return Span(m.start(), m.end(), "US_SSN") if _ssn_valid(_digits(m.group(0))) else None


def _ip(text: str, m: re.Match) -> Span | None:
    value = m.group(0)
    if _VERSION_CUE.search(text[max(0, m.start() - 24) : m.start()]):
        return None
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    if addr.version == 4 and any(len(p) > 1 and p[0] == "0" for p in value.split(".")):
        return None
    if (addr.version == 6 and value.count(":") < 2) or addr.is_loopback or addr.is_unspecified:
        return None  # ::1, 127.0.0.1, 0.0.0.0 name no one
    return Span(m.start(), m.end(), "IP_ADDRESS")


def _dob(text: str, m: re.Match) -> Span | None:
    g = m.groups()
    if g[0]:
        day, month, year = int(g[0]), int(g[1]), int(g[2])
        if month > 12 and day <= 12:  # US order: month/day/year
            day, month = month, day
    elif g[3]:
        year, month, day = int(g[3]), int(g[4]), int(g[5])
    elif g[6]:
        day, month, year = int(g[6]), _MONTHS[g[7].lower()], int(g[8])
    else:
        month, day, year = _MONTHS[g[9].lower()], int(g[10]), int(g[11])
    if not (1 <= month <= 12 and 1 <= day <= 31 and 1900 <= year <= 2030):
        return None
    before = text[max(0, m.start() - 40) : m.start()]
    # the cue must be in the same sentence: "Born 1985. Period 2023-03-01" is not a birth date
    before = re.split(r"\.\s+(?=[A-Z0-9])|[\n;]", before)[-1]
    if not _BIRTH_CUE.search(before):
        return None
    return Span(m.start(), m.end(), "DATE_OF_BIRTH")


def _phone(text: str, m: re.Match) -> Span | None:
    country, body = m.group(1), m.group(2)
    d = _digits(body)
    formatted = bool(re.search(r"[ .()-]", body))
    cue = _PHONE_CUE.search(text[max(0, m.start() - 40) : m.start()]) is not None
    if country:  # +34 ..., +1 ..., +44 ...
        total = len(country) + len(d)
        if not (8 <= total <= 15) or (country == "34" and (len(d) != 9 or d[0] not in "6789")):
            return None
        if country == "1" and (len(d) != 10 or d[0] in "01" or d[3] in "01"):
            return None
        return Span(m.start(), m.end(), "PHONE")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}|\d{1,2}[.-]\d{1,2}[.-]\d{2,4}", body):
        return None  # a date
    if len(d) == 9 and d[0] in "6789":  # Spanish: 612 345 678, 91 234 56 78
        ok = cue or (
            formatted
            and re.fullmatch(
                r"\d{3}([ .-])\d{3}\1\d{3}|\d{3}( \d{2}){3}|\d{2}( \d{3})( \d{2}){2}|\d{2} \d{3} \d{3} ?", body
            )
        )
    elif len(d) == 10 and d[0] not in "01" and (d[3] not in "01" or body.startswith("(")):  # US (NANP)
        ok = cue or bool(re.fullmatch(r"\(\d{3}\) ?\d{3}-\d{4}|\d{3}([.-])\d{3}\1\d{4}", body))
    elif d[0] == "0" and len(d) in (10, 11):  # UK and other national trunk formats: 020 7946 0958
        ok = cue or formatted
    else:
        ok = cue and 7 <= len(d) <= 12 and formatted
    return Span(m.start(), m.end(), "PHONE") if ok else None


def _secret(text: str, m: re.Match) -> Span | None:
    value = m.group(1).rstrip(".")
    if _PLACEHOLDER.match(value) or len(value) < 6:
        return None
    cue = m.group(0)[: m.start(1) - m.start()].lower()
    is_password = any(w in cue for w in ("pass", "pwd", "contrase", "clave"))
    alnum_classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    classes = alnum_classes + bool(re.search(r"[^A-Za-z0-9]", value))
    if is_password:
        if classes < 2 and len(value) < 10:
            return None  # "password is ready", "clave: pedido"
    elif (
        (len(value) < 12 and not (len(value) >= 8 and classes == 4))
        or _entropy(value) < min(3.0, 0.8 * math.log2(len(value)))
        or alnum_classes < 2
    ):
        return None  # "token: expired", "secret: the-recipe-is-sugar"
    return Span(m.start(1), m.start(1) + len(value), "SECRET")


def _jwt(text: str, m: re.Match) -> Span | None:
    head = m.group(0).split(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except ValueError:
        return None
    return Span(m.start(), m.end(), "JWT") if isinstance(header, dict) and "alg" in header else None


def _url(text: str, m: re.Match) -> Span | None:
    return Span(m.start(1), m.end(1), "URL_CREDENTIALS")


def _plain(kind: str):
    return lambda text, m: Span(m.start(), m.end(), kind)


_CHECKS = {
    "PRIVATE_KEY": _plain("PRIVATE_KEY"),
    "JWT": _jwt,
    "AWS_KEY": _plain("AWS_KEY"),
    "GITHUB_TOKEN": _plain("GITHUB_TOKEN"),
    "SLACK_TOKEN": _plain("SLACK_TOKEN"),
    "STRIPE_KEY": _plain("STRIPE_KEY"),
    "URL_CREDENTIALS": _url,
    "SECRET": _secret,
    "EMAIL": _plain("EMAIL"),
    "IBAN": _iban,
    "CREDIT_CARD": _card,
    "ES_NIE": _check_id("ES_NIE", nie_valid),
    "ES_NIF": _check_id("ES_NIF", nif_valid),
    "ES_CIF": _check_id("ES_CIF", cif_valid),
    "US_SSN": _ssn,
    "IP_ADDRESS": _ip,
    "DATE_OF_BIRTH": _dob,
    "PHONE": _phone,
}


def _trim_name(name: str) -> str:
    words = name.split()
    while words and (words[-1].lower() in _NOT_NAMES or re.fullmatch(_PARTICLE, words[-1])):
        words.pop()
    return " ".join(words)


# Words that end the name of a team, a department or a system, never a person's: "owned by Payments
# Platform", "equipo responsable Network Operations", "the Customer Portal".
_UNIT_WORDS = set(
    """team teams group grupo department departamento office oficina platform plataforma system systems sistema
    sistemas operations operaciones applications aplicaciones application telemetry telemetría network networks red
    portal services servicios support soporte infrastructure infraestructura security seguridad engineering
    ingeniería access acceso desk helpdesk cloud finance finanzas payments pagos warehouse almacén fleet flota
    logistics logística solutions technologies identity""".split()
)


def _name_ok(name: str) -> bool:
    """Not a capitalized common word; a month or a word like "Grace" passes when a surname follows;
    not the name of a team, department or system (its last word says so: "Payments Platform")."""
    words = name.split()
    first = words[0].lower()
    if words[-1].lower() in _UNIT_WORDS:
        return False
    return first not in _NOT_NAMES or (first in FIRST_NAMES and len(words) > 1)


_WEAK_CUES = ("by", "por", "con", "with", "from", "para", "to", "for", "soy", "i am", "i'm")


def _persons(text: str) -> list[Span]:
    out = []
    pos = 0
    while m := _PERSON_CUE.search(text, pos):
        pos = m.start(1)  # the "name" may itself be the next cue: "Cliente: Sra. Lucía Romero"
        name = _trim_name(m.group(1))
        if name and _name_ok(name):
            # a lone word after a weak cue (con, de, with, by...) is too often a place or a thing
            cue = m.group(0)[: m.start(1) - m.start()].strip().lower().rstrip(":")
            if " " in name or cue not in _WEAK_CUES:
                out.append(Span(m.start(1), m.start(1) + len(name), "PERSON"))
    for m in _GIVEN_NAME_PAIR.finditer(text):  # "Lucía Romero" with no cue: a known given name + surname
        name = _trim_name(m.group(0))
        if m.group(1).lower() in FIRST_NAMES and " " in name and name.split()[1].lower() not in _NOT_NAMES:
            out.append(Span(m.start(), m.start() + len(name), "PERSON"))
    for m in _NAME_THEN_VERB.finditer(text):
        words = _trim_name(m.group(1)).split()[-3:]
        if len(words) == 3 and words[0].lower() not in FIRST_NAMES and words[1].lower() in FIRST_NAMES:
            words = words[1:]  # "Ayer Luis Gil llamó": a capitalized first word of the sentence
        if len(words) >= 2 and all(w.lower() not in _NOT_NAMES for w in words):
            name = " ".join(words)
            start = m.start(1) + m.group(1).rindex(name)
            out.append(Span(start, start + len(name), "PERSON"))
    for m in _NAME_FIELD.finditer(text):
        value = m.group(1).strip()
        lead = len(m.group(1)) - len(m.group(1).lstrip())
        if re.fullmatch(_FULL_NAME, value) and _name_ok(value):
            out.append(Span(m.start(1) + lead, m.start(1) + lead + len(value), "PERSON"))
    return out


_BESIDE = re.compile(rf"({_FULL_NAME})[ \t]*[,(|;:\-–—]?[ \t]*(?:[A-Za-zÁÉÍÓÚáéíóúñ.]{{2,12}}:?[ \t]*)?$")
_OWNED_BY_PERSON = {"ES_NIF", "ES_NIE", "US_SSN", "DATE_OF_BIRTH", "EMAIL"}
_IDENTIFIERS = _OWNED_BY_PERSON | {"PHONE", "IBAN", "CREDIT_CARD"}


def _names_beside_identifiers(text: str, found: list[Span]) -> list[Span]:
    """A capitalized full name right before a personal identifier is that identifier's owner:
    "Ana Ruiz (ana@x.es)", "New hire Tom Reed, SSN 123-45-6789", "Ficha: Luis Gil | DNI ...".

    National IDs, dates of birth and e-mail addresses belong to people, so any two or three
    capitalized words before them count; phones, cards and accounts also belong to shops and
    companies ("Madrid Centro, tel ..."), so there the first word must be a known given name.
    """
    out = []
    for s in found:
        if s.type not in _IDENTIFIERS:
            continue
        before = text[max(0, s.start - 60) : s.start]
        m = _BESIDE.search(before)
        if m is None:
            continue
        words = _trim_name(m.group(1)).split()
        # "Reclamación de Lupe Patiño": a capitalized common word and a particle are not the name
        while len(words) > 2 and words[0].lower() not in FIRST_NAMES and words[1] in ("de", "del"):
            words = words[2:]
        words = words[-3:] if words and words[-3:][0].lower() not in ("de", "del", "la", "y") else words[-4:]
        if len(words) < 2 or not _name_ok(" ".join(words)) or words[1].lower() in _NOT_NAMES:
            continue
        if s.type not in _OWNED_BY_PERSON and words[0].lower() not in FIRST_NAMES:
            continue
        name = " ".join(words)
        start = max(0, s.start - 60) + m.start(1) + m.group(1).index(name)
        out.append(Span(start, start + len(name), "PERSON"))
    return out


_RANK = {t: i for i, t in enumerate(TYPES)}


def detect(text: str) -> list[Span]:
    """Every entity found in ``text``, sorted by position, none overlapping another."""
    found: list[Span] = []
    for kind, pattern in _PATTERNS.items():
        check = _CHECKS[kind]
        for m in pattern.finditer(text):
            span = check(text, m)
            if span is not None:
                found.append(span)
    found += _persons(text)
    found += _names_beside_identifiers(text, found)
    found.sort(key=lambda s: (_RANK[s.type], -(s.end - s.start), s.start))
    kept: list[Span] = []
    taken = bytearray(len(text))
    for s in found:
        if not any(taken[s.start : s.end]):
            kept.append(s)
            taken[s.start : s.end] = b"\x01" * (s.end - s.start)
    return sorted(kept, key=lambda s: s.start)
