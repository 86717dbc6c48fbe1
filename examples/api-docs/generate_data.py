"""Write the API-documentation dataset of Norvia Logistics' Python SDK (``norvia_sdk``, a
fictitious internal library): seeded, Spanish and English, three scenarios.

Each row gives a function's signature, what it does and (for some) what it raises, and asks for
its reference page in Markdown with five sections in order (Summary, Parameters, Returns,
Errors, Example; in Spanish Resumen, Parámetros, Retorno, Errores, Ejemplo). The example is a
Python block that imports the function and calls it with arguments that fit its signature.

- ``normal``: the function raises only the SDK's ``NorviaConnectionError``;
- ``exception``: it also raises listed errors (``ValueError``, ``NotFoundError``,
  ``PermissionError``), each to be documented;
- ``user_error``: no signature to document (a name only, or a description): a reply that asks
  for the ``def`` line (scored by ``clarify``).

Run ``python generate_data.py`` to rewrite ``data/train.jsonl``, ``data/eval.jsonl`` and
``data/eval_disjoint.jsonl``; the output is byte-for-byte the same for the same ``--seed``. The
disjoint split documents SDK objects (customers, vehicles, parcels, returns) and is asked in
phrasings that training never sees (``DISJOINT``): it measures whether the model learned the
page, not the six objects of its training.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent

SYSTEM_PROMPT = (
    "You write the reference documentation of Norvia's Python SDK (norvia_sdk) in Markdown, in the "
    "language of the request: Summary, Parameters, Returns, Errors, Example."
)
NOUNS = ["shipment", "invoice", "route", "driver", "depot", "pickup"]
VERBS = ["create", "get", "list", "cancel", "update", "track"]
NOUN_ES = {  # noun -> (Spanish noun, plural, feminine)
    "shipment": ("envío", "envíos", False),
    "invoice": ("factura", "facturas", True),
    "route": ("ruta", "rutas", True),
    "driver": ("conductor", "conductores", False),
    "depot": ("almacén", "almacenes", False),
    "pickup": ("recogida", "recogidas", True),
    # held out: only the disjoint split documents these (DISJOINT)
    "customer": ("cliente", "clientes", False),
    "vehicle": ("vehículo", "vehículos", False),
    "parcel": ("paquete", "paquetes", False),
    "return": ("devolución", "devoluciones", True),
}


def es_form(noun: str, form: str) -> str:
    """The Spanish noun with its article: ``un``, ``del``, ``el``, ``ningún`` or ``lo`` (the pronoun)."""
    word, _, fem = NOUN_ES[noun]
    article = {"un": ("un", "una"), "del": ("del", "de la"), "el": ("el", "la"), "ningún": ("ningún", "ninguna"),
               "lo": ("lo", "la")}[form][fem]  # fmt: skip
    return article if form == "lo" else f"{article} {word}"


FIELDS = {  # noun -> fields a create/update call may take: (name, type, example, English, Spanish)
    "shipment": [
        ("origin", "str", '"MAD-01"', "code of the origin depot", "código del almacén de origen"),
        ("destination", "str", '"BCN-02"', "code of the destination depot", "código del almacén de destino"),
        ("weight_kg", "float", "12.5", "gross weight in kilograms", "peso bruto en kilogramos"),
        ("express", "bool", "True", "deliver within 24 hours", "entrega en 24 horas"),
    ],
    "invoice": [
        ("customer_id", "str", '"C-20931"', "Norvia customer number", "número de cliente de Norvia"),
        ("amount_eur", "float", "1250.0", "amount in euros, taxes included", "importe en euros, impuestos incluidos"),
        ("due_days", "int", "30", "days until payment is due", "días hasta el vencimiento"),
        ("po_number", "str", '"PO-7781"', "customer's purchase order", "pedido de compra del cliente"),
    ],
    "route": [
        ("depot", "str", '"VLC-01"', "code of the starting depot", "código del almacén de salida"),
        ("stops", "list[str]", '["S-101", "S-102"]', "stop codes in visiting order", "códigos de parada en orden"),
        ("vehicle_id", "str", '"V-044"', "fleet number of the vehicle", "número de flota del vehículo"),
        ("start_time", "str", '"2024-05-06T07:00"', "ISO 8601 start time", "hora de salida ISO 8601"),
    ],
    "driver": [
        ("name", "str", '"Driver 17"', "display name", "nombre visible"),
        ("licence_class", "str", '"C1"', "driving licence class", "clase de permiso de conducir"),
        ("depot", "str", '"SEV-01"', "home depot code", "código del almacén base"),
        ("night_shift", "bool", "False", "available for night shifts", "disponible para turnos de noche"),
    ],
    "depot": [
        ("code", "str", '"ZAZ-01"', "depot code", "código del almacén"),
        ("city", "str", '"Zaragoza"', "city", "ciudad"),
        ("capacity_pallets", "int", "800", "capacity in pallets", "capacidad en palés"),
        ("cold_storage", "bool", "True", "has refrigerated storage", "tiene cámara frigorífica"),
    ],
    "pickup": [
        ("shipment_id", "str", '"SH-55120"', "shipment to collect", "envío que se recoge"),
        ("address", "str", '"Calle Mayor 1, Madrid"', "collection address", "dirección de recogida"),
        ("window_start", "str", '"2024-05-06T09:00"', "start of the time window", "inicio de la franja horaria"),
        ("window_hours", "int", "2", "length of the time window in hours", "duración de la franja en horas"),
    ],
    # held out: only the disjoint split documents these (DISJOINT)
    "customer": [
        ("tax_id", "str", '"B12345678"', "tax identification number", "número de identificación fiscal"),
        ("company", "str", '"Acme Iberia"', "registered company name", "razón social"),
        ("credit_limit_eur", "float", "5000.0", "credit limit in euros", "límite de crédito en euros"),
        ("vip", "bool", "False", "served by the key-account team", "atendido por el equipo de grandes cuentas"),
    ],
    "vehicle": [
        ("plate", "str", '"1234-KLM"', "registration plate", "matrícula"),
        ("payload_kg", "int", "3500", "maximum payload in kilograms", "carga útil máxima en kilogramos"),
        ("refrigerated", "bool", "True", "has a refrigerated box", "tiene caja frigorífica"),
        ("depot", "str", '"BIO-01"', "home depot code", "código del almacén base"),
    ],
    "parcel": [
        ("length_cm", "int", "40", "length in centimetres", "largo en centímetros"),
        ("width_cm", "int", "30", "width in centimetres", "ancho en centímetros"),
        ("fragile", "bool", "True", "handle with care", "manipular con cuidado"),
        ("declared_value_eur", "float", "89.9", "declared value in euros", "valor declarado en euros"),
    ],
    "return": [
        ("order_id", "str", '"ORD-88213"', "order being returned", "pedido que se devuelve"),
        ("reason_code", "str", '"DAMAGED"', "why the goods come back", "motivo de la devolución"),
        ("refund", "bool", "True", "refund the customer", "reembolsar al cliente"),
        ("pickup_date", "str", '"2024-06-03"', "ISO date of collection", "fecha ISO de recogida"),
    ],
}
FILTERS = [
    ("since", "str | None", "None", '"2024-05-01"', "only items changed since this ISO date",
     "solo elementos modificados desde esta fecha ISO"),
    ("limit", "int", "50", "20", "maximum number of items to return", "número máximo de elementos devueltos"),
    ("depot", "str | None", "None", '"MAD-01"', "only items of this depot", "solo elementos de este almacén"),
]  # fmt: skip
ERRORS = {  # verb -> errors it may raise beyond the connection error: (name, English, Spanish)
    "create": [("ValueError", "a field is out of range", "un campo está fuera de rango"),
               ("PermissionError", "the API key cannot create {n}s", "la clave de API no puede crear {plural}")],
    "get": [("NotFoundError", "no {n} has this ID", "{ningún} tiene este ID")],
    "list": [("ValueError", "limit is not between 1 and 500", "limit no está entre 1 y 500")],
    "cancel": [("NotFoundError", "no {n} has this ID", "{ningún} tiene este ID"),
               ("PermissionError", "the {n} can no longer be cancelled", "{el} ya no se puede cancelar")],
    "update": [("NotFoundError", "no {n} has this ID", "{ningún} tiene este ID"),
               ("ValueError", "a field is out of range", "un campo está fuera de rango")],
    "track": [("NotFoundError", "no {n} has this ID", "{ningún} tiene este ID")],
}  # fmt: skip
HEADINGS = {
    "en": ("Summary", "Parameters", "Returns", "Errors", "Example"),
    "es": ("Resumen", "Parámetros", "Retorno", "Errores", "Ejemplo"),
}
ASKS = {
    "en": ["Write the reference page for this SDK function.", "Document this norvia_sdk function.",
           "Generate the API documentation for this function."],
    "es": ["Escribe la página de referencia de esta función del SDK.", "Documenta esta función de norvia_sdk.",
           "Genera la documentación de la API de esta función."],
}  # fmt: skip
ERROR_ASKS = {
    "en": ["Document the {name} function.", "Write the docs for {name}.",
           "Describe the SDK call that does {verb} on a {noun}."],
    "es": ["Documenta la función {name}.", "Escribe la documentación de {name}.",
           "Describe la llamada del SDK que hace {verb} sobre {un}."],
}  # fmt: skip


@dataclass(frozen=True)
class Vocab:
    """What one split's rows are built from: the SDK objects and the request phrasings."""

    nouns: list[str]
    asks: dict[str, list[str]]
    error_asks: dict[str, list[str]]


TRAIN = Vocab(NOUNS, ASKS, ERROR_ASKS)
DISJOINT = Vocab(
    ["customer", "vehicle", "parcel", "return"],
    {
        "en": ["I need the Markdown reference for the function below.", "Produce the docs page for this call.",
               "Please draft documentation for the following norvia_sdk function."],
        "es": ["Necesito la referencia en Markdown de la función de abajo.",
               "Redacta la página de documentación de esta llamada.",
               "Prepara la documentación de la siguiente función de norvia_sdk."],
    },
    {
        "en": ["Can you document {name} for me?", "I need a reference page for {name}.",
               "Explain the norvia_sdk function that will {verb} a {noun}."],
        "es": ["¿Puedes documentar {name}?", "Necesito la página de referencia de {name}.",
               "Explica la función de norvia_sdk que permite {verb} {un}."],
    },
)  # fmt: skip
"""Held out: objects and phrasings that only the disjoint split uses."""


def _function(rng: random.Random, verb: str, noun: str):
    """(name, params, return type, English purpose, Spanish purpose); params as
    (name, type, default or None, example, English, Spanish)."""
    id_param = (
        f"{noun}_id",
        "str",
        None,
        f'"{noun[:2].upper()}-{rng.randint(10000, 99999)}"',
        f"ID of the {noun}",
        f"ID {es_form(noun, 'del')}",
    )
    if verb in ("create", "update"):
        fields = rng.sample(FIELDS[noun], rng.randint(2, 4))
        fields = [f for f in FIELDS[noun] if f in fields]  # keep the declared order
        if verb == "create":
            params = [(n, t, None, ex, en, es) for n, t, ex, en, es in fields]
            return (
                f"create_{noun}",
                params,
                "str",
                (f"creates a {noun} and returns its ID", f"crea {es_form(noun, 'un')} y devuelve su ID"),
            )
        params = [id_param] + [(n, f"{t} | None", "None", ex, en, es) for n, t, ex, en, es in fields]
        return (
            f"update_{noun}",
            params,
            "dict",
            (
                f"changes the given fields of a {noun} and returns it",
                f"cambia los campos indicados {es_form(noun, 'del')} y {es_form(noun, 'lo')} devuelve",
            ),
        )
    if verb == "list":
        filters = [f for f in FILTERS if rng.random() < 0.7] or [FILTERS[1]]
        params = [(n, t, d, ex, en, es) for n, t, d, ex, en, es in filters]
        return (
            f"list_{noun}s",
            params,
            "list[dict]",
            (f"lists {noun}s, newest first", f"lista {NOUN_ES[noun][1]}, de los más recientes a los más antiguos"),
        )
    if verb == "cancel":
        reason = ("reason", "str", '""', '"customer request"', "why it is cancelled", "motivo de la cancelación")
        params = [id_param] + ([reason] if rng.random() < 0.6 else [])
        return (
            f"cancel_{noun}",
            params,
            "bool",
            (f"cancels a {noun}; True if it was cancelled", f"cancela {es_form(noun, 'un')}; True si se canceló"),
        )
    if verb == "track":
        history = (
            "include_history",
            "bool",
            "False",
            "True",
            "also return past positions",
            "devolver también las posiciones anteriores",
        )
        params = [id_param] + ([history] if rng.random() < 0.6 else [])
        return (
            f"track_{noun}",
            params,
            "dict",
            (
                f"returns the current position and status of a {noun}",
                f"devuelve la posición y el estado actuales {es_form(noun, 'del')}",
            ),
        )
    return (
        f"get_{noun}",
        [id_param],
        "dict",
        (f"returns one {noun} by its ID", f"devuelve {es_form(noun, 'un')} por su ID"),
    )


RETURNS = {
    "str": ("the new ID", "el ID nuevo"),
    "dict": ("the record as a dictionary", "el registro como diccionario"),
    "list[dict]": ("the records, each a dictionary", "los registros, cada uno un diccionario"),
    "bool": ("whether it was done", "si se hizo"),
}


def doc_row(rng: random.Random, lang: str, exception: bool, v: Vocab = TRAIN) -> dict:
    verb, noun = rng.choice(VERBS), rng.choice(v.nouns)
    name, params, ret, purpose = _function(rng, verb, noun)
    sig_params = ", ".join(f"{n}: {t}" + ("" if d is None else f" = {d}") for n, t, d, *_ in params)
    signature = f"def {name}({sig_params}) -> {ret}:"
    errors = [
        ("NorviaConnectionError", "the Norvia API cannot be reached", "no se puede contactar con la API de Norvia")
    ]
    if exception:
        forms = {"plural": NOUN_ES[noun][1], "ningún": es_form(noun, "ningún"), "el": es_form(noun, "el")}
        errors += [(e, en.format(n=noun), spanish.format(**forms)) for e, en, spanish in ERRORS[verb]]
    i = 1 if lang == "es" else 0
    lines = [signature, ("purpose: " if lang == "en" else "propósito: ") + purpose[i]]
    if exception:
        raises = "; ".join(f"{e} if {desc[0]}" if lang == "en" else f"{e} si {desc[1]}" for e, *desc in errors[1:])
        lines.append(("raises: " if lang == "en" else "errores: ") + raises)
    h = HEADINGS[lang]
    doc = [f"## {h[0]}", purpose[i][0].upper() + purpose[i][1:] + ".", "", f"## {h[1]}"]
    for n, t, d, _ex, en, es in params:
        default = "" if d is None else (f", default {d}" if lang == "en" else f", por defecto {d}")
        doc.append(f"- `{n}` ({t}{default}): {(en, es)[i]}.")
    doc += ["", f"## {h[2]}", f"`{ret}`: {RETURNS[ret][i]}.", "", f"## {h[3]}"]
    doc += [f"- `{e}`: {desc[i]}." for e, *desc in errors]
    required = [ex for n, t, d, ex, *_ in params if d is None]
    optional = [f"{n}={ex}" for n, t, d, ex, *_ in params if d is not None and rng.random() < 0.5]
    result = {"str": f"{noun}_id", "dict": noun, "list[dict]": f"{noun}s", "bool": "done"}[ret]
    doc += ["", f"## {h[4]}", "```python", f"from norvia_sdk import {name}", "",
            f"{result} = {name}({', '.join(required + optional)})", "```"]  # fmt: skip
    return {
        "instruction": rng.choice(v.asks[lang]),
        "input": "\n".join(lines),
        "output": "\n".join(doc),
        "scenario": "exception" if exception else "normal",
        "metric": "apidoc",
    }


def error_row(rng: random.Random, lang: str, v: Vocab = TRAIN) -> dict:
    verb, noun = rng.choice(VERBS), rng.choice(v.nouns)
    name = f"{verb}_{noun}" + ("s" if verb == "list" else "")
    ask = rng.choice(v.error_asks[lang]).format(name=name, verb=verb, noun=noun, un=es_form(noun, "un"))
    if lang == "en":
        answer = "Which signature should I document? Please paste the function's def line (name, parameters and types)."
    else:
        answer = "¿Qué firma debo documentar? Indica la línea def de la función (nombre, parámetros y tipos)."
    return {"instruction": ask, "input": "", "output": answer, "scenario": "user_error", "metric": "clarify"}


def make_rows(n: int, rng: random.Random, v: Vocab = TRAIN) -> list[dict]:
    """``n`` rows: 55% normal, 30% exception, 15% user error; languages 50/50."""
    rows = []
    for _ in range(n):
        lang, r = rng.choice(["es", "en"]), rng.random()
        rows.append(error_row(rng, lang, v) if r < 0.15 else doc_row(rng, lang, r < 0.45, v))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument("--eval", type=int, default=100)
    ap.add_argument("--disjoint", type=int, default=100)
    ap.add_argument("--out", type=Path, default=HERE / "data")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    held = make_rows(args.eval, rng)
    prompts = {(r["instruction"], r["input"]) for r in held}
    train = []
    while len(train) < args.train:  # training rows never repeat an eval prompt (no leakage)
        row = make_rows(1, rng)[0]
        if (row["instruction"], row["input"]) not in prompts:
            train.append(row)
    disjoint = make_rows(args.disjoint, random.Random(args.seed + 1), DISJOINT)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("eval", held), ("eval_disjoint", disjoint)):
        with (args.out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        print(f"wrote {len(rows)} rows to {args.out / f'{name}.jsonl'}")


if __name__ == "__main__":
    main()
