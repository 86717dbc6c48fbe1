"""DPO speed: afinar against TRL's DPOTrainer + PEFT LoRA, same machine, same pairs, one run.

    python bench/dpo_throughput.py [--steps 8] [--rounds 1] [--batch 8]

Needs TRL (``pip install -r bench/requirements-train.txt``). Contenders, alternated round by
round, each in a fresh process (so peak RSS is its own):

1. ``afinar``: ``train.objective: dpo`` as a recipe gets it (the reference's log-probabilities
   computed once before training, for the pairs the run trains on, and counted in its time).
2. ``trl``: DPOTrainer with its defaults (gradient checkpointing on; the reference computed at
   every step with the adapter disabled; ``precompute_ref_log_probs`` off).
3. ``trl-nockpt``: the same with ``gradient_checkpointing=False``.

The pairs: the retail example's training rows, masked as afinar trains on them; ``chosen`` is the
row's answer, ``rejected`` the next row's answer (a report about other sales: plausible, wrong).
Both contenders get the same ``steps x batch`` pairs in the same order (afinar's, length-grouped),
the bundled SmolLM2-135M-Instruct, LoRA r=16, alpha=32, dropout 0 on all seven projections, bf16
autocast, beta 0.1, AdamW at a constant 3e-4, max length 384, ``--batch`` pairs per step.

Reported per contender (median over rounds): pairs/s over the whole training call, peak RSS of
the process, the last step's DPO loss and reward accuracy. Only the speed and memory compare;
the losses are there to show that both trained on the same task.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from contenders import arguments, in_order, report, run_rounds, trl_arguments

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "examples" / "retail-sales-json" / "recipe.yaml"
CONTENDERS = {"afinar": False, "trl": True, "trl-nockpt": False}  # name -> gradient checkpointing
LORA = {"r": 16, "alpha": 32, "dropout": 0.0}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
BETA = 0.1


def _pairs(steps: int, batch: int):
    """The recipe, the prepared data, the examples in the order afinar trains on them, and the
    rendered pairs as afinar is given them (``steps x batch``: its run is one epoch over them)."""
    from afinar.config import load_recipe
    from afinar.data.batch import epoch_order
    from afinar.data.read import Example
    from afinar.data.render import render_all
    from afinar.pipeline import prepare

    r = load_recipe(RECIPE)
    recipe = r.model_copy(
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
                    "objective": "dpo",
                    "beta": BETA,
                }
            ),
            "replay": r.replay.model_copy(update={"enabled": False}),
        }
    )
    prep = prepare(recipe.model_copy(update={"train": recipe.train.model_copy(update={"objective": "sft"})}))
    rows = prep.train
    examples = [
        Example(ex.messages, ex.source, rejected=rows[(i + 1) % len(rows)].messages[-1]["content"])
        for i, ex in enumerate(rows)
    ]
    pairs, _ = render_all(prep.tokenizer, examples, recipe.data.max_seq_len, "drop")
    assert len(pairs) == len(examples), "a dropped pair would shift the indices"
    seed = recipe.train.seed
    used = [i for b in epoch_order([len(p.input_ids) for p in pairs], batch, seed, 0)[:steps] for i in b]
    pairs, examples = [pairs[i] for i in used], [examples[i] for i in used]
    # afinar's stream orders these pairs thus (its epoch 0 over them); TRL gets them in that order
    order = [i for b in epoch_order([len(p.input_ids) for p in pairs], batch, seed, 0) for i in b]
    return recipe, prep, [examples[i] for i in order], pairs


def _run_afinar(steps: int, batch: int, ckpt: bool) -> dict:
    from afinar.train.loop import train

    recipe, prep, _, pairs = _pairs(steps, batch)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        _, result = train(prep.model, prep.tokenizer, pairs, [], recipe, Path(tmp), show_progress=False)
        wall = time.perf_counter() - start
        last = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()][-1]
    return {"pairs": len(pairs), "seconds": wall, "loss": result.train_loss, "accuracy": last["reward_accuracy"]}


def _run_trl(steps: int, batch: int, ckpt: bool) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from afinar.model.load import resolve_base

    _, prep, examples, _ = _pairs(steps, batch)
    rows = [
        {"prompt": ex.messages[:-1], "chosen": ex.messages[-1:],
         "rejected": [{"role": "assistant", "content": ex.rejected}]}
        for ex in examples
    ]  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(resolve_base("default").path, dtype=torch.float32)
    lora = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"], target_modules=TARGETS,
                      task_type="CAUSAL_LM")  # fmt: skip

    class Logs(TrainerCallback):
        last: ClassVar[dict] = {}

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                Logs.last = logs

    with tempfile.TemporaryDirectory() as tmp:
        args = DPOConfig(beta=BETA, **trl_arguments(tmp, batch, steps, ckpt))
        data = Dataset.from_list(rows)
        trainer = in_order(DPOTrainer)(model=model, args=args, train_dataset=data, processing_class=prep.tokenizer,
                                       peft_config=lora, callbacks=[Logs()])  # fmt: skip
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
    accuracy = next((v for k, v in Logs.last.items() if k.endswith("rewards/accuracies")), float("nan"))
    return {"pairs": steps * batch, "seconds": wall, "loss": Logs.last.get("loss", float("nan")), "accuracy": accuracy}


def worker(name: str, steps: int, batch: int) -> None:
    run = _run_afinar if name == "afinar" else _run_trl
    result = run(steps, batch, CONTENDERS[name])
    report(result)


def main() -> None:
    a = arguments(__doc__, CONTENDERS, steps=8, rounds=1)
    if a.worker:
        return worker(a.worker, a.steps, a.batch)

    print(f"{a.steps} steps x {a.batch} pairs, DPO beta {BETA}, LoRA r=16 on all projections, bf16")
    names, med = run_rounds(__file__, a, "pairs")

    print(f"\n{'contender':<12}{'pairs/s':>9}{'peak RSS':>10}{'last loss':>11}{'reward acc':>12}")
    for n in names:
        print(
            f"{n:<12}{med(n, lambda x: x['pairs'] / x['seconds']):>9.2f}{med(n, lambda x: x['peak_rss_mib']):>8.0f}Mi"
            f"{med(n, lambda x: x['loss']):>11.4f}{med(n, lambda x: x['accuracy']):>12.2f}"
        )
    for theirs in [t for t in ("trl", "trl-nockpt") if t in names and "afinar" in names]:
        speed = med("afinar", lambda x: x["pairs"] / x["seconds"]) / med(theirs, lambda x: x["pairs"] / x["seconds"])
        rss = med("afinar", lambda x: x["peak_rss_mib"]) / med(theirs, lambda x: x["peak_rss_mib"])
        print(f"afinar / {theirs}: {speed:.2f}x pairs/s, {rss:.2f}x peak RSS")


if __name__ == "__main__":
    main()
