"""Turn rendered rows into padded micro-batches, in a seeded order that resumes exactly.

Rows are grouped by length before batching so that padding stays small: each epoch shuffles
all rows with a generator seeded by ``(seed, epoch)``, cuts the shuffled list into chunks of
``group`` micro-batches, sorts each chunk by length and slices it into micro-batches, then
shuffles the micro-batch order. The whole order is a pure function of ``(seed, epoch)``, so a
resumed run needs only the epoch and the index of the next micro-batch.
"""

from __future__ import annotations

import random

import torch

from afinar.data.render import IGNORE, Rendered

__all__ = ["collate", "epoch_order", "left_padded_batches"]


def epoch_order(lengths: list[int], micro_batch_size: int, seed: int, epoch: int, group: int = 16) -> list[list[int]]:
    """Row indices of every micro-batch of one epoch, in training order."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = micro_batch_size * group
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i], reverse=True)
        batches += [part[j : j + micro_batch_size] for j in range(0, len(part), micro_batch_size)]
    rng.shuffle(batches)
    return batches


def collate(rows: list[Rendered], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad ``rows`` into ``input_ids``, ``attention_mask`` and ``labels`` of shape (B, T).

    Labels are already shifted-by-nothing: position t's label is the token at t; the loss code
    shifts. Padding gets label ``IGNORE`` and attention mask 0.
    """
    width = max(len(r.input_ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r.input_ids)
        ids[i, :n] = torch.tensor(r.input_ids)
        labels[i, :n] = torch.tensor(r.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def left_padded_batches(prompts: list[list[int]], batch_size: int, pad_id: int):
    """Yield ``(indices, input_ids, attention_mask)`` over ``prompts`` sorted by length, each batch
    left-padded so every prompt ends in the last column (where generation and scoring read)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(prompts[i]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(idx):
            ids[row, width - len(prompts[i]) :] = torch.tensor(prompts[i])
            mask[row, width - len(prompts[i]) :] = 1
        yield idx, ids, mask
