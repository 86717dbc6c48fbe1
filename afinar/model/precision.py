"""Mixed precision, one place for training and evaluation: which precision a recipe's ``auto``
means on this device, and the model as evaluation runs it."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch

__all__ = ["autocast_for", "in_eval_precision", "weights_in_bf16"]


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_for(precision: str, device: torch.device) -> tuple[str, object]:
    """Resolve ``auto`` (bf16 where the CPU or GPU computes it natively, else fp32) and return
    ``(name, context manager factory)`` for mixed precision."""
    if precision == "auto":
        native = torch.cuda.is_bf16_supported() if device.type == "cuda" else _cpu_has_bf16()
        precision = "bf16" if native else "fp32"
    if precision == "bf16":
        return "bf16", lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return "fp32", nullcontext


def weights_in_bf16(model, autocast):
    """``(model, autocast)`` for evaluation: under bf16 autocast, the model with its weights cast to
    bf16 once and no autocast. Autocast casts every linear weight on every call: ~20% of decode
    time and 40% of benchmark scoring time on a CPU. Serving does the same."""
    if autocast is nullcontext:
        return model, autocast
    return model.to(torch.bfloat16), None


def in_eval_precision(model, precision: str):
    """``(model, autocast)`` for evaluating ``model`` in a recipe's training ``precision`` on the
    device it is on (see :func:`weights_in_bf16`)."""
    _, autocast = autocast_for(precision, next(model.parameters()).device)
    return weights_in_bf16(model, autocast)
