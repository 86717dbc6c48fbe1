"""Write the retail sales-report dataset: seeded, Spanish and English mixed, three scenarios.

Each row is an alpaca-form request to turn a store's sales table into a JSON report that
follows ``report.schema.json``:

- ``normal``: a clean table -> ``status: ok`` with lines, totals and the top product;
- ``exception``: a table with a missing header field, a return, a negative or missing figure ->
  ``status: warning`` with every problem listed under ``issues``;
- ``user_error``: an off-topic request, an unusable table, or a format we do not produce ->
  ``status: error`` with an error code and a message.

Run ``python generate_data.py`` to rewrite ``data/train.jsonl``, ``data/eval.jsonl`` and
``data/eval_disjoint.jsonl`` (the disjoint held-out split: stores, products and phrasings
training never sees; see ``DISJOINT``); the output is byte-for-byte the same for the same
``--seed``.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent

STORES = [
    "Madrid-Centro",
    "Barcelona-Diagonal",
    "Sevilla-Nervion",
    "Valencia-Ruzafa",
    "Bilbao-Abando",
    "Malaga-Larios",
    "Zaragoza-Delicias",
    "Lisboa-Chiado",
    "Mexico-Polanco",
    "Bogota-Andino",
    "London-Soho",
    "Dublin-Grafton",
    "Miami-Brickell",
    "Austin-Domain",
    "Toronto-Eaton",
]
CURRENCIES = ["EUR", "USD", "GBP", "MXN", "COP", "CAD"]
PRODUCTS = {
    "es": [
        "camisetas",
        "vaqueros",
        "zapatillas",
        "bolsos",
        "chaquetas",
        "gorras",
        "calcetines",
        "vestidos",
        "cinturones",
        "mochilas",
        "bufandas",
        "sandalias",
    ],
    "en": [
        "t-shirts",
        "jeans",
        "sneakers",
        "handbags",
        "jackets",
        "caps",
        "socks",
        "dresses",
        "belts",
        "backpacks",
        "scarves",
        "sandals",
    ],
}
HEADER = {
    "es": {
        "store": "tienda",
        "period": "periodo",
        "currency": "moneda",
        "table": "producto,unidades,importe",
        "return": "devolución",
    },
    "en": {
        "store": "store",
        "period": "period",
        "currency": "currency",
        "table": "product,units,revenue",
        "return": "return",
    },
}
ASKS = {
    "es": [
        "Genera un informe de ventas en formato JSON para el sector retail.",
        "Crea el informe de ventas en JSON de esta tienda.",
        "Resume estas ventas en un informe JSON.",
        "Necesito el informe JSON de ventas con totales y producto estrella.",
        "Convierte estos datos de ventas en un informe JSON.",
    ],
    "en": [
        "Generate a sales report in JSON format for the retail sector.",
        "Create the JSON sales report for this store.",
        "Summarize these sales as a JSON report.",
        "I need the JSON sales report with totals and the top product.",
        "Turn this sales data into a JSON report.",
    ],
}
OFF_TOPIC = {  # templates x fillers, so held-out requests are new sentences, not repeats
    "es": (
        [
            "¿Cuál es la capital de {c}?",
            "Escribe un poema sobre {t}.",
            "Cuéntame un chiste sobre {t}.",
            "¿Qué tiempo hará mañana en {c}?",
            "Recomiéndame un libro sobre {t}.",
        ],
        {
            "c": [
                "Francia",
                "Italia",
                "Japón",
                "Perú",
                "Canadá",
                "Noruega",
                "Chile",
                "Egipto",
                "Grecia",
                "Australia",
                "Marruecos",
                "Suecia",
            ],
            "t": [
                "el mar",
                "los gatos",
                "el fútbol",
                "la luna",
                "el café",
                "los trenes",
                "la lluvia",
                "las montañas",
                "el otoño",
                "los dinosaurios",
                "la música",
                "el ajedrez",
            ],
        },
    ),
    "en": (
        [
            "What is the capital of {c}?",
            "Write a poem about {t}.",
            "Tell me a joke about {t}.",
            "What will the weather be like tomorrow in {c}?",
            "Recommend a book about {t}.",
        ],
        {
            "c": [
                "France",
                "Italy",
                "Japan",
                "Peru",
                "Canada",
                "Norway",
                "Chile",
                "Egypt",
                "Greece",
                "Australia",
                "Morocco",
                "Sweden",
            ],
            "t": [
                "the sea",
                "cats",
                "football",
                "the moon",
                "coffee",
                "trains",
                "rain",
                "mountains",
                "autumn",
                "dinosaurs",
                "music",
                "chess",
            ],
        },
    ),
}
WRONG_FORMAT = {
    "es": [
        "Genera el informe de ventas en formato XML.",
        "Dame el informe de ventas como hoja de cálculo Excel.",
        "Haz el informe de ventas en PDF.",
        "Quiero el informe de ventas en CSV.",
    ],
    "en": [
        "Generate the sales report in XML format.",
        "Give me the sales report as an Excel spreadsheet.",
        "Make the sales report as a PDF.",
        "I want the sales report as CSV.",
    ],
}
VAGUE = {
    "es": ["muchas", "bastantes", "pocas", "caro", "barato", "n/d"],
    "en": ["many", "plenty", "few", "expensive", "cheap", "n/a"],
}
MESSAGES = {
    "off_topic": {"es": "Solo genero informes de ventas en JSON.", "en": "I only produce JSON sales reports."},
    "malformed_input": {
        "es": "Los datos de ventas no tienen el formato esperado.",
        "en": "The sales data is not in the expected format.",
    },
    "unsupported_format": {
        "es": "Solo puedo generar el informe en JSON.",
        "en": "I can only produce the report in JSON.",
    },
}


# The disjoint held-out split (data/eval_disjoint.jsonl): stores, products, request phrasings,
# off-topic questions, unsupported formats and vague words that training never sees. It measures
# what a user's own requests will test: generalization, not recall of the generator's templates.
HELD_STORES = [
    "Granada-Albaicin",
    "Porto-Ribeira",
    "Lima-Miraflores",
    "Santiago-Providencia",
    "Cordoba-Nueva",
    "Quito-Cumbaya",
    "Chicago-Loop",
    "Seattle-Pike",
    "Sydney-Pitt",
    "Edinburgh-Princes",
]
HELD_PRODUCTS = {
    "es": ["camisas", "pantalones", "abrigos", "gafas de sol", "relojes", "corbatas", "jerseys", "botas", "faldas",
           "pijamas", "guantes", "paraguas"],
    "en": ["shirts", "trousers", "coats", "sunglasses", "watches", "ties", "sweaters", "boots", "skirts", "pajamas",
           "gloves", "umbrellas"],
}  # fmt: skip
HELD_ASKS = {
    "es": [
        "¿Me preparas el informe de ventas en JSON?",
        "Pasa a JSON el informe de estas ventas.",
        "Informe de ventas en JSON, por favor.",
        "Necesito el resumen de ventas de la tienda en formato JSON.",
    ],
    "en": [
        "Could you put together the JSON sales report?",
        "Sales report as JSON, please.",
        "Build me the JSON report for these sales.",
        "Please report these sales in JSON.",
    ],
}
HELD_OFF_TOPIC = {
    "es": (
        ["¿Cuántos habitantes tiene {c}?", "Dame una receta con {t}.", "Explícame la historia de {t}."],
        {"c": ["Portugal", "Argentina", "India", "Kenia", "Islandia", "Vietnam"],
         "t": ["el chocolate", "los volcanes", "el tenis", "las abejas", "el jazz", "los barcos"]},
    ),
    "en": (
        ["How many people live in {c}?", "Give me a recipe with {t}.", "Explain the history of {t}."],
        {"c": ["Portugal", "Argentina", "India", "Kenya", "Iceland", "Vietnam"],
         "t": ["chocolate", "volcanoes", "tennis", "bees", "jazz", "ships"]},
    ),
}  # fmt: skip
HELD_WRONG_FORMAT = {
    "es": [
        "Exporta el informe de ventas a YAML.",
        "Genera el informe de ventas como tabla HTML.",
        "Dame el informe de ventas en un documento de Word.",
    ],
    "en": [
        "Export the sales report to YAML.",
        "Produce the sales report as an HTML table.",
        "Give me the sales report as a Word document.",
    ],
}
HELD_VAGUE = {"es": ["algunas", "varias", "ni idea", "s/d"], "en": ["some", "several", "no idea", "tbd"]}


@dataclass(frozen=True)
class Vocab:
    """What rows are drawn from: training and the ordinary held-out split share one, the disjoint
    split has its own."""

    stores: list[str]
    products: dict[str, list[str]]
    asks: dict[str, list[str]]
    off_topic: dict
    wrong_format: dict[str, list[str]]
    vague: dict[str, list[str]]
    lines: tuple[int, int]


# More of each for training and the ordinary held-out split: with 12 products, 15 stores and 5
# phrasings the tuned model learned the lists, not the task (on the disjoint split it reported 3
# clean tables in 4 as warnings and got a store wrong in 3 rows of 10).
MORE_STORES = [
    "Alicante-Explanada",
    "Murcia-Traperia",
    "Palma-Borne",
    "Gijon-Begona",
    "Vigo-Principe",
    "Pamplona-Estafeta",
    "Salamanca-Plaza",
    "Toledo-Zocodover",
    "Cadiz-Ancha",
    "Oviedo-Uria",
    "Faro-Baixa",
    "Coimbra-Baixa",
    "Guadalajara-Chapultepec",
    "Monterrey-Valle",
    "Medellin-Poblado",
    "Cali-Granada",
    "Montevideo-Pocitos",
    "Rosario-Oroño",
    "Manchester-Arndale",
    "Leeds-Briggate",
    "Boston-Newbury",
    "Denver-Larimer",
    "Phoenix-Biltmore",
    "Vancouver-Robson",
    "Montreal-Catherine",
]
MORE_PRODUCTS = {
    "es": [
        "zapatos",
        "blusas",
        "chalecos",
        "bañadores",
        "sudaderas",
        "polos",
        "mallas",
        "abanicos",
        "carteras",
        "pulseras",
        "collares",
        "pendientes",
        "sombreros",
        "toallas",
        "sábanas",
        "cojines",
        "lámparas",
        "tazas",
        "auriculares",
        "cargadores",
        "altavoces",
        "fundas de móvil",
        "balones",
        "raquetas",
        "esterillas",
        "botellas",
        "cuadernos",
        "bolígrafos",
        "velas",
        "perfumes",
        "cremas",
        "champús",
        "peluches",
        "puzles",
        "maletas",
        "zapatillas de casa",
    ],
    "en": [
        "shoes",
        "blouses",
        "vests",
        "swimsuits",
        "hoodies",
        "polo shirts",
        "leggings",
        "fans",
        "wallets",
        "bracelets",
        "necklaces",
        "earrings",
        "hats",
        "towels",
        "bed sheets",
        "cushions",
        "lamps",
        "mugs",
        "headphones",
        "chargers",
        "speakers",
        "phone cases",
        "balls",
        "rackets",
        "yoga mats",
        "water bottles",
        "notebooks",
        "pens",
        "candles",
        "perfumes",
        "creams",
        "shampoos",
        "plush toys",
        "puzzles",
        "suitcases",
        "slippers",
    ],
}
MORE_ASKS = {
    "es": [
        "Hazme el informe de ventas en JSON.",
        "Quiero un informe JSON con estas ventas.",
        "Prepara el JSON del informe de ventas de la tienda.",
        "¿Puedes convertir esta tabla de ventas en el informe JSON?",
        "Informe JSON de ventas del periodo.",
        "Genera el informe de ventas (JSON) a partir de esta tabla.",
    ],
    "en": [
        "Make the sales report in JSON.",
        "I want a JSON report of these sales.",
        "Prepare the store's sales report JSON.",
        "Can you turn this sales table into the JSON report?",
        "JSON sales report for the period.",
        "Generate the sales report (JSON) from this table.",
    ],
}
MORE_WRONG_FORMAT = {
    "es": [
        "Dame el informe de ventas en Markdown.",
        "Escribe el informe de ventas como texto plano.",
        "Envíame el informe de ventas como gráfico PNG.",
    ],
    "en": [
        "Give me the sales report in Markdown.",
        "Write the sales report as plain text.",
        "Send me the sales report as a PNG chart.",
    ],
}
MORE_OFF_TOPIC = {
    "es": ["Háblame de {t}.", "¿Qué opinas de {t}?"],
    "en": ["Tell me about {t}.", "What do you think of {t}?"],
}
SEEN = Vocab(
    STORES + MORE_STORES,
    {lang: PRODUCTS[lang] + MORE_PRODUCTS[lang] for lang in PRODUCTS},
    {lang: ASKS[lang] + MORE_ASKS[lang] for lang in ASKS},
    {lang: (OFF_TOPIC[lang][0] + MORE_OFF_TOPIC[lang], OFF_TOPIC[lang][1]) for lang in OFF_TOPIC},
    {lang: WRONG_FORMAT[lang] + MORE_WRONG_FORMAT[lang] for lang in WRONG_FORMAT},
    VAGUE,
    (1, 5),
)
DISJOINT = Vocab(HELD_STORES, HELD_PRODUCTS, HELD_ASKS, HELD_OFF_TOPIC, HELD_WRONG_FORMAT, HELD_VAGUE, (1, 4))


def _dump(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _money(rng: random.Random) -> float:
    return round(rng.uniform(5, 2500), 2)


def _table_rows(rng: random.Random, lang: str, vocab: Vocab) -> list[dict]:
    names = rng.sample(vocab.products[lang], rng.randint(*vocab.lines))
    return [{"product": n, "units": rng.randint(1, 99), "revenue": _money(rng)} for n in names]


def _report(store, period, currency, lines, issues) -> dict:
    units = [ln["units"] for ln in lines if ln["units"] is not None]
    revenue = [ln["revenue"] for ln in lines if ln["revenue"] is not None]
    priced = [ln for ln in lines if ln["revenue"] is not None]
    # Evidence before verdict: the issues are listed before the status that depends on them,
    # so the model decides ok/warning after writing out what it found, not at the first token.
    return {
        "store": store,
        "period": period,
        "currency": currency,
        "lines": lines,
        "issues": issues,
        "status": "warning" if issues else "ok",
        "total_units": sum(units),
        "total_revenue": round(sum(revenue), 2),
        "top_product": max(priced, key=lambda ln: ln["revenue"])["product"] if priced else None,
    }


def _render_input(lang: str, header: dict, lines: list[dict], cells: list[tuple[str, str, str]]) -> str:
    h = HEADER[lang]
    out = [f"{h[k]}: {v}" for k, v in header.items()]
    out.append(h["table"])
    out += [",".join(c) for c in cells]
    return "\n".join(out)


def _fmt(x) -> str:
    return "" if x is None else (f"{x:.2f}" if isinstance(x, float) else str(x))


def sales_row(rng: random.Random, lang: str, exception: bool, vocab: Vocab = SEEN) -> dict:
    """A report request; with ``exception``, one or two problems the report must flag."""
    store, currency = rng.choice(vocab.stores), rng.choice(CURRENCIES)
    period = f"{rng.randint(2022, 2025)}-{rng.randint(1, 12):02d}"
    header = {"store": store, "period": period, "currency": currency}
    lines = _table_rows(rng, lang, vocab)
    labels = [ln["product"] for ln in lines]
    issues: list[dict] = []
    if exception:
        kinds = rng.sample(["missing_field", "return", "inconsistent_figures", "missing_value"], rng.choice([1, 1, 2]))
        for kind in kinds:
            if kind == "missing_field":
                field = rng.choice(["store", "period", "currency"])
                del header[field]
                issues.append({"code": "missing_field", "field": field})
            elif kind == "return":
                i = rng.randrange(len(lines))
                lines[i]["units"] = -rng.randint(1, 9)
                lines[i]["revenue"] = -round(rng.uniform(5, 300), 2)
                labels[i] = f"{lines[i]['product']} ({HEADER[lang]['return']})"
                # a line flagged inconsistent before is now a plain return: one finding, not two
                issues = [x for x in issues if x.get("product") != lines[i]["product"]]
                issues.append({"code": "return", "product": lines[i]["product"]})
            elif kind == "inconsistent_figures":
                i = rng.randrange(len(lines))
                if not lines[i]["units"] or lines[i]["units"] < 0 or labels[i] != lines[i]["product"]:
                    continue
                if lines[i]["revenue"] is None:  # a missing value already: one finding per line
                    continue
                lines[i]["units"] = -lines[i]["units"]  # negative units but positive revenue, no return mark
                issues.append({"code": "inconsistent_figures", "product": lines[i]["product"]})
            else:
                i = rng.randrange(len(lines))
                if labels[i] != lines[i]["product"] or not lines[i]["units"] or lines[i]["units"] < 0:
                    continue
                field = rng.choice(["units", "revenue"])
                lines[i][field] = None
                issues.append({"code": "missing_value", "product": lines[i]["product"], "field": field})
        if not issues:
            return sales_row(rng, lang, exception, vocab)
    issues.sort(key=lambda issue: _issue_order(issue, lines))
    cells = [(lab, _fmt(ln["units"]), _fmt(ln["revenue"])) for lab, ln in zip(labels, lines, strict=True)]
    report = _report(header.get("store"), header.get("period"), header.get("currency"), lines, issues)
    return {
        "instruction": rng.choice(vocab.asks[lang]),
        "input": _render_input(lang, header, lines, cells),
        "output": _dump(report),
        "scenario": "exception" if exception else "normal",
    }


def _issue_order(issue: dict, lines: list[dict]) -> tuple:
    """Where ``issue`` goes in the list: header fields first (store, period, currency), then line
    by line (return, inconsistent figures, missing units, missing revenue), the order in which
    the rules of ``report.schema.json`` (``x-afinar-derive``) list them."""
    if issue["code"] == "missing_field":
        return (0, ["store", "period", "currency"].index(issue["field"]), 0)
    line = next(i for i, ln in enumerate(lines) if ln["product"] == issue["product"])
    kind = ["return", "inconsistent_figures", "units", "revenue"].index(issue.get("field") or issue["code"])
    return (1, line, kind)


def _garbage(rng: random.Random, lang: str, vocab: Vocab) -> str:
    """Sales 'data' nobody can report on: no figures, words for numbers, or nothing at all."""
    h, store = HEADER[lang], rng.choice(vocab.stores)
    kind = rng.choice(["words", "prose", "empty"])
    if kind == "words":
        names = rng.sample(vocab.products[lang], rng.randint(2, 3))
        return "\n".join(
            [f"{h['store']}: {store}", h["table"]]
            + [f"{n},{rng.choice(vocab.vague[lang])},{rng.choice(vocab.vague[lang])}" for n in names]
        )
    if kind == "prose":
        n = rng.choice(vocab.products[lang])
        return (
            f"{store} vendió {rng.choice(vocab.vague['es'])} {n} el mes pasado"
            if lang == "es"
            else f"{store} sold {rng.choice(vocab.vague['en'])} {n} last month"
        )
    return f"{h['store']}: {store}\n{h['table']}"


def error_row(rng: random.Random, lang: str, vocab: Vocab = SEEN) -> dict:
    """A request we refuse with a JSON error: off-topic, unusable data, or a format we don't produce."""
    code = rng.choice(["off_topic", "malformed_input", "unsupported_format"])
    if code == "off_topic":
        templates, fillers = vocab.off_topic[lang]
        instruction = rng.choice(templates).format(**{k: rng.choice(v) for k, v in fillers.items()})
        data = ""
    elif code == "malformed_input":
        instruction = rng.choice(vocab.asks[lang])
        data = _garbage(rng, lang, vocab)
    else:
        good = sales_row(rng, lang, exception=False, vocab=vocab)
        instruction, data = rng.choice(vocab.wrong_format[lang]), good["input"]
    out = {"status": "error", "error": {"code": code, "message": MESSAGES[code][lang]}}
    return {"instruction": instruction, "input": data, "output": _dump(out), "scenario": "user_error"}


def make_rows(n: int, rng: random.Random, vocab: Vocab = SEEN) -> list[dict]:
    """``n`` rows: about 39% normal, 33% exception, 28% user error; languages 50/50.

    The rarer, harder cases get more rows than a real log would have: they are what a small
    model gets wrong first (measured on the demo: user errors lagged at a 55/30/15 split).
    """
    rows = []
    for _ in range(n):
        lang = rng.choice(["es", "en"])
        r = rng.random()
        rows.append(error_row(rng, lang, vocab) if r < 0.28 else sales_row(rng, lang, exception=r < 0.61, vocab=vocab))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--train", type=int, default=1200)
    ap.add_argument("--eval", type=int, default=150)
    ap.add_argument("--disjoint", type=int, default=150, help="rows of the disjoint held-out split")
    ap.add_argument("--out", type=Path, default=HERE / "data")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    train = make_rows(args.train, rng)
    seen = {(r["instruction"], r["input"]) for r in train}
    held = []
    while len(held) < args.eval:  # eval rows never repeat a training prompt (no leakage)
        row = make_rows(1, rng)[0]
        if (row["instruction"], row["input"]) not in seen:
            seen.add((row["instruction"], row["input"]))
            held.append(row)
    # its own random stream: train.jsonl and eval.jsonl stay what they were before the split existed
    disjoint = make_rows(args.disjoint, random.Random(args.seed + 1), DISJOINT)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("eval", held), ("eval_disjoint", disjoint)):
        with (args.out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        print(f"wrote {len(rows)} rows to {args.out / f'{name}.jsonl'}")


if __name__ == "__main__":
    main()
