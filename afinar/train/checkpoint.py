"""Checkpoints that resume exactly: adapter weights, optimizer, scheduler, RNGs, data position.

A checkpoint is ``checkpoints/step-NNNNNN/state.pt`` in the run directory, written to a temporary
folder and renamed into place, so a crash mid-write never leaves a half checkpoint behind. Only
the newest ``keep`` checkpoints are kept.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["latest_checkpoint", "load_checkpoint", "rng_state", "save_checkpoint", "set_rng_state"]


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(run_dir: Path, step: int, payload: dict[str, Any], keep: int = 1) -> Path:
    """Atomically write ``payload`` (plus the RNG states) as the checkpoint for ``step``."""
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"step-{step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    torch.save({**payload, "step": step, "rng": rng_state()}, tmp / "state.pt")
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
    for old in sorted(root.glob("step-*"))[:-keep]:
        shutil.rmtree(old)
    return target


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted((run_dir / "checkpoints").glob("step-*/state.pt"))
    return found[-1] if found else None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (our own file: full unpickling)."""
    return torch.load(path, map_location="cpu", weights_only=False)
