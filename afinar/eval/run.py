"""Evaluate a tuned model (and its base, adapter disabled) on the eval split's answers."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from afinar.config import EvalConfig
from afinar.data.read import Example
from afinar.errors import AfinarError
from afinar.eval.domain import json_metrics
from afinar.eval.generate import generate

__all__ = ["check_references", "evaluate_examples", "load_schema"]


def load_schema(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise AfinarError(f"{path}: eval.json_schema file not found") from None
    except json.JSONDecodeError as err:
        raise AfinarError(f"{path}:{err.lineno}: eval.json_schema is not valid JSON ({err.msg})") from None


def _split(ex: Example) -> tuple[list[dict[str, str]], str]:
    last = max(i for i, m in enumerate(ex.messages) if m["role"] == "assistant")
    return ex.messages[:last], ex.messages[last]["content"]


def check_references(examples: list[Example], cfg: EvalConfig) -> None:
    """Before any training: with ``metric: json`` every eval answer must itself be JSON.

    Raises:
        AfinarError: naming the first row whose reference answer does not parse.
    """
    if cfg.metric != "json":
        return
    for ex in examples[: cfg.limit]:
        try:
            json.loads(_split(ex)[1])
        except json.JSONDecodeError as err:
            raise AfinarError(
                f"{ex.source}: the reference answer is not JSON ({err.msg}), but eval.metric is 'json'; "
                "fix the row or set eval.metric: none"
            ) from None


def _by_scenario(examples: list[Example], rows: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for ex, row in zip(examples, rows, strict=True):
        s = out.setdefault(ex.scenario or "untagged", {"n": 0, "schema_valid_rate": 0.0, "field_accuracy": 0.0})
        s["n"] += 1
        s["schema_valid_rate"] += row["schema_valid"]
        s["field_accuracy"] += row["field_accuracy"]
    for s in out.values():
        s["schema_valid_rate"] /= s["n"]
        s["field_accuracy"] /= s["n"]
    return out


def evaluate_examples(
    model,
    tokenizer,
    examples: list[Example],
    cfg: EvalConfig,
    out_dir: Path,
    autocast=None,
    show_progress: bool = True,
    encrypt: bool = False,
) -> dict:
    """Generate answers for ``examples`` with the tuned model and (optionally) the base.

    Writes ``out_dir/domain.json`` (rates per model and per scenario) and
    ``out_dir/predictions.jsonl`` (every answer next to its reference), or, with ``encrypt``
    (the data was encrypted), ``predictions.jsonl.afe``: references are the data's plaintext.
    Returns the rates.
    """
    if cfg.metric == "none" or not examples:
        return {}
    examples = examples[: cfg.limit]
    schema = load_schema(cfg.json_schema)
    prompts, refs = zip(*(_split(ex) for ex in examples), strict=True)
    models = ["base", "tuned"] if cfg.compare_base else ["tuned"]
    answers: dict[str, list[str]] = {}
    with Progress(
        TextColumn("[bold]eval {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not show_progress,
    ) as progress:
        for name in models:
            task = progress.add_task(name, total=len(prompts))
            ctx = model.disable_adapter() if name == "base" else nullcontext()
            with ctx:
                answers[name] = generate(
                    model,
                    tokenizer,
                    list(prompts),
                    cfg.max_new_tokens,
                    cfg.batch_size,
                    autocast,
                    on_batch=lambda n, t=task: progress.advance(t, n),
                )
    results, per_row = {}, {}
    for name in models:
        m = json_metrics(answers[name], list(refs), schema, cfg.ignore_fields)
        per_row[name] = m.pop("rows")
        m["by_scenario"] = _by_scenario(examples, per_row[name])
        results[name] = m
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "domain.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = []
    for i, ex in enumerate(examples):
        row = {"source": ex.source, "scenario": ex.scenario, "reference": refs[i]}
        for name in models:
            row[name] = answers[name][i]
            row[f"{name}_score"] = per_row[name][i]
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    from afinar.security.crypto import write_data

    name = "predictions.jsonl.afe" if encrypt else "predictions.jsonl"
    write_data(out_dir / name, "".join(lines).encode())
    return results
