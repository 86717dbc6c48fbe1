"""The harness the training benchmarks share: each contender trains in a fresh process (so its
peak RSS is its own), rounds alternate the contenders, and the parent reads one ``RESULT`` line
per run. Used by ``train_throughput.py`` and ``dpo_throughput.py``."""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def arguments(doc: str, names, steps: int, rounds: int) -> argparse.Namespace:
    """``--steps``, ``--rounds``, ``--batch``, ``--only`` and the hidden ``--worker``."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--rounds", type=int, default=rounds)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--only", default=",".join(names), help="comma-separated contenders")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p.parse_args()


def report(result: dict) -> None:
    """A worker's last word: its result and the process's peak RSS, as one ``RESULT`` line."""
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def _spawn(script: str, name: str, steps: int, batch: int) -> dict:
    cmd = [sys.executable, script, "--worker", name, "--steps", str(steps), "--batch", str(batch)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def run_rounds(script: str, a: argparse.Namespace, unit: str) -> tuple[list[str], object]:
    """Every contender of ``--only``, ``--rounds`` times, alternated; prints each run's ``unit``/s
    (the result's ``unit`` count over its seconds). Returns the names and ``med(name, key)``,
    the median of ``key(result)`` over a contender's rounds."""
    names = a.only.split(",")
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(a.rounds):
        for n in names:
            runs[n].append(_spawn(script, n, a.steps, a.batch))
            print(f"  round {r + 1} {n}: {runs[n][-1][unit] / runs[n][-1]['seconds']:.2f} {unit}/s", flush=True)

    def med(n: str, key) -> float:
        return statistics.median(key(x) for x in runs[n])

    return names, med


def trl_arguments(output_dir: str, batch: int, steps: int, ckpt: bool) -> dict:
    """What both TRL contenders' configs (``SFTConfig``, ``DPOConfig``) share: bf16 on the CPU,
    ``batch`` rows a step for ``steps`` steps, a constant learning rate, a log line every step,
    nothing saved or reported."""
    return {
        "output_dir": output_dir,
        "bf16": True,
        "use_cpu": True,
        "per_device_train_batch_size": batch,
        "gradient_accumulation_steps": 1,
        "max_steps": steps,
        "max_length": 384,
        "gradient_checkpointing": ckpt,
        "learning_rate": 3e-4,
        "lr_scheduler_type": "constant",
        "warmup_steps": 0,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "dataloader_num_workers": 0,
        "seed": 42,
    }


def in_order(trainer_class):
    """``trainer_class`` reading its rows in the given order (as afinar's contender reads them)."""
    import torch

    class InOrder(trainer_class):
        def _get_train_sampler(self, train_dataset=None):
            return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)

    return InOrder
