"""The example's table: two evaluated runs answering the same held-out questions, per fact, and
their paired difference.

    python examples/norvia-manuals/compare.py runs/norvia-manuals-sft runs/norvia-manuals-sft-after-cpt

Reads each run's ``eval/predictions.jsonl`` (the tuned model's answer to every question of
``data/qa_eval.jsonl``, scored ``exact``) and the questions' ``meta.fact``; the difference of the
second run against the first is paired question by question (:mod:`afinar.eval.paired`).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from afinar.eval.paired import paired_difference

HERE = Path(__file__).parent


def right_answers(run: Path, questions: list[dict]) -> list[bool]:
    """Whether the run's tuned model answered each question exactly (in the questions' order)."""
    rows = [json.loads(x) for x in (run / "eval" / "predictions.jsonl").read_text().splitlines()]
    if len(rows) != len(questions):
        raise SystemExit(f"{run}: {len(rows)} answers for {len(questions)} questions; evaluate it on qa_eval.jsonl")
    out = []
    for n, (q, r) in enumerate(zip(questions, rows, strict=True), start=1):
        if not r["source"].endswith(f":{n}") or r["reference"] != q["messages"][-1]["content"]:
            raise SystemExit(f"{run}: answer {n} is not to question {n} of qa_eval.jsonl")
        out.append(r["tuned_score"]["score"] == 1.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="the run compared against (the fine-tune without pretraining)")
    parser.add_argument("second", type=Path, help="the fine-tune after continued pretraining")
    args = parser.parse_args()
    questions = [json.loads(x) for x in (HERE / "data" / "qa_eval.jsonl").read_text().splitlines()]
    first, second = right_answers(args.first, questions), right_answers(args.second, questions)
    facts: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(questions):
        facts[q["meta"]["fact"]].append(i)
    print(f"{'fact':<12}{'n':>4}{args.first.name:>32}{args.second.name:>40}")
    for fact, items in [*facts.items(), ("all", list(range(len(questions))))]:
        a = sum(first[i] for i in items) / len(items)
        b = sum(second[i] for i in items) / len(items)
        print(f"{fact:<12}{len(items):>4}{100 * a:>31.1f}%{100 * b:>39.1f}%")
    p = paired_difference(first, second)
    low, high = p["ci95"]
    interval = f"95% {low:+.1f} to {high:+.1f}"
    print(f"paired difference: {p['delta']:+.1f} points ({interval}), McNemar p = {p['mcnemar_p']:.3g}")


if __name__ == "__main__":
    main()
