"""Every adapter method on the retail example, the same budget of optimizer steps each.

    python bench/methods.py [--steps 60] [--batch 4] [--eval-rows 150] [--methods lora,dora,...]

Each method trains in a fresh process (so peak RSS is its own) from the retail recipe
(bf16, max_seq_len 384, warm-up 5 steps then cosine), with the learning rate its literature
uses: LoRA/DoRA 3e-4 (the recipe's), IA3 3e-3 (Liu et al. train a few scaling vectors at a
higher rate), prefix 1e-2 and prompt 3e-2 with 20 virtual tokens (soft prompts need high rates;
Lester et al. used 0.3 with Adafactor), bottleneck 1e-3 (Houlsby et al.'s range for small
adapters), full 2e-5 (full fine-tuning guidance, 1e-5..2e-5): one rate each, not a sweep.
Then the tuned model answers the 150 held-out rows (greedy, as ``afinar eval`` does) and is
scored on schema-valid JSON and field accuracy.

Printed as one Markdown table: trainable parameters (and % of the base), peak RSS, training
tokens/s, the best eval loss, schema-valid %, field accuracy %. docs/methods.md keeps a run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "examples" / "retail-sales-json" / "recipe.yaml"
LR = {"lora": 3e-4, "dora": 3e-4, "ia3": 3e-3, "prefix": 1e-2, "prompt": 3e-2, "bottleneck": 1e-3, "full": 2e-5}


def worker(method: str, steps: int, batch: int, eval_rows: int) -> dict:
    import yaml

    from afinar.eval.suites import evaluate_run
    from afinar.model.adapters import trainable_parameters
    from afinar.pipeline import train_recipe

    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["adapter"] = {**recipe["adapter"], "method": method}
    if method == "ia3":
        recipe["adapter"].pop("target_modules")  # IA3's own layers (k, v, down)
    recipe["optim"]["lr"] = LR[method]
    recipe["train"].update({"max_steps": steps, "micro_batch_size": batch, "checkpoint_interval": None})
    recipe["eval"]["benchmarks"] = {"enabled": False}
    recipe["eval"]["compare_base"] = False
    recipe["eval"]["limit"] = eval_rows
    recipe["eval"].pop("gate", None)
    with tempfile.TemporaryDirectory() as tmp:
        path = RECIPE.parent / f".bench-{method}.yaml"  # beside the recipe: its relative paths hold
        recipe["output_dir"] = tmp
        path.write_text(yaml.safe_dump(recipe, sort_keys=False))
        try:
            run_dir, prep, model, summary = train_recipe(path, Path(tmp) / "run", show_progress=False)
        finally:
            path.unlink()
        trained = sum(p.numel() for p in trainable_parameters(model).values())
        total = sum(p.numel() for p in model.parameters())
        domain = evaluate_run(run_dir, model, prep.tokenizer, show_progress=False)["tuned"]
    return {
        "method": method,
        "trainable": trained,
        "share": trained / (total if method == "full" else total - trained),  # of the base's parameters
        "tokens_per_s": summary["train"]["tokens_per_s"],
        "eval_loss": summary["train"]["best_eval_loss"],
        "schema_valid": domain["schema_valid_rate"],
        "field_accuracy": domain["field_accuracy"],
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--eval-rows", type=int, default=150, help="held-out rows answered and scored")
    p.add_argument("--methods", default=",".join(LR))
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print("RESULT " + json.dumps(worker(a.worker, a.steps, a.batch, a.eval_rows)))
        return
    rows = []
    for method in a.methods.split(","):
        cmd = [sys.executable, __file__, "--worker", method, "--steps", str(a.steps), "--batch", str(a.batch)]
        cmd += ["--eval-rows", str(a.eval_rows)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        found = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not found:
            sys.exit(f"{method} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        rows.append(json.loads(found[-1].removeprefix("RESULT ")))
        print(f"  {method}: done", flush=True)
    print(f"\n{a.steps} steps x {a.batch} rows, retail example, bf16, {a.eval_rows} held-out rows scored\n")
    print("| method | trainable params | % of base | peak RSS | tokens/s | eval loss | schema-valid | field acc. |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['method']} | {r['trainable']:,} | {100 * r['share']:.3f}% | {r['peak_rss_gib']:.2f} GiB "
            f"| {r['tokens_per_s']:.0f} | {r['eval_loss']:.4f} | {100 * r['schema_valid']:.1f}% "
            f"| {100 * r['field_accuracy']:.1f}% |"
        )


if __name__ == "__main__":
    main()
