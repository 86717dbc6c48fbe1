"""Ctrl-C during training: the step in progress finishes, a checkpoint is written, and resuming
gives the adapter an uninterrupted run gives."""

import signal
import subprocess
import sys
import time

from safetensors.torch import load_file
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import tiny_recipe


def test_ctrl_c_checkpoints_and_resume_is_exact(tmp_path, tiny_model_dir):
    recipe = tiny_recipe(
        tmp_path,
        tiny_model_dir,
        adapter={"r": 4, "alpha": 8, "dropout": 0.1},
        train={"micro_batch_size": 2, "grad_accum": 1, "max_steps": 150, "precision": "fp32", "seed": 9},
    )
    full, part = tmp_path / "full", tmp_path / "part"
    assert CliRunner().invoke(app, ["train", "-q", str(recipe), "--run-dir", str(full)]).exit_code == 0

    proc = subprocess.Popen(
        [sys.executable, "-m", "afinar", "train", "-q", str(recipe), "--run-dir", str(part)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics = part / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        assert proc.poll() is None and time.monotonic() < deadline, "training ended or stalled before the signal"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "afinar train --resume" in " ".join(output.split())
    stopped_at = len(metrics.read_text().splitlines())
    assert 3 <= stopped_at < 150
    assert (part / "checkpoints" / f"step-{stopped_at:06d}" / "state.json").is_file()

    assert CliRunner().invoke(app, ["train", "-q", "--resume", str(part)]).exit_code == 0
    a = load_file(full / "adapter" / "adapter_model.safetensors")
    b = load_file(part / "adapter" / "adapter_model.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
