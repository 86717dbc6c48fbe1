"""FSDP2 through torchrun on CPU (gloo): N processes compute what one process computes.

A 2-process run with grad_accum 1 and a 1-process run with grad_accum 2 see the same global batch
of every step; their per-step losses and final adapters must agree. The reference is the ordinary
single-process loop (no torchrun, no FSDP), so the comparison is independent of the sharded path.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from safetensors.torch import load_file
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import tiny_recipe


def _recipe(tmp_path: Path, model_dir, grad_accum: int, name: str, **train) -> Path:
    path = tiny_recipe(
        tmp_path,
        model_dir,
        n_train=24,
        n_eval=4,
        adapter={"r": 4, "alpha": 8, "dropout": 0.0},
        train={
            "micro_batch_size": 2,
            "grad_accum": grad_accum,
            "max_steps": 5,
            "eval_interval": 2,
            "checkpoint_interval": 1,
            "precision": "fp32",
            "seed": 3,
            **train,
        },
    )
    return path.rename(tmp_path / name)


def _one(*args: str) -> None:
    result = CliRunner().invoke(app, ["train", "--quiet", *args])
    assert result.exit_code == 0, result.output


def _two(*args: str, env: dict | None = None, timeout: float = 300, nproc: str = "2") -> subprocess.CompletedProcess:
    """``afinar train ... --nproc 2``: torchrun with two gloo processes, one thread each."""
    cmd = [sys.executable, "-m", "afinar", "train", "--quiet", *args]
    cmd += ["--nproc", nproc] if nproc else []
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _losses(run: Path) -> list[float]:
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [x["loss"] for x in lines if "loss" in x]


def _adapter(run: Path) -> dict:
    return load_file(run / "adapter" / "adapter_model.safetensors")


def _same(a: Path, b: Path) -> None:
    la, lb = _losses(a), _losses(b)
    assert len(la) == len(lb) == 5
    assert all(abs(x - y) <= 1e-4 * abs(x) for x, y in zip(la, lb, strict=True)), (la, lb)
    wa, wb = _adapter(a), _adapter(b)
    assert wa.keys() == wb.keys() and wa
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) <= 1e-5
    # The adapter moved from its zero-initialised B: equality is not trivial.
    assert max(v.abs().max().item() for k, v in wa.items() if "lora_B" in k) > 1e-3


def test_two_processes_match_one(tmp_path, tiny_model_dir):
    one, two = tmp_path / "one", tmp_path / "two"
    _one(str(_recipe(tmp_path, tiny_model_dir, 2, "r1.yaml")), "--run-dir", str(one))
    _ok(_two(str(_recipe(tmp_path, tiny_model_dir, 1, "r2.yaml")), "--run-dir", str(two)))
    _same(one, two)
    # Rank 0 alone writes: each step once in the metrics, one train.start in the run's files.
    steps = [json.loads(x)["step"] for x in (two / "metrics.jsonl").read_text().splitlines()]
    assert [s for s in steps if s] == [1, 2, 2, 3, 4, 4, 5, 5]
    assert json.loads((two / "summary.json").read_text())["train"]["steps"] == 5


def test_bf16_and_checkpointing_compose_with_sharding(tmp_path, tiny_model_dir):
    """FSDP's bf16 policy with per-layer gradient checkpointing against one plain bf16 process:
    the same steps to bf16 rounding (the two paths keep frozen weights in bf16 differently)."""
    one, two = tmp_path / "one", tmp_path / "two"
    _one(str(_recipe(tmp_path, tiny_model_dir, 2, "r1.yaml", precision="bf16")), "--run-dir", str(one))
    r2 = _recipe(tmp_path, tiny_model_dir, 1, "r2.yaml", precision="bf16")
    r2.write_text(r2.read_text() + "memory:\n  gradient_checkpointing: true\n")
    _ok(_two(str(r2), "--run-dir", str(two)))
    la, lb = _losses(one), _losses(two)
    assert len(la) == len(lb) == 5
    assert all(abs(x - y) <= 1e-2 * abs(x) for x, y in zip(la, lb, strict=True)), (la, lb)


def test_checkpoints_resume_on_another_world_size(tmp_path, tiny_model_dir):
    """Saved with 2 processes, resumed with 1; and saved with 1, resumed with 2."""
    r1, r2 = _recipe(tmp_path, tiny_model_dir, 2, "r1.yaml"), _recipe(tmp_path, tiny_model_dir, 1, "r2.yaml")
    full, a, b = tmp_path / "full", tmp_path / "a", tmp_path / "b"
    _one(str(r1), "--run-dir", str(full))

    _ok(_two(str(r2), "--run-dir", str(a), "--stop-at-step", "2"))
    assert json.loads((a / "summary.json").read_text())["train"]["interrupted_at"] == 2
    _one("--resume", str(a))

    _one(str(r1), "--run-dir", str(b), "--stop-at-step", "3")
    _ok(_two("--resume", str(b)))

    _same(full, a)
    _same(full, b)


def test_a_world_size_that_cannot_share_the_step_is_refused(tmp_path, tiny_model_dir):
    run = tmp_path / "run"
    _one(str(_recipe(tmp_path, tiny_model_dir, 1, "r.yaml")), "--run-dir", str(run), "--stop-at-step", "1")
    proc = _two("--resume", str(run))
    assert proc.returncode != 0
    assert "resume on a world size that divides 1" in " ".join((proc.stdout + proc.stderr).split())


def test_a_failing_rank_stops_the_whole_job(tmp_path, tiny_model_dir):
    recipe = _recipe(tmp_path, tiny_model_dir, 1, "r.yaml", max_steps=50)
    start = time.monotonic()
    proc = _two(str(recipe), "--run-dir", str(tmp_path / "run"), env={"AFINAR_FAULT_RANK": "1:2"}, timeout=120)
    assert proc.returncode != 0
    assert "injected failure on rank 1 at step 2" in proc.stderr
    assert time.monotonic() - start < 90  # 60 s to stop, plus two interpreters starting on a busy CI machine


def test_bundled_model_on_two_processes(tmp_path, bundled_dir):
    """Once on the real model: 2 steps, fp32, the same losses and adapter as one process."""

    def recipe(accum: int, name: str) -> Path:
        path = tiny_recipe(
            tmp_path,
            "default",
            n_train=8,
            n_eval=2,
            adapter={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
            train={"micro_batch_size": 1, "grad_accum": accum, "max_steps": 2, "precision": "fp32", "seed": 1},
        )
        return path.rename(tmp_path / name)

    one, two = tmp_path / "one", tmp_path / "two"
    # One thread in every process: a multi-threaded matmul sums in another order, and Adam's
    # first steps (update ~ lr * sign(grad)) turn a 1e-7 difference in a near-zero grad into 1e-3.
    _ok(_two(str(recipe(2, "r1.yaml")), "--run-dir", str(one), nproc=""))
    _ok(_two(str(recipe(1, "r2.yaml")), "--run-dir", str(two)))
    la, lb = _losses(one), _losses(two)
    assert len(la) == 2 and all(abs(x - y) <= 1e-4 * abs(x) for x, y in zip(la, lb, strict=True)), (la, lb)
    wa, wb = _adapter(one), _adapter(two)
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) <= 1e-5


def test_several_nodes_need_a_meeting_point(tmp_path):
    result = CliRunner().invoke(app, ["train", str(tmp_path / "r.yaml"), "--nproc", "1", "--nnodes", "2"])
    assert result.exit_code == 2
    assert "--rdzv-endpoint" in result.output


def test_two_processes_match_one_for_dpo_and_kto(tmp_path, tiny_model_dir):
    """The preference objectives under FSDP2: the same losses, adapters and reward metrics (each
    rank's pairs summed over the ranks) as one process with accumulation 2."""
    from tests.train.test_preference import LABELED_ROWS, _dpo_recipe

    for objective, rows in (("dpo", None), ("kto", LABELED_ROWS)):
        runs = []
        for accum in (2, 1):
            folder = tmp_path / f"{objective}-{accum}"
            folder.mkdir()
            recipe = _dpo_recipe(folder, tiny_model_dir, objective, **({"rows": rows} if rows else {}))
            text = recipe.read_text().replace("grad_accum: 2", f"grad_accum: {accum}")
            recipe.write_text(text.replace("dropout: 0.1", "dropout: 0.0"))  # each rank draws its own dropout
            runs.append(folder / "run")
            if accum == 2:
                _one(str(recipe), "--run-dir", str(runs[-1]))
            else:
                _ok(_two(str(recipe), "--run-dir", str(runs[-1])))
        one, two = ([json.loads(x) for x in (r / "metrics.jsonl").read_text().splitlines()] for r in runs)
        assert len(one) == len(two) and any("eval_loss" in m for m in one)
        for a, b in zip(one, two, strict=True):
            for key in a.keys() & {"loss", "eval_loss", "reward_accuracy", "reward_margin", "chosen_reward",
                                   "eval_reward_margin", "eval_chosen_reward", "eval_rejected_reward"}:  # fmt: skip
                assert abs(a[key] - b[key]) <= 1e-4 * max(1.0, abs(a[key])), (objective, key, a, b)
            assert a.get("examples") == b.get("examples")
        wa, wb = _adapter(runs[0]), _adapter(runs[1])
        assert max((wa[k] - wb[k]).abs().max().item() for k in wa) <= 1e-5
