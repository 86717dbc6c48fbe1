"""Pack several rendered rows into one fixed-capacity row, each document isolated from the others.

A packed row carries ``position_ids`` that restart at 0 for every document and no attention
mask: transformers reads the restarts as document boundaries and builds a block-diagonal causal
mask (``masking_utils.find_packed_sequence_indices``), so a token attends only to earlier tokens
of its own document. The loss of a document inside a packed row equals its loss alone
(``tests/data/test_pack.py``). The unused tail of a row is one more "document" of pad tokens
with no targets.

Bins are filled best-fit decreasing: longest row first, each into the fullest bin it still fits.
"""

from __future__ import annotations

import torch

from afinar.data.render import IGNORE, Rendered

__all__ = ["collate_packed", "pack"]


def pack(lengths: list[int], capacity: int) -> list[list[int]]:
    """Group indices of ``lengths`` into bins holding at most ``capacity`` tokens each
    (a row longer than ``capacity`` gets a bin of its own)."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        fits = [b for b in range(len(bins)) if room[b] >= lengths[i]]
        if fits:
            b = min(fits, key=room.__getitem__)
            bins[b].append(i)
            room[b] -= lengths[i]
        else:
            bins.append([i])
            room.append(capacity - lengths[i])
    return bins


def collate_packed(groups: list[list[Rendered]], pad_id: int) -> dict[str, torch.Tensor]:
    """One packed row per group: ``input_ids``, ``labels`` and ``position_ids`` of shape (B, T),
    T the longest group."""
    width = max(sum(len(r.input_ids) for r in g) for g in groups)
    ids = torch.full((len(groups), width), pad_id, dtype=torch.long)
    labels = torch.full((len(groups), width), IGNORE, dtype=torch.long)
    positions = torch.zeros((len(groups), width), dtype=torch.long)
    for b, group in enumerate(groups):
        at = 0
        for r in group:
            n = len(r.input_ids)
            ids[b, at : at + n] = torch.tensor(r.input_ids)
            labels[b, at : at + n] = torch.tensor(r.labels)
            labels[b, at] = IGNORE  # a document's first token is never predicted (as unpacked)
            positions[b, at : at + n] = torch.arange(n)
            at += n
        positions[b, at:] = torch.arange(width - at)
    return {"input_ids": ids, "labels": labels, "position_ids": positions}
