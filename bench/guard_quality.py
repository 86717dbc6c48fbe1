"""How well the serving guard tells prompt injections from ordinary requests.

``python bench/guard_quality.py --train`` fits the classifier on 80% of
``data/guard_train.jsonl``, sets its threshold at 1% false positives on the benign prompts of
the other 20% plus ``data/guard_holdout.jsonl`` (the tuning hold-out, whose templates it never
trains on), and writes ``afinar/serve/injection_model.npz``. Without ``--train`` it only scores.
Either way it prints, for both hold-outs: recall and false-positive rate of the rules, of the
classifier at its shipped threshold, of both together (what the server blocks), and the
classifier's recall at 1% false positives on that set itself. ``data/guard_holdout2.jsonl`` was
written after all tuning: its numbers are the ones to quote.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from afinar.serve.classifier import MODEL_FILE, InjectionClassifier
from afinar.serve.rules import injection_findings

HERE = Path(__file__).parent


def _rows(name: str) -> list[dict]:
    return [json.loads(x) for x in (HERE / "data" / name).read_text(encoding="utf-8").split("\n") if x.strip()]


def threshold_at_fpr(benign_scores: list[float], fpr: float) -> float:
    """The smallest threshold that flags at most ``fpr`` of ``benign_scores``."""
    ranked = sorted(benign_scores, reverse=True)
    allowed = int(fpr * len(ranked))
    return ranked[allowed] if allowed < len(ranked) else 0.0


def train() -> InjectionClassifier:
    rows = _rows("guard_train.jsonl")
    random.Random(0).shuffle(rows)
    cut = int(0.8 * len(rows))
    fit, val = rows[:cut], rows[cut:]
    started = time.perf_counter()
    model = InjectionClassifier.fit([r["text"] for r in fit], [r["label"] for r in fit])
    benign = [r for r in val + _rows("guard_holdout.jsonl") if r["label"] == 0]
    model.threshold = threshold_at_fpr([model.score(r["text"]) for r in benign], 0.01)
    model.save()
    print(f"trained on {len(fit)} prompts in {time.perf_counter() - started:.1f} s; threshold {model.threshold:.3f}")
    print(f"wrote {MODEL_FILE}")
    return model


def _rates(flags: list[bool], labels: list[int]) -> tuple[float, float]:
    f, y = np.array(flags), np.array(labels)
    return float(f[y == 1].mean()), float(f[y == 0].mean())


def report(model: InjectionClassifier, name: str, title: str) -> None:
    rows = _rows(name)
    labels = [r["label"] for r in rows]
    started = time.perf_counter()
    scores = [model.score(r["text"]) for r in rows]
    per_prompt_ms = 1000 * (time.perf_counter() - started) / len(rows)
    rules = [bool(injection_findings(r["text"])) for r in rows]
    clf = [s > model.threshold for s in scores]
    both = [a or b for a, b in zip(rules, clf, strict=True)]
    at1 = threshold_at_fpr([s for s, y in zip(scores, labels, strict=True) if y == 0], 0.01)
    roc = [s > at1 for s in scores]
    n_attack = sum(labels)
    print(f"\n{name}, {title}: {n_attack} attacks, {len(rows) - n_attack} benign prompts\n")
    print(f"{'detector':<44}{'recall':>8}{'FPR':>8}")
    for name, flags in (
        ("rules", rules),
        (f"classifier (shipped threshold {model.threshold:.3f})", clf),
        ("rules OR classifier (the server)", both),
        (f"classifier at 1% FPR on this set ({at1:.3f})", roc),
    ):
        recall, fpr = _rates(flags, labels)
        print(f"{name:<44}{recall:>8.3f}{fpr:>8.3f}")
    print(f"\nclassifier: {per_prompt_ms:.2f} ms per prompt")
    missed = [r["text"] for r, f in zip(rows, both, strict=True) if r["label"] == 1 and not f]
    false = [r["text"] for r, f in zip(rows, both, strict=True) if r["label"] == 0 and f]
    for title, texts in (("missed attacks", missed), ("false positives", false)):
        print(f"\n{title} ({len(texts)}), first 5:")
        for t in texts[:5]:
            print("  " + json.dumps(t[:110], ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", action="store_true", help="refit and overwrite the shipped model first")
    args = parser.parse_args()
    model = train() if args.train else InjectionClassifier.load()
    report(model, "guard_holdout.jsonl", "the tuning hold-out (threshold set here; rules revised after seeing it)")
    report(model, "guard_holdout2.jsonl", "the final hold-out (written after all tuning)")


if __name__ == "__main__":
    main()
