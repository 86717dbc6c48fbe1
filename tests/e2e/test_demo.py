"""The full demo and its acceptance bar (slow: ~20 minutes on 2 cores; run with pytest -m slow)."""

import json

import pytest
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import REPO


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="issue 24 open: after the retail data was widened the demo stays under the 90% schema-valid bar "
    "and its run takes ~20 min (docs/forgetting.md); strict, so the day it passes this marker must go",
)
def test_demo_meets_its_bar(tmp_path):
    run_dir = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["run", "--quiet", str(REPO / "examples/retail-sales-json/recipe.yaml"), "--run-dir", str(run_dir)]
    )
    assert result.exit_code == 0, result.output
    ev = json.loads((run_dir / "eval" / "domain.json").read_text())
    assert ev["tuned"]["n"] == 150
    assert ev["tuned"]["schema_valid_rate"] >= 0.90
    assert ev["tuned"]["field_accuracy"] - ev["base"]["field_accuracy"] >= 0.40
    summary = json.loads((run_dir / "summary.json").read_text())
    # the 15-minute budget is for fine-tuning and the domain eval; the benchmarks add ~4 min
    assert summary["wall_seconds"] - summary["benchmarks"]["seconds"] <= 15 * 60
    bench = summary["benchmarks"]["benchmarks"]
    assert bench["hellaswag"]["n"] == 1000 and bench["hellaswag"]["base"]["acc_norm"] > 0.35
    # The gate follows its checks: the domain thresholds hold, and a benchmark fails exactly when
    # its paired change is below -1 point (the recipe's max_drop).
    checks = {c["check"]: c["result"] for c in summary["gate"]["checks"]}
    assert checks["field_accuracy"] == checks["schema_valid_rate"] == "pass"
    for name, b in bench.items():
        assert checks[f"{name} change vs base"] == ("fail" if b["paired"]["delta"] < -1.0 else "pass")
    failed = any(r == "fail" for r in checks.values())
    assert summary["gate"]["decision"] == ("rejected" if failed else "promoted")

    # the tuned retail model, exported to f16 GGUF (forced past a rejection, as make demo does),
    # answers in llama.cpp exactly as in PyTorch
    exported = CliRunner().invoke(app, ["export", str(run_dir), "--format", "gguf", "--quant", "f16", "--force"])
    assert exported.exit_code == 0, exported.output
    assert "verify (llama.cpp): 20/20 prompts generate identical tokens (100%)" in exported.output

    # make demo's last step: the held-out prompts as a production window show no drift
    eval_file = str(REPO / "examples/retail-sales-json/data/eval.jsonl")
    drift = CliRunner().invoke(app, ["drift", "--quiet", str(run_dir), "--prompts", eval_file])
    assert drift.exit_code == 0, drift.output
    assert "**no drift**" in (run_dir / "model_card.md").read_text()
