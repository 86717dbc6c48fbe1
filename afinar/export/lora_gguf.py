"""A run's LoRA adapter as a GGUF LoRA adapter file, which llama.cpp applies on top of a base GGUF
(``--lora`` in its tools; per request in its server, several adapters on one base).

The file is what llama.cpp's adapter loader reads: ``general.type = adapter``,
``adapter.type = lora``, ``general.architecture = llama``, and per adapted matrix of the base a
pair ``<base tensor name>.lora_a`` (PEFT's ``lora_A``, rank x inputs) and ``.lora_b`` (PEFT's
``lora_B``, outputs x rank), f16 (as llama.cpp's own converter writes them: on a CPU an f32 pair
costs llama.cpp ~10% of its speed, an f16 one ~4%) or f32. PEFT's scaling of each module (``lora_alpha / r``, or
``/ sqrt(r)`` with rsLoRA, per-module ranks and alphas included) is folded into ``lora_b`` and
no ``adapter.lora.alpha`` is written, so llama.cpp applies each pair at scale 1, as trained.
``q_proj`` and ``k_proj`` get the row permutation the base's matrices get
(:func:`afinar.export.gguf.permute_heads`): it applies to their outputs, the rows of ``lora_b``.

What llama.cpp cannot run is refused by name: DoRA (its magnitude vector rescales the merged
weight's columns, which a low-rank sum cannot express), LoRA biases, adapters on layers other than
a Llama block's seven projections (embeddings, the output head), and adapters with modules
trained in full (``modules_to_save``). Those runs export merged (``--format gguf``).
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import torch

from afinar.errors import AfinarError
from afinar.export.gguf import gguf_name, permute_heads

__all__ = ["LORA_TYPES", "base_weights", "load_base_weights", "lora_pairs", "round_like_file", "write_lora_gguf"]

LORA_TYPES = {"f16": np.float16, "f32": np.float32}


def _lora_layers(model):
    """``(base weight name, LoRA layer)`` for every LoRA-wrapped module of a PEFT ``model``."""
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    return [(f"{name}.weight", module) for name, module in base.named_modules() if isinstance(module, LoraLayer)]


def _check(model, run_dir: Path) -> str:
    """The one adapter name of ``model``, after refusing what a GGUF LoRA cannot hold."""
    config = getattr(model, "peft_config", None)
    if not config or len(config) != 1:
        raise AfinarError(f"{run_dir}: --format gguf-lora exports one LoRA adapter; this run has {len(config or {})}")
    name, cfg = next(iter(config.items()))
    why = None
    if str(getattr(cfg, "peft_type", "")) not in ("LORA", "PeftType.LORA"):
        why = f"its adapter is {cfg.peft_type}, not LoRA"
    elif cfg.use_dora:
        why = "it is DoRA (llama.cpp adds plain low-rank pairs; DoRA's magnitude vector rescales the merged weight)"
    elif cfg.bias != "none" or getattr(cfg, "lora_bias", False):
        why = "it trains biases, which a GGUF LoRA adapter cannot hold"
    elif cfg.modules_to_save:
        why = f"it trains {', '.join(sorted(cfg.modules_to_save))} in full, which a GGUF LoRA adapter cannot hold"
    if why:
        raise AfinarError(f"{run_dir}: cannot export as a GGUF LoRA adapter: {why}; export it merged: --format gguf")
    return name


def lora_pairs(model, run_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """GGUF tensor name -> ``(lora_a, lora_b)`` as the file stores them (f32, scaling folded into
    ``lora_b``, q/k rows permuted) for the PEFT LoRA ``model`` trained in ``run_dir``.

    Raises:
        AfinarError: a method, option or target module llama.cpp cannot run as an adapter.
    """
    adapter = _check(model, run_dir)
    cfg = model.get_base_model().config
    out = {}
    for hf_name, layer in _lora_layers(model):
        if adapter not in layer.lora_A:
            continue
        try:
            name = gguf_name(hf_name)
        except AfinarError:
            name = None
        if name is None or not name.startswith("blk."):
            raise AfinarError(
                f"{run_dir}: cannot export as a GGUF LoRA adapter: it adapts '{hf_name}', and llama.cpp's adapters "
                "are exported here for a Llama block's projections only; export it merged with --format gguf"
            )
        a = layer.lora_A[adapter].weight.detach().float().cpu().numpy()
        b = layer.lora_B[adapter].weight.detach().float().cpu().numpy() * float(layer.scaling[adapter])
        if hf_name.endswith("q_proj.weight"):
            b = permute_heads(b, cfg.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            b = permute_heads(b, cfg.num_key_value_heads)
        out[name] = (np.ascontiguousarray(a), np.ascontiguousarray(b))
    if not out:
        raise AfinarError(f"{run_dir}: the adapter adapts no module; nothing to export")
    return out


def write_lora_gguf(pairs: dict[str, tuple[np.ndarray, np.ndarray]], out: Path, name: str, dtype: str) -> None:
    """Write ``pairs`` (from :func:`lora_pairs`) to ``out`` as a llama.cpp LoRA adapter of
    ``dtype`` (a key of :data:`LORA_TYPES`)."""
    w = gguf.GGUFWriter(str(out), arch="llama")
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_name(name)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    for tensor, (a, b) in sorted(pairs.items()):
        w.add_tensor(f"{tensor}.lora_a", a.astype(LORA_TYPES[dtype]))
        w.add_tensor(f"{tensor}.lora_b", b.astype(LORA_TYPES[dtype]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@torch.no_grad()
def round_like_file(model, dtype: str) -> None:
    """Round the PEFT ``model``'s LoRA pairs, in place, as a file of ``dtype`` holds them (``lora_b``
    with its scaling folded in), so PyTorch computes with the file's adapter."""
    if dtype == "f32":
        return
    for _, layer in _lora_layers(model):
        for adapter in layer.lora_A:
            s = float(layer.scaling[adapter])
            a, b = layer.lora_A[adapter].weight, layer.lora_B[adapter].weight
            a.copy_(a.to(torch.float16).to(a.dtype))
            b.copy_((b * s).to(torch.float16).to(b.dtype) / s)


def _base_names(model) -> dict[str, str]:
    """Plain Hugging Face weight name -> the name the PEFT ``model``'s base stores it under (a
    wrapped module keeps its original weight as ``base_layer``)."""
    out = {}
    for key in model.get_base_model().state_dict():
        if "lora_" in key:
            continue
        out[key.replace(".base_layer.", ".")] = key
    return out


def base_weights(model) -> dict[str, torch.Tensor]:
    """The base weights under a PEFT ``model``, by plain Hugging Face name (what a base GGUF holds)."""
    state = model.get_base_model().state_dict()
    return {plain: state[key] for plain, key in _base_names(model).items()}


def load_base_weights(model, weights: dict[str, torch.Tensor]) -> None:
    """Put ``weights`` (plain names, as :func:`base_weights` gives them) under the PEFT ``model``'s
    adapter, in place."""
    names = _base_names(model)
    model.get_base_model().load_state_dict({names[k]: v for k, v in weights.items()}, strict=False)
