"""What a run was made from: sha256 of data, recipe and base weights, and package versions."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from afinar.atomic import read_json
from afinar.shards import dataset_files

__all__ = ["base_id_of", "base_id_of_weights", "lineage", "model_hash", "sha256_file"]

PACKAGES = ("afinar", "torch", "transformers", "peft", "safetensors", "tokenizers", "pydantic", "numpy")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def lineage(
    recipe_file: Path, data_files: list[Path], base_spec: str, base_weights: Path | None, base_run: Path | None = None
) -> dict:
    """What a run is made from (a data folder: each of its shards); ``base_run``: the run whose
    model is the base (its model hash, which names its own recipe, data, base and adapter, is kept
    beside the merged weights' digest)."""
    base = {
        "spec": base_spec,
        "weights": str(base_weights) if base_weights else None,
        "sha256": sha256_file(base_weights) if base_weights else None,
    }
    if base_run is not None:
        base["run"] = {"path": str(Path(base_run).resolve()), "model_hash": model_hash(base_run)}
    return {
        "recipe": {"path": str(recipe_file), "sha256": sha256_file(recipe_file)},
        "data": [{"path": str(f), "sha256": sha256_file(f)} for p in data_files for f in dataset_files(p)],
        "base_model": base,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def model_hash(run_dir: Path) -> str:
    """One sha256 naming a tuned model: its lineage (recipe, data, base weights) and adapter weights."""
    run_dir = Path(run_dir)
    record = read_json(run_dir / "lineage.json")
    parts = {
        "recipe": record["recipe"]["sha256"],
        "data": sorted(d["sha256"] for d in record["data"]),
        "base": record["base_model"]["sha256"] or record["base_model"]["spec"],
        "adapter": {p.name: sha256_file(p) for p in sorted((run_dir / "adapter").glob("*.safetensors"))},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def base_id_of(run_dir: Path, quantize: str) -> str | None:
    """A run's base weights as the per-base caches name them (their sha256 from the run's lineage,
    and how they were loaded), or ``None`` when their digest is not on record."""
    digest = read_json(Path(run_dir) / "lineage.json")["base_model"]["sha256"]
    return _base_id(digest, quantize) if digest else None


def base_id_of_weights(weights: Path | None, quantize: str = "none") -> str | None:
    """A base model's weights file as :func:`base_id_of` names a run's base (a base loaded alone
    for evaluation is unquantized); ``None`` without a local weights file (a hub id)."""
    return _base_id(sha256_file(Path(weights)), quantize) if weights else None


def _base_id(digest: str, quantize: str) -> str:
    return f"{digest}:quantize={quantize}"
