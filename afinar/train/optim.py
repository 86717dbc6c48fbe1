"""The optimizer: AdamW, with layer-wise learning rates and a LAMB-style trust ratio on request.

- ``optim.lr_layer_decay: g`` (ELECTRA/BEiT-style layer-wise LR decay): decoder layer ``l`` of
  ``L`` trains at ``lr * g^(L-1-l)``, the embeddings at ``lr * g^L``, the final norm and LM head at
  ``lr``. The lower layers hold the general features a fine-tune should disturb least; it helps
  most for full fine-tuning and for domains far from pre-training, and does little for LoRA at
  a few hundred steps.
- ``optim.layerwise_adaptive: true`` (You et al., 2020, LAMB; the layer-wise trust ratio of
  LARS on top of AdamW): each tensor's AdamW step ``u`` (Adam direction plus weight decay) is
  scaled by ``||w|| / ||u||``, so every tensor moves by about ``lr`` times its own norm; a tensor
  whose norm is 0 (LoRA's B at start) takes the plain step. It evens out layers whose gradient
  scales differ a lot; ``lr`` then means a relative step (1e-3..1e-2 are usual).
"""

from __future__ import annotations

import re

import torch

from afinar.config import OptimConfig

__all__ = ["LayerwiseAdamW", "build_optimizer", "layer_scales"]

_LAYER = re.compile(r"\.layers\.(\d+)\.")


def layer_scales(names: list[str], n_layers: int, decay: float | None) -> list[float]:
    """The LR multiplier of each parameter name (1.0 everywhere without ``decay``)."""
    if decay is None:
        return [1.0] * len(names)
    scales = []
    for name in names:
        found = _LAYER.search(name)
        if found:
            scales.append(decay ** (n_layers - 1 - int(found.group(1))))
        else:
            scales.append(decay**n_layers if "embed_tokens" in name else 1.0)
    return scales


class LayerwiseAdamW(torch.optim.Optimizer):
    """AdamW whose step for each tensor is scaled by the trust ratio ``||w|| / ||u||`` (LAMB)."""

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"].item()
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(p.grad, 1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                u = (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + group["eps"]) + group["weight_decay"] * p
                w_norm, u_norm = p.norm(), u.norm()
                ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                p.sub_(group["lr"] * ratio * u)


def build_optimizer(params: dict[str, torch.nn.Parameter], cfg: OptimConfig, n_layers: int):
    """AdamW (or :class:`LayerwiseAdamW`) over ``params``, one group per distinct LR multiplier."""
    groups: dict[float, list] = {}
    scales = layer_scales(list(params), n_layers, cfg.lr_layer_decay)
    for p, scale in zip(params.values(), scales, strict=True):
        groups.setdefault(scale, []).append(p)
    param_groups = [{"params": ps, "lr": cfg.lr * scale} for scale, ps in groups.items()]
    cls = LayerwiseAdamW if cfg.layerwise_adaptive else torch.optim.AdamW
    return cls(param_groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
