"""The full demo and its acceptance bar (slow: ~16 minutes on 2 cores; run with pytest -m slow)."""

import json

import pytest
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import REPO


@pytest.mark.slow
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
    assert summary["gate"]["decision"] == "promoted"
    # the 15-minute budget is for fine-tuning and the domain eval; the benchmarks add ~4 min
    bench = summary["benchmarks"]["benchmarks"]
    assert {c["check"]: c["result"] for c in summary["gate"]["checks"]}["arc_easy change vs base"] == "pass"
    assert bench["hellaswag"]["n"] == 200 and bench["hellaswag"]["base"]["acc_norm"] > 0.35
    assert summary["wall_seconds"] - summary["benchmarks"]["seconds"] <= 15 * 60

    # the tuned retail model, exported to f16 GGUF, answers in llama.cpp exactly as in PyTorch
    exported = CliRunner().invoke(app, ["export", str(run_dir), "--format", "gguf", "--quant", "f16"])
    assert exported.exit_code == 0, exported.output
    assert "verify (llama.cpp): 20/20 prompts generate identical tokens (100%)" in exported.output
