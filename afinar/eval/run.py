"""Evaluate a tuned model (and its base, adapter disabled) on the eval split's answers."""

from __future__ import annotations

import json
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from afinar.atomic import atomic_write, write_json
from afinar.config import EvalConfig
from afinar.data.read import Example
from afinar.errors import AfinarError
from afinar.eval.derive import derive_answer, derived_fields
from afinar.eval.domain import json_metrics
from afinar.eval.faithfulness import apidoc_check, finance_check
from afinar.eval.metrics import SqlFixture, exact_match, rouge_l, shell_check, sql_match, strip_fence, tool_call_match
from afinar.eval.scripts import bash_check, clarify_check, powershell_check
from afinar.model.adapters import as_base, folded
from afinar.model.cache import base_result_path, digest_of
from afinar.model.generate import DECODER_VERSION, generate
from afinar.names import RATES
from afinar.security.crypto import write_data

__all__ = [
    "answer_progress",
    "check_references",
    "derive_rules",
    "eval_answers",
    "evaluate_examples",
    "load_schema",
    "prompt_and_reference",
    "scored_examples",
]


MODEL_ONLY = ("json_parse_rate", "schema_valid_rate", "field_accuracy")
"""The rates also reported on the model's own answers, before derived fields are written."""


def load_schema(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise AfinarError(f"{path}: eval.json_schema file not found") from None
    except json.JSONDecodeError as err:
        raise AfinarError(f"{path}:{err.lineno}: eval.json_schema is not valid JSON ({err.msg})") from None


def derive_rules(path: Path | None, schema: dict | None) -> dict[str, dict]:
    """The derived fields of the task schema (:mod:`afinar.eval.derive`).

    Raises:
        AfinarError: a rule in the schema file at ``path`` is malformed.
    """
    try:
        return derived_fields(schema)
    except ValueError as err:
        raise AfinarError(f"{path}: {err}") from None


def prompt_and_reference(ex: Example) -> tuple[list[dict[str, str]], str]:
    last = max(i for i, m in enumerate(ex.messages) if m["role"] == "assistant")
    return ex.messages[:last], ex.messages[last]["content"]


PARTS = {
    "bash": ("shell_ok", "commands", "words"),
    "powershell": ("balanced", "cmdlets", "words"),
    "finance": ("figures", "no_invented", "formal", "rouge_l"),
    "apidoc": ("sections", "parameters", "example"),
    "tool_call": ("decision", "name", "arguments"),
}
"""The parts of a metric's row score that ``by_metric`` also averages (domain.json)."""


def _metric(ex: Example, cfg: EvalConfig) -> str:
    return ex.meta.get("metric") or cfg.metric


def scored_examples(examples: list[Example], cfg: EvalConfig) -> list[Example]:
    """The rows the eval scores: the first ``cfg.limit``, less those whose metric is ``none``,
    labeled answers marked undesirable (a bad answer is no reference to score against) and
    documents (no answer at all: :mod:`afinar.eval.text` scores them)."""
    return [
        ex
        for ex in examples[: cfg.limit]
        if _metric(ex, cfg) != "none" and ex.label is not False and ex.document is None
    ]


def check_references(examples: list[Example], cfg: EvalConfig) -> None:
    """Before any training: every ``json`` row's reference must be JSON and every ``sql`` row's
    reference must run on the fixture database.

    Raises:
        AfinarError: naming the first row whose reference cannot be scored against.
    """
    fixture = None
    for ex in scored_examples(examples, cfg):
        metric, reference = _metric(ex, cfg), prompt_and_reference(ex)[1]
        if metric == "json":
            try:
                json.loads(reference)
            except json.JSONDecodeError as err:
                raise AfinarError(
                    f"{ex.source}: the reference answer is not JSON ({err.msg}), but the row's metric is 'json'; "
                    "fix the row, give it another 'metric', or set eval.metric"
                ) from None
        elif metric == "sql":
            if cfg.sql_database is None:
                raise AfinarError(f"{ex.source}: an 'sql' row needs eval.sql_database (a .sql script or .db file)")
            fixture = fixture or SqlFixture(cfg.sql_database)
            try:
                fixture.run(strip_fence(reference))
            except Exception as err:
                raise AfinarError(f"{ex.source}: the reference SQL fails on {cfg.sql_database}: {err}") from None


def score_answers(examples: list[Example], answers: list[str], refs: list[str], cfg: EvalConfig, schema) -> dict:
    """Score each answer by its row's metric; returns the rates, ``by_metric``, ``by_scenario``
    and per-row details under ``rows`` (each with ``metric`` and ``score``)."""
    metrics = [_metric(ex, cfg) for ex in examples]
    rows: list[dict] = [{} for _ in examples]
    result: dict = {}
    json_rows = [i for i, m in enumerate(metrics) if m == "json"]
    if json_rows:
        m = json_metrics([answers[i] for i in json_rows], [refs[i] for i in json_rows], schema, cfg.ignore_fields)
        for i, row in zip(json_rows, m.pop("rows"), strict=True):
            rows[i] = {**row, "score": row["field_accuracy"]}
        result.update(m)
    fixture = SqlFixture(cfg.sql_database) if "sql" in metrics else None
    scorers = {
        "exact": exact_match,
        "rouge_l": rouge_l,
        "sql": lambda a, r: sql_match(a, r, fixture),
        "shell": lambda a, _r: shell_check(a),
        "bash": bash_check,
        "powershell": powershell_check,
        "clarify": clarify_check,
        "tool_call": tool_call_match,
    }
    with_prompt = {"finance": finance_check, "apidoc": apidoc_check}  # they check the answer against its input
    for i, metric in enumerate(metrics):
        if metric in with_prompt:
            rows[i] = with_prompt[metric](answers[i], refs[i], prompt_and_reference(examples[i])[0][-1]["content"])
        elif metric != "json":
            rows[i] = scorers[metric](answers[i], refs[i])
        rows[i]["metric"] = metric
    by_metric: dict[str, dict] = {}
    for row in rows:
        entry = by_metric.setdefault(row["metric"], {"n": 0, "rate": 0.0})
        entry["n"] += 1
        entry["rate"] += row["score"]
        for part in PARTS.get(row["metric"], ()):
            entry.setdefault("parts", {}).setdefault(part, 0.0)
            entry["parts"][part] += row.get(part, 0.0)
    for metric, entry in by_metric.items():
        entry["rate"] /= entry["n"]
        for part in entry.get("parts", {}):
            entry["parts"][part] = float(entry["parts"][part]) / entry["n"]
        if metric in RATES:
            result[RATES[metric]] = entry["rate"]
    result.update(n=len(rows), score=sum(r["score"] for r in rows) / max(len(rows), 1), by_metric=by_metric)
    result["by_scenario"] = _by_scenario(examples, rows)
    result["rows"] = rows
    return result


def _by_scenario(examples: list[Example], rows: list[dict]) -> dict:
    """Mean score per scenario, with the schema-valid rate and field accuracy of its JSON rows."""
    groups: dict[str, list[dict]] = {}
    for ex, row in zip(examples, rows, strict=True):
        groups.setdefault(ex.scenario or "untagged", []).append(row)
    out = {}
    for name, group in groups.items():
        s = {"n": len(group), "score": sum(r["score"] for r in group) / len(group)}
        js = [r for r in group if r["metric"] == "json"]
        if js:
            s["schema_valid_rate"] = sum(r["schema_valid"] for r in js) / len(js)
            s["field_accuracy"] = sum(r["field_accuracy"] for r in js) / len(js)
        out[name] = s
    return out


def answer_progress(label: str, show: bool) -> Progress:
    """The bar for generating answers model by model (one task per model)."""
    return Progress(
        TextColumn(f"[bold]{label} {{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not show,
    )


def eval_answers(
    model, tokenizer, prompts: list, cfg: EvalConfig, schema, autocast=None, base_id: str | None = None, on_batch=None
) -> list[str]:
    """The answers of ``model`` to ``prompts`` as the eval decodes them.

    With ``base_id``, ``model`` computes that base (a base, or a tuned model inside
    :func:`as_base`; ``base_id`` names its weights, see :func:`afinar.lineage.base_id_of`), and
    its answers are read from ``$AFINAR_CACHE/base-answers/`` when an earlier run or ``afinar
    prepare`` wrote them for the same prompts and settings, else written there. Callers leave
    ``base_id`` out for encrypted data: the cache is plaintext."""
    args = (cfg.max_new_tokens, cfg.batch_size, autocast)
    constraint = schema if cfg.constrained else None
    if base_id is None:
        return generate(model, tokenizer, prompts, *args, on_batch=on_batch, schema=constraint)
    path = base_result_path(
        "base-answers", model, tokenizer, base_id, None if autocast is None else "autocast", ".json",
        decoder=DECODER_VERSION, prompts=digest_of(prompts), max_new_tokens=cfg.max_new_tokens,
        batch_size=cfg.batch_size, schema=constraint,
    )  # fmt: skip
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = None
    if isinstance(cached, list) and len(cached) == len(prompts) and all(isinstance(a, str) for a in cached):
        if on_batch:
            on_batch(len(prompts))
        return cached
    answers = generate(model, tokenizer, prompts, *args, on_batch=on_batch, schema=constraint)
    with atomic_write(path) as f:
        f.write(json.dumps(answers, ensure_ascii=False).encode())
    return answers


def evaluate_examples(
    model,
    tokenizer,
    examples: list[Example],
    cfg: EvalConfig,
    out_dir: Path,
    autocast=None,
    show_progress: bool = True,
    encrypt: bool = False,
    base_id: str | None = None,
) -> dict:
    """Generate answers for ``examples`` with the tuned model and (optionally) the base.

    The base's answers are kept per base (:func:`eval_answers`) when ``base_id`` names its
    weights and the data is not encrypted. Writes ``out_dir/domain.json`` (rates per model and per scenario) and
    ``out_dir/predictions.jsonl`` (every answer next to its reference), or, with ``encrypt``
    (the data was encrypted), ``predictions.jsonl.afe``: references are the data's plaintext.
    Returns the rates.
    """
    examples = scored_examples(examples, cfg)
    if not examples:
        return {}
    schema = load_schema(cfg.json_schema)
    prompts, refs = zip(*(prompt_and_reference(ex) for ex in examples), strict=True)
    models = ["base", "tuned"] if cfg.compare_base else ["tuned"]
    answers: dict[str, list[str]] = {}
    with answer_progress("eval", show_progress) as progress:
        for name in models:
            task = progress.add_task(name, total=len(prompts))
            ctx = as_base(model) if name == "base" else folded(model)
            kept = base_id if name == "base" and not encrypt else None
            with ctx as m:
                answers[name] = eval_answers(
                    m, tokenizer, list(prompts), cfg, schema, autocast, kept, lambda n, t=task: progress.advance(t, n)
                )
    rules = derive_rules(cfg.json_schema, schema)
    raw = dict(answers)
    changed: dict[str, list[list[str]]] = {}
    for name in models:  # both models alike: the comparison stays fair
        answers[name], changed[name] = map(list, zip(*(derive_answer(a, rules) for a in answers[name]), strict=True))
    results, per_row = {}, {}
    for name in models:
        m = score_answers(examples, answers[name], list(refs), cfg, schema)
        per_row[name] = m.pop("rows")
        if rules:  # and what the model wrote by itself, so the rules' share is on record
            alone = score_answers(examples, raw[name], list(refs), cfg, schema)
            m["derived"] = {
                "fields": sorted(rules),
                "answers_changed": sum(1 for c in changed[name] if c),
                "model_only": {k: alone[k] for k in MODEL_ONLY if k in alone},
            }
        results[name] = m
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "domain.json", results)
    lines = []
    for i, ex in enumerate(examples):
        row = {"source": ex.source, "scenario": ex.scenario, "reference": refs[i]}
        for name in models:
            row[name] = answers[name][i]
            row[f"{name}_score"] = per_row[name][i]
            if changed[name][i]:
                row[f"{name}_derived"] = changed[name][i]  # fields afinar wrote, not the model
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")

    name = "predictions.jsonl.afe" if encrypt else "predictions.jsonl"
    write_data(out_dir / name, "".join(lines).encode())
    return results
