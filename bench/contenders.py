"""The harness the training benchmarks share: each contender trains in a fresh process (so its
peak RSS is its own), rounds alternate the contenders, and the parent reads one ``RESULT`` line
per run; and the two supervised contenders, afinar's loop and TRL's SFTTrainer, on the CPU or a
GPU. Used by ``train_throughput.py``, ``dpo_throughput.py`` and ``gpu_train.py``."""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
LORA = {"r": 16, "alpha": 32, "dropout": 0.0}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def arguments(doc: str, names, steps: int, rounds: int, parser: argparse.ArgumentParser | None = None):
    """``--steps``, ``--rounds``, ``--batch``, ``--only`` and the hidden ``--worker``, added to
    ``parser`` (a script's own options) or to a new one."""
    p = parser or argparse.ArgumentParser(description=doc.splitlines()[0])
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


def _spawn(script: str, name: str, steps: int, batch: int, extra: list[str]) -> dict:
    cmd = [sys.executable, script, "--worker", name, "--steps", str(steps), "--batch", str(batch), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.exit(f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def run_rounds(script: str, a: argparse.Namespace, unit: str, extra: list[str] = ()) -> tuple[list[str], object]:
    """Every contender of ``--only``, ``--rounds`` times, alternated (each worker also gets the
    ``extra`` arguments); prints each run's ``unit``/s (the result's ``unit`` count over its
    seconds). Returns the names and ``med(name, key)``, the median of ``key(result)`` over a
    contender's rounds."""
    names = a.only.split(",")
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(a.rounds):
        for n in names:
            runs[n].append(_spawn(script, n, a.steps, a.batch, list(extra)))
            print(f"  round {r + 1} {n}: {runs[n][-1][unit] / runs[n][-1]['seconds']:.2f} {unit}/s", flush=True)

    def med(n: str, key) -> float:
        return statistics.median(key(x) for x in runs[n])

    return names, med


def trl_arguments(output_dir: str, batch: int, steps: int, ckpt: bool) -> dict:
    """What both TRL contenders' configs (``SFTConfig``, ``DPOConfig``) share: bf16 on the GPU, else the CPU,
    ``batch`` rows a step for ``steps`` steps, a constant learning rate, a log line every step,
    nothing saved or reported."""
    return {
        "output_dir": output_dir,
        "bf16": True,
        "use_cpu": not torch.cuda.is_available(),
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

    class InOrder(trainer_class):
        def _get_train_sampler(self, train_dataset=None):
            return torch.utils.data.SequentialSampler(train_dataset or self.train_dataset)

    return InOrder


def _eval_loss(model, prep, device) -> float:
    from afinar.model.precision import autocast_for
    from afinar.train.loss import eval_loss

    _, autocast = autocast_for("bf16", device)
    return eval_loss(model, prep.eval_rows, 16, prep.tokenizer.pad_token_id, device, autocast)


def peak_memory_mib(device) -> float:
    """The GPU allocator's high-water mark, or this process's peak RSS, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def afinar_sft(recipe, device) -> dict:
    """afinar's training loop on ``recipe`` (its rows, prepared as ``afinar train`` prepares them):
    examples, real tokens, wall seconds of the training call, last training loss, eval loss of
    the trained adapter, model FLOPs (afinar's count: 6 x decoder matmul parameters per token plus
    attention, the LM head on targets) and peak memory."""
    from afinar.pipeline import prepare
    from afinar.train.loop import train
    from afinar.train.speed import matmul_peak

    prep = prepare(recipe)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        model, result = train(prep.model, prep.tokenizer, prep.train_rows, [], recipe, Path(tmp), show_progress=False)
        wall = time.perf_counter() - start
        metrics = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    # each step's MFU is over the peak the loop measured on its device (cached per process)
    flops = sum(m["mfu"] * m["tokens"] / m["tokens_per_s"] for m in metrics) * matmul_peak(device=device)
    return {
        "examples": sum(m["examples"] for m in metrics),
        "tokens": result.tokens,
        "seconds": wall,
        "train_loss": result.train_loss,
        "eval_loss": _eval_loss(model, prep, device),
        "model_flops": flops,
        "peak_mib": peak_memory_mib(device),
    }


def trl_sft(recipe, packing: bool, ckpt: bool, device, quantize: str = "none") -> dict:
    """TRL's SFTTrainer with PEFT's LoRA on the rows afinar trains on (masked as afinar masks them;
    unpacked: afinar's first steps' micro-batches in afinar's order, so both train on the same
    examples), the base in fp32 under bf16 autocast as afinar trains it, or with ``quantize``
    ``nf4`` loaded through bitsandbytes with the settings afinar's QLoRA uses. Returns what
    :func:`afinar_sft` returns, but the model FLOPs."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from afinar.data.batch import epoch_order
    from afinar.model.load import resolve_base
    from afinar.pipeline import prepare

    steps, batch = recipe.train.max_steps, recipe.train.micro_batch_size
    prep = prepare(recipe.model_copy(update={"memory": recipe.memory.model_copy(update={"quantize": "none"})}))
    examples = prep.train
    if not packing:  # afinar's first `steps` micro-batches, in its order (its stream, epoch 0)
        assert len(prep.train_rows) == len(prep.train), "a dropped row would shift the indices"
        lengths = [len(r.input_ids) for r in prep.train_rows]
        order = epoch_order(lengths, batch, recipe.train.seed, 0)[:steps]
        examples = [prep.train[i] for b in order for i in b]
    rows = [{"prompt": ex.messages[:-1], "completion": ex.messages[-1:]} for ex in examples]
    kwargs = {"device_map": {"": device.index or 0}} if device.type == "cuda" else {}
    if quantize == "nf4":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16, llm_int8_skip_modules=["lm_head"],
        )  # fmt: skip
    model = AutoModelForCausalLM.from_pretrained(resolve_base(recipe.base_model).path, dtype=torch.float32, **kwargs)
    lora = LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"], target_modules=TARGETS,
                      task_type="CAUSAL_LM")  # fmt: skip

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
        "eval_loss": _eval_loss(trainer.model, prep, device),
        "peak_mib": peak_memory_mib(device),
    }
