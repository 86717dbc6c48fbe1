"""Adapter scaling after training, chosen on validation items (WiSE-FT).

WiSE-FT (Wortsman et al. 2022, "Robust fine-tuning of zero-shot models", CVPR) interpolates the
weights of the starting and the fine-tuned model, ``theta = theta_0 + a * (theta_ft - theta_0)``,
and keeps most of the fine-tune's gain with much of the starting model's robustness. For a LoRA
adapter ``theta_ft - theta_0`` is the adapter's product ``(alpha / r) * B A``, so the interpolation
is the adapter scaled by ``a``: ``lora_alpha`` times ``a``, nothing else changes.

afinar picks ``a`` the way the promotion gate will judge the run: the largest scale of
``eval.scale.grid`` at which every gated benchmark's paired change against the base, on the
benchmark's **validation** items (:data:`afinar.eval.benchmarks.SPLITS`; never the test items
the gate judges), stays within ``eval.gate.max_drop``. If no scale does, the one whose worst
benchmark fell least. The domain is not scored here: a smaller scale moves the model toward the
base, so the largest scale that keeps the benchmarks is also the one that keeps the most of the
domain; the gate's ``min`` thresholds then judge that on the eval split as usual.

The chosen scale is written into the run's ``adapter/adapter_config.json`` (``lora_alpha`` and
any per-module ``alpha_pattern``), so that evaluation, export, serving and llama.cpp all load the
scaled adapter; the trained value and every scale tried go to ``eval/scale.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from peft.tuners.lora import LoraLayer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from afinar.atomic import read_json, write_json
from afinar.errors import AfinarError
from afinar.eval.benchmarks import PRIMARY, load_items, score_base, score_items
from afinar.eval.paired import paired_difference
from afinar.model.adapters import as_base

__all__ = ["SCALE_FILE", "apply_to_run", "choose", "scale_adapter_file", "scale_lora", "search_scale"]

SCALE_FILE = "scale.json"


def scale_lora(model, scale: float) -> None:
    """Scale every LoRA layer's output to ``scale`` times its trained value (1.0 restores it):
    PEFT's ``LoraLayer.set_scale``, relative to the layer's ``lora_alpha``.

    Raises:
        AfinarError: the model has no LoRA layer (scaling applies to ``lora`` and ``qlora``).
    """
    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    if not layers:
        raise AfinarError("eval.scale applies to a LoRA adapter (adapter.method lora or qlora)")
    for layer in layers:
        for adapter in layer.scaling:
            layer.set_scale(adapter, scale)


def scale_adapter_file(adapter_dir: Path, scale: float) -> dict:
    """Multiply ``lora_alpha`` (and each ``alpha_pattern`` value) in ``adapter_dir``'s
    ``adapter_config.json`` by ``scale``, atomically; returns the config as it was."""
    path = Path(adapter_dir) / "adapter_config.json"
    config = read_json(path)
    scaled = dict(config)
    scaled["lora_alpha"] = config["lora_alpha"] * scale
    scaled["alpha_pattern"] = {k: v * scale for k, v in (config.get("alpha_pattern") or {}).items()}
    write_json(path, scaled)
    return config


def choose(tried: dict[float, dict[str, float]], max_drop: Callable[[str], float]) -> float:
    """The scale to keep from ``{scale: {benchmark: paired change in points}}``: the largest whose
    every change is at least ``-max_drop(benchmark)``, else the one whose worst change is least
    bad (the larger on a tie)."""
    inside = [s for s, deltas in tried.items() if all(d >= -max_drop(n) for n, d in deltas.items())]
    if inside:
        return max(inside)
    return max(tried, key=lambda s: (min(d + max_drop(n) for n, d in tried[s].items()), s))


def search_scale(
    model,
    tokenizer,
    names: list[str],
    grid: list[float],
    limit: int | None,
    max_drop: Callable[[str], float],
    autocast=None,
    show_progress: bool = True,
    base_id: str | None = None,
) -> dict:
    """Score the base and the tuned model at each scale of ``grid`` (largest first) on the
    validation items of ``names``; stop at the first scale inside the gate. Leaves ``model`` at
    the chosen scale and returns ``{chosen, grid, limit, tried: {scale: {name: paired}},
    base: {name: rate}, seconds}``. With ``base_id``, the base's results come from the per-base
    cache (:func:`afinar.eval.benchmarks.score_base`) when an earlier run wrote them."""
    start = time.perf_counter()
    items = {name: load_items(name, limit, split="validation") for name in names}
    keys = {name: PRIMARY.get(name, "acc") for name in names}
    columns = (TextColumn("[bold]scale {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    scores: dict[str, dict] = {}
    tried: dict[float, dict[str, dict]] = {}
    with Progress(*columns, disable=not show_progress) as progress:

        def score(name: str, label: str, scored) -> list[bool]:
            task = progress.add_task(f"{label} {name}", total=sum(len(i.continuations) for i in items[name]))

            def advance(k: int) -> None:
                progress.advance(task, k)

            if label == "base":
                result, _ = score_base(scored, tokenizer, items[name], base_id, autocast, advance)
            else:
                result = score_items(scored, tokenizer, items[name], autocast=autocast, on_batch=advance)
            scores.setdefault(label, {})[name] = result[keys[name]]
            return [c == "1" for c in result["correct"][keys[name]]]

        with as_base(model) as base_model:
            base = {name: score(name, "base", base_model) for name in names}
        for scale in sorted(set(grid), reverse=True):
            scale_lora(model, scale)
            tried[scale] = {name: paired_difference(base[name], score(name, f"{scale:g}", model)) for name in names}
            if all(p["delta"] >= -max_drop(n) for n, p in tried[scale].items()):
                break
    chosen = choose({s: {n: p["delta"] for n, p in t.items()} for s, t in tried.items()}, max_drop)
    scale_lora(model, chosen)
    return {
        "chosen": chosen,
        "grid": sorted(set(grid), reverse=True),
        "limit": limit,
        "split": "validation",
        "items": {name: len(v) for name, v in items.items()},
        "base": scores["base"],
        "tried": {f"{s:g}": t for s, t in tried.items()},
        "seconds": round(time.perf_counter() - start, 1),
    }


def apply_to_run(run_dir: Path, result: dict) -> None:
    """Write the chosen scale into the run's adapter and ``eval/scale.json`` (the search's record,
    with the trained ``lora_alpha``)."""
    adapter = Path(run_dir) / "adapter"
    previous = scale_adapter_file(adapter, result["chosen"]) if result["chosen"] != 1.0 else None
    trained_alpha = (previous or read_json(adapter / "adapter_config.json"))["lora_alpha"]
    (Path(run_dir) / "eval").mkdir(exist_ok=True)  # the search runs before the evaluation makes it
    write_json(Path(run_dir) / "eval" / SCALE_FILE, {**result, "trained_lora_alpha": trained_alpha})
