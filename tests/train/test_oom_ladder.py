"""The OOM ladder: an out-of-memory step is retried one rung down (half the rows per forward,
then gradient checkpointing) and the run ends with the adapter of a run that never failed."""

import json

import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from afinar.cli import app
from afinar.security.audit import audit_log
from tests.conftest import tiny_recipe


def _train(recipe, run_dir):
    result = CliRunner().invoke(app, ["train", "-q", str(recipe), "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output


def _adapter(run_dir):
    return load_file(run_dir / "adapter" / "adapter_model.safetensors")


@pytest.mark.parametrize("packing", [False, True])
def test_faults_at_two_steps_take_two_rungs_and_change_nothing(tmp_path, tiny_model_dir, monkeypatch, packing):
    recipe = tiny_recipe(
        tmp_path,
        tiny_model_dir,
        train={"micro_batch_size": 4, "grad_accum": 1, "max_steps": 6, "precision": "fp32", "packing": packing},
    )
    _train(recipe, tmp_path / "plain")
    monkeypatch.setenv("AFINAR_FAULT_OOM", "2,4:2")  # step 2 once; step 4 twice
    _train(recipe, tmp_path / "ladder")

    a, b = _adapter(tmp_path / "plain"), _adapter(tmp_path / "ladder")
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-5
    lines = [json.loads(x) for x in (tmp_path / "ladder" / "metrics.jsonl").read_text().splitlines()]
    rungs = [(x["step"], x["forward_rows"], x["checkpointing"]) for x in lines if "rung" in x]
    assert rungs == [(2, 2, False), (4, 1, False), (4, 1, True)]
    assert [x["step"] for x in lines if "loss" in x] == [1, 2, 3, 4, 5, 6]  # no step lost or repeated
    audited = [r for r in audit_log().records() if r["action"] == "train.oom"]
    assert [r["details"]["step"] for r in audited[-3:]] == [2, 4, 4]


def test_a_memory_budget_is_enforced_and_the_ladder_can_be_off(tmp_path, tiny_model_dir):
    recipe = tiny_recipe(
        tmp_path,
        tiny_model_dir,
        train={"max_steps": 2, "precision": "fp32"},
        memory={"max_gb": 0.01, "oom_ladder": False},  # any Python process is bigger than 10 MiB
    )
    result = CliRunner().invoke(app, ["train", "-q", str(recipe), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "out of memory at step 1" in result.output and "memory.max_gb 0.01" in result.output


def test_the_last_rung_halves_max_seq_len_loudly(tmp_path, tiny_model_dir, monkeypatch):
    recipe = tiny_recipe(tmp_path, tiny_model_dir, train={"micro_batch_size": 2, "grad_accum": 1, "max_steps": 2})
    monkeypatch.setenv("AFINAR_FAULT_OOM", "1:3")  # rows 2 -> 1, checkpointing, then max_seq_len 128 -> 64
    with pytest.warns(UserWarning, match="max_seq_len lowered to 64"):
        _train(recipe, tmp_path / "r")
    lines = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [x["max_seq_len"] for x in lines if "rung" in x] == [128, 128, 64]
    assert [x["step"] for x in lines if "loss" in x] == [1, 2]
