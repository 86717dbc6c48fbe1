"""The preference example's table: the base, the SFT run and the SFT+DPO run on the held-out pairs
(``data/pairs_eval.jsonl``) and on the SFT task's eval split.

    python examples/it-support-scripts/compare_preferences.py runs/it-support-sft runs/it-support-dpo-...

Per model, on the held-out pairs:

- **reward accuracy**: the share of pairs whose chosen answer gained more log-probability than
  the rejected one against the bundled base, ``(c - c_base) > (r - r_base)`` with ``c``, ``r`` the
  summed log-probabilities of the two answers (DPO's implicit reward, one reference for all three
  models; the base against itself is 0 on every pair, so it has none);
- **likelihood accuracy**: the share of pairs whose chosen answer has the higher mean
  log-probability per token under the model alone (the base has one too).

Then the domain scores the runs' own evaluations wrote into their ``summary.json``: the SFT task's
eval split (``score``) and the held-out pairs' requests that should get a question or a refusal
(destructive ones and ones missing a host or an account: ``clarify_rate``, a question or a refusal
and no script), each generated greedily.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from afinar.data.intake import rows_as_trained
from afinar.data.render import render_all
from afinar.model.load import load_base
from afinar.model.precision import autocast_for
from afinar.model.tuned import load_tuned
from afinar.run_folder import load_run
from afinar.train.preference import with_reference


def _logps(model, rows, pad_id: int, autocast) -> list[tuple[float, float]]:
    with torch.no_grad():
        with_reference(model, rows, pad_id, autocast)
    return [r.reference for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sft", type=Path, help="The SFT run (recipe.yaml)")
    ap.add_argument("dpo", type=Path, help="The DPO run started from it (recipe-dpo.yaml)")
    args = ap.parse_args()
    recipe = load_run(args.dpo)
    sft_recipe = load_run(args.sft)
    _, autocast = autocast_for(recipe.train.precision, torch.device("cpu"))
    base, tokenizer, _ = load_base(sft_recipe.base_model)
    examples = rows_as_trained(recipe).held
    rows, _ = render_all(tokenizer, examples, recipe.data.max_seq_len, recipe.data.overlong)
    lengths = [(r.first.n_targets, r.second.n_targets) for r in rows]
    scores = {"base": _logps(base, rows, tokenizer.pad_token_id, autocast)}
    del base
    for name, run in (("SFT", args.sft), ("SFT+DPO", args.dpo)):
        model, _, _ = load_tuned(run)
        scores[name] = _logps(model, rows, tokenizer.pad_token_id, autocast)
        del model
    ref = scores["base"]
    table = {}
    for name, s in scores.items():
        likely = sum(c / nc > r / nr for (c, r), (nc, nr) in zip(s, lengths, strict=True)) / len(rows)
        reward = None
        if name != "base":
            reward = sum((c - cb) > (r - rb) for (c, r), (cb, rb) in zip(s, ref, strict=True)) / len(rows)
        table[name] = {"reward_accuracy": reward, "likelihood_accuracy": likely}
    sft_summary = json.loads((args.sft / "summary.json").read_text())
    dpo_summary = json.loads((args.dpo / "summary.json").read_text())
    domain = dpo_summary["eval_splits"]["domain"]  # base: the SFT model; tuned: SFT+DPO
    table["base"] |= {"domain": sft_summary["eval"]["base"]["score"], "clarify": None}
    table["SFT"] |= {"domain": domain["base"]["score"], "clarify": dpo_summary["eval"]["base"]["clarify_rate"]}
    table["SFT+DPO"] |= {"domain": domain["tuned"]["score"], "clarify": dpo_summary["eval"]["tuned"]["clarify_rate"]}

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    print(f"{len(rows)} held-out pairs; domain: {domain['tuned']['n']} rows of the SFT task's eval split")
    print("| model | reward accuracy (vs base) | likelihood accuracy | domain score | asks or declines (pairs) |")
    print("| --- | --- | --- | --- | --- |")
    for name, t in table.items():
        cells = (t["reward_accuracy"], t["likelihood_accuracy"], t["domain"], t["clarify"])
        print(f"| {name} | " + " | ".join(pct(x) for x in cells) + " |")


if __name__ == "__main__":
    main()
