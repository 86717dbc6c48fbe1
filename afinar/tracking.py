"""Experiment tracking: a finished run folder logged to MLflow and to TensorBoard event files.

``tracking:`` in a recipe turns either on; ``afinar run`` logs the run when it ends (trained,
evaluated and gated), and ``afinar track RUN_DIR`` logs one made before. What goes there, all
read from the run folder (so a distributed run is logged like a single process):

- **MLflow**: one run per run folder (named as the folder) in the experiment ``tracking.experiment``
  (default: the recipe's name): the recipe flattened as params (``train.max_steps``, ...); every
  row of ``metrics.jsonl`` at its step (``train/loss``, ``train/lr``, ``eval/loss``, ...); the
  evaluation's numbers (``domain/tuned/score``, ``domain/base/score``, ``benchmarks/piqa/delta``,
  ...); the gate as the tag ``afinar.gate`` and the metric ``gate/promoted``; the model card,
  ``gate.json``, ``summary.json`` and the adapter as artifacts. The store is
  ``tracking.mlflow_uri`` (a tracking server, or any store MLflow accepts), by default a SQLite
  file ``mlflow.db`` beside the run folders with the artifacts in ``mlflow-artifacts/``.
- **TensorBoard**: event files in ``RUN_DIR/tensorboard/``: the same step metrics and evaluation
  numbers as scalars, and the model card as text (``tensorboard --logdir runs``).

Only numbers, the recipe and the run's own reports leave the run folder: never a data row or a
prediction. Each logging is an audit record (``track``) naming where the results went.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from afinar.atomic import read_json
from afinar.config import Recipe
from afinar.errors import AfinarError
from afinar.run_folder import SUMMARY_FILE, adapter_digests, load_run
from afinar.security.access import authorize, record

__all__ = ["eval_metrics", "log_run", "recipe_params", "step_metrics"]

ARTIFACTS = ("model_card.md", "model_card.html", "gate.json", SUMMARY_FILE)


def recipe_params(recipe: Recipe) -> dict[str, str]:
    """The recipe as flat ``section.key`` params (lists and maps as JSON), None values left out."""
    out: dict[str, str] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif value is not None:
            out[prefix] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)

    walk("", recipe.model_dump(mode="json"))
    return out


def step_metrics(run_dir: Path) -> list[tuple[int, dict[str, float]]]:
    """``metrics.jsonl`` as ``(step, {train/KEY or eval/KEY: value})``, numbers only (an eval
    row's keys start with ``eval_``)."""
    rows = []
    path = Path(run_dir) / "metrics.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines() if path.is_file() else []:
        row = json.loads(line)
        step = int(row.pop("step"))
        values = {}
        for key, value in row.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                name = f"eval/{key.removeprefix('eval_')}" if key.startswith("eval_") else f"train/{key}"
                values[name] = float(value)
        rows.append((step, values))
    return rows


def eval_metrics(summary: dict) -> dict[str, float]:
    """The numbers of the run's evaluation in ``summary.json``, by path (``domain/tuned/score``)."""
    out: dict[str, float] = {}
    sections = {"domain": summary.get("eval"), "splits": summary.get("eval_splits")}
    sections |= {k: summary.get(k) for k in ("benchmarks", "safety", "mmlu", "scale")}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[prefix] = float(value)

    for name, section in sections.items():
        walk(name, section or {})
    return out


@dataclass
class _Numbers:
    """What both trackers get, read from the run folder once."""

    steps: list[tuple[int, dict[str, float]]]
    evaluation: dict[str, float]
    last: int
    """The last step: where the evaluation's numbers are logged."""


def _mlflow(run_dir: Path, recipe: Recipe, numbers: _Numbers, gate: dict | None) -> str:
    """Log to MLflow; returns the store's URI."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    import mlflow  # only with tracking.mlflow: it is slow to import and most runs never need it

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its table-creation notes in a run's output

    cfg = recipe.tracking
    uri = cfg.mlflow_uri or f"sqlite:///{run_dir.resolve().parent / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    name = cfg.experiment or recipe.name
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = None if cfg.mlflow_uri else (run_dir.resolve().parent / "mlflow-artifacts").as_uri()
        experiment_id = client.create_experiment(name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    tags = {"afinar.run_dir": str(run_dir.resolve()), "afinar.gate": (gate or {}).get("decision", "not gated")}
    run = client.create_run(experiment_id, run_name=run_dir.name, tags=tags)
    rid = run.info.run_id
    params = [mlflow.entities.Param(k, v[:6000]) for k, v in recipe_params(recipe).items()]
    last = numbers.last
    metrics = [mlflow.entities.Metric(k, v, 0, s) for s, values in numbers.steps for k, v in values.items()]
    metrics += [mlflow.entities.Metric(k, v, 0, last) for k, v in numbers.evaluation.items()]
    if gate is not None:
        metrics.append(mlflow.entities.Metric("gate/promoted", float(gate["decision"] == "promoted"), 0, last))
    for i in range(0, len(params), 100):  # MLflow takes at most 100 params and 1,000 metrics a batch
        client.log_batch(rid, params=params[i : i + 100])
    for i in range(0, len(metrics), 1000):
        client.log_batch(rid, metrics=metrics[i : i + 1000])
    for name in ARTIFACTS:
        if (run_dir / name).is_file():
            client.log_artifact(rid, str(run_dir / name))
    if (run_dir / "adapter").is_dir():
        client.log_artifacts(rid, str(run_dir / "adapter"), "adapter")
    client.set_terminated(rid)
    return uri


def _tensorboard(run_dir: Path, numbers: _Numbers) -> Path:
    """Write TensorBoard event files into ``run_dir/tensorboard``; returns the folder."""
    from torch.utils.tensorboard import SummaryWriter  # only with tracking.tensorboard

    folder = run_dir / "tensorboard"
    with SummaryWriter(str(folder)) as writer:
        for step, values in numbers.steps:
            for key, value in values.items():
                writer.add_scalar(key, value, step)
        for key, value in numbers.evaluation.items():
            writer.add_scalar(key, value, numbers.last)
        if (run_dir / "model_card.md").is_file():
            writer.add_text("model_card", (run_dir / "model_card.md").read_text(encoding="utf-8"), numbers.last)
    return folder


def log_run(run_dir: Path) -> dict:
    """Log a run folder where its recipe's ``tracking`` says; returns ``{mlflow: URI,
    tensorboard: folder}`` for what was written (empty when tracking is off).

    Raises:
        AfinarError: the run has no summary yet, or the tracking store refuses the run.
    """
    run_dir = Path(run_dir)
    recipe = load_run(run_dir)
    cfg = recipe.tracking
    if not (cfg.mlflow or cfg.tensorboard):
        return {}
    if not (run_dir / SUMMARY_FILE).is_file():
        raise AfinarError(f"{run_dir}: no {SUMMARY_FILE} yet; a run is logged once it has trained")
    actor = authorize("track", "train")
    steps = step_metrics(run_dir)
    numbers = _Numbers(steps, eval_metrics(read_json(run_dir / SUMMARY_FILE)), max((s for s, _ in steps), default=0))
    gate = read_json(run_dir / "gate.json") if (run_dir / "gate.json").is_file() else None
    where: dict = {}
    if cfg.mlflow:
        try:
            where["mlflow"] = _mlflow(run_dir, recipe, numbers, gate)
        except Exception as err:  # MLflow raises its own types (and requests' for a server)
            raise AfinarError(
                f"MLflow at {cfg.mlflow_uri or 'the default SQLite store'}: {err} (the run itself is complete in "
                f"{run_dir}; log it again with: afinar track {run_dir})"
            ) from None
    if cfg.tensorboard:
        where["tensorboard"] = str(_tensorboard(run_dir, numbers))
    record("track", str(run_dir), actor, digests=adapter_digests(run_dir), details=where)
    return where
