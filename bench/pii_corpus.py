"""Build the labeled PII corpora that bench/pii_quality.py scores: bench/data/pii_corpus.jsonl
(development: the detector was tuned while it was written) and bench/data/pii_holdout.jsonl
(held out v1: written after the detector was frozen; its first score is in docs/results.md, and the
detector was then improved on its misses) and bench/data/pii_holdout2.jsonl (held out v2: written
after those fixes; its first score is in docs/results.md, and a second round of fixes followed) and
bench/data/pii_holdout3.jsonl (held out v3: written after the second round, scored once, then a
third round of fixes) and bench/data/pii_holdout4.jsonl (held out v4: written after the third
round, never tuned on: the unbiased estimate).

    .venv-bench/bin/python bench/pii_corpus.py      # (make bench-pii runs it; the output is committed)

Two sources, Spanish and English:

- generated: seeded templates filled with values from Faker (names, e-mails, phones, IBANs, DNI/
  NIE/CIF, cards, SSNs, IPs) and from our own random draws (secrets, JWTs, keys). Validity is
  checked with python-stdnum, not with afinar's code, so the labels do not share its bugs;
- hand-written: bench/data/pii_hard_cases.txt, one case per line, entities marked
  ``[[TYPE:value]]``; hard negatives are lines with no mark.

Each output row: ``{"text", "spans": [[start, end, type], ...], "lang", "source"}``.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from pathlib import Path

from faker import Faker
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.es import cif as std_cif
from stdnum.es import nie as std_nie
from stdnum.es import nif as std_nif
from stdnum.us import ssn as std_ssn

HERE = Path(__file__).parent
OUT = HERE / "data" / "pii_corpus.jsonl"
HARD = HERE / "data" / "pii_hard_cases.txt"
HOLDOUT = HERE / "data" / "pii_holdout.jsonl"
HOLDOUT_HARD = HERE / "data" / "pii_holdout_cases.txt"
HOLDOUT2 = HERE / "data" / "pii_holdout2.jsonl"
HOLDOUT2_HARD = HERE / "data" / "pii_holdout2_cases.txt"
HOLDOUT3 = HERE / "data" / "pii_holdout3.jsonl"
HOLDOUT3_HARD = HERE / "data" / "pii_holdout3_cases.txt"
HOLDOUT4 = HERE / "data" / "pii_holdout4.jsonl"
HOLDOUT4_HARD = HERE / "data" / "pii_holdout4_cases.txt"
SEED = 20261127
MARK = re.compile(r"\[\[([A-Z_]+):(.+?)\]\]", re.DOTALL)


def unmark(marked: str) -> tuple[str, list[list]]:
    """Text without ``[[TYPE:value]]`` marks, and the spans of the marked values."""
    text, spans, pos = [], [], 0
    length = 0
    for m in MARK.finditer(marked):
        before = marked[pos : m.start()]
        text.append(before)
        length += len(before)
        spans.append([length, length + len(m.group(2)), m.group(1)])
        text.append(m.group(2))
        length += len(m.group(2))
        pos = m.end()
    text.append(marked[pos:])
    return "".join(text), spans


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()


def secrets_of(rng: random.Random, fake: Faker) -> dict[str, str]:
    alnum = string.ascii_letters + string.digits
    jwt = ".".join(
        [
            _b64({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"}),
            _b64(
                {"sub": str(rng.randrange(10**6)), "email": fake.email(), "iat": rng.randrange(16 * 10**8, 18 * 10**8)}
            ),
            _rand(rng, alnum + "-_", 43),
        ]
    )
    body = "\n".join(_rand(rng, alnum + "+/", 64) for _ in range(rng.randrange(2, 5)))
    kind = rng.choice(["", "RSA ", "EC ", "OPENSSH "])
    return {
        "AWS_KEY": "AKIA" + _rand(rng, string.ascii_uppercase + "234567", 16),
        "GITHUB_TOKEN": "ghp_" + _rand(rng, alnum, 36),
        "SLACK_TOKEN": f"xoxb-{rng.randrange(10**11, 10**12)}-{rng.randrange(10**11, 10**12)}-{_rand(rng, alnum, 24)}",
        "STRIPE_KEY": rng.choice(["sk_live_", "sk_test_", "rk_live_"]) + _rand(rng, alnum, 24),
        "JWT": jwt,
        "PRIVATE_KEY": f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----",
        "SECRET": rng.choice(
            [
                _rand(rng, alnum, 12) + rng.choice("!#$%&*"),
                _rand(rng, string.ascii_lowercase + string.digits, 32),
                fake.password(length=rng.randrange(10, 18)),
            ]
        ),
    }


def values(rng: random.Random, es: Faker, us: Faker, gb: Faker, de: Faker) -> dict[str, str]:
    fake = rng.choice([es, us])
    v = {
        "PERSON": f"{fake.first_name()} {fake.last_name()}",
        "EMAIL": fake.email(),
        "PHONE_ES": es.phone_number(),
        "PHONE_US": rng.choice([us.basic_phone_number(), f"+1 {us.basic_phone_number()}"]),
        "PHONE_GB": gb.phone_number(),
        "IBAN": rng.choice([es, gb, de]).iban(),
        "CREDIT_CARD": us.credit_card_number(card_type=rng.choice(["visa", "mastercard", "amex", "discover"])),
        "ES_NIF": es.nif(),
        "ES_NIE": es.nie(),
        "ES_CIF": es.cif(),
        "US_SSN": us.ssn(),
        "IP4": us.ipv4_public(),
        "IP6": us.ipv6(),
        "DOB": us.date_of_birth(minimum_age=18, maximum_age=90),
        "USER": us.user_name(),
        "HOST": us.domain_name(),
    }
    if rng.random() < 0.5:  # IBANs are as often written in groups of four as compact
        v["IBAN"] = " ".join(v["IBAN"][i : i + 4] for i in range(0, len(v["IBAN"]), 4))
    if rng.random() < 0.5:
        d = v["CREDIT_CARD"]
        v["CREDIT_CARD"] = " ".join(d[i : i + 4] for i in range(0, len(d), 4))
    assert std_iban.is_valid(v["IBAN"]) and luhn.is_valid(v["CREDIT_CARD"].replace(" ", ""))
    assert std_nif.is_valid(v["ES_NIF"]) and std_nie.is_valid(v["ES_NIE"]) and std_cif.is_valid(v["ES_CIF"])
    assert std_ssn.is_valid(v["US_SSN"])
    return v


MONTHS_ES = "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split()


def dob_text(rng: random.Random, d, lang: str) -> str:
    if lang == "es":
        return rng.choice([f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day} de {MONTHS_ES[d.month - 1]} de {d.year}"])
    return rng.choice([d.strftime("%B %-d, %Y"), d.isoformat(), f"{d.month:02d}/{d.day:02d}/{d.year}"])


# Templates: {TYPE} is a labeled value; {~name} is unlabeled filler (a hard negative).
TEMPLATES_ES = [
    "Hola, soy {PERSON} y mi correo es {EMAIL}. Llamadme al {PHONE_ES} si hay algún problema con el pedido {~order}.",
    "Cliente: {PERSON}\nDNI: {ES_NIF}\nIBAN para la devolución: {IBAN}",
    "Por favor, cargad el importe en la tarjeta {CREDIT_CARD}; la factura va a nombre de la empresa con CIF {ES_CIF}.",
    "El paciente {PERSON}, NIE {ES_NIE}, fecha de nacimiento: {DOB}, acude a revisión.",
    "Error de conexión desde {IP4} al servidor; versión {~version}, ticket {~ticket}.",
    "La contraseña es {SECRET} y la clave de AWS es {AWS_KEY}, no la compartas.",
    "Contacto: {EMAIL} / teléfono {PHONE_ES}. Referencia del envío {~tracking}.",
    '{{"nombre": "{PERSON}", "email": "{EMAIL}", "pedido": "{~order}", "importe": {~price}}}',
    "Usad postgres://{USER}:{SECRET_URL}@{HOST}:5432/ventas para el informe de {~month}.",
    "Atendido por {PERSON}. Incidencia {~uuid} cerrada el {~date}.",
    "Transferencia a {IBAN} del titular {PERSON}; código de operación {~iban_bad}.",
    "Token de despliegue {GITHUB_TOKEN} caducado; el webhook de Slack usa {SLACK_TOKEN}.",
    "Nacido el {DOB}, con DNI {ES_NIF} y móvil {PHONE_ES}.",
    "Cobro rechazado: tarjeta {CREDIT_CARD}, pedido {~card_bad}, sesión {JWT}",
    "Servidor {IP6} sin respuesta desde la build {~version}.",
    "Clave privada del servicio:\n{PRIVATE_KEY}\nNo la subáis al repositorio.",
    "Stripe en producción: {STRIPE_KEY}. Importe total {~price} EUR.",
]
TEMPLATES_EN = [
    "Hi, this is {PERSON}; reach me at {EMAIL} or {PHONE_US} about order {~order}.",
    "Customer: {PERSON}\nSSN: {US_SSN}\nRefund to IBAN {IBAN}",
    "Please charge card {CREDIT_CARD}; invoice {~invoice} is due on {~date}.",
    "Patient {PERSON}, date of birth: {DOB}, was seen today.",
    "Login failures from {IP4} after release {~version}; see ticket {~ticket}.",
    "password: {SECRET} and AWS key {AWS_KEY} were pasted in the chat.",
    "Contact {EMAIL} or call {PHONE_GB}. Tracking number {~tracking}.",
    '{{"customer_name": "{PERSON}", "email": "{EMAIL}", "order": "{~order}", "total": {~price}}}',
    "Connect with https://{USER}:{SECRET_URL}@{HOST}/api for the {~month} report.",
    "Handled by {PERSON}. Incident {~uuid} closed on {~date}.",
    "Wire to {IBAN} for {PERSON}; reference {~iban_bad}.",
    "Deploy token {GITHUB_TOKEN} expired; the Slack webhook uses {SLACK_TOKEN}.",
    "Born {DOB}; SSN {US_SSN}; phone {PHONE_US}.",
    "Charge declined: card {CREDIT_CARD}, order {~card_bad}, session {JWT}",
    "Host {IP6} unreachable since build {~version}.",
    "Service private key:\n{PRIVATE_KEY}\nDo not commit it.",
    "Stripe live key {STRIPE_KEY}; total {~price} USD.",
]


# Held-out templates: written after the detector was frozen; their scores are reported, never tuned on.
HOLDOUT_ES = [
    "Buenos días, le atiende {PERSON}. Le confirmo que su número de contacto es {PHONE_ES}.",
    "Remitente: {EMAIL}\nAsunto: devolución del pedido {~order}\nImporte: {~price} EUR",
    "Adjunto los datos bancarios (IBAN {IBAN}) y el NIF {ES_NIF} para el abono.",
    "El proveedor con CIF {ES_CIF} ha enviado la factura {~invoice}.",
    "Acceso denegado para la dirección {IP4} a las {~time}; revisad la regla del cortafuegos.",
    "La tarjeta {CREDIT_CARD} de la señora {PERSON} ha sido rechazada dos veces.",
    "Documento del trabajador: {ES_NIE}. Fecha de nacimiento {DOB}.",
    "No pegues secretos aquí: alguien puso api_key={SECRET} en el canal.",
]
HOLDOUT_EN = [
    "Thanks for calling, this is {PERSON}. I have your callback number as {PHONE_US}.",
    "From: {EMAIL}\nSubject: return for order {~order}\nAmount: {~price} USD",
    "Attached are the bank details (IBAN {IBAN}) for the supplier payment.",
    "Blocked {IP4} at {~time} after repeated failed logins; firmware {~version}.",
    "Mr. {PERSON}'s card {CREDIT_CARD} was declined twice.",
    "Applicant SSN {US_SSN}, date of birth {DOB}.",
    "Someone pasted token={SECRET} into the ticket {~ticket}.",
    "Escalated by {PERSON} via {EMAIL}; customer phone {PHONE_GB}.",
]


# Held-out v2 templates: written after the fixes v1 prompted, never tuned on.
HOLDOUT2_ES = [
    "Reclamación de {PERSON} ({EMAIL}): el pedido {~order} llegó roto.",
    "Alta de proveedor: CIF {ES_CIF}, cuenta {IBAN}, contacto {PHONE_ES}.",
    "Ficha: {PERSON} | DNI {ES_NIF} | nacimiento {DOB}",
    "Acceso sospechoso desde {IP4} (usuario {~ticket}).",
    "Devolución a la tarjeta {CREDIT_CARD}, autorizada por {PERSON}.",
    "Permiso de residencia {ES_NIE}; teléfono de contacto {PHONE_ES}.",
]
HOLDOUT2_EN = [
    "Complaint from {PERSON} ({EMAIL}): order {~order} arrived damaged.",
    "New hire {PERSON}, SSN {US_SSN}, DOB {DOB}.",
    "Suspicious sign-in from {IP4} at {~time}.",
    "Refund to card {CREDIT_CARD}, approved by {PERSON}.",
    "Vendor bank details: {IBAN}; phone {PHONE_US}.",
    "Leaked in the wiki: secret_key={SECRET} (rotate it).",
]


# Held-out v3 templates: written after the second round of fixes, never tuned on.
HOLDOUT3_ES = [
    "Solicitud de {PERSON}: cambiar la dirección de envío del pedido {~order}.",
    "Datos de facturación -> {PERSON}, {ES_NIF}, {IBAN}",
    "Se han detectado 3 accesos desde {IP4} con la cuenta de {EMAIL}.",
    "Llamada perdida del {PHONE_ES} a las {~time}; dejó mensaje {PERSON}.",
    "Trabajador extranjero con NIE {ES_NIE}, nacido el {DOB}.",
    "El cargo de {~price} EUR en la tarjeta {CREDIT_CARD} fue reclamado.",
]
HOLDOUT3_EN = [
    "Request from {PERSON}: change the delivery address for order {~order}.",
    "Billing -> {PERSON}, {IBAN}, card {CREDIT_CARD}",
    "3 sign-ins from {IP4} using the account {EMAIL}.",
    "Missed call from {PHONE_US} at {~time}; {PERSON} left a voicemail.",
    "Employee record: SSN {US_SSN}, DOB {DOB}, supervisor {PERSON}.",
    "The CI secret was exposed: password={SECRET} (build {~version}).",
]


# Held-out v4 templates: written after the third round of fixes, never tuned on.
HOLDOUT4_ES = [
    "Hoy {PERSON} preguntó por su pedido {~order}; su correo es {EMAIL}.",
    "Transferir {~price} EUR a {IBAN} (beneficiario: {PERSON}).",
    "Alta de cliente -> {PERSON} / {ES_NIE} / {PHONE_ES}",
    "La sesión de {EMAIL} se abrió desde {IP4}.",
    "{PERSON} devolvió el artículo y pidió el reembolso a la tarjeta {CREDIT_CARD}.",
    "Fecha de nacimiento del socio: {DOB}. DNI {ES_NIF}.",
]
HOLDOUT4_EN = [
    "Today {PERSON} asked about order {~order}; email on file {EMAIL}.",
    "Transfer {~price} USD to {IBAN} (payee: {PERSON}).",
    "New account -> {PERSON} / SSN {US_SSN} / {PHONE_US}",
    "Session for {EMAIL} opened from {IP4}.",
    "{PERSON} returned the item and asked for a refund to card {CREDIT_CARD}.",
    "Member date of birth: {DOB}. Phone {PHONE_GB}.",
]


def filler(rng: random.Random, name: str) -> str:
    """Hard negatives: strings shaped like PII that are not."""
    if name == "order":
        return rng.choice(
            [f"ORD-{rng.randrange(10**6, 10**7)}", str(rng.randrange(10**8, 10**9)), f"#{rng.randrange(99999)}"]
        )
    if name == "card_bad":  # 16 digits that fail Luhn
        while True:
            d = "4" + _rand(rng, string.digits, 15)
            if not luhn.is_valid(d):
                return d
    if name == "iban_bad":  # IBAN-shaped, wrong check digits
        while True:
            s = "ES" + _rand(rng, string.digits, 22)
            if not std_iban.is_valid(s):
                return s
    if name == "version":
        parts = [rng.randrange(1, 9), rng.randrange(20), rng.randrange(50), rng.randrange(999)]
        return rng.choice(["", "v"]) + ".".join(map(str, parts))
    if name == "uuid":
        return "-".join(_rand(rng, "0123456789abcdef", n) for n in (8, 4, 4, 4, 12))
    if name == "ticket":
        return f"INC{rng.randrange(10**6, 10**7)}"
    if name == "tracking":
        return f"1Z{_rand(rng, string.ascii_uppercase + string.digits, 16)}"
    if name == "invoice":
        return f"FAC-{rng.randrange(2020, 2027)}-{rng.randrange(10**5):05d}"
    if name == "price":
        return f"{rng.randrange(10, 5000)}.{rng.randrange(100):02d}"
    if name == "date":
        return f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/{rng.randrange(2020, 2027)}"
    if name == "time":
        return f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    if name == "month":
        return f"{rng.randrange(2020, 2027)}-{rng.randrange(1, 13):02d}"
    raise KeyError(name)


LABEL = {
    "PHONE_ES": "PHONE",
    "PHONE_US": "PHONE",
    "PHONE_GB": "PHONE",
    "IP4": "IP_ADDRESS",
    "IP6": "IP_ADDRESS",
    "DOB": "DATE_OF_BIRTH",
}


def generated(n: int, templates: tuple[list[str], list[str]], seed: int) -> list[dict]:
    rng = random.Random(seed)
    es, us, gb, de = Faker("es_ES"), Faker("en_US"), Faker("en_GB"), Faker("de_DE")
    for i, f in enumerate((es, us, gb, de)):
        f.seed_instance(seed + i)
    rows = []
    for k in range(n):
        lang = "es" if k % 2 == 0 else "en"
        template = rng.choice(templates[0] if lang == "es" else templates[1])
        v = {**values(rng, es, us, gb, de), **secrets_of(rng, rng.choice([es, us]))}
        v["DOB"] = dob_text(rng, v["DOB"], lang)

        def fill(m: re.Match, v: dict = v) -> str:
            name = m.group(1)
            if name.startswith("~"):
                return filler(rng, name[1:])
            if name == "USER":
                return v["USER"]
            if name == "HOST":
                return v["HOST"]
            if name == "SECRET_URL":  # the labeled span is the whole user:password part
                return ""
            return f"[[{LABEL.get(name, name)}:{v[name]}]]"

        marked = re.sub(r"\{(~?[A-Z_a-z0-9]+)\}", fill, template.replace("{{", "\x00").replace("}}", "\x01"))
        marked = marked.replace("\x00", "{").replace("\x01", "}")
        password = _rand(rng, string.ascii_letters + string.digits, 12)
        marked = re.sub(r"://([^:\s]+):@", rf"://[[URL_CREDENTIALS:\1:{password}]]@", marked)
        text, spans = unmark(marked)
        rows.append({"text": text, "spans": spans, "lang": lang, "source": "generated"})
    return rows


CHECKSUMS = {
    "IBAN": std_iban.is_valid,
    "CREDIT_CARD": lambda v: luhn.is_valid(re.sub(r"\D", "", v)),
    "ES_NIF": std_nif.is_valid,
    "ES_NIE": std_nie.is_valid,
    "ES_CIF": std_cif.is_valid,
    "US_SSN": std_ssn.is_valid,
}


def hand_written(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        lang, _, marked = line.partition("\t")
        text, spans = unmark(marked.replace("\\n", "\n"))
        for start, end, kind in spans:  # a hand-written label must pass the independent checksum
            if kind in CHECKSUMS and not CHECKSUMS[kind](text[start:end]):
                raise SystemExit(f"{path}:{n}: {kind} {text[start:end]!r} fails its checksum")
        rows.append({"text": text, "spans": spans, "lang": lang, "source": "hand"})
    return rows


def main() -> None:
    for out, rows in (
        (OUT, generated(340, (TEMPLATES_ES, TEMPLATES_EN), SEED) + hand_written(HARD)),
        (HOLDOUT, generated(200, (HOLDOUT_ES, HOLDOUT_EN), SEED + 1000) + hand_written(HOLDOUT_HARD)),
        (HOLDOUT2, generated(150, (HOLDOUT2_ES, HOLDOUT2_EN), SEED + 2000) + hand_written(HOLDOUT2_HARD)),
        (HOLDOUT3, generated(300, (HOLDOUT3_ES, HOLDOUT3_EN), SEED + 3000) + hand_written(HOLDOUT3_HARD)),
        (HOLDOUT4, generated(300, (HOLDOUT4_ES, HOLDOUT4_EN), SEED + 4000) + hand_written(HOLDOUT4_HARD)),
    ):
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {out}: {len(rows)} texts, {sum(len(r['spans']) for r in rows)} labeled spans")


if __name__ == "__main__":
    main()
