"""Write the retail sales-report dataset: seeded, Spanish and English mixed, three scenarios.

Each row is an alpaca-form request to turn a store's sales table into a JSON report that
follows ``report.schema.json``:

- ``normal``: a clean table -> ``status: ok`` with lines, totals and the top product;
- ``exception``: a table with a missing header field, a return, a negative or missing figure ->
  ``status: warning`` with every problem listed under ``issues``;
- ``user_error``: an off-topic request, an unusable table, or a format we do not produce ->
  ``status: error`` with an error code and a message.

Run ``python generate_data.py`` to rewrite ``data/train.jsonl`` and ``data/eval.jsonl``; the
output is byte-for-byte the same for the same ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import random
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


def _dump(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _money(rng: random.Random) -> float:
    return round(rng.uniform(5, 2500), 2)


def _table_rows(rng: random.Random, lang: str) -> list[dict]:
    names = rng.sample(PRODUCTS[lang], rng.randint(2, 3))
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


def sales_row(rng: random.Random, lang: str, exception: bool) -> dict:
    """A report request; with ``exception``, one or two problems the report must flag."""
    store, currency = rng.choice(STORES), rng.choice(CURRENCIES)
    period = f"{rng.randint(2022, 2025)}-{rng.randint(1, 12):02d}"
    header = {"store": store, "period": period, "currency": currency}
    lines = _table_rows(rng, lang)
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
                issues.append({"code": "return", "product": lines[i]["product"]})
            elif kind == "inconsistent_figures":
                i = rng.randrange(len(lines))
                if not lines[i]["units"] or lines[i]["units"] < 0 or labels[i] != lines[i]["product"]:
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
            return sales_row(rng, lang, exception)
    cells = [(lab, _fmt(ln["units"]), _fmt(ln["revenue"])) for lab, ln in zip(labels, lines, strict=True)]
    report = _report(header.get("store"), header.get("period"), header.get("currency"), lines, issues)
    return {
        "instruction": rng.choice(ASKS[lang]),
        "input": _render_input(lang, header, lines, cells),
        "output": _dump(report),
        "scenario": "exception" if exception else "normal",
    }


def _garbage(rng: random.Random, lang: str) -> str:
    """Sales 'data' nobody can report on: no figures, words for numbers, or nothing at all."""
    h, store = HEADER[lang], rng.choice(STORES)
    kind = rng.choice(["words", "prose", "empty"])
    if kind == "words":
        names = rng.sample(PRODUCTS[lang], rng.randint(2, 3))
        return "\n".join(
            [f"{h['store']}: {store}", h["table"]]
            + [f"{n},{rng.choice(VAGUE[lang])},{rng.choice(VAGUE[lang])}" for n in names]
        )
    if kind == "prose":
        n = rng.choice(PRODUCTS[lang])
        return (
            f"{store} vendió {rng.choice(VAGUE['es'])} {n} el mes pasado"
            if lang == "es"
            else f"{store} sold {rng.choice(VAGUE['en'])} {n} last month"
        )
    return f"{h['store']}: {store}\n{h['table']}"


def error_row(rng: random.Random, lang: str) -> dict:
    """A request we refuse with a JSON error: off-topic, unusable data, or a format we don't produce."""
    code = rng.choice(["off_topic", "malformed_input", "unsupported_format"])
    if code == "off_topic":
        templates, fillers = OFF_TOPIC[lang]
        instruction = rng.choice(templates).format(**{k: rng.choice(v) for k, v in fillers.items()})
        data = ""
    elif code == "malformed_input":
        instruction = rng.choice(ASKS[lang])
        data = _garbage(rng, lang)
    else:
        good = sales_row(rng, lang, exception=False)
        instruction, data = rng.choice(WRONG_FORMAT[lang]), good["input"]
    out = {"status": "error", "error": {"code": code, "message": MESSAGES[code][lang]}}
    return {"instruction": instruction, "input": data, "output": _dump(out), "scenario": "user_error"}


def make_rows(n: int, rng: random.Random) -> list[dict]:
    """``n`` rows: about 39% normal, 33% exception, 28% user error; languages 50/50.

    The rarer, harder cases get more rows than a real log would have: they are what a small
    model gets wrong first (measured on the demo: user errors lagged at a 55/30/15 split).
    """
    rows = []
    for _ in range(n):
        lang = rng.choice(["es", "en"])
        r = rng.random()
        rows.append(error_row(rng, lang) if r < 0.28 else sales_row(rng, lang, exception=r < 0.61))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--train", type=int, default=1200)
    ap.add_argument("--eval", type=int, default=150)
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
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("eval", held)):
        with (args.out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        print(f"wrote {len(rows)} rows to {args.out / f'{name}.jsonl'}")


if __name__ == "__main__":
    main()
