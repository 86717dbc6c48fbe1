"""Training speed: afinar against TRL's SFTTrainer + PEFT LoRA, same machine, same rows, one run.

    python bench/train_throughput.py [--steps 12] [--rounds 2] [--batch 8]

Needs TRL (``pip install -r bench/requirements-train.txt``). Contenders, alternated round by
round, each in a fresh process (so peak RSS is its own):

1. ``afinar``: the training loop as a recipe gets it by default (``train.packing: false``:
   length-grouped padded batches; no gradient checkpointing).
2. ``afinar-ckpt``: the same with ``memory.gradient_checkpointing: true`` (TRL's memory regime).
3. ``afinar-packed``: the default with ``train.packing: true``.
4. ``trl``: SFTTrainer with its defaults (bf16 autocast and gradient checkpointing are TRL's
   defaults), fed the very examples afinar trains on, batch by batch in afinar's order (a
   sequential sampler over them), so the eval losses compare the same training.
5. ``trl-nockpt``: the same with ``gradient_checkpointing=False`` (its fastest unpacked setting).
6. ``trl-packed``: the defaults plus ``packing=True`` (best-fit decreasing, padding-free), over the
   whole training split in its own order (packing changes what a step holds anyway).

All share the base (the bundled SmolLM2-135M-Instruct, the HF folder afinar converts it to),
the retail example's training rows (loss on the answer only), LoRA r=16, alpha=32, dropout 0 on
all seven linear projections, max_seq_len 384, AdamW at a constant 3e-4, and ``--batch``
examples per optimizer step (for trl-packed, a step is ``--batch`` packed rows; its example count
is the mean number of examples per packed row times the rows it trained on).

Reported per contender (median over rounds): examples/s over the whole training call, real
(non-pad) tokens/s, peak RSS of the process, last training loss, and the eval loss of the
trained adapter on the retail eval split, computed by one function for all. afinar's MFU is its
model FLOPs (6 x decoder matmul parameters per token plus attention, LM head on targets) per
second over the bf16 matmul peak measured by this script on the spot.
"""

from __future__ import annotations

from pathlib import Path

import torch
from contenders import LORA, TARGETS, afinar_sft, arguments, report, run_rounds, trl_sft

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "examples" / "retail-sales-json" / "recipe.yaml"
# name -> (packing, gradient checkpointing)
CONTENDERS = {
    "afinar": (False, False),
    "afinar-ckpt": (False, True),
    "afinar-packed": (True, False),
    "trl": (False, True),
    "trl-nockpt": (False, False),
    "trl-packed": (True, True),
}


def _recipe(steps: int, batch: int, packing: bool, ckpt: bool = False):
    from afinar.config import load_recipe

    r = load_recipe(RECIPE)
    return r.model_copy(
        update={
            "adapter": r.adapter.model_copy(update={**LORA, "target_modules": TARGETS}),
            "optim": r.optim.model_copy(update={"lr": 3e-4, "warmup_steps": 0, "schedule": "constant"}),
            "train": r.train.model_copy(
                update={
                    "micro_batch_size": batch,
                    "grad_accum": 1,
                    "max_steps": steps,
                    "eval_interval": None,
                    "checkpoint_interval": None,
                    "precision": "bf16",
                    "packing": packing,
                }
            ),
            "memory": r.memory.model_copy(update={"gradient_checkpointing": ckpt}),
        }
    )


def _run_afinar(steps: int, batch: int, packing: bool, ckpt: bool) -> dict:
    return afinar_sft(_recipe(steps, batch, packing, ckpt), torch.device("cpu"))


def _run_trl(steps: int, batch: int, packing: bool, ckpt: bool) -> dict:
    return trl_sft(_recipe(steps, batch, packing), packing, ckpt, torch.device("cpu"))


def worker(name: str, steps: int, batch: int) -> None:
    run = _run_afinar if name.startswith("afinar") else _run_trl
    result = run(steps, batch, *CONTENDERS[name])
    report(result)


def main() -> None:
    a = arguments(__doc__, CONTENDERS, steps=12, rounds=2)
    if a.worker:
        return worker(a.worker, a.steps, a.batch)

    from afinar.train.speed import matmul_peak

    peak = matmul_peak(seconds=3.0)
    print(f"bf16 matmul peak measured here: {peak / 1e9:.0f} GFLOP/s; {a.steps} steps x {a.batch} examples")
    names, med = run_rounds(__file__, a, "examples")

    header = f"{'contender':<14}{'examples/s':>11}{'tokens/s':>10}{'peak RSS':>10}{'train loss':>11}{'eval loss':>10}"
    print("\n" + header + f"{'MFU':>7}")
    for n in names:
        eps = med(n, lambda x: x["examples"] / x["seconds"])
        tps = med(n, lambda x: x["tokens"] / x["seconds"])
        mfu = f"{med(n, lambda x: x['model_flops'] / x['seconds']) / peak:>7.0%}" if n.startswith("afinar") else ""
        print(
            f"{n:<14}{eps:>11.2f}{tps:>10.0f}{med(n, lambda x: x['peak_rss_mib']):>8.0f}Mi"
            f"{med(n, lambda x: x['train_loss']):>11.4f}{med(n, lambda x: x['eval_loss']):>10.4f}{mfu}"
        )
    pairs = [("afinar", "trl"), ("afinar", "trl-nockpt"), ("afinar", "trl-packed"), ("afinar-ckpt", "trl")]
    for ours, theirs in [(o, t) for o, t in pairs if o in names and t in names]:
        speed = med(ours, lambda x: x["examples"] / x["seconds"]) / med(theirs, lambda x: x["examples"] / x["seconds"])
        rss = med(ours, lambda x: x["peak_rss_mib"]) / med(theirs, lambda x: x["peak_rss_mib"])
        loss = med(ours, lambda x: x["eval_loss"]) / med(theirs, lambda x: x["eval_loss"]) - 1
        print(f"{ours} / {theirs}: {speed:.2f}x examples/s, {rss:.2f}x peak RSS, eval loss {loss:+.1%}")


if __name__ == "__main__":
    main()
