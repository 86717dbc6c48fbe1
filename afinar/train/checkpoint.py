"""Checkpoints that resume exactly: adapter weights, optimizer, scheduler, RNGs, data position.

A checkpoint is the folder ``checkpoints/step-NNNNNN/`` in the run directory:

- the trainable weights and the optimizer state, written by ``torch.distributed.checkpoint``
  (each rank writes its own shards; the files name every tensor by its full name and global
  shape, so a run saved on 2 processes resumes on 1 and the reverse);
- ``rng.pt``: the RNG states as tensors and plain numbers;
- ``state.json``: scheduler, counters and data position, written by rank 0 last.

It is written into a temporary folder and renamed into place, so a crash mid-write never leaves a
half checkpoint behind (``state.json`` marks a complete one). Only the newest ``keep`` are kept.
A multi-node run needs the run directory on storage every node sees.

Nothing in a checkpoint is unpickled as arbitrary objects: ``--resume`` on a shared or tampered
run folder must not run code. ``rng.pt`` and the bytes items of the optimizer state load with
``torch.load(weights_only=True)``, and torch.distributed.checkpoint's ``.metadata`` file (a
pickle) loads through an unpickler that accepts only the classes such a file holds.
"""

from __future__ import annotations

import io
import json
import pickle
import random
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.metadata import StorageMeta
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

from afinar.atomic import read_json
from afinar.errors import AfinarError

__all__ = ["latest_checkpoint", "load_checkpoint", "read_state", "rng_state", "save_checkpoint", "set_rng_state"]

STATE = "state.json"
RNG = "rng.pt"
_TRAINABLE = StateDictOptions(ignore_frozen_params=True, strict=False)  # frozen weights come from the base


def rng_state() -> dict[str, Any]:
    """Every RNG the loop draws from, as tensors, tuples and numbers (what ``weights_only`` loads)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),  # (version, 625 ints, gauss_next)
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# What torch.distributed.checkpoint pickles into ``.metadata`` (torch 2.13): its metadata
# classes, torch.Size, dtypes and layouts by name, and the path of each shard file.
_METADATA_GLOBALS = {
    ("pathlib", "PosixPath"),
    ("pathlib", "PurePosixPath"),
    ("torch", "Size"),
    ("torch.serialization", "_get_layout"),
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"),
    ("collections", "OrderedDict"),
}


class _MetadataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        allowed = (
            (module, name) in _METADATA_GLOBALS
            or module == "torch.distributed.checkpoint.metadata"
            or (module == "torch" and isinstance(getattr(torch, name, None), torch.dtype))
        )
        if not allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not something a checkpoint's metadata holds")
        return super().find_class(module, name)


class _Reader(dcp.FileSystemReader):
    """``FileSystemReader`` whose ``.metadata`` loads through :class:`_MetadataUnpickler`."""

    def read_metadata(self, *args: Any, **kwargs: Any):
        with open(Path(self.path) / ".metadata", "rb") as f:  # we never write per-rank metadata
            metadata = _MetadataUnpickler(f).load()
        if getattr(metadata, "storage_meta", None) is None:
            metadata.storage_meta = StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


class _Planner(DefaultLoadPlanner):
    """``DefaultLoadPlanner`` that first loads each bytes item (the optimizer's hyperparameters)
    with ``weights_only=True``: the default unpickles them whole."""

    def load_bytes(self, read_item, value: io.BytesIO) -> None:
        torch.load(value, weights_only=True)  # raises on anything but tensors and plain values
        value.seek(0)
        super().load_bytes(read_item, value)


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
        torch.save(rng_state(), tmp / RNG)
        # allow_nan: the last loss is NaN before the first step; json reads it back
        (tmp / STATE).write_text(json.dumps({**payload, "step": step}, indent=1) + "\n")
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
    old = sorted((run_dir / "checkpoints").glob("step-*/state.pt"))
    if old and not found:
        raise AfinarError(
            f"{old[-1].parent}: a checkpoint from an earlier afinar (a pickled state.pt, which resume no longer "
            "loads: unpickling runs code); train the run again"
        )
    return found[-1].parent if found else None


def load_checkpoint(path: Path, module, optimizer, world) -> dict[str, Any]:
    """Load a checkpoint folder's weights and optimizer state into ``module`` and ``optimizer``
    (sharded or not, whatever the world size that saved it); returns its ``payload`` with its RNG
    states under ``"rng"``.

    Raises:
        AfinarError: the folder holds something a checkpoint does not (a pickled object).
    """
    state = read_state(path)
    tensors = _tensors(module, optimizer)
    try:
        _Reader(path).read_metadata()  # here for a plain error: inside dcp.load it comes back wrapped
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            dcp.load(tensors, storage_reader=_Reader(path), planner=_Planner(), no_dist=not world.active)
        state["rng"] = torch.load(path / RNG, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise AfinarError(f"{path}: not loaded, it holds more than a checkpoint does ({err}); a run folder "
                          f"from someone else must not run code here: train again") from err  # fmt: skip
    except CheckpointException as err:  # a BaseException: one cause per rank
        causes = "; ".join(sorted({f"{type(e).__name__}: {e}" for e, _ in err.failures.values()}))
        raise AfinarError(f"{path}: the checkpoint does not load: {causes}") from err
    set_state_dict(
        module,
        optimizer,
        model_state_dict=tensors["adapter"],
        optim_state_dict=tensors["optimizer"],
        options=_TRAINABLE,
    )
    return state


def read_state(path: Path) -> dict[str, Any]:
    """A checkpoint folder's ``payload``: counters, data position, scheduler, world size.

    Raises:
        AfinarError: ``state.json`` is damaged.
    """
    return read_json(path / STATE)
