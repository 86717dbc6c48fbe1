"""Training on a CUDA GPU: one plain process against FSDP2 through torchrun (NCCL), same recipe.

    python bench/gpu_train.py [--steps 40] [--batch 16] [--nproc 1]
    python bench/gpu_train.py --random-weights DIR   # DIR holds the base's config.json + tokenizer

Needs a CUDA GPU (it says so and stops without one); CI has none, so this is run by hand. It
trains the retail example (LoRA r=16 on all linear layers, bf16, max_seq_len 384, AdamW 3e-4)
twice with ``afinar train``: as one ordinary process, and with ``--nproc N`` (torchrun, NCCL,
FSDP2; N=1 still takes the sharded path, which is what a one-GPU machine can prove). Prints, for
each, tokens/s and MFU (median over steps after the first 3; the matmul peak is measured on the
spot by afinar), peak GPU memory, first and last training loss, and the wall time of the command.

``--random-weights``: a bare GPU box may not have the bundled model's package; this builds a
model of the same shape with random weights (speed does not depend on the weights; the loss
does, so compare the two rows' losses with each other only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "retail-sales-json"


def _random_base(config_dir: Path, out: Path) -> Path:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(config_dir)).save_pretrained(out)
    AutoTokenizer.from_pretrained(config_dir).save_pretrained(out)
    return out


def _recipe(tmp: Path, base: str, steps: int, batch: int) -> Path:
    recipe = yaml.safe_load((EXAMPLE / "recipe.yaml").read_text())
    recipe["base_model"] = base
    recipe["data"]["train"] = str(EXAMPLE / recipe["data"]["train"])
    recipe["data"]["eval"] = str(EXAMPLE / recipe["data"]["eval"])
    recipe["optim"].update({"warmup_steps": 0, "schedule": "constant"})
    train = {"micro_batch_size": batch, "grad_accum": 1, "max_steps": steps, "checkpoint_interval": None}
    recipe["train"].update({**train, "precision": "bf16"})
    recipe["eval"] = {"metric": "none"}
    recipe["output_dir"] = str(tmp)
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def _train(recipe: Path, run: Path, nproc: int | None) -> dict:
    cmd = [sys.executable, "-m", "afinar", "train", str(recipe), "--run-dir", str(run), "--quiet"]
    cmd += ["--nproc", str(nproc)] if nproc else []
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - start
    steps = [m for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in m]
    later = steps[3:] or steps
    return {
        "tokens/s": statistics.median(m["tokens_per_s"] for m in later),
        "MFU %": 100 * statistics.median(m["mfu"] for m in later),
        "peak GiB": max(m["peak_mem_gb"] for m in steps),
        "first loss": steps[0]["loss"],
        "last loss": steps[-1]["loss"],
        "wall s": wall,
    }


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="default")
    parser.add_argument("--random-weights", type=Path, help="config.json + tokenizer folder of the base's shape")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--nproc", type=int, default=torch.cuda.device_count() or 1)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench/gpu_train.py needs a CUDA GPU; on CPU use bench/train_throughput.py")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = str(_random_base(args.random_weights, tmp / "base")) if args.random_weights else args.base
        recipe = _recipe(tmp, base, args.steps, args.batch)
        rows = {
            "one process": _train(recipe, tmp / "plain", None),
            f"torchrun FSDP2 x{args.nproc}": _train(recipe, tmp / "fsdp", args.nproc),
        }
    print(f"\n{torch.cuda.get_device_name()}, torch {torch.__version__}, {args.steps} steps of {args.batch} rows")
    cols = list(next(iter(rows.values())))
    print(f"{'':<22}" + "".join(f"{c:>12}" for c in cols))
    for name, row in rows.items():
        print(f"{name:<22}" + "".join(f"{row[c]:>12.3f}" for c in cols))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
