"""``afinar prepare``: the work every run on a base repeats and no run should pay for, done once per
base and kept in ``$AFINAR_CACHE``.

Three things depend on the base model and the machine, never on a run's data or recipe:

- the base's weights as transformers reads them (a GGUF file is converted once: ``models/``);
- the general conversations that replay trains on, written by the base itself
  (:mod:`afinar.train.replay`, ``replay/``), for the default replay settings;
- the base's results on the gate's benchmarks, item by item (:func:`afinar.eval.benchmarks.score_base`,
  ``base-scores/``), for the default benchmarks and item counts.

A run finds each under the same key and skips the work; a run with other settings (another
``replay.conversations``, other benchmarks) misses and does it itself.

``afinar prepare RECIPE.yaml`` does the same for one recipe's settings, and ahead of its runs
what they would compute about the base from its data (:mod:`afinar.model.cache`): the base's
next-token distributions on the replay rows (``replay.loss: kl``) and its answers to the eval
splits (``eval.compare_base``), never for encrypted data. ``make setup`` prepares the demo's
recipe, so the demo's first run costs what a later one does.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from afinar.config import BenchmarksConfig, ReplayConfig, load_recipe
from afinar.data.intake import split_as_trained
from afinar.errors import AfinarError
from afinar.eval.run import answer_progress, eval_answers, load_schema, prompt_and_reference, scored_examples
from afinar.eval.suites import evaluate_benchmarks
from afinar.lineage import base_id_of_weights, sha256_file
from afinar.model.load import load_tokenizer, resolve_base
from afinar.model.precision import autocast_for, in_eval_precision
from afinar.pipeline import prepare
from afinar.security.access import authorize, digests, record
from afinar.shards import is_encrypted
from afinar.train.replay import build_replay, synthesize

__all__ = ["prepare_base", "prepare_recipe"]


def prepare_base(
    spec: str = "default",
    replay: ReplayConfig | None = None,
    benchmarks: BenchmarksConfig | None = None,
    show_progress: bool = True,
) -> dict:
    """Prepare base model ``spec`` (``default``, a .gguf file or a model folder): convert it, and
    with ``replay`` / ``benchmarks`` settings (``afinar prepare`` gives the defaults) write its
    replay conversations and score it on the benchmarks; returns what was done and how long each
    part took (seconds).

    Raises:
        AfinarError: ``spec`` is not a local model (a hub id has no weights file to name it by),
            or replay is asked of a base that is not a GGUF file (its conversations are written
            in transformers at the first run, on the model as that run loads it).
    """
    base = resolve_base(spec)  # converts a GGUF file once
    if base.weights_file is None:
        raise AfinarError(f"base_model '{spec}': no local weights file to name it by; give a folder or a .gguf")
    digest = sha256_file(base.weights_file)
    done: dict = {"base": spec, "sha256": digest}
    if replay:
        gguf = Path(base.weights_file)
        if gguf.suffix != ".gguf":
            raise AfinarError(
                f"{spec}: replay conversations are prepared ahead only for a GGUF base (written in llama.cpp); "
                "a run writes them for this base at its start; use --no-replay"
            )
        start = time.perf_counter()
        if show_progress:
            print(f"afinar: replay: the base writes {replay.conversations} general conversations...", flush=True)
        rows = synthesize(None, load_tokenizer(spec), replay, digest, gguf)
        done["replay"] = {"conversations": len(rows), "seconds": round(time.perf_counter() - start, 1)}
    if benchmarks:
        bench = benchmarks
        scored = evaluate_benchmarks(spec, list(bench.names), bench.limit, bench.shots, show_progress)
        done["benchmarks"] = {
            "names": list(bench.names),
            "cached": all(e["base"]["cached"] for e in scored["benchmarks"].values()),
            "seconds": scored["seconds"],
        }
    return done


def prepare_recipe(recipe_file: Path | str, show_progress: bool = True) -> dict:
    """Prepare a recipe's base for its settings (:func:`prepare_base`) and compute ahead, from its
    data, what its runs compute about the base: the replay rows' teacher distributions and the
    base's answers to its eval splits. The data is read, checked and masked as a run reads it,
    under the same access control and audit. Returns what was done and how long each part took.

    Raises:
        AfinarError: as ``afinar run`` would on this recipe and its data (bad input, lint errors,
            access denied), or its base has no local weights file to name the results by.
    """
    recipe = load_recipe(recipe_file)
    actor = authorize("prepare", "dataset:read", recipe.data.all_files)
    own_replay = recipe.replay.enabled and recipe.replay.data is None  # the user's replay rows are never kept
    base_weights = resolve_base(recipe.base_model).weights_file
    gguf = base_weights is not None and Path(base_weights).suffix == ".gguf"
    done = prepare_base(
        recipe.base_model,
        recipe.replay if own_replay and gguf else None,  # other bases write theirs in transformers below
        recipe.eval.benchmarks if recipe.eval.benchmarks.enabled else None,
        show_progress,
    )
    prep = prepare(recipe)
    record("prepare", str(recipe_file), actor, digests=digests(recipe.data.all_files))
    base_id = base_id_of_weights(prep.base.weights_file, recipe.memory.quantize)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = prep.model.to(device)
    if own_replay:  # exactly as a run's start computes them, so the run reads them back
        start = time.perf_counter()
        precision, autocast = autocast_for(recipe.train.precision, device)
        rows = build_replay(
            model, prep.tokenizer, recipe.replay, done["sha256"], recipe.data.max_seq_len, autocast, None,
            prep.base.weights_file if gguf else None, base_id, precision,
        )  # fmt: skip
        done["replay_rows"] = {"rows": len(rows), "seconds": round(time.perf_counter() - start, 1)}
    if recipe.eval.compare_base and not any(is_encrypted(p) for p in recipe.data.files):
        start = time.perf_counter()
        splits = {"eval": prep.eval}
        if recipe.eval.compare_base_on_splits:
            splits |= {name: split_as_trained(recipe, name) for name in recipe.data.eval_splits}
        model, autocast = in_eval_precision(model, recipe.train.precision)  # as the run's evaluation
        schema = load_schema(recipe.eval.json_schema)
        answered = []
        with answer_progress("base answers", show_progress) as progress:
            for name, rows in splits.items():
                prompts = [prompt_and_reference(ex)[0] for ex in scored_examples(rows, recipe.eval)]
                if not prompts:  # no row is scored by generating (eval metric none): the run asks nothing
                    continue
                task = progress.add_task(name, total=len(prompts))
                advance = lambda n, t=task: progress.advance(t, n)  # noqa: E731
                eval_answers(model, prep.tokenizer, prompts, recipe.eval, schema, autocast, base_id, advance)
                answered.append(name)
        if answered:
            done["base_answers"] = {"splits": answered, "seconds": round(time.perf_counter() - start, 1)}
    return done
