"""Forgetting on the retail example: each mitigation against the plain recipe, one table.

    python bench/forgetting.py [--only baseline,kl,...] [--out runs/forgetting] [--keep]

Each variant is the retail recipe (examples/retail-sales-json/recipe.yaml) with a few keys
changed, run through ``afinar run`` in its own process: training, the domain eval base vs tuned,
and the general benchmarks (1,000 test items each of HellaSwag and ARC-Easy, PIQA's 919),
compared item by item with the base (afinar.eval.paired). Printed as one Markdown table:
schema-valid and field accuracy on the held-out split and on the disjoint one, each benchmark's paired change with its
95% interval, the adapter scale kept, the gate's decision, training, domain-eval and benchmark
seconds. docs/forgetting.md keeps a run. A derived variant (``baseline-wise-ft``) trains nothing:
it evaluates another variant's adapter with a setting changed, so its training seconds are its
parent's.

The base's side of each comparison is kept per base (``$AFINAR_CACHE/base-scores/``): the first
variant scores the base on the benchmarks, the others read it back, so their "bench s" is the
tuned model's alone.

A finished variant's run folder is reused when the script runs again with the same ``--out``
(with ``--keep``, which keeps the folders that are otherwise removed at the end; delete one to
measure it again).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "examples" / "retail-sales-json" / "recipe.yaml"
BENCHMARKS = ("hellaswag", "piqa", "arc_easy")

_OFF = {"replay": {"enabled": False}}

VARIANTS: dict[str, tuple[str, dict]] = {
    "baseline": ("no mitigation: LoRA r16 on every projection, lr 3e-4, 150 steps, replay off", _OFF),
    "recipe": ("the example's recipe as it is (replay-sft, 150 steps)", {}),
    "steps-100": ("the recipe with 100 steps instead of 150 (a third less training)", {"train": {"max_steps": 100}}),
    "lr-2e-4": ("the recipe with learning rate 2e-4 instead of 3e-4", {"optim": {"lr": 2.0e-4}}),
    "lr-1e-4": ("plain lever on the baseline: learning rate 1e-4, replay off", {**_OFF, "optim": {"lr": 1.0e-4}}),
    "attention-only": (
        "plain lever on the baseline: LoRA on q, k, v, o only, replay off",
        {**_OFF, "adapter": {"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}},
    ),
    "rank-4": (
        "plain lever on the baseline: LoRA rank 4 (alpha 8), replay off",
        {**_OFF, "adapter": {"r": 4, "alpha": 8}},
    ),
    "replay-kl": (
        "replay: 2 self-written general rows per step, KL to the base (weight 1)",
        {"replay": {"enabled": True, "loss": "kl", "per_step": 2}},
    ),
    "replay-kl-w3": (
        "replay: 2 self-written general rows per step, KL to the base (weight 3)",
        {"replay": {"enabled": True, "loss": "kl", "per_step": 2, "weight": 3.0}},
    ),
    "wise-ft": (
        "the recipe, then the adapter scaled down to the largest of 1.0/0.8/0.6/0.4 that keeps every "
        "benchmark within the gate on validation items (WiSE-FT)",
        {"eval": {"scale": {"enabled": True}}},
    ),
    "replay-kl-4": (
        "replay: 4 self-written general rows per step, KL to the base (weight 1)",
        {"replay": {"enabled": True, "loss": "kl", "per_step": 4}},
    ),
}

DERIVED: dict[str, tuple[str, str, dict]] = {
    "baseline-wise-ft": (
        "baseline",
        "the baseline's trained adapter (no replay), then scaled down as in wise-ft (WiSE-FT where it has "
        "something to act on)",
        {"eval": {"scale": {"enabled": True}}},
    ),
}
"""Variants that train nothing: they take another variant's trained adapter (run first, and kept)
and evaluate it with ``changes`` as ``afinar run`` evaluates after training."""

_AFTER_TRAINING = """
import sys
from pathlib import Path
from afinar.model.tuned import load_tuned
from afinar.eval.suites import evaluate_trained
from afinar.run_folder import load_run
run = Path(sys.argv[1])
model, tokenizer, recipe = load_tuned(run)
evaluate_trained(run, recipe, model, tokenizer, show_progress=False)
"""


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return out


def run_variant(name: str, changes: dict, out: Path) -> Path:
    """``afinar run`` of the retail recipe with ``changes``; returns the run folder."""
    run_dir = out / name
    if (run_dir / "gate.json").is_file():
        return run_dir
    shutil.rmtree(run_dir, ignore_errors=True)
    recipe = _merge(yaml.safe_load(RECIPE.read_text()), changes)
    recipe["eval"]["benchmarks"] = {"enabled": True, "names": list(BENCHMARKS), "limit": 1000}
    path = RECIPE.parent / f".bench-forgetting-{name}.yaml"  # beside the recipe: its relative paths hold
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    try:
        cmd = [sys.executable, "-m", "afinar", "run", "--quiet", str(path), "--run-dir", str(run_dir)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    finally:
        path.unlink()
    if proc.returncode != 0:
        sys.exit(f"{name}: afinar run failed\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return run_dir


def run_derived(name: str, out: Path) -> Path:
    """A :data:`DERIVED` variant: its parent's run folder copied without its evaluation, the
    recipe changed, and everything after training run again; returns the run folder."""
    parent, _, changes = DERIVED[name]
    run_dir = out / name
    if (run_dir / "gate.json").is_file():
        return run_dir
    source = run_variant(parent, VARIANTS[parent][1], out)
    shutil.rmtree(run_dir, ignore_errors=True)
    skip = shutil.ignore_patterns("eval", "gate.json", "model_card*", "checkpoints", "export", "drift")
    shutil.copytree(source, run_dir, ignore=skip)
    recipe = _merge(yaml.safe_load((run_dir / "recipe.yaml").read_text()), changes)
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    summary = json.loads((run_dir / "summary.json").read_text())
    kept = {k: v for k, v in summary.items() if k in ("run_dir", "data", "train")}
    (run_dir / "summary.json").write_text(json.dumps(kept))
    proc = subprocess.run([sys.executable, "-c", _AFTER_TRAINING, str(run_dir)], capture_output=True, text=True,
                          cwd=REPO)  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"{name}: the evaluation failed\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return run_dir


def row(name: str, run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    bench = summary["benchmarks"]["benchmarks"]
    tuned = summary["eval"]["tuned"]
    return {
        "variant": name,
        "schema_valid": 100 * tuned["schema_valid_rate"],
        "field_accuracy": 100 * tuned["field_accuracy"],
        "disjoint": {
            k: 100 * v
            for k, v in summary["eval_splits"]["disjoint"]["tuned"].items()
            if k in ("schema_valid_rate", "field_accuracy")
        },
        **{b: bench[b]["paired"] for b in BENCHMARKS},
        "scale": (summary.get("scale") or {}).get("chosen", 1.0),
        "gate": summary["gate"]["decision"],
        "train_s": summary["train"]["seconds"],
        "eval_s": summary["eval_seconds"] + (summary.get("scale") or {}).get("seconds", 0.0),
        "bench_s": summary["benchmarks"]["seconds"],
    }


def table(rows: list[dict]) -> str:
    head = ["variant", "schema-valid", "field acc.", "disjoint: schema / field"]
    head += [*(f"{b} (paired 95%)" for b in BENCHMARKS), "scale", "gate", "train s", "eval s", "bench s"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        d = r["disjoint"]
        cells = [r["variant"], f"{r['schema_valid']:.1f}%", f"{r['field_accuracy']:.1f}%",
                 f"{d['schema_valid_rate']:.1f}% / {d['field_accuracy']:.1f}%"]  # fmt: skip
        for b in BENCHMARKS:
            p = r[b]
            cells.append(f"{p['delta']:+.1f} ({p['ci95'][0]:+.1f} to {p['ci95'][1]:+.1f})")
        cells += [f"{r['scale']:g}", r["gate"], f"{r['train_s']:.0f}", f"{r['eval_s']:.0f}", f"{r['bench_s']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    every = [*VARIANTS, *DERIVED]
    ap.add_argument("--only", default=",".join(every), help=f"comma-separated, of: {', '.join(every)}")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "forgetting")
    ap.add_argument("--keep", action="store_true", help="keep the run folders")
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(every))
    if unknown:
        sys.exit(f"--only: unknown variant(s) {unknown}; accepted: {', '.join(every)}")
    rows = []
    for name in names:
        if name in DERIVED:
            print(f"{name}: {DERIVED[name][1]}", flush=True)
            rows.append(row(name, run_derived(name, args.out)))
        else:
            print(f"{name}: {VARIANTS[name][0]}", flush=True)
            rows.append(row(name, run_variant(name, VARIANTS[name][1], args.out)))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
