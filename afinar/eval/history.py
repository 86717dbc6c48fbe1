"""Evaluation history in the registry: every evaluated run's metrics, keyed by its lineage hash.

``store`` writes one row per (model, metric) after each evaluation; ``history`` lists a metric of
the tuned model across the runs of a recipe, oldest first, and flags a **regression** where it
fell by more than ``tolerance`` points from the best value before it; ``compare`` sets two runs'
summaries side by side. The registry is ``$AFINAR_REGISTRY`` or ``$AFINAR_HOME/registry.db``
(created on first use; it turns access control on only once it has users).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from afinar.atomic import read_json
from afinar.config import load_recipe
from afinar.errors import AfinarError
from afinar.lineage import model_hash
from afinar.names import GATE_METRICS
from afinar.registry import Registry

__all__ = ["compare", "history", "metrics_of", "store"]

_DOMAIN = GATE_METRICS


class _Table(DeclarativeBase):
    pass


class EvalResult(_Table):
    """One metric of one evaluated model: the history ``afinar eval history`` reads."""

    __tablename__ = "eval_results"
    id: Mapped[int] = mapped_column(primary_key=True)
    time: Mapped[str] = mapped_column(String(40))
    run_dir: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(128))
    """The recipe's name: runs of one recipe form one history."""
    lineage: Mapped[str] = mapped_column(String(64))
    """sha256 over the run's lineage (recipe, data, base weights) and its adapter weights."""
    model: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float]
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)


def _engine():
    """The registry's database (created on first use; its migrations make this table)."""
    return Registry.default_location().engine


def metrics_of(summary: dict) -> dict[tuple[str, str], float]:
    """``{(model, metric): value}`` for the domain rates and MMLU accuracy in a run summary."""
    out = {}
    for model, rates in (summary.get("eval") or {}).items():
        out.update({(model, k): float(rates[k]) for k in _DOMAIN if k in rates})
    mmlu = summary.get("mmlu") or {}
    for model in ("base", "tuned"):
        if f"{model}_accuracy" in mmlu:
            out[(model, "mmlu")] = float(mmlu[f"{model}_accuracy"])
    return out


def store(run_dir: Path, summary: dict) -> int:
    """Record ``summary``'s metrics for ``run_dir``; returns how many rows were written."""
    engine = _engine()
    name, lineage = load_recipe(Path(run_dir) / "recipe.yaml").name, model_hash(run_dir)
    decision = (summary.get("gate") or {}).get("decision")
    now = datetime.now(UTC).isoformat()
    rows = [
        EvalResult(
            time=now,
            run_dir=str(Path(run_dir).resolve()),
            name=name,
            lineage=lineage,
            model=model,
            metric=metric,
            value=value,
            decision=decision,
        )
        for (model, metric), value in metrics_of(summary).items()
    ]
    with Session(engine) as s:
        s.add_all(rows)
        s.commit()
    return len(rows)


def history(name: str | None, metric: str, tolerance: float = 2.0) -> list[dict]:
    """The tuned model's ``metric`` per evaluation, oldest first, with regressions flagged.

    Raises:
        AfinarError: nothing recorded for that recipe name and metric.
    """
    engine = _engine()
    query = select(EvalResult).where(EvalResult.metric == metric, EvalResult.model == "tuned")
    if name:
        query = query.where(EvalResult.name == name)
    with Session(engine) as s:
        found = s.scalars(query.order_by(EvalResult.id)).all()
        rows = [
            {"time": r.time, "name": r.name, "run_dir": r.run_dir, "lineage": r.lineage, "value": r.value,
             "decision": r.decision}
            for r in found
        ]  # fmt: skip
    if not rows:
        where = f" for recipe '{name}'" if name else ""
        raise AfinarError(f"no '{metric}' results in the eval history{where}; 'afinar run' or 'afinar eval' adds them")
    best: dict[str, float] = {}
    for row in rows:
        top = best.get(row["name"])
        row["change_points"] = None if top is None else 100 * (row["value"] - top)
        row["regression"] = top is not None and 100 * (top - row["value"]) > tolerance
        best[row["name"]] = row["value"] if top is None else max(top, row["value"])
    return rows


def _summary(run_dir: Path) -> dict:
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise AfinarError(f"{run_dir}: not an evaluated run directory (no summary.json)")
    return read_json(path)


def compare(a: Path, b: Path) -> list[dict]:
    """Every metric both runs share, as ``{model, metric, a, b, delta_points}`` rows."""
    ma, mb = metrics_of(_summary(a)), metrics_of(_summary(b))
    shared = [k for k in ma if k in mb]
    if not shared:
        raise AfinarError(f"{a} and {b} share no evaluated metric")
    return [
        {"model": m, "metric": k, "a": ma[(m, k)], "b": mb[(m, k)], "delta_points": 100 * (mb[(m, k)] - ma[(m, k)])}
        for m, k in shared
    ]
