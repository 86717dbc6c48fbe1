"""What a training step and an eval pass compute: the target tokens' cross-entropy (or a
preference objective's loss), accumulated over a step's micro-batches.

Loss normalisation: one optimizer step sums token cross-entropy over all micro-batches it
accumulates and divides by the total number of target tokens in them, so every target token
weighs the same whether it sits in a long or a short micro-batch (the mean of per-micro-batch
means would over-weight tokens of short batches).

Logits are computed only at target positions, a chunk at a time: the LM head (576 x 49152 for
SmolLM2) is the largest single matmul, and most positions of a chat row are prompt.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from afinar.data.render import IGNORE, Rendered
from afinar.model.adapters import causal_lm_of, decoder_states
from afinar.train import distributed
from afinar.train.batches import batch_of, count_targets, without_targets
from afinar.train.preference import PreferenceLoss
from afinar.train.speed import chunked_cross_entropy

__all__ = ["TargetLoss", "accumulate_step", "eval_loss", "target_loss_sum"]


def target_loss_sum(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed next-token cross-entropy over target positions, and how many there are.

    ``batch`` tensors are (B, T); position t predicts the label at t + 1. A packed batch
    (:mod:`afinar.data.pack`) has ``position_ids`` and no ``attention_mask``.
    """
    causal_lm = causal_lm_of(model)
    hidden = decoder_states(
        model,
        batch["input_ids"],
        _unless_right_padded(batch.get("attention_mask")),
        batch.get("position_ids"),
        use_cache=False,  # with a cache, transformers would not read packed documents' boundaries
    )
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE  # (B, T-1)
    head = causal_lm.lm_head
    if type(head) is torch.nn.Linear and head.bias is None:
        return chunked_cross_entropy(hidden[:, :-1][keep], head.weight, targets[keep]), int(keep.sum())
    logits = head(hidden[:, :-1][keep])  # (N, vocab), N = target tokens
    return F.cross_entropy(logits.float(), targets[keep], reduction="sum"), int(keep.sum())


def _unless_right_padded(mask: torch.Tensor | None) -> torch.Tensor | None:
    """None for a right-padded batch's mask: under causal attention a real token never sees the
    padding after it, and padding has no target, so the loss and its gradients are the same
    without the mask, and attention runs causal-only instead of reading a [T x T] mask (on this
    CPU SDPA's forward took 11% less time that way, its backward about the same)."""
    if mask is None or not bool(mask[:, 0].all()) or not bool((mask[:, 1:] <= mask[:, :-1]).all()):
        return mask
    return None


class TargetLoss(torch.nn.Module):
    """``target_loss_sum`` as a module: the root that FSDP shards (its hooks gather the
    embeddings and LM head around each call), and the one path every step and eval takes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        return target_loss_sum(self.model, batch)


def _loss(model, batch):
    return model(batch) if isinstance(model, TargetLoss | PreferenceLoss) else target_loss_sum(model, batch)


def accumulate_step(
    model,
    micro_batches: list[dict[str, torch.Tensor]],
    autocast=nullcontext,
    after_forward=None,
    total: int | None = None,
    scale: float = 1.0,
) -> tuple[float, int]:
    """Backpropagate one optimizer step's micro-batches; returns (mean token loss, target tokens).

    Each micro-batch's summed loss is divided by ``total``, the target count of the whole step
    (default: of these micro-batches; a rank of a distributed job passes the global count), and
    multiplied by ``scale`` (the world size, undoing FSDP's gradient averaging).
    ``after_forward`` runs while a micro-batch's activations are alive (the memory check).
    """
    total = total or sum(count_targets(mb) for mb in micro_batches)
    loss_sum = 0.0
    for mb in micro_batches:
        with autocast():
            loss, _ = _loss(model, mb)
        if after_forward:
            after_forward()
        (loss * (scale / total)).backward()
        loss_sum += loss.item()
    return loss_sum / total, total  # a rank's share: the ranks' values sum to the step's mean


@torch.no_grad()
def eval_loss(
    model, rows: list[Rendered], batch_size: int, pad_id: int, device, autocast=nullcontext, world=None
) -> float:
    """Mean token cross-entropy of ``rows`` (eval mode, no dropout), or for preference pairs the
    objective's mean loss per pair; a distributed ``world`` splits the batches over the ranks."""
    world = world or distributed.World()
    was_training = model.training
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: len(rows[i].input_ids))
    batches = [batch_of([rows[i] for i in order[s : s + batch_size]], pad_id) for s in range(0, len(order), batch_size)]
    mine = batches[world.rank :: world.size]
    mine += [without_targets(batches[0])] * (math.ceil(len(batches) / world.size) - len(mine))
    loss, count = 0.0, 0
    for batch in mine:
        with autocast():
            s, n = _loss(model, {k: v.to(device) for k, v in batch.items()})
        loss, count = loss + s.item(), count + n
    loss, count = world.sum(loss, count)
    model.train(was_training)
    return loss / max(count, 1)
