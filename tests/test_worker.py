"""``afinar worker --nproc 2``: a job trained under torchrun on two processes (gloo on the CPU),
each rank acting as the job's owner by the job's token, then evaluated and promoted; a token of no
running job is refused and audited."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import alpaca_rows, registry_users

JOB_RECIPE = {
    "name": "ft",
    "data": {"max_seq_len": 64, "eval_fraction": 0.1},
    "adapter": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
    "optim": {"lr": 1.0e-3, "warmup_steps": 0},
    "train": {"micro_batch_size": 2, "epochs": 1, "precision": "fp32"},
    "eval": {"metric": "rouge_l", "max_new_tokens": 4, "compare_base": False, "benchmarks": {"enabled": False},
             "gate": {"min": {"rouge_l": 0.0}}},
    "replay": {"enabled": False},
}  # fmt: skip


def _setup(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("AFINAR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AFINAR_REGISTRY", str(tmp_path / "registry.db"))
    return registry_users(alice="ml_engineer")["root"]


def test_a_job_on_two_processes_runs_as_its_owner_and_succeeds(tmp_path, monkeypatch, tiny_model_dir, tokenizer):
    from afinar.registry import Caller, access_registry
    from afinar.security.audit import audit_log
    from afinar.serve.fine_tuning import FineTuning

    _setup(tmp_path, monkeypatch)
    registry = access_registry()
    ft = FineTuning.open(registry.url, registry, None)
    ft.template = {**JOB_RECIPE}
    alice = Caller("alice", "ml_engineer")
    data = "".join(json.dumps(r) + "\n" for r in alpaca_rows(20)).encode()
    upload = ft.upload(alice, "sums.jsonl", data, "fine-tune", tokenizer)
    method = {"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 4}}}
    job = ft.create_job(alice, "base", str(tiny_model_dir), (upload, None), method, 3, "two")

    env = {k: v for k, v in os.environ.items() if k != "AFINAR_API_KEY"}
    cmd = [sys.executable, "-m", "afinar", "worker", "--once", "--nproc", "2"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    row = ft.store.job(job.id)
    assert row.status == "succeeded", (row.error, done.stderr[-3000:])
    assert row.token_digest is None  # the token lived as long as the training
    starts = [r for r in audit_log().records() if r["action"] == "train.start" and r["resource"] == row.run_dir]
    assert [(r["actor"], r["details"]["world_size"]) for r in starts] == [("alice", 2)]
    evals = [r["actor"] for r in audit_log().records() if r["action"] == "eval" and r["resource"] == row.run_dir]
    assert evals == ["alice"]
    steps = [e.data["step"] for e in ft.store.events(job.id, limit=100).rows if e.data and "train_loss" in e.data]
    assert sorted(steps) == [1, 2, 3, 4, 5]  # 18 training rows, 4 a step (2 on each process): 4.5 steps, rounded up
    recipe = (tmp_path / "home" / "jobs" / job.id / "recipe.yaml").read_text()
    assert "micro_batch_size: 2\n  grad_accum: 1\n" in recipe
    assert (tmp_path / "home" / "jobs" / job.id / "adapter" / "adapter_model.safetensors").is_file()


def test_a_token_of_no_running_job_is_refused_and_audited(tmp_path, monkeypatch):
    from afinar.security.audit import audit_log

    _setup(tmp_path, monkeypatch)
    (tmp_path / "d.jsonl").write_text(json.dumps(alpaca_rows(1)[0]) + "\n")
    out = CliRunner().invoke(app, ["data", "check", str(tmp_path / "d.jsonl")], env={"AFINAR_JOB_TOKEN": "forged"})
    assert out.exit_code == 2 and "not the token of a running fine-tuning job" in out.output
    last = audit_log().records()[-1]
    assert (last["action"], last["decision"], last["actor"]) == ("login", "deny", "unknown")
