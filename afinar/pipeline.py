"""The path a recipe walks: data -> render -> train -> eval -> summary, in one run directory.

Everything that can be wrong with the inputs (recipe, data files, base model, schema) is checked
before the run directory is created, so a bad input leaves nothing behind.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import torch
import yaml

from afinar.atomic import read_json, write_json, write_text
from afinar.config import Recipe, load_recipe
from afinar.data.intake import (
    RecipeData,
    apply_pii,
    check_recipe_data,
    masker_for,
    read_recipe_data,
    refuse_on_errors,
)
from afinar.data.lint import DataReport
from afinar.data.mask import mask_examples
from afinar.data.read import Example, read_dataset
from afinar.data.render import Rendered, RenderStats, render_all
from afinar.errors import AfinarError
from afinar.eval.gate import require_promoted
from afinar.eval.run import check_references, load_schema
from afinar.eval.suites import evaluate_trained
from afinar.lineage import base_id_of, lineage, sha256_file
from afinar.model.adapters import has_adapter
from afinar.model.load import load_base
from afinar.model.precision import autocast_for
from afinar.model.tuned import load_tuned
from afinar.run_folder import RECIPE_FILE, adapter_digests, load_run, update_summary
from afinar.security.access import authorize, digests, record
from afinar.security.audit import audit_log
from afinar.tracking import log_run
from afinar.train.distributed import world
from afinar.train.loop import train
from afinar.train.progress import plot_loss
from afinar.train.replay import build_replay

__all__ = ["Prepared", "evaluate_saved", "prepare", "run", "train_recipe"]


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
    record("train.end", str(run_dir), actor, digests=adapter_digests(run_dir), details=details)
    audit_log().checkpoint()  # a signed head after every training: deleting its records shows
    return run_dir, prep, model, summary


def run(
    recipe_file: Path | str,
    run_dir: Path | None = None,
    show_progress: bool = True,
    allow_data_errors: bool = False,
    resume: bool = False,
) -> dict:
    """The whole path for one recipe: train, then evaluate base vs tuned; returns the summary.

    With ``resume``, training continues ``run_dir`` from its last checkpoint (its own recipe).
    An interrupted training (Ctrl-C, SIGTERM) returns right away, without the evaluation.
    """
    start = time.perf_counter()
    run_dir, prep, model, summary = train_recipe(
        recipe_file, run_dir, resume=resume, show_progress=show_progress, allow_data_errors=allow_data_errors
    )
    if summary["train"]["interrupted_at"] is not None:
        return summary
    if not has_adapter(model):  # a full fine-tune keeps no copy of its base: load the two, as 'afinar eval' does
        device = next(model.parameters()).device
        del model
        prep.model = None  # the trained weights are in adapter/; hold one copy, not three
        model = load_tuned(run_dir)[0].to(device)
    return _evaluate(run_dir, prep.recipe, model, prep.tokenizer, prep.eval, show_progress, start)


def _evaluate(run_dir: Path, recipe: Recipe, model, tokenizer, rows, show_progress: bool, start: float) -> dict:
    evaluate_trained(run_dir, recipe, model, tokenizer, rows, show_progress)
    update_summary(run_dir, {"wall_seconds": time.perf_counter() - start})
    tracked = log_run(run_dir)
    if tracked and show_progress:
        print("afinar: logged to " + ", ".join(f"{k} ({v})" for k, v in tracked.items()), flush=True)
    return read_json(run_dir / "summary.json")


def evaluate_saved(run_dir: Path, show_progress: bool = True) -> dict:
    """What :func:`run` does after training, for a run trained elsewhere (``afinar train
    --nproc N``, under torchrun): load the tuned model from the run folder and evaluate it, as the
    caller (who must be allowed to read its data); returns the summary."""
    start = time.perf_counter()
    recipe = load_run(run_dir)
    actor = authorize("eval", "dataset:read", recipe.data.all_files)
    model, tokenizer, recipe = load_tuned(run_dir)
    record("eval", str(run_dir), actor, digests=digests(recipe.data.all_files))
    model = model.to("cuda" if torch.cuda.is_available() else "cpu")
    return _evaluate(Path(run_dir), recipe, model, tokenizer, None, show_progress, start)
