"""Attach trainable adapters to a frozen base model, save them, and load trained ones back.

``adapter.method`` picks what trains:

- ``lora``, ``dora``, ``ia3``: PEFT's, saved in PEFT's format, so ``peft.PeftModel.from_pretrained``
  and the tools around it (vLLM, TGI, merging scripts) read what afinar writes;
- ``bottleneck``: Houlsby adapters, our own module and format (:mod:`afinar.model.bottleneck`);
- ``full``: every weight of the base trains; ``adapter/`` then holds a whole HF model folder.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from pathlib import Path

import torch
from peft import (
    IA3Config,
    LoraConfig,
    PeftModel,
    PrefixTuningConfig,
    PromptTuningConfig,
    get_peft_model,
    set_peft_model_state_dict,
)
from peft.tuners.lora import Linear as LoraLinear
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from afinar.config import AdapterConfig
from afinar.errors import AfinarError
from afinar.model import bottleneck
from afinar.names import ALL_LINEAR

__all__ = [
    "IA3_TARGETS",
    "as_base",
    "attach_adapter",
    "causal_lm_of",
    "decoder_states",
    "folded",
    "has_adapter",
    "is_full_model",
    "load_adapter",
    "load_weights",
    "save_adapter",
    "trainable_parameters",
    "virtual_tokens",
]

IA3_TARGETS = ["k_proj", "v_proj", "down_proj"]
"""IA3's Llama layers (Liu et al., 2022; PEFT's default): rescale keys, values and the MLP's input."""
MLP = ("gate_proj", "up_proj", "down_proj")
_BASES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""A full fine-tune loaded for evaluation -> its base (kept beside it, not as a submodule)."""


def _check_targets(model, targets: list[str]) -> None:
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = sorted(set(targets) - names)
    if missing:
        raise AfinarError(
            f"adapter.target_modules: {missing} not found in the base model; "
            f"linear layers here include: {sorted(n for n in names if n.endswith('_proj'))}"
        )


def attach_adapter(model, cfg: AdapterConfig):
    """``model`` made trainable the ``cfg.method`` way (fresh weights, seeded by the caller's RNG)."""
    if cfg.method == "full":
        return model.requires_grad_(True)
    if cfg.method == "bottleneck":
        return bottleneck.attach(model, cfg.bottleneck_size)

    if cfg.method == "prefix":
        config = PrefixTuningConfig(num_virtual_tokens=cfg.virtual_tokens, task_type="CAUSAL_LM")
    elif cfg.method == "prompt":
        config = PromptTuningConfig(num_virtual_tokens=cfg.virtual_tokens, task_type="CAUSAL_LM")
    elif cfg.method == "ia3":
        targets = list(cfg.target_modules or IA3_TARGETS)
        _check_targets(model, targets)
        config = IA3Config(
            target_modules=targets, feedforward_modules=[t for t in targets if t in MLP], task_type="CAUSAL_LM"
        )
    else:
        targets = list(cfg.target_modules or ALL_LINEAR)
        _check_targets(model, targets)
        config = LoraConfig(
            r=cfg.r,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=targets,
            use_dora=cfg.method == "dora",
            bias="none",
            task_type="CAUSAL_LM",
        )
    return get_peft_model(model, config)


def is_full_model(path: str | Path) -> bool:
    """Whether ``path`` holds a whole fine-tuned model (``method: full``) rather than an adapter."""
    return (Path(path) / "config.json").is_file() and not (Path(path) / "adapter_config.json").is_file()


def save_adapter(model, path: Path, weights: dict) -> None:
    """Write the trained ``weights`` (name -> tensor, as :func:`trainable_parameters` names them)."""
    if getattr(model, "afinar_bottleneck", None):
        bottleneck.save(model, path, weights)
    else:  # PEFT keeps the adapter's tensors; a full model writes a whole HF folder
        model.save_pretrained(path, state_dict=weights)


def load_weights(model, path: Path) -> None:
    """Put the weights saved in ``path`` by :func:`save_adapter` back into the same ``model``."""
    if hasattr(model, "peft_config"):
        set_peft_model_state_dict(model, load_file(Path(path) / "adapter_model.safetensors"))
        return
    files = sorted(Path(path).glob("*.safetensors"))
    for f in files:
        model.load_state_dict(load_file(f), strict=False)


def load_adapter(model, path: str | Path, name: str = "default"):
    """Load a trained adapter folder onto ``model`` for inference (PEFT ones under ``name``);
    a full model's folder is loaded instead of ``model``."""
    path = Path(path)
    if is_full_model(path):
        tuned = AutoModelForCausalLM.from_pretrained(path, dtype=next(model.parameters()).dtype)
        _BASES[tuned] = model  # what "base" means when comparing (see as_base)
        return tuned
    if bottleneck.is_bottleneck(path):
        return bottleneck.load(model, path)
    if not (path / "adapter_config.json").is_file():
        raise AfinarError(f"{path}: no PEFT adapter here (adapter_config.json is missing)")

    return PeftModel.from_pretrained(model, str(path), adapter_name=name)


def has_adapter(model) -> bool:
    """Whether ``model`` is a tuned model whose base :func:`as_base` can show."""
    return hasattr(model, "disable_adapter") or bool(getattr(model, "afinar_bottleneck", None)) or model in _BASES


@contextmanager
def as_base(model):
    """Within the block, the model that computes what ``model``'s base computes: PEFT's adapter
    disabled, bottlenecks bypassed, or for a full fine-tune the base loaded beside it."""
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            yield model
    elif getattr(model, "afinar_bottleneck", None):
        model.afinar_bottleneck_off = True
        try:
            yield model
        finally:
            model.afinar_bottleneck_off = False
    else:
        like = next(model.parameters())
        yield _BASES[model].to(device=like.device, dtype=like.dtype)  # where and as the tuned model runs


@contextmanager
def folded(model):
    """Within the block, ``model`` computing what it computes with fewer operations: each LoRA
    projection's weight replaced by ``W + scaling * B @ A`` (summed in fp32, stored in ``W``'s
    dtype) and the adapter switched off, so a projection is one matmul instead of three plus a
    scale and a sum (about a quarter of a decoding step on a CPU; docs/performance.md). The base
    weights are put back on exit. Only on a CPU, where the extra copy of the projections' weights
    is cheap; other devices, methods (DoRA, IA3, bottleneck, full) and quantized bases get
    ``model`` as it is."""
    layers = _plain_lora_layers(model)
    if not layers:
        yield model
        return

    saved = []
    try:
        with torch.no_grad():
            for layer in layers:
                weight, name = layer.get_base_layer().weight, layer.active_adapters[0]
                delta = layer.lora_B[name].weight.float() @ layer.lora_A[name].weight.float()
                saved.append((weight, weight.data))
                weight.data = (weight.data.float() + delta * layer.scaling[name]).to(weight.dtype)
        with model.disable_adapter():
            yield model
    finally:
        for weight, data in saved:
            weight.data = data


def _plain_lora_layers(model) -> list:
    """PEFT's LoRA ``Linear`` layers of ``model`` when every one can be folded (on a CPU, one
    active adapter, no DoRA, no fan-in/fan-out transpose, a floating-point base weight), else []."""
    if not hasattr(model, "disable_adapter") or next(model.parameters()).device.type != "cpu":
        return []

    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    for m in layers:
        if type(m) is not LoraLinear or len(m.active_adapters) != 1 or m.merged or m.fan_in_fan_out:
            return []
        if m.use_dora.get(m.active_adapters[0]) or not m.get_base_layer().weight.is_floating_point():
            return []
    return layers


def trainable_parameters(model) -> dict[str, object]:
    """Name -> parameter for every parameter that trains, in a stable order."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def virtual_tokens(model) -> tuple[int, str | None]:
    """``(n, kind)``: the virtual tokens a prefix- (``"prefix"``) or prompt-tuned (``"prompt"``)
    model puts before every input; ``(0, None)`` for other models or with the adapter disabled."""
    cfg = getattr(model, "active_peft_config", None)
    if cfg is None or not cfg.is_prompt_learning or getattr(model, "_adapters_disabled", False):
        return 0, None
    return cfg.num_virtual_tokens, "prefix" if cfg.peft_type.value == "PREFIX_TUNING" else "prompt"


def decoder_states(model, input_ids, attention_mask=None, position_ids=None, **kwargs):
    """The decoder's final hidden states (B, T, h) for ``input_ids`` (B, T), no LM head.

    A prefix-tuned model's learned keys/values, or a prompt-tuned model's learned embeddings,
    go before the input (attended by every position; positions shifted by their count) and are
    not part of the result. ``kwargs`` go to the decoder (``use_cache``...).
    """
    lm = causal_lm_of(model)
    n, kind = virtual_tokens(model)
    if not n:
        out = lm.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs)
        return out.last_hidden_state

    b, t = input_ids.shape
    ones = torch.ones(b, n, dtype=torch.long, device=input_ids.device)
    mask = torch.cat([ones, torch.ones_like(input_ids) if attention_mask is None else attention_mask], dim=1)
    if position_ids is None:
        position_ids = torch.arange(t, device=input_ids.device).expand(b, t)
    if kind == "prefix":
        cache = model.get_prompt(b, max_cache_len=n + t)
        positions = position_ids + n
        out = lm.model(
            input_ids=input_ids, attention_mask=mask, position_ids=positions, past_key_values=cache, **kwargs
        )
        return out.last_hidden_state
    embeds = lm.model.embed_tokens(input_ids)
    embeds = torch.cat([model.get_prompt(batch_size=b).to(embeds.dtype), embeds], dim=1)
    positions = torch.cat([torch.arange(n, device=input_ids.device).expand(b, n), position_ids + n], dim=1)
    out = lm.model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, **kwargs)
    return out.last_hidden_state[:, n:]


def causal_lm_of(model):
    """The transformers causal LM inside ``model`` (itself when no adapter wraps it)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model
