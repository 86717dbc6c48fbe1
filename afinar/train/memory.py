"""Memory: the peak estimated before anything runs (``afinar plan``), and the OOM ladder.

Per device, in bytes:

- weights: bf16 for LoRA and full fine-tuning; a QLoRA base keeps its decoder projections in
  NF4 (4 bits plus double-quantised block scales: 0.516 bytes per weight) or int8 (1 byte plus
  a scale per row), embeddings and LM head in bf16. FSDP shards weights over the devices and
  gathers one decoder layer at a time (two in flight: the next one is prefetched).
- trainable state: fp32 weight + fp32 gradient + AdamW's two fp32 moments = 16 bytes per
  trainable parameter (LoRA's A and B, or every weight for full fine-tuning), sharded by FSDP.
- activations: what autograd keeps per token and decoder layer with fused (SDPA/flash)
  attention (:func:`_activation_bytes`; afinar's lean layers keep about 30% less than a
  pure-bf16 trainer). With gradient checkpointing only each layer's input is kept, plus one
  layer's full set while it is recomputed.
- loss: afinar's chunked cross-entropy holds fp32 logits (softmaxed in place) and one
  temporary of their size for 1,024 target rows at a time.

The plan is memory in use. On a GPU that is what the allocator hands out
(``torch.cuda.max_memory_allocated``), not the CUDA context (~0.5 GiB more per device). On a
CPU it adds the measured resident size of the Python process with torch and transformers
imported (``CPU_RUNTIME``). The resident size a user sees is higher by what the C allocator
keeps of freed tensors: 21-34% above the memory in use on the bundled model under glibc, 5-7%
under tcmalloc (``bench/memory.py`` reports both).
"""

from __future__ import annotations

import gc
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from afinar.errors import AfinarError
from afinar.model.adapters import causal_lm_of

__all__ = [
    "DEVICES",
    "OOM_ERRORS",
    "SHAPES",
    "OomLadder",
    "OutOfBudget",
    "Plan",
    "Shape",
    "enable_checkpointing",
    "parse_devices",
    "plan",
    "rss_gb",
    "shape_from",
]

GIB = 2**30
CE_CHUNK = 1024
CPU_RUNTIME = 0.39 * GIB
"""Resident size of a Python process with torch, transformers and peft imported, measured here."""


@dataclass(frozen=True)
class Shape:
    name: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool
    head_dim: int | None = None

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden // self.heads

    def projections(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each linear projection of one decoder layer."""
        h, q, kv, i = self.hidden, self.heads * self.hd, self.kv_heads * self.hd, self.intermediate
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def layer_params(self) -> int:
        return sum(a * b for a, b in self.projections().values())

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def params(self) -> int:
        return self.layers * self.layer_params + self.embedding_params


SHAPES = {
    "llama-3-8b": Shape("Llama 3 / 3.1 8B", 4096, 14336, 32, 32, 8, 128256, False),
    "llama-3-70b": Shape("Llama 3 / 3.1 70B", 8192, 28672, 80, 64, 8, 128256, False),
    "llama-3.2-1b": Shape("Llama 3.2 1B", 2048, 8192, 16, 32, 8, 128256, True, 64),
    "llama-3.2-3b": Shape("Llama 3.2 3B", 3072, 8192, 28, 24, 8, 128256, True, 128),
    "smollm2-135m": Shape("SmolLM2-135M (the bundled model)", 576, 1536, 30, 9, 3, 49152, True),
}
SHAPES["llama-3.1-8b"] = SHAPES["llama-3-8b"]
SHAPES["llama-3.1-70b"] = SHAPES["llama-3-70b"]
SHAPES["default"] = SHAPES["smollm2-135m"]

DEVICES = {  # GiB the allocator can hand out
    "A100-80GB": 80,
    "A100-40GB": 40,
    "H100-80GB": 80,
    "H200-141GB": 141,
    "L40S-48GB": 48,
    "A10G-24GB": 24,
    "L4-24GB": 24,
    "RTX4090-24GB": 24,
}


def shape_from(spec: str) -> Shape:
    """A built-in shape by name, or one read from an HF ``config.json`` (file or its folder)."""
    if spec.lower() in SHAPES:
        return SHAPES[spec.lower()]
    path = Path(spec)
    path = path / "config.json" if path.is_dir() else path
    if not path.is_file():
        raise AfinarError(f"--model {spec}: not a known shape ({', '.join(sorted(SHAPES))}) nor a config.json")
    try:
        c = json.loads(path.read_text())
        return Shape(
            c.get("_name_or_path") or path.parent.name,
            c["hidden_size"],
            c["intermediate_size"],
            c["num_hidden_layers"],
            c["num_attention_heads"],
            c.get("num_key_value_heads") or c["num_attention_heads"],
            c["vocab_size"],
            bool(c.get("tie_word_embeddings", False)),
            c.get("head_dim"),
        )
    except (ValueError, KeyError) as err:
        raise AfinarError(f"{path}: not a Llama-style config.json ({err})") from None


def parse_devices(spec: str) -> tuple[int, float, str]:
    """``8xH100-80GB`` -> (8, 80 GiB, name); ``cpu:24`` -> one CPU with 24 GiB."""
    accepted = f"accepted: NxNAME with NAME one of {', '.join(DEVICES)}, or NxANY-<n>GB, or cpu:GiB"
    if spec.lower().startswith("cpu"):
        try:
            return 1, float(spec.split(":", 1)[1] if ":" in spec else 24) * GIB, "cpu"
        except ValueError:
            raise AfinarError(f"--gpus {spec}: {accepted}") from None
    count, name = re.fullmatch(r"(?:(\d+)x)?(.+)", spec).groups()
    custom = re.fullmatch(r".*?(\d+)GB", name)
    if name not in DEVICES and not custom:
        raise AfinarError(f"--gpus {spec}: {accepted}")
    gib = DEVICES[name] if name in DEVICES else int(custom.group(1))
    return int(count or 1), gib * GIB, name


@dataclass
class Plan:
    shape: Shape
    method: str
    parts: dict[str, float] = field(default_factory=dict)  # bytes per device
    capacity: float = 0.0
    largest_batch: dict[bool, int] = field(default_factory=dict)  # checkpointing -> micro-batch

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    @property
    def fits(self) -> bool:
        return self.total <= self.capacity


def _lora_params(shape: Shape, r: int, targets: list[str]) -> int:
    return shape.layers * sum(r * (a + b) for name, (a, b) in shape.projections().items() if name in targets)


def _activation_bytes(shape: Shape, autocast: bool) -> tuple[float, float]:
    """(bytes kept per token and decoder layer, bytes of a checkpointed layer's input).

    Pure bf16 (torchtune's way): 6h + 2kv + 4I values of 2 bytes. afinar's lean layers under bf16
    autocast (:mod:`afinar.train.fused`) keep the two norms' fp32 inputs, attention's query,
    key, value and output, and the MLP's gate and up: 2h + 2kv + 2I bf16 values plus 2h fp32
    (the rest is rebuilt in backward). Counted on the bundled model with
    ``torch.autograd.graph.saved_tensors_hooks``: 14.3 KB per token and layer, this formula 13.8.
    """
    h, kv, i = shape.hidden, shape.kv_heads * shape.hd, shape.intermediate
    if autocast:
        return (2 * h + 2 * kv + 2 * i) * 2 + 2 * h * 4, h * 4
    return (6 * h + 2 * kv + 4 * i) * 2, h * 2


def _parts(shape, method, quant, r, targets, tokens, checkpointing, devices, fsdp, cpu, autocast) -> dict[str, float]:
    linear = shape.layers * shape.layer_params
    per_weight = {"nf4": 0.516, "int8": 1.0 + 4 / shape.hidden, None: 2.0}[quant if method == "qlora" else None]
    embed_bytes = 4 if cpu else 2  # afinar keeps embeddings fp32 on CPU (the residual stream too)
    weights = linear * per_weight + shape.embedding_params * embed_bytes
    trainable = shape.params if method == "full" else _lora_params(shape, r, targets)
    state = 16 * trainable
    shard = devices if fsdp else 1
    parts = {"weights": weights / shard, "trainable state": state / shard}
    if fsdp and shard > 1:
        parts["gathered layers"] = 2 * shape.layer_params * per_weight
    per_layer, layer_input = _activation_bytes(shape, autocast)
    if checkpointing:
        parts["activations"] = tokens * (shape.layers * layer_input + per_layer)
    else:
        parts["activations"] = tokens * shape.layers * per_layer
    parts["loss chunk"] = min(tokens, CE_CHUNK) * shape.vocab * 4 * 2
    if cpu:
        parts["runtime"] = CPU_RUNTIME
    return parts


def plan(
    shape: Shape,
    method: str = "lora",
    seq: int = 2048,
    micro_batch: int = 1,
    devices: str = "1xA100-80GB",
    fsdp: bool = False,
    checkpointing: bool = False,
    quant: str = "nf4",
    r: int = 16,
    targets: list[str] | None = None,
    autocast: bool = True,
) -> Plan:
    """The per-device memory of training ``shape`` with ``method`` on ``micro_batch`` rows of
    ``seq`` tokens, and the largest micro-batch that fits with and without checkpointing.
    ``autocast``: afinar's bf16 autocast (the default); False: a pure-bf16 trainer's activations."""
    if method not in ("lora", "qlora", "full"):
        raise AfinarError(f"--method {method}: accepted: lora, qlora, full")
    if quant not in ("nf4", "int8"):
        raise AfinarError(f"--quant {quant}: accepted: nf4, int8")
    count, capacity, name = parse_devices(devices)
    targets = targets or list(shape.projections())
    cpu = name == "cpu"

    def parts(batch: int, ckpt: bool) -> dict[str, float]:
        return _parts(shape, method, quant, r, targets, batch * seq, ckpt, count, fsdp, cpu, autocast)

    result = Plan(shape, method, parts(micro_batch, checkpointing), capacity)
    for ckpt in (False, True):  # memory grows with the batch: bisect for the largest that fits
        low, high = 0, 65536
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if sum(parts(mid, ckpt).values()) <= capacity else (low, mid - 1)
        result.largest_batch[ckpt] = low
    return result


# ---------------------------------------------------------------- the OOM ladder


class OutOfBudget(MemoryError):
    """A step passed ``memory.max_gb`` of resident memory (CPU), or an injected fault."""


def rss_gb() -> float:
    """This process's resident memory now, in GiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / GIB


def _faults(spec: str | None) -> dict[int, int]:
    """``AFINAR_FAULT_OOM="5"`` fails step 5 once; ``"5:3,9"`` fails step 5 three times and 9 once."""
    out = {}
    for part in filter(None, (spec or "").split(",")):
        step, _, times = part.partition(":")
        try:
            out[int(step)] = int(times or 1)
        except ValueError:
            raise AfinarError(f"AFINAR_FAULT_OOM={spec}: accepted: STEP[:TIMES][,STEP[:TIMES]...]") from None
    return out


OOM_ERRORS = (MemoryError, torch.OutOfMemoryError)


class OomLadder:
    """Where a step stands on the ladder: rows per forward, checkpointing, max_seq_len. Kept in
    the training state, so a resumed run keeps the rung it reached."""

    def __init__(self, state: dict, micro_batch_size: int, max_seq_len: int, memory, model):
        state.setdefault("forward_rows", micro_batch_size)
        state.setdefault("checkpointing", memory.gradient_checkpointing)
        state.setdefault("max_seq_len", max_seq_len)
        self.state, self.memory, self.model = state, memory, model
        self.faults = _faults(os.environ.get("AFINAR_FAULT_OOM"))
        if state["checkpointing"]:
            enable_checkpointing(model)

    @property
    def rows(self) -> int:
        return self.state["forward_rows"]

    @property
    def seq(self) -> int:
        return self.state["max_seq_len"]

    def before_step(self, step: int) -> None:
        """Raise the injected fault for ``step``, if one is left."""
        if self.faults.get(step, 0) > 0:
            self.faults[step] -= 1
            raise OutOfBudget(f"fault injected at step {step} (AFINAR_FAULT_OOM)")

    def after_forward(self) -> None:
        if self.memory.max_gb is not None and rss_gb() > self.memory.max_gb:
            raise OutOfBudget(f"resident memory {rss_gb():.2f} GiB > memory.max_gb {self.memory.max_gb}")

    def climb(self, step: int, error: BaseException) -> dict:
        """Free the failed step and take the next rung; the event to record. Raises AfinarError
        when the ladder is off or has no rung left."""
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        s = self.state
        if not self.memory.oom_ladder:
            raise AfinarError(f"out of memory at step {step} ({error}); memory.oom_ladder is off")
        if s["forward_rows"] > 1:
            s["forward_rows"] = (s["forward_rows"] + 1) // 2
            rung = f"rows per forward halved to {s['forward_rows']} (more forwards per step, same examples)"
        elif not s["checkpointing"]:
            s["checkpointing"] = True
            enable_checkpointing(self.model)
            rung = "gradient checkpointing on"
        elif s["max_seq_len"] > 64:
            s["max_seq_len"] //= 2
            rung = f"max_seq_len lowered to {s['max_seq_len']}: longer rows are TRUNCATED from now on"
            warnings.warn(f"step {step}: out of memory; {rung}", stacklevel=2)
        else:
            raise AfinarError(f"out of memory at step {step} ({error}) with every rung of the ladder taken")
        return {"step": step, "oom": str(error), "rung": rung, "forward_rows": s["forward_rows"],
                "checkpointing": s["checkpointing"], "max_seq_len": s["max_seq_len"]}  # fmt: skip


def enable_checkpointing(model) -> None:
    """Gradient checkpointing per decoder layer (non-reentrant: works with frozen inputs)."""
    base = causal_lm_of(model)
    base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
