"""What the pages show, read from the run folders, the jobs table and the audit log: rows for
the runs list, a run's curves and its model card's sections, audit records with every free text
masked again (a page never shows what PII masking would have removed)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from afinar.atomic import read_json
from afinar.data.mask import Masker, MaskPolicy
from afinar.errors import AfinarError
from afinar.eval.card import Section, build_card
from afinar.names import RATE_LABELS
from afinar.run_folder import RECIPE_FILE, load_run
from afinar.serve.ui.charts import Series

__all__ = ["RunRow", "curves", "files_in", "find_runs", "masked", "run_row", "scenario_section", "sections"]


@dataclass
class RunRow:
    id: str
    name: str
    base: str
    method: str
    state: str
    decision: str
    metric: str
    """The key metric, as ``label value``."""
    metric_value: float | None
    started: str
    started_ts: float
    duration: str
    duration_s: float | None
    path: Path


def find_runs(folders: list[Path]) -> dict[str, Path]:
    """Run id (its folder's name; ``name~2`` for a second folder of that name) -> run folder, for
    every run directly inside ``folders``."""
    out: dict[str, Path] = {}
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        for run in sorted(p for p in Path(folder).iterdir() if (p / RECIPE_FILE).is_file()):
            key, n = run.name, 1
            while key in out:
                n += 1
                key = f"{run.name}~{n}"
            out[key] = run
    return out


def _json(path: Path) -> dict | None:
    try:
        return read_json(path) if path.is_file() else None
    except AfinarError:
        return None


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s"


def _key_metric(summary: dict, gate_min: dict) -> tuple[str, float | None]:
    tuned = (summary.get("eval") or {}).get("tuned") or {}
    for key in [*gate_min, *RATE_LABELS]:
        if isinstance(tuned.get(key), int | float):
            return RATE_LABELS.get(key, key), float(tuned[key])
    loss = (summary.get("train") or {}).get("train_loss")
    return ("train loss", float(loss)) if loss is not None else ("-", None)


def run_row(run_id: str, run_dir: Path) -> RunRow:
    recipe = load_run(run_dir)
    summary = _json(run_dir / "summary.json") or {}
    gate = _json(run_dir / "gate.json") or {}
    train = summary.get("train") or {}
    if not train:
        state = "training" if (run_dir / "metrics.jsonl").is_file() else "starting"
    elif train.get("interrupted_at") is not None:
        state = f"stopped at step {train['interrupted_at']}"
    else:
        state = "evaluated" if gate else "trained"
    label, value = _key_metric(summary, recipe.eval.gate.min)
    started = (run_dir / RECIPE_FILE).stat().st_mtime
    seconds = summary.get("wall_seconds") or train.get("seconds")
    return RunRow(
        id=run_id, name=recipe.name, base=recipe.base_model, method=recipe.adapter.method, state=state,
        decision=gate.get("decision", "-"), metric=label if value is None else f"{label} {value:.3f}",
        metric_value=value, started=_when(started), started_ts=started, duration=_duration(seconds),
        duration_s=seconds, path=run_dir,
    )  # fmt: skip


def curves(run_dir: Path) -> dict[str, list[Series]]:
    """The run's step metrics as chart series: ``loss`` (train, eval), ``speed`` (tokens/s) and
    ``memory`` (peak GB)."""
    train, evals, speed, memory = [], [], [], []
    path = run_dir / "metrics.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if "loss" in m:
                train.append((m["step"], m["loss"]))
                speed.append((m["step"], m["tokens_per_s"]))
                if "peak_mem_gb" in m:
                    memory.append((m["step"], m["peak_mem_gb"]))
            if "eval_loss" in m:
                evals.append((m["step"], m["eval_loss"]))
    return {
        "loss": [Series("train loss", train), Series("eval loss", evals)],
        "speed": [Series("tokens/s", speed)],
        "memory": [Series("peak memory (GB)", memory)],
    }


def sections(run_dir: Path) -> list[Section]:
    """The model card's sections (what an approver reads), with base vs tuned per scenario after
    the evaluation; a note for a run not finished."""
    try:
        card = [s for s in build_card(run_dir) if s.id != "audit"]
    except AfinarError as err:
        return [Section("unfinished", "Not finished yet").text(str(err))]
    scenarios = scenario_section(_json(run_dir / "summary.json") or {})
    at = next((i + 1 for i, s in enumerate(card) if s.id == "evaluation"), len(card))
    return card[:at] + ([scenarios] if scenarios else []) + card[at:]


def scenario_section(summary: dict) -> Section | None:
    """Base vs tuned on each scenario of the eval split (``normal``, ``exception``, ...)."""
    e = summary.get("eval") or {}
    tuned = (e.get("tuned") or {}).get("by_scenario") or {}
    if not tuned:
        return None
    base = (e.get("base") or {}).get("by_scenario") or {}
    rows = []
    for name, t in sorted(tuned.items()):
        for key in ("score", "schema_valid_rate", "field_accuracy"):
            if key in t:
                b = base.get(name, {}).get(key)
                label = RATE_LABELS.get(key, "mean row score")
                rows.append([name, t["n"], label, "-" if b is None else f"{100 * b:.1f}%", f"{100 * t[key]:.1f}%"])
    header = ["scenario", "rows", "metric", "base", "tuned"]
    return Section("scenarios", "Base vs tuned per scenario").table(header, rows)


_MASKER = Masker(MaskPolicy(default="mask", secrets="redact"))


def masked(value):
    """``value`` (an audit record's details) with personal data and secrets masked in every string."""
    if isinstance(value, str):
        return _MASKER.mask(value)
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    return value


def files_in(run_dir: Path, suffix: str) -> list[Path]:
    """Files of ``suffix`` anywhere under the run folder (its plots), sorted."""
    if not run_dir.is_dir():
        return []
    return sorted(p for p in run_dir.rglob(f"*{suffix}") if p.is_file() and os.access(p, os.R_OK))
