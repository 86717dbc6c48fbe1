"""Write the quarterly-report dataset of Altamar Group (a fictitious company): seeded, Spanish and
English, three scenarios.

Each row gives one group company's quarterly figures (a small CSV: the line, this quarter, the
same quarter a year before, the change in percent) and asks for a short summary in formal
financial language. The answer states the figures with their units and nothing else:

- ``normal``: revenue, EBITDA and net income, all up or down, each with its change;
- ``exception``: a net loss, a one-off item that must be named, or a line with no prior-year
  figure (said so, no change invented);
- ``user_error``: investment advice, a forecast, or a request without figures: a formal reply
  that declines or asks for the figures (scored by ``clarify``).

Every number in a summary comes from its input (the ``finance`` metric checks it). Run
``python generate_data.py`` to rewrite ``data/train.jsonl``, ``data/eval.jsonl`` and
``data/eval_disjoint.jsonl``; the output is byte-for-byte the same for the same ``--seed``. The
disjoint split is built from group companies (one reporting in Canadian dollars), quarters,
one-off items and request phrasings that training never sees (``DISJOINT``).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent

SYSTEM_PROMPT = (
    "You are the financial reporting assistant of Altamar Group. Summarize the figures given in formal "
    "financial language, in the language of the request. State only figures from the input."
)
COMPANIES = {  # company -> currency
    "Altamar Retail S.A.": "EUR",
    "Altamar Logística S.L.": "EUR",
    "Altamar Energía S.A.": "EUR",
    "Altamar Seguros S.A.": "EUR",
    "Altamar Inmobiliaria S.A.": "EUR",
    "Altamar Americas Inc.": "USD",
    "Altamar UK Ltd.": "GBP",
}
QUARTERS = [(q, y) for y in (2023, 2024, 2025) for q in (1, 2, 3, 4)]
ONE_OFF = {
    "en": ["the sale of the Valencia warehouse", "a restructuring provision", "an insurance settlement"],
    "es": ["la venta del almacén de Valencia", "una provisión por reestructuración", "una indemnización del seguro"],
}
ASKS = {
    "en": [
        "Summarize this quarter's results for the board.",
        "Write the results paragraph of the quarterly report.",
        "Draft a formal summary of these quarterly figures.",
    ],
    "es": [
        "Resume los resultados del trimestre para el consejo.",
        "Redacta el párrafo de resultados del informe trimestral.",
        "Elabora un resumen formal de estas cifras trimestrales.",
    ],
}
CURRENCY_WORDS = {"EUR": "euros", "USD": "dólares", "GBP": "libras", "CAD": "dólares canadienses"}


def _num(x: float, lang: str) -> str:
    s = f"{x:.1f}"
    return s.replace(".", ",") if lang == "es" else s


def _money(x: float, cur: str, lang: str) -> str:
    return f"{cur} {_num(x, lang)} million" if lang == "en" else f"{_num(x, lang)} millones de {CURRENCY_WORDS[cur]}"


def _pct(x: float, lang: str) -> str:
    return f"{_num(abs(x), lang)}%" if lang == "en" else f"{_num(abs(x), lang)} %"


def _table(company: str, cur: str, q: int, y: int, lines: list[tuple[str, float, float | None]], lang: str) -> str:
    if lang == "en":
        head = [
            f"company: {company}",
            f"period: Q{q} {y}",
            f"unit: {cur} million",
            "line,current,prior_year,change_pct",
        ]
    else:
        head = [f"empresa: {company}", f"periodo: {q}T {y}", f"unidad: millones de {cur}"]
        head.append("partida,actual,año_anterior,variación_pct")
    rows = []
    for name, cur_v, prev in lines:
        change = "n/a" if prev is None else f"{(cur_v / prev - 1) * 100:.1f}"
        rows.append(f"{name},{cur_v:.1f},{'n/a' if prev is None else f'{prev:.1f}'},{change}")
    return "\n".join(head + rows)


def _change(cur_v: float, prev: float) -> float:
    return round((cur_v / prev - 1) * 100, 1)


_LINE = {  # line -> (English noun, Spanish noun, Spanish gender)
    "revenue": ("revenue", "los ingresos", "m"),
    "ebitda": ("EBITDA", "el EBITDA", "m"),
    "net_income": ("net income", "el beneficio neto", "m"),
}
_TABLE_NAME = {"en": {"revenue": "revenue", "ebitda": "ebitda", "net_income": "net_income"},
               "es": {"revenue": "ingresos", "ebitda": "ebitda", "net_income": "beneficio_neto"}}  # fmt: skip


def _sentence(line: str, cur_v: float, prev: float | None, cur: str, lang: str, first: bool) -> str:
    en, es, _ = _LINE[line]
    if prev is None:
        return (
            f"{en.capitalize() if en != 'EBITDA' else en} amounted to {_money(cur_v, cur, lang)}; no prior-year "
            "figure is available for comparison."
            if lang == "en"
            else f"{es[0].upper() + es[1:]} se {'situaron' if line == 'revenue' else 'situó'} en "
            f"{_money(cur_v, cur, lang)}; no se dispone de cifra comparable del año anterior."
        )
    ch = _change(cur_v, prev)
    if lang == "en":
        verb = "increased" if ch >= 0 else "decreased"
        subject = en if en == "EBITDA" else en.capitalize()
        tail = f" compared with {_money(prev, cur, lang)} in the same quarter of the prior year" if first else ""
        return f"{subject} {verb} by {_pct(ch, lang)} to {_money(cur_v, cur, lang)}{tail}."
    verb = "aumentó" if ch >= 0 else "disminuyó"
    subject = es[0].upper() + es[1:]
    if line == "revenue":
        verb = "aumentaron" if ch >= 0 else "disminuyeron"
    tail = f", frente a {_money(prev, cur, lang)} en el mismo trimestre del año anterior" if first else ""
    return f"{subject} {verb} un {_pct(ch, lang)}, hasta {_money(cur_v, cur, lang)}{tail}."


def report_row(rng: random.Random, lang: str, exception: bool, v: Vocab) -> dict:
    company = rng.choice(list(v.companies))
    cur, (q, y) = v.companies[company], rng.choice(v.quarters)
    revenue_prev = round(rng.uniform(80, 900), 1)
    revenue = round(revenue_prev * rng.uniform(0.85, 1.2), 1)
    ebitda_prev = round(revenue_prev * rng.uniform(0.08, 0.22), 1)
    ebitda = round(ebitda_prev * rng.uniform(0.8, 1.25), 1)
    net_prev = round(ebitda_prev * rng.uniform(0.3, 0.6), 1)
    net = round(net_prev * rng.uniform(0.7, 1.3), 1)
    kind = rng.randrange(3) if exception else None
    lines: list[tuple[str, float, float | None]] = [("revenue", revenue, revenue_prev), ("ebitda", ebitda, ebitda_prev)]
    period = f"Q{q} {y}" if lang == "en" else f"{q}T {y}"
    opening = f"In {period}, {company} reported the following results. " if lang == "en" else (
        f"En el {period}, {company} presentó los siguientes resultados. ")  # fmt: skip
    extra = ""
    if kind == 0:  # a net loss
        net = -round(net_prev * rng.uniform(0.1, 0.5), 1)
        lines.append(("net_income", net, net_prev))
        extra = (
            f" The company recorded a net loss of {_money(-net, cur, lang)}, compared with a net profit of "
            f"{_money(net_prev, cur, lang)} in the same quarter of the prior year."
            if lang == "en"
            else f" La sociedad registró una pérdida neta de {_money(-net, cur, lang)}, frente a un beneficio neto de "
            f"{_money(net_prev, cur, lang)} en el mismo trimestre del año anterior."
        )
    elif kind == 1:  # a one-off item inside net income
        one = round(abs(net) * rng.uniform(0.2, 0.6), 1)
        what = rng.choice(v.one_off[lang])
        lines.append(("net_income", net, net_prev))
        lines.append(("one_off" if lang == "en" else "extraordinario", one, None))
        extra = (
            " "
            + _sentence("net_income", net, net_prev, cur, lang, False)
            + (
                f" Net income includes a one-off item of {_money(one, cur, lang)} from {what}."
                if lang == "en"
                else f" El beneficio neto incluye un resultado extraordinario de {_money(one, cur, lang)} por {what}."
            )
        )
    elif kind == 2:  # no prior-year figure for EBITDA (a new reporting line)
        lines[1] = ("ebitda", ebitda, None)
        lines.append(("net_income", net, net_prev))
        extra = " " + _sentence("net_income", net, net_prev, cur, lang, False)
    else:
        lines.append(("net_income", net, net_prev))
        extra = " " + _sentence("net_income", net, net_prev, cur, lang, False)
    body = _sentence("revenue", revenue, revenue_prev, cur, lang, True) + " "
    body += _sentence("ebitda", ebitda, lines[1][2], cur, lang, False) + extra
    table_lines = [(_TABLE_NAME[lang].get(n, n), v, p) for n, v, p in lines]
    return {
        "instruction": rng.choice(v.asks[lang]),
        "input": _table(company, cur, q, y, table_lines, lang),
        "output": opening + body,
        "scenario": "exception" if exception else "normal",
        "metric": "finance",
    }


USER_ERRORS = {
    "en": [
        ("Should we buy more {c} shares before the results are published?", "advice"),
        ("Forecast next quarter's revenue of {c}.", "forecast"),
        ("Summarize {c}'s results for the quarter.", "missing"),
        ("Is {c} a good investment right now?", "advice"),
        ("What will {c}'s EBITDA be next year?", "forecast"),
        ("Write the quarterly results paragraph of {c}.", "missing"),
    ],
    "es": [
        ("¿Deberíamos comprar más acciones de {c} antes de publicar los resultados?", "advice"),
        ("Haz una previsión de los ingresos de {c} para el próximo trimestre.", "forecast"),
        ("Resume los resultados trimestrales de {c}.", "missing"),
        ("¿Es {c} una buena inversión ahora mismo?", "advice"),
        ("¿Cuál será el EBITDA de {c} el año que viene?", "forecast"),
        ("Redacta el párrafo de resultados trimestrales de {c}.", "missing"),
    ],
}
DECLINE = {
    "en": {
        "advice": "This service summarizes reported figures only and does not provide investment advice. "
        "Please refer the question to the Investor Relations department.",
        "forecast": "This service summarizes reported figures only and cannot provide forecasts. "
        "Please provide the reported quarterly figures to be summarized.",
        "missing": "No figures were provided. Please provide the quarterly figures (revenue, EBITDA and net income) "
        "to be summarized.",
    },
    "es": {
        "advice": "Este servicio solo resume cifras publicadas y no ofrece asesoramiento de inversión. "
        "Por favor, dirija la consulta al departamento de Relación con Inversores.",
        "forecast": "Este servicio solo resume cifras publicadas y no puede elaborar previsiones. "
        "Por favor, indique las cifras trimestrales publicadas que desea resumir.",
        "missing": "No se han facilitado cifras. Por favor, indique las cifras trimestrales (ingresos, EBITDA y "
        "beneficio neto) que desea resumir.",
    },
}


def error_row(rng: random.Random, lang: str, v: Vocab) -> dict:
    template, kind = rng.choice(v.user_errors[lang])
    q, y = rng.choice(v.quarters)
    period = f" (Q{q} {y})" if lang == "en" else f" ({q}T {y})"
    ask = template.format(c=rng.choice(list(v.companies)))
    return {
        "instruction": ask[:-1] + period + ask[-1],
        "input": "",
        "output": DECLINE[lang][kind],
        "scenario": "user_error",
        "metric": "clarify",
    }


@dataclass(frozen=True)
class Vocab:
    """What one split's rows are built from."""

    companies: dict[str, str]
    quarters: list[tuple[int, int]]
    one_off: dict[str, list[str]]
    asks: dict[str, list[str]]
    user_errors: dict[str, list[tuple[str, str]]]


TRAIN = Vocab(COMPANIES, QUARTERS, ONE_OFF, ASKS, USER_ERRORS)
DISJOINT = Vocab(
    {"Altamar Agro S.A.": "EUR", "Altamar Salud S.L.": "EUR", "Altamar Canada Corp.": "CAD",
     "Altamar Brasil Ltda.": "USD"},
    [(q, 2026) for q in (1, 2, 3, 4)],
    {"en": ["the disposal of the Bilbao office", "an impairment of goodwill"],
     "es": ["la venta de la oficina de Bilbao", "un deterioro del fondo de comercio"]},
    {"en": ["Prepare the results commentary for these figures.", "Give a formal overview of the quarter below."],
     "es": ["Prepara el comentario de resultados de estas cifras.",
            "Ofrece una visión formal del trimestre siguiente."]},
    {"en": [("Would you recommend selling our stake in {c}?", "advice"),
            ("Predict {c}'s net income for next year.", "forecast"),
            ("Give me the results paragraph for {c} this quarter.", "missing")],
     "es": [("¿Recomiendas vender nuestra participación en {c}?", "advice"),
            ("Predice el beneficio neto de {c} para el año próximo.", "forecast"),
            ("Dame el párrafo de resultados de {c} de este trimestre.", "missing")]},
)  # fmt: skip
"""Held out: companies, quarters, one-off items and phrasings that only the disjoint split uses."""


def make_rows(n: int, rng: random.Random, v: Vocab = TRAIN) -> list[dict]:
    """``n`` rows: 55% normal, 30% exception, 15% user error; languages 50/50."""
    rows = []
    for _ in range(n):
        lang, r = rng.choice(["es", "en"]), rng.random()
        rows.append(error_row(rng, lang, v) if r < 0.15 else report_row(rng, lang, r < 0.45, v))
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
    train = make_rows(args.train, rng)
    seen = {(r["instruction"], r["input"]) for r in train}
    held = []
    while len(held) < args.eval:  # eval rows never repeat a training prompt (no leakage)
        row = make_rows(1, rng)[0]
        if (row["instruction"], row["input"]) not in seen:
            seen.add((row["instruction"], row["input"]))
            held.append(row)
    disjoint = make_rows(args.disjoint, random.Random(args.seed + 1), DISJOINT)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("eval", held), ("eval_disjoint", disjoint)):
        with (args.out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        print(f"wrote {len(rows)} rows to {args.out / f'{name}.jsonl'}")


if __name__ == "__main__":
    main()
