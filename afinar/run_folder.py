"""A run folder's own files, for every stage that reads or adds to one: its resolved recipe and
its summary. (What else a run folder holds, and who writes it: docs/architecture.md.)"""

from __future__ import annotations

from pathlib import Path

from afinar.atomic import locked, read_json, write_json
from afinar.config import Recipe, load_recipe
from afinar.errors import AfinarError
from afinar.security.access import digests

__all__ = ["RECIPE_FILE", "SUMMARY_FILE", "adapter_digests", "load_run", "update_summary"]

RECIPE_FILE = "recipe.yaml"
SUMMARY_FILE = "summary.json"


def load_run(run_dir: Path) -> Recipe:
    """The resolved recipe a run directory was made with.

    Raises:
        AfinarError: ``run_dir`` holds no recipe (it is not a run directory).
    """
    path = Path(run_dir) / RECIPE_FILE
    if not path.is_file():
        raise AfinarError(f"{run_dir}: not a run directory (no {RECIPE_FILE})")
    return load_recipe(path)


def update_summary(run_dir: Path, summary: dict) -> None:
    """Merge ``summary``'s keys into the run's summary.json (each key replaced whole), under a
    lock (an eval and a drift check may update it at once) and atomically."""
    path = Path(run_dir) / SUMMARY_FILE
    with locked(path):
        old = read_json(path) if path.exists() else {}
        write_json(path, {**old, **summary})


def adapter_digests(run_dir: Path) -> dict[str, str]:
    """sha256 of every file of the run's adapter, keyed by path: what the audit records that change
    or close the adapter hold."""
    return digests(sorted(p for p in (Path(run_dir) / "adapter").glob("*") if p.is_file()))
