"""``afinar prepare``: the work every run on a base repeats and no run should pay for, done once per
base and kept in ``$AFINAR_CACHE``.

Three things depend on the base model and the machine, never on a run's data or recipe:

- the base's weights as transformers reads them (a GGUF file is converted once: ``models/``);
- the general conversations that replay trains on, written by the base itself
  (:mod:`afinar.train.replay`, ``replay/``), for the default replay settings;
- the base's results on the gate's benchmarks, item by item (:func:`afinar.eval.benchmarks.score_base`,
  ``base-scores/``), for the default benchmarks and item counts.

A run finds each under the same key and skips the work; a run with other settings (another
``replay.conversations``, other benchmarks) misses and does it itself. ``make setup`` prepares the
bundled base, so the demo's first run costs what a later one does.
"""

from __future__ import annotations

import time
from pathlib import Path

from afinar.config import BenchmarksConfig, ReplayConfig
from afinar.errors import AfinarError
from afinar.lineage import sha256_file
from afinar.model.load import load_tokenizer, resolve_base

__all__ = ["prepare_base"]


def prepare_base(
    spec: str = "default", replay: bool = True, benchmarks: bool = True, show_progress: bool = True
) -> dict:
    """Prepare base model ``spec`` (``default``, a .gguf file or a model folder); returns what was
    done and how long each part took (seconds).

    Raises:
        AfinarError: ``spec`` is not a local model (a hub id has no weights file to name it by),
            or replay is asked of a base that is not a GGUF file (its conversations are written
            in transformers at the first run, on the model as that run loads it).
    """
    from afinar.pipeline import evaluate_benchmarks
    from afinar.train.replay import synthesize

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
        cfg = ReplayConfig()
        start = time.perf_counter()
        if show_progress:
            print(f"afinar: replay: the base writes {cfg.conversations} general conversations...", flush=True)
        rows = synthesize(None, load_tokenizer(spec), cfg, digest, gguf)
        done["replay"] = {"conversations": len(rows), "seconds": round(time.perf_counter() - start, 1)}
    if benchmarks:
        bench = BenchmarksConfig()
        scored = evaluate_benchmarks(spec, list(bench.names), bench.limit, bench.shots, show_progress)
        done["benchmarks"] = {
            "names": list(bench.names),
            "cached": all(e["base"]["cached"] for e in scored["benchmarks"].values()),
            "seconds": scored["seconds"],
        }
    return done
