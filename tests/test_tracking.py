"""Experiment tracking, read back with the trackers' own readers: a run of the tiny Llama with
``tracking`` on is logged to MLflow (its SQLite store, read with ``MlflowClient``) and to
TensorBoard event files (read with TensorBoard's ``EventAccumulator``); every value is compared
with the run folder's own files, read here with ``json``."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from afinar.cli import app
from afinar.security.audit import audit_log
from tests.conftest import tiny_recipe


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("tracking")
    recipe = tiny_recipe(tmp, tiny_model_dir, n_eval=3, train={"max_steps": 4, "eval_interval": 2},
                         eval={"metric": "rouge_l"}, tracking={"mlflow": True, "tensorboard": True})  # fmt: skip
    out = cli("run", "--quiet", recipe, "--run-dir", tmp / "runs" / "r1")
    assert out.exit_code == 0, out.output
    return tmp / "runs" / "r1"


def file_rows(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_mlflow_holds_the_recipe_every_step_the_evaluation_the_gate_and_the_artifacts(tracked):
    client = MlflowClient(f"sqlite:///{tracked.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("t")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "r1" and run.info.status == "FINISHED"
    params = run.data.params
    assert params["train.max_steps"] == "4" and params["adapter.method"] == "lora"
    rows = file_rows(tracked)
    losses = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert sorted((m.step, m.value) for m in history) == losses and len(losses) == 4
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
    assert sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "eval/loss")) == evals
    summary = json.loads((tracked / "summary.json").read_text())
    assert run.data.metrics["domain/tuned/score"] == summary["eval"]["tuned"]["score"]
    gate = json.loads((tracked / "gate.json").read_text())
    assert run.data.tags["afinar.gate"] == gate["decision"]
    assert run.data.metrics["gate/promoted"] == float(gate["decision"] == "promoted")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model_card.md", "gate.json", "summary.json", "adapter"} <= artifacts
    adapter = {a.path for a in client.list_artifacts(run.info.run_id, "adapter")}
    assert "adapter/adapter_model.safetensors" in adapter
    local = client.download_artifacts(run.info.run_id, "model_card.md", str(tracked.parent / "down"))
    assert open(local).read() == (tracked / "model_card.md").read_text()
    last = [r for r in audit_log().records() if r["action"] == "track"][-1]
    assert last["resource"] == str(tracked) and last["details"]["mlflow"].startswith("sqlite:///")


def test_tensorboard_holds_every_step_and_the_evaluation(tracked):
    events = EventAccumulator(str(tracked / "tensorboard"))
    events.Reload()
    rows = file_rows(tracked)
    got = [(e.step, e.value) for e in events.Scalars("train/loss")]
    want = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    assert got == [(s, pytest.approx(v, rel=1e-6)) for s, v in want]  # TensorBoard stores float32
    summary = json.loads((tracked / "summary.json").read_text())
    (score,) = events.Scalars("domain/tuned/score")
    assert score.value == pytest.approx(summary["eval"]["tuned"]["score"], rel=1e-6)
    (card,) = events.Tensors("model_card/text_summary")
    assert card.tensor_proto.string_val[0].decode() == (tracked / "model_card.md").read_text()


def test_afinar_track_logs_an_earlier_run_again_and_refuses_a_run_without_tracking(tracked, tmp_path, tiny_model_dir):
    out = cli("track", tracked)
    assert out.exit_code == 0, out.output
    client = MlflowClient(f"sqlite:///{tracked.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("t")
    assert len(client.search_runs([experiment.experiment_id])) == 2
    plain = tiny_recipe(tmp_path, tiny_model_dir, train={"max_steps": 1})
    assert cli("train", "--quiet", plain, "--run-dir", tmp_path / "p").exit_code == 0
    out = cli("track", tmp_path / "p")
    assert out.exit_code == 2 and "turns no tracking on" in out.output
