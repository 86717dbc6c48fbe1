"""Training memory on the bundled model: plain LoRA against gradient checkpointing and int8 /
nf4 bases (QLoRA), each measured next to what ``afinar plan`` predicted for it.

    python bench/memory.py [--steps 3] [--rows 4] [--seq 384] [--preload LIB]

Each variant trains ``--steps`` optimizer steps of ``--rows`` retail rows (bf16, unpacked, rows
of exactly ``--seq`` tokens: the retail rows are repeated and cut to length, so every variant
sees the same activations) in a fresh process, twice:

- as a user runs it: ``setup peak`` is the resident high-water mark of loading the base and
  casting its frozen weights to bf16 (the whole process up to the first step); ``peak RSS`` is
  the high-water mark of the training steps (reset after setup: ``/proc/self/clear_refs``). It
  includes what glibc's heap keeps of freed
  tensors: by default blocks under its (growing) mmap threshold are reused but never returned,
  and holes between live tensors count as resident.
- with ``MALLOC_MMAP_THRESHOLD_=65536``, so every tensor over 64 KiB is its own mapping, unmapped
  when freed: ``in use`` is then the peak of memory actually held (runtime, weights, state and
  live tensors), the CPU counterpart of CUDA's ``max_memory_allocated``, and what ``afinar plan``
  estimates. (That setting makes steps about twice as slow, so afinar does not use it.)

``--preload /lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4`` runs the first measurement under
another allocator (``LD_PRELOAD``; Debian's ``libtcmalloc-minimal4``), which returns freed
memory to its own caches by size instead of leaving holes in one heap.

Reported with both: the plan's estimate of the steps and its error against ``in use``, and
seconds per step of the first run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "examples" / "retail-sales-json" / "recipe.yaml"
VARIANTS = {
    "LoRA": {},
    "LoRA + checkpointing": {"gradient_checkpointing": True},
    "QLoRA int8": {"quantize": "int8"},
    "QLoRA nf4": {"quantize": "nf4"},
    "QLoRA nf4 + checkpointing": {"quantize": "nf4", "gradient_checkpointing": True},
}


def _hwm_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    raise RuntimeError("no VmHWM in /proc/self/status")


def worker(name: str, steps: int, rows: int, seq: int) -> None:
    from afinar.config import load_recipe
    from afinar.data.render import Rendered
    from afinar.pipeline import prepare
    from afinar.train import loop

    r = load_recipe(RECIPE)
    recipe = r.model_copy(
        update={
            "memory": r.memory.model_copy(update=VARIANTS[name]),
            "data": r.data.model_copy(update={"max_seq_len": seq}),
            "train": r.train.model_copy(
                update={
                    "micro_batch_size": rows,
                    "grad_accum": 1,
                    "max_steps": steps,
                    "packing": False,
                    "precision": "bf16",
                    "eval_interval": None,
                    "checkpoint_interval": None,
                }
            ),
        }
    )
    prep = prepare(recipe)
    joined = [t for row in prep.train_rows for t in zip(row.input_ids, row.labels, strict=True)]
    fixed = [Rendered([t for t, _ in joined[i * seq : (i + 1) * seq]], [x for _, x in joined[i * seq : (i + 1) * seq]],
                      "bench") for i in range(rows * steps)]  # fmt: skip
    setup = {}
    cast = loop.store_frozen_in_bf16

    def cast_then_reset(model):  # the last setup step of train(): the steps' peak starts here
        count = cast(model)
        setup["peak"] = _hwm_gib()
        Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current RSS
        setup["start"] = time.perf_counter()
        return count

    loop.store_frozen_in_bf16 = cast_then_reset
    with tempfile.TemporaryDirectory() as tmp:
        loop.train(prep.model, prep.tokenizer, fixed, [], recipe, Path(tmp), show_progress=False)
        seconds = (time.perf_counter() - setup["start"]) / steps
    print("RESULT " + json.dumps({"train_peak": _hwm_gib(), "setup_peak": setup["peak"], "s_per_step": seconds}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--rows", type=int, default=4)
    p.add_argument("--seq", type=int, default=384)
    p.add_argument("--preload", help="a malloc library to LD_PRELOAD for the peak-RSS run")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        return worker(a.worker, a.steps, a.rows, a.seq)

    from afinar.train.memory import SHAPES, plan

    print(f"bundled SmolLM2-135M, {a.rows} rows x {a.seq} tokens, LoRA r=16 on all 7 projections, bf16")
    print(f"peak RSS with {'LD_PRELOAD=' + a.preload if a.preload else 'the C library malloc (glibc)'}")
    print(f"\n{'variant':<28}{'peak RSS':>10}{'in use':>9}{'plan':>8}{'error':>8}{'setup peak':>12}{'s/step':>8}")
    for name, memory in VARIANTS.items():
        user = _measure(name, a, {"LD_PRELOAD": a.preload} if a.preload else {})
        live = _measure(name, a, {"MALLOC_MMAP_THRESHOLD_": "65536"})
        method = "qlora" if memory.get("quantize") else "lora"
        est = plan(
            SHAPES["smollm2-135m"],
            method,
            a.seq,
            a.rows,
            "cpu:24",
            checkpointing=memory.get("gradient_checkpointing", False),
            quant=memory.get("quantize", "nf4"),
        ).total / 2**30  # fmt: skip
        err = est / live["train_peak"] - 1
        print(
            f"{name:<28}{user['train_peak']:>8.2f}Gi{live['train_peak']:>7.2f}Gi{est:>6.2f}Gi{err:>+8.0%}"
            f"{user['setup_peak']:>10.2f}Gi{user['s_per_step']:>8.1f}"
        )


def _measure(name: str, a, env: dict) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--steps", str(a.steps), "--rows", str(a.rows),
           "--seq", str(a.seq)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, **env})
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


if __name__ == "__main__":
    main()
