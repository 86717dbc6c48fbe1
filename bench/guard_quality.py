"""How well the serving guard tells prompt injections from ordinary requests, per attack family,
and what it costs per request.

``python bench/guard_quality.py`` prints:

1. **Leave-family-out cross-validation** on ``data/guard_corpus.jsonl`` (``guard_corpus.py``):
   the attack families and the benign categories are dealt into ``--folds`` folds; each fold's
   model trains on the other folds' families (with the ``fit`` goals) and scores its own
   families (with the ``held`` goals, which no model trained on). The threshold is set on the
   pooled out-of-fold benign scores so that the guard (rules OR classifier) blocks at most
   ``--fpr`` of them; then recall per family, and the false-positive rate per benign category.
2. **Leave-author-out**: every family was written twice, by authors who had not read each other;
   a model trained on one author's templates (``fit`` goals) scores the other's (``held`` goals),
   both ways, with benign prompts of an author it did not train on: new wording of known kinds.
3. **The shipped model** (``afinar/serve/injection_model.npz``) on the frozen hold-outs
   ``data/guard_frozen*.jsonl``, each written after a model was frozen by someone who had not read
   the corpus: recall per family and false positives, rules, classifier and both.
4. **Cost**: ``Guard.check`` as the server runs it (injection rules and classifier, PII masking)
   on every prompt of the corpus and on long pasted documents: p50, p95 and max milliseconds.

``--train`` first fits the shipped model on every family (``fit`` goals) and the ``fit`` benign
prompts, sets its threshold on the ``calibration`` benign prompts (never trained on) at
``--fpr``, and writes ``afinar/serve/injection_model.npz``. ``--frozen`` alone scores only the
frozen hold-out.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np

from afinar.serve.classifier import MODEL_FILE, InjectionClassifier, StaticEncoder
from afinar.serve.guard import Guard
from afinar.serve.rules import injection_findings

HERE = Path(__file__).parent
CORPUS = HERE / "data" / "guard_corpus.jsonl"
FROZEN = sorted((HERE / "data").glob("guard_frozen*.jsonl"))


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").split("\n") if x.strip()]


def threshold_at_fpr(benign_scores: list[float], ruled: list[bool], fpr: float) -> float:
    """The smallest threshold at which the rules and the classifier together flag at most ``fpr``
    of the benign prompts (``ruled``: the rules already flag that prompt)."""
    allowed = int(fpr * len(benign_scores)) - sum(ruled)
    free = sorted((s for s, r in zip(benign_scores, ruled, strict=True) if not r), reverse=True)
    if allowed < 0:
        return 1.0
    return free[allowed] if allowed < len(free) else 0.0


def _fold_of(row: dict, folds: dict[str, int], k: int) -> int:
    if row["family"] == "mmlu":  # one big category of real questions: dealt by row
        return zlib.crc32(row["text"].encode()) % k
    return folds[row["family"]]


def _deal(names: list[str], k: int, seed: int) -> dict[str, int]:
    names = sorted(names)
    random.Random(seed).shuffle(names)
    return {name: i % k for i, name in enumerate(names)}


def _out_of_sample(
    splits: list[tuple[list[dict], list[dict]]], encoder: StaticEncoder, fpr: float
) -> tuple[list[tuple[dict, float]], dict[int, bool], float]:
    """Fit on each ``(train, test)`` split and score its test rows; the pooled scores, which rows the
    rules flag, and the threshold at ``fpr`` on the pooled benign rows."""
    scored: list[tuple[dict, float]] = []
    for i, (train, test) in enumerate(splits, 1):
        model = InjectionClassifier.fit([r["text"] for r in train], [r["label"] for r in train], encoder)
        scored += [(r, model.score(r["text"])) for r in test]
        print(f"  split {i}/{len(splits)}: trained on {len(train)}, scored {len(test)}", flush=True)
    ruled = {id(r): bool(injection_findings(r["text"])) for r, _ in scored}
    neg = [(r, s) for r, s in scored if not r["label"]]
    return scored, ruled, threshold_at_fpr([s for _, s in neg], [ruled[id(r)] for r, _ in neg], fpr)


def cross_validate(rows: list[dict], encoder: StaticEncoder, k: int, fpr: float, seed: int = 0) -> None:
    attacks = sorted({r["family"] for r in rows if r["label"]})
    benign = sorted({r["family"] for r in rows if not r["label"] and r["family"] != "mmlu"})
    folds = {**_deal(attacks, k, seed), **_deal(benign, k, seed + 1)}
    started = time.perf_counter()
    splits = [
        ([r for r in rows if _fold_of(r, folds, k) != fold and (r["split"] == "fit" or not r["label"])],
         [r for r in rows if _fold_of(r, folds, k) == fold and (r["split"] == "held" or not r["label"])])
        for fold in range(k)
    ]  # fmt: skip
    scored, ruled, threshold = _out_of_sample(splits, encoder, fpr)
    print(
        f"\nleave-family-out, {k} folds ({time.perf_counter() - started:.0f} s); threshold {threshold:.3f} "
        f"at {fpr:.0%} FPR on the pooled out-of-fold benign prompts\n"
    )
    _table(scored, ruled, threshold)


def cross_author(rows: list[dict], encoder: StaticEncoder, fpr: float) -> None:
    """Every family written twice, by authors who had not read each other: train on one author's
    templates, score the other's (and benign prompts of an author not trained on), both ways."""
    mmlu_cal = [r for r in rows if r["family"] == "mmlu" and r["split"] == "calibration"]
    mmlu_fit = [r for r in rows if r["family"] == "mmlu" and r["split"] == "fit"]
    splits = []
    for trained, benign_trained, scored_author, benign_scored in ((1, (1, 2), 2, 3), (2, (2, 3), 1, 1)):
        train = [r for r in rows if r["label"] and r.get("author") == trained and r["split"] == "fit"]
        train += [r for r in rows if not r["label"] and r.get("author") in benign_trained] + mmlu_fit
        test = [r for r in rows if r["label"] and r.get("author") == scored_author and r["split"] == "held"]
        test += [r for r in rows if not r["label"] and r.get("author") == benign_scored] + mmlu_cal
        splits.append((train, test))
    scored, ruled, threshold = _out_of_sample(splits, encoder, fpr)
    print(
        f"\nleave-author-out (trained on one author's templates of every family, scored on the other's, both "
        f"ways); threshold {threshold:.3f} at {fpr:.0%} FPR on benign prompts of an author not trained on\n"
    )
    _table(scored, ruled, threshold)


def _table(scored: list[tuple[dict, float]], ruled: dict[int, bool], threshold: float) -> None:
    by_family: dict[tuple[int, str], list[tuple[bool, bool]]] = defaultdict(list)
    for r, s in scored:
        by_family[(r["label"], r["family"])].append((ruled[id(r)], s > threshold))
    print(f"{'attack family':<26}{'n':>5}{'rules':>8}{'classifier':>12}{'guard':>8}")
    totals = []
    for (label, family), flags in sorted(by_family.items(), key=lambda x: (-x[0][0], x[0][1])):
        if not label:
            continue
        rules, clf, both = (
            np.mean([f[0] for f in flags]),
            np.mean([f[1] for f in flags]),
            np.mean([f[0] or f[1] for f in flags]),
        )
        totals += [f[0] or f[1] for f in flags]
        print(f"{family:<26}{len(flags):>5}{rules:>8.3f}{clf:>12.3f}{both:>8.3f}")
    family_recalls = [np.mean([f[0] or f[1] for f in v]) for (lab, _), v in by_family.items() if lab]
    print(f"{'all attacks (recall)':<26}{len(totals):>5}{'':>8}{'':>12}{np.mean(totals):>8.3f}")
    print(f"{'worst family':<26}{'':>5}{'':>8}{'':>12}{min(family_recalls):>8.3f}\n")
    print(f"{'benign category':<26}{'n':>5}{'rules':>8}{'classifier':>12}{'guard':>8}   (false-positive rate)")
    negatives = []
    for (label, family), flags in sorted(by_family.items()):
        if label:
            continue
        negatives += [f[0] or f[1] for f in flags]
        print(
            f"{family:<26}{len(flags):>5}{np.mean([f[0] for f in flags]):>8.3f}"
            f"{np.mean([f[1] for f in flags]):>12.3f}{np.mean([f[0] or f[1] for f in flags]):>8.3f}"
        )
    print(f"{'all benign (FPR)':<26}{len(negatives):>5}{'':>8}{'':>12}{np.mean(negatives):>8.3f}")
    missed = [r["text"] for r, s in scored if r["label"] and not (ruled[id(r)] or s > threshold)]
    false = [r["text"] for r, s in scored if not r["label"] and (ruled[id(r)] or s > threshold)]
    for title, texts in (("missed attacks", missed), ("false positives", false)):
        print(f"\n{title} ({len(texts)}), up to 8:")
        for t in random.Random(0).sample(texts, min(8, len(texts))):
            print("  " + json.dumps(t[:140], ensure_ascii=False))


def train(rows: list[dict], encoder: StaticEncoder, fpr: float) -> InjectionClassifier:
    fit = [r for r in rows if r["split"] == "fit"]
    calibration = [r for r in rows if r["split"] == "calibration"]
    started = time.perf_counter()
    model = InjectionClassifier.fit([r["text"] for r in fit], [r["label"] for r in fit], encoder)
    model.threshold = threshold_at_fpr(
        [model.score(r["text"]) for r in calibration], [bool(injection_findings(r["text"])) for r in calibration], fpr
    )
    model.fpr = fpr
    model.save()
    print(
        f"\ntrained on {len(fit)} prompts in {time.perf_counter() - started:.0f} s; threshold {model.threshold:.3f} "
        f"at {fpr:.0%} FPR on {len(calibration)} calibration prompts; wrote {MODEL_FILE}"
    )
    return model


def frozen(model: InjectionClassifier) -> None:
    for path in FROZEN:
        rows = _rows(path)
        scored = [(r, model.score(r["text"])) for r in rows]
        ruled = {id(r): bool(injection_findings(r["text"])) for r in rows}
        print(f"\nthe shipped model on the frozen hold-out {path.name}, threshold {model.threshold:.3f}\n")
        _table(scored, ruled, model.threshold)


def cost(rows: list[dict]) -> None:
    guard = Guard()
    guard.check(["warm up"])
    long_doc = " ".join([r["text"] for r in rows if not r["label"]][:60])  # a pasted document of a few thousand tokens
    for title, texts in (
        ("every corpus prompt", [r["text"] for r in rows]),
        ("long pasted documents", [long_doc] * 20),
    ):
        times = []
        for text in texts:
            started = time.perf_counter()
            guard.check([text])
            times.append(1000 * (time.perf_counter() - started))
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))]
        print(
            f"Guard.check, {title} ({len(texts)}, mean {statistics.mean(len(t) for t in texts):.0f} characters): "
            f"p50 {statistics.median(times):.2f} ms, p95 {p95:.2f} ms, max {times[-1]:.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", action="store_true", help="refit and overwrite the shipped model first")
    parser.add_argument("--frozen", action="store_true", help="only score the shipped model on the frozen hold-out")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fpr", type=float, default=0.01)
    args = parser.parse_args()
    encoder = StaticEncoder.load()
    rows = _rows(CORPUS)
    if not args.frozen:
        cross_validate(rows, encoder, args.folds, args.fpr)
        cross_author(rows, encoder, args.fpr)
    model = train(rows, encoder, args.fpr) if args.train else InjectionClassifier.load()
    frozen(model)
    if not args.frozen:
        print()
        cost(rows)


if __name__ == "__main__":
    main()
