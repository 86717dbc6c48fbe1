"""Bottleneck adapters (Houlsby et al., 2019, "Parameter-Efficient Transfer Learning for NLP").

After the attention block and after the MLP of every decoder layer, the block's output
``y`` (B, T, d) becomes, before the residual addition,

    y + up(gelu(down(y)))        down: d -> m,  up: m -> d

``up`` starts at zero (weight and bias), so at initialisation the model computes exactly what
the base computes, and training starts from it (the paper's near-identity init). Each insertion
has ``2dm + m + d`` parameters: two per layer, everything else frozen. PEFT has no such method;
this is ours.

The adapters are submodules of each decoder layer (``attn_adapter``, ``mlp_adapter``), applied by
forward hooks on ``self_attn`` and ``mlp``, so the base's own parameter names do not change.
Not mergeable: the nonlinearity cannot be folded into a linear layer (export refuses it).

Saved format (a folder): ``adapter_config.json`` = ``{"afinar_method": "bottleneck",
"bottleneck_size": m, "hidden_size": d, "layers": L, "nonlinearity": "gelu"}`` and
``adapter_model.safetensors`` with the trainable tensors under their names in the causal LM,
e.g. ``model.layers.0.attn_adapter.down.weight`` (m x d).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from afinar.atomic import read_json, write_json
from afinar.errors import AfinarError

__all__ = ["Bottleneck", "attach", "is_bottleneck", "load", "save"]

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"


class Bottleneck(nn.Module):
    """``y + up(gelu(down(y)))`` over the last dimension (d); ``up`` initialised to zero."""

    def __init__(self, d: int, m: int):
        super().__init__()
        self.down = nn.Linear(d, m)
        self.up = nn.Linear(m, d)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:  # (B, T, d) -> (B, T, d)
        return y + self.up(F.gelu(self.down(y)))


def _after(model, adapter: Bottleneck):
    def hook(module, args, out):  # attention returns (output, weights); the MLP a tensor
        if getattr(model, "afinar_bottleneck_off", False):  # adapters.as_base: the base's output
            return out
        return (adapter(out[0]), *out[1:]) if isinstance(out, tuple) else adapter(out)

    return hook


def attach(model, m: int):
    """Freeze ``model`` (a transformers Llama-family causal LM) and insert trainable bottlenecks."""
    model.requires_grad_(False)
    d = model.config.hidden_size
    like = next(model.parameters())
    for layer in model.model.layers:
        layer.attn_adapter = Bottleneck(d, m).to(like.device)
        layer.mlp_adapter = Bottleneck(d, m).to(like.device)
        layer.self_attn.register_forward_hook(_after(model, layer.attn_adapter))
        layer.mlp.register_forward_hook(_after(model, layer.mlp_adapter))
    model.afinar_bottleneck = m
    return model


def is_bottleneck(path: Path) -> bool:
    config = Path(path) / CONFIG
    return config.is_file() and json.loads(config.read_text()).get("afinar_method") == "bottleneck"


def save(model, path: Path, weights: dict[str, torch.Tensor]) -> None:
    """Write ``weights`` (the trainable tensors, by name) and the config to folder ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "afinar_method": "bottleneck",
        "bottleneck_size": model.afinar_bottleneck,
        "hidden_size": model.config.hidden_size,
        "layers": len(model.model.layers),
        "nonlinearity": "gelu",
    }
    save_file({k: v.contiguous() for k, v in weights.items()}, str(path / WEIGHTS))
    write_json(path / CONFIG, config)


def load(model, path: Path):
    """Attach bottlenecks of the saved size to ``model`` and load their weights from ``path``."""
    path = Path(path)
    config = read_json(path / CONFIG)
    if config["hidden_size"] != model.config.hidden_size or config["layers"] != len(model.model.layers):
        raise AfinarError(
            f"{path}: bottleneck adapter for hidden size {config['hidden_size']} x {config['layers']} layers; "
            f"the base has {model.config.hidden_size} x {len(model.model.layers)}"
        )
    attach(model, config["bottleneck_size"])
    weights = load_file(str(path / WEIGHTS))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    adapters = [k for k in missing if "_adapter." in k]
    if adapters or unexpected:
        raise AfinarError(f"{path}: adapter tensors missing {adapters[:3]} or unknown {unexpected[:3]}")
    return model
