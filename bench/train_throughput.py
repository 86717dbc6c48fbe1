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

import json
import statistics
import tempfile
import time
from pathlib import Path

from contenders import arguments, in_order, report, run_rounds, trl_arguments

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
LORA = {"r": 16, "alpha": 32, "dropout": 0.0}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


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


def _eval_loss(model, prep) -> float:
    import torch

    from afinar.model.precision import autocast_for
    from afinar.train.loss import eval_loss

    _, autocast = autocast_for("bf16", torch.device("cpu"))
    return eval_loss(model, prep.eval_rows, 16, prep.tokenizer.pad_token_id, torch.device("cpu"), autocast)


def _run_afinar(steps: int, batch: int, packing: bool, ckpt: bool) -> dict:
    from afinar.pipeline import prepare
    from afinar.train.loop import train
    from afinar.train.speed import matmul_peak

    recipe = _recipe(steps, batch, packing, ckpt)
    prep = prepare(recipe)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        model, result = train(prep.model, prep.tokenizer, prep.train_rows, [], recipe, Path(tmp), show_progress=False)
        wall = time.perf_counter() - start
        metrics = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    examples = sum(m["examples"] for m in metrics)
    flops = sum(m["mfu"] * m["tokens"] / m["tokens_per_s"] for m in metrics) * matmul_peak()
    return {
        "examples": examples,
        "tokens": result.tokens,
        "seconds": wall,
        "train_loss": result.train_loss,
        "eval_loss": _eval_loss(model, prep),
        "model_flops": flops,
        "config": model.get_base_model().config.to_dict(),
    }


def _run_trl(steps: int, batch: int, packing: bool, ckpt: bool) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from afinar.data.batch import epoch_order
    from afinar.model.load import resolve_base
    from afinar.pipeline import prepare

    recipe = _recipe(steps, batch, packing)
    prep = prepare(recipe)  # the same masked rows afinar trains on
    examples = prep.train
    if not packing:  # afinar's first `steps` micro-batches, in its order (its stream, epoch 0)
        assert len(prep.train_rows) == len(prep.train), "a dropped row would shift the indices"
        lengths = [len(r.input_ids) for r in prep.train_rows]
        order = epoch_order(lengths, batch, recipe.train.seed, 0)[:steps]
        examples = [prep.train[i] for b in order for i in b]
    rows = [{"prompt": ex.messages[:-1], "completion": ex.messages[-1:]} for ex in examples]
    model = AutoModelForCausalLM.from_pretrained(resolve_base("default").path, dtype=torch.float32)
    lora = LoraConfig(
        r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        target_modules=TARGETS,
        task_type="CAUSAL_LM",
    )

    class Losses(TrainerCallback):
        last = float("nan")

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                Losses.last = logs["loss"]

    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(packing=packing, **trl_arguments(tmp, batch, steps, ckpt))
        trainer = (in_order(SFTTrainer) if not packing else SFTTrainer)(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=prep.tokenizer,
            peft_config=lora,
            callbacks=[Losses()],
        )
        data = trainer.train_dataset
        if packing:  # a packed row's documents restart their position ids at 0
            per_row = statistics.mean(len(s) for s in data["seq_lengths"])
            tokens_per_row = statistics.mean(sum(s) for s in data["seq_lengths"])
        else:
            per_row, tokens_per_row = 1.0, statistics.mean(len(x) for x in data["input_ids"])
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
    rows_seen = steps * batch
    return {
        "examples": rows_seen * per_row,
        "tokens": rows_seen * tokens_per_row,
        "seconds": wall,
        "train_loss": Losses.last,
        "eval_loss": _eval_loss(trainer.model, prep),
    }


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
