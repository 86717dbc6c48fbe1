"""Tests of the example use cases under examples/: one file per example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from afinar.config import EvalConfig
from afinar.data.read import Example
from afinar.eval.run import score_answers


def assert_generator_is_deterministic(example: Path, files: tuple[str, ...], tmp: Path) -> None:
    """The example's generator rewrites its committed ``data/`` files byte for byte with the
    default seed, and writes other training rows with another seed."""
    for out, seed in ((tmp / "a", None), (tmp / "b", "7")):
        cmd = [sys.executable, str(example / "generate_data.py"), "--out", str(out)] + (
            ["--seed", seed] if seed else []
        )
        subprocess.run(cmd, check=True, capture_output=True)
    for name in files:
        assert (tmp / "a" / name).read_bytes() == (example / "data" / name).read_bytes(), name
    assert (tmp / "b" / "train.jsonl").read_bytes() != (example / "data" / "train.jsonl").read_bytes()


def score(cfg: EvalConfig, metric: str, reference: str, answer: str, prompt: str = "q") -> dict:
    """One answer scored through the eval's own path (``score_answers``): the row's details."""
    ex = Example([{"role": "user", "content": prompt}, {"role": "assistant", "content": reference}], "case",
                 meta={"metric": metric})  # fmt: skip
    return score_answers([ex], [answer], [reference], cfg, None)["rows"][0]
