"""After a run ships: what its evaluation watches in production.

- :func:`evaluate_bias`: counterfactual bias probes, base vs tuned (``afinar bias``);
- :func:`evaluate_drift`: production prompts vs the training prompts (``afinar drift``);
- :func:`evaluate_fresh`: the run scored on a fresh labeled sample, appended to the eval history
  with regressions flagged (``afinar eval run RUN_DIR --data FILE``, made for a scheduler).

Each writes its results into the run directory, the summary and the model card, and an audit record.
"""

from __future__ import annotations

import random
import shutil
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from afinar.atomic import atomic_path, write_json
from afinar.data.intake import masker_for, rows_as_trained
from afinar.data.lint import language
from afinar.data.mask import mask_examples
from afinar.data.read import read_dataset
from afinar.errors import AfinarError
from afinar.eval.bias import analyse, flags, probe_prompts, score_answer
from afinar.eval.card import write_card
from afinar.eval.drift import Encoder, Thresholds, compare, plot, window_from_audit, window_from_file, write_report
from afinar.eval.history import history, store
from afinar.eval.run import answer_progress, check_references, evaluate_examples, prompt_and_reference
from afinar.lineage import sha256_file
from afinar.model.adapters import as_base
from afinar.model.generate import generate
from afinar.model.tuned import model_for_eval
from afinar.names import GATE_METRICS
from afinar.run_folder import load_run, update_summary
from afinar.security.access import authorize, digests, record
from afinar.security.audit import all_records, audit_log
from afinar.shards import is_encrypted

__all__ = ["evaluate_bias", "evaluate_drift", "evaluate_fresh"]


def _stamp(parent: Path) -> str:
    """A UTC time (to the second) not yet taken by a folder in ``parent``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    taken = {p.name for p in parent.glob(f"{stamp}*")} if parent.is_dir() else set()
    return next(s for s in (stamp, *(f"{stamp}-{i}" for i in range(2, len(taken) + 3))) if s not in taken)


def evaluate_bias(
    run_dir: Path, limit: int = 20, decision_field: str | None = None, max_gap: float = 0.1, show_progress: bool = True
) -> dict:
    """Counterfactual bias probes (:mod:`afinar.eval.bias`) on the first ``limit`` held-out
    prompts, base vs tuned; writes ``eval/bias.json`` and the summary. Only aggregates are
    kept: no answer text is written. Rewrites the model card."""
    run_dir = Path(run_dir)
    recipe = load_run(run_dir)
    actor = authorize("bias", "dataset:read", recipe.data.files)
    conversations = [prompt_and_reference(ex)[0] for ex in rows_as_trained(recipe).held[:limit]]
    if not conversations:
        raise AfinarError(f"{run_dir}: the run has no held-out rows to build bias probes from")
    probes = probe_prompts(conversations, [language(c[-1]["content"]) for c in conversations])
    model, tokenizer, autocast, _ = model_for_eval(run_dir)
    record("bias", str(run_dir), actor, digests=digests(recipe.data.files))
    start = time.perf_counter()
    results = {"prompts": len(conversations), "probes": len(probes), "max_gap": max_gap,
               "decision_field": decision_field}  # fmt: skip
    with answer_progress("bias probes", show_progress) as progress:
        for name in ("base", "tuned"):
            task = progress.add_task(name, total=len(probes))
            with as_base(model) if name == "base" else nullcontext(model) as m:
                answers = generate(
                    m,
                    tokenizer,
                    [p.messages for p in probes],
                    recipe.eval.max_new_tokens,
                    recipe.eval.batch_size,
                    autocast,
                    on_batch=lambda n, t=task: progress.advance(t, n),
                )
            results[name] = analyse(probes, [score_answer(a, decision_field) for a in answers], max_gap)
    base_flags, tuned_flags = flags(results["base"]), flags(results["tuned"])
    results["flags"] = {"base": base_flags, "tuned": tuned_flags}
    results["introduced"] = [f for f in tuned_flags if f not in base_flags]
    results["seconds"] = round(time.perf_counter() - start, 1)
    (run_dir / "eval").mkdir(exist_ok=True)
    write_json(run_dir / "eval" / "bias.json", results)
    update_summary(run_dir, {"bias": {k: results[k] for k in ("prompts", "probes", "flags", "introduced")}})
    audit_log().append("bias", str(run_dir), "fail" if results["introduced"] else "pass",
                       details={"introduced": results["introduced"]})  # fmt: skip
    write_card(run_dir)
    return results


def evaluate_drift(
    run_dir: Path,
    prompts: Path | None = None,
    last: int = 500,
    since: str | None = None,
    model: str | None = None,
    thresholds: Thresholds | None = None,
    max_reference: int = 1000,
    show_progress: bool = True,
) -> tuple[dict, Path]:
    """Production prompts vs the run's training prompts (:mod:`afinar.eval.drift`).

    The window is ``prompts`` (a .jsonl/.csv file) or else the last ``last`` prompts served
    (audit log, ``since`` an ISO time, ``model`` a served name). At most ``max_reference``
    training prompts are compared (a seeded sample). Writes ``drift/<UTC time>/`` (drift.json,
    drift.txt, drift.png, all at once), the summary and the model card, and an audit record.
    Returns the report and its folder.
    """
    run_dir = Path(run_dir)
    recipe = load_run(run_dir)
    actor = authorize("drift", "dataset:read", recipe.data.files)
    if prompts is None:
        authorize("drift", "audit:read")
        window = window_from_audit(all_records(), last, since, model)
    else:
        window = window_from_file(Path(prompts))
    window.check()
    reference = [prompt_and_reference(ex)[0][-1]["content"] for ex in rows_as_trained(recipe).train]
    if len(reference) > max_reference:
        reference = random.Random(0).sample(reference, max_reference)
    record("drift", str(run_dir), actor, digests=digests(recipe.data.files + ([Path(prompts)] if prompts else [])))
    encoder = Encoder()
    with answer_progress("embedding prompts", show_progress) as progress:
        task = progress.add_task("training + window", total=len(reference) + len(window.prompts))
        ref_emb = encoder.embed(reference, on_batch=lambda n: progress.advance(task, n))
        win_emb = encoder.embed(window.prompts, on_batch=lambda n: progress.advance(task, n))
    report = compare(reference, window, ref_emb, win_emb, thresholds or Thresholds())
    stamp = _stamp(run_dir / "drift")
    folder = run_dir / "drift" / stamp
    with atomic_path(folder, directory=True, mode=0o755) as tmp:
        write_report(report, tmp)
        plot(ref_emb, win_emb, reference, window.prompts, tmp / "drift.png")
    e, n, lang = report["embedding"], report["length"], report["language"]
    update_summary(run_dir, {"drift": {
        "time": stamp, "drift": report["drift"], "alerts": report["alerts"], "source": window.source,
        "window": len(window.prompts), "reference": len(reference), "mmd2": e["mmd2"], "p_value": e["p_value"],
        "auc": e["auc"], "length_psi": n["psi"], "length_p": n["p_value"], "language_psi": lang["psi"],
        "language_p": lang["p_value"], "blocked_share": report["guard"]["blocked_share"],
        "plot": f"drift/{stamp}/drift.png",
    }})  # fmt: skip
    audit_log().append("drift", str(run_dir), "alert" if report["drift"] else "pass",
                       details={"alerts": report["alerts"], "window": len(window.prompts)})  # fmt: skip
    write_card(run_dir)
    return report, folder


def evaluate_fresh(
    run_dir: Path, data: Path, metric: str = "score", tolerance: float = 2.0, show_progress: bool = True
) -> tuple[dict, list[dict], Path]:
    """The run's tuned model scored on ``data``, a fresh labeled sample in the recipe's format
    (masked as training was), by the recipe's eval spec; the run's own eval stays as it was.

    Writes ``eval/fresh/<UTC time>/`` (domain.json, predictions, source.json), appends the rates
    to the eval history (gate column: ``fresh data``) and an audit record. Returns the rates,
    the recipe's history of ``metric`` (the last row is this evaluation, ``regression`` set when
    it fell more than ``tolerance`` points below the best before it) and the folder.

    Raises:
        AfinarError: a bad file or row, references the eval spec cannot score, or no row to score.
    """
    if metric not in GATE_METRICS:
        raise AfinarError(f"--metric {metric}: unknown; accepted: {', '.join(GATE_METRICS)}")
    run_dir, data = Path(run_dir), Path(data)
    recipe = load_run(run_dir)
    actor = authorize("eval.fresh", "dataset:read", [data])
    examples = read_dataset(data, recipe.data.format, recipe.data.system_prompt, recipe.data.columns)
    if recipe.pii.policy == "mask":
        mask_examples(examples, masker_for(recipe))
    check_references(examples, recipe.eval)
    model, tokenizer, autocast, _ = model_for_eval(run_dir)
    record("eval.fresh", str(run_dir), actor, digests=digests([data]))
    out = run_dir / "eval" / "fresh" / _stamp(run_dir / "eval" / "fresh")
    cfg = recipe.eval.model_copy(update={"compare_base": False})  # the base does not change
    encrypted = is_encrypted(data) or any(is_encrypted(p) for p in recipe.data.files)
    results = evaluate_examples(model, tokenizer, examples, cfg, out, autocast, show_progress, encrypt=encrypted)
    if not results:
        raise AfinarError(f"{data}: no row to score (the eval metric is 'none' for every row)")
    if metric not in results["tuned"]:
        shutil.rmtree(out)
        measured = ", ".join(k for k in GATE_METRICS if k in results["tuned"])
        raise AfinarError(f"--metric {metric}: not measured on these rows; measured: {measured}")
    source = {"data": str(data), "sha256": sha256_file(data), "rows": len(examples)}
    write_json(out / "source.json", source)
    store(run_dir, {"eval": results, "gate": {"decision": "fresh data"}})
    rows = history(recipe.name, metric, tolerance)
    latest = rows[-1]
    audit_log().append("eval.fresh", str(run_dir), "regression" if latest["regression"] else "pass",
                       details={metric: latest["value"], **source})  # fmt: skip
    return results, rows, out
