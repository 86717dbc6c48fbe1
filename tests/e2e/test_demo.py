"""The full demo and its acceptance bar (slow: ~20 minutes on 2 cores; run with pytest -m slow):
the domain bars on both held-out splits, the gate consistent with its checks, the export equal
in llama.cpp with its Ollama Modelfile, make demo's closing question answered right in every field,
no drift, the run in MLflow and TensorBoard."""

import json

import pytest
from mlflow import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import REPO

CLOSING = "tienda: Madrid-Centro\nperiodo: 2024-05\nmoneda: EUR\nproducto,unidades,importe\ncamisas,10,200.00"
CLOSING_ANSWER = {"store": "Madrid-Centro", "period": "2024-05", "currency": "EUR",
                  "lines": [{"product": "camisas", "units": 10, "revenue": 200.0}], "issues": [], "status": "ok",
                  "total_units": 10, "total_revenue": 200.0, "top_product": "camisas"}  # fmt: skip


def _clean_tables_ok(predictions) -> float:
    rows = [json.loads(x) for x in predictions.read_text().splitlines()]
    clean = [r for r in rows if r["scenario"] == "normal"]
    return sum(json.loads(r["tuned"]).get("status") == "ok" for r in clean) / len(clean)


@pytest.mark.slow
def test_demo_meets_its_bar(tmp_path):
    run_dir = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["run", "--quiet", str(REPO / "examples/retail-sales-json/recipe.yaml"), "--run-dir", str(run_dir)]
    )
    assert result.exit_code == 0, result.output
    ev = json.loads((run_dir / "eval" / "domain.json").read_text())
    assert ev["tuned"]["n"] == 150
    assert ev["tuned"]["schema_valid_rate"] >= 0.95 and ev["tuned"]["field_accuracy"] >= 0.75
    assert ev["tuned"]["field_accuracy"] - ev["base"]["field_accuracy"] >= 0.40
    disjoint = json.loads((run_dir / "eval" / "disjoint" / "domain.json").read_text())["tuned"]
    assert disjoint["schema_valid_rate"] >= 0.95
    assert disjoint["field_accuracy"] >= ev["tuned"]["field_accuracy"] - 0.10
    assert _clean_tables_ok(run_dir / "eval" / "disjoint" / "predictions.jsonl") >= 0.90
    summary = json.loads((run_dir / "summary.json").read_text())
    # the 15-minute budget is for fine-tuning and the domain eval: the benchmarks add ~4 min and the
    # base's replay conversations (written once per base, then cached) ~2 min on a fresh machine
    replay = json.loads((run_dir / "replay.json").read_text())["seconds"]
    assert summary["wall_seconds"] - summary["benchmarks"]["seconds"] - replay <= 15 * 60
    bench = summary["benchmarks"]["benchmarks"]
    assert bench["hellaswag"]["n"] == 1000 and bench["hellaswag"]["base"]["acc_norm"] > 0.35
    # issue 24's bar: promoted, every benchmark at most 1 point below the base (paired point
    # estimate), on enough items to see a 3-point drop
    for name in ("hellaswag", "piqa", "arc_easy"):
        assert bench[name]["paired"]["delta"] >= -1.0, (name, bench[name]["paired"])
        assert bench[name]["paired"]["detectable_drop"] <= 3.0, (name, bench[name]["paired"])
    checks = {c["check"]: c["result"] for c in summary["gate"]["checks"]}
    assert set(checks.values()) == {"pass"} and summary["gate"]["decision"] == "promoted", summary["gate"]

    # the recipe's tracking: the run in MLflow (beside the run folder) and in TensorBoard, every step
    steps = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = sorted((r["step"], r["loss"]) for r in steps if "loss" in r)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tracked,) = client.search_runs([client.get_experiment_by_name("retail-sales-json").experiment_id])
    assert tracked.data.tags["afinar.gate"] == "promoted"
    assert sorted((m.step, m.value) for m in client.get_metric_history(tracked.info.run_id, "train/loss")) == losses
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [s for s, _ in losses]

    # the tuned retail model, exported to f16 GGUF without --force, as make demo does, answers in
    # llama.cpp exactly as in PyTorch
    exported = CliRunner().invoke(app, ["export", str(run_dir), "--format", "gguf", "--quant", "f16"])
    assert exported.exit_code == 0, exported.output
    assert "verify (llama.cpp): 20/20 prompts generate identical tokens (100%)" in exported.output
    assert (run_dir / "export" / "gguf-f16" / "retail-sales-json-f16.Modelfile").is_file()
    gguf = run_dir / "export" / "gguf-f16" / "retail-sales-json-f16.gguf"
    answer = CliRunner().invoke(app, ["generate", str(run_dir), "--gguf", str(gguf), CLOSING])
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout) == CLOSING_ANSWER  # make demo's question, every field

    # make demo's last step: the held-out prompts as a production window show no drift
    eval_file = str(REPO / "examples/retail-sales-json/data/eval.jsonl")
    drift = CliRunner().invoke(app, ["drift", "--quiet", str(run_dir), "--prompts", eval_file])
    assert drift.exit_code == 0, drift.output
    assert "**no drift**" in (run_dir / "model_card.md").read_text()
