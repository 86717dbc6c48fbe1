"""Checkpoints that resume exactly: adapter weights, optimizer, scheduler, RNGs, data position.

A checkpoint is the folder ``checkpoints/step-NNNNNN/`` in the run directory:

- the trainable weights and the optimizer state, written by ``torch.distributed.checkpoint``
  (each rank writes its own shards; the files name every tensor by its full name and global
  shape, so a run saved on 2 processes resumes on 1 and the reverse);
- ``state.pt``: scheduler, counters, data position and RNG states, written by rank 0 last.

It is written into a temporary folder and renamed into place, so a crash mid-write never leaves a
half checkpoint behind (``state.pt`` marks a complete one). Only the newest ``keep`` are kept.
A multi-node run needs the run directory on storage every node sees.
"""

from __future__ import annotations

import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

__all__ = ["latest_checkpoint", "load_checkpoint", "read_state", "rng_state", "save_checkpoint", "set_rng_state"]

STATE = "state.pt"
_TRAINABLE = StateDictOptions(ignore_frozen_params=True, strict=False)  # frozen weights come from the base


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


def _tensors(module, optimizer) -> dict[str, Any]:
    model_sd, optim_sd = get_state_dict(module, optimizer, options=_TRAINABLE)
    return {"adapter": model_sd, "optimizer": optim_sd}


def save_checkpoint(run_dir: Path, step: int, module, optimizer, payload: dict[str, Any], world, keep: int = 1) -> Path:
    """Write ``module``'s trainable weights, ``optimizer`` and ``payload`` (plus RNG states) as
    the checkpoint for ``step``; every rank calls this."""
    root = run_dir / "checkpoints"
    target, tmp = root / f"step-{step:06d}", root / f".tmp-step-{step:06d}"
    if world.main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    world.barrier()
    with warnings.catch_warnings():  # "no process group: assuming one process", which we know
        warnings.simplefilter("ignore", UserWarning)
        dcp.save(_tensors(module, optimizer), checkpoint_id=tmp, no_dist=not world.active)
    world.barrier()
    if world.main:
        torch.save({**payload, "step": step, "rng": rng_state()}, tmp / STATE)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
        for old in sorted(root.glob("step-*"))[:-keep]:
            shutil.rmtree(old)
    world.barrier()
    return target


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of ``run_dir``, if any."""
    found = sorted((run_dir / "checkpoints").glob(f"step-*/{STATE}"))
    return found[-1].parent if found else None


def load_checkpoint(path: Path, module, optimizer, world) -> dict[str, Any]:
    """Load a checkpoint folder's weights and optimizer state into ``module`` and ``optimizer``
    (sharded or not, whatever the world size that saved it); returns its ``payload``."""
    tensors = _tensors(module, optimizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dcp.load(tensors, checkpoint_id=path, no_dist=not world.active)
    set_state_dict(
        module,
        optimizer,
        model_state_dict=tensors["adapter"],
        optim_state_dict=tensors["optimizer"],
        options=_TRAINABLE,
    )
    return read_state(path)


def read_state(path: Path) -> dict[str, Any]:
    """A checkpoint folder's ``payload``: counters, data position, RNG states, world size."""
    return torch.load(path / STATE, map_location="cpu", weights_only=False)  # our own file: full unpickling
