"""Attach trainable adapters to a frozen base model, and load trained ones back.

Adapters are PEFT's, saved in PEFT's format, so ``peft.PeftModel.from_pretrained`` and the
tools around it (vLLM, TGI, merging scripts) read what afinar writes.
"""

from __future__ import annotations

from pathlib import Path

from afinar.config import AdapterConfig
from afinar.errors import AfinarError

__all__ = ["attach_adapter", "causal_lm_of", "load_adapter", "trainable_parameters"]


def attach_adapter(model, cfg: AdapterConfig):
    """Wrap ``model`` with a fresh LoRA adapter (seeded by the caller's torch RNG)."""
    from peft import LoraConfig, get_peft_model

    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = sorted(set(cfg.target_modules) - names)
    if missing:
        raise AfinarError(
            f"adapter.target_modules: {missing} not found in the base model; "
            f"linear layers here include: {sorted(n for n in names if n.endswith('_proj'))}"
        )
    lora = LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def load_adapter(model, path: str | Path, name: str = "default"):
    """Load a PEFT adapter folder onto ``model`` for inference, under ``name``."""
    from peft import PeftModel

    path = Path(path)
    if not (path / "adapter_config.json").is_file():
        raise AfinarError(f"{path}: no PEFT adapter here (adapter_config.json is missing)")
    return PeftModel.from_pretrained(model, str(path), adapter_name=name)


def trainable_parameters(model) -> dict[str, object]:
    """Name -> parameter for every parameter that trains, in a stable order."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def causal_lm_of(model):
    """The transformers causal LM inside ``model`` (itself when no adapter wraps it)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model
