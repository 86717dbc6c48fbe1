"""What one optimizer step trains on: the seeded stream of micro-batches over epochs, a step's
rows split into micro-batches (padded, packed or as preference pairs) and shared among the ranks
of a distributed job, and the OOM ladder's shortened rows."""

from __future__ import annotations

import torch

from afinar.data.batch import collate, epoch_order
from afinar.data.pack import collate_packed, pack
from afinar.data.render import IGNORE, LabeledRow, PairRow, Rendered
from afinar.train.preference import pair_batch

__all__ = [
    "Stream",
    "batch_of",
    "context_length",
    "count_targets",
    "cut",
    "rank_batches",
    "step_batches",
    "without_targets",
]


def count_targets(batch: dict[str, torch.Tensor]) -> int:
    """What the batch's loss is a sum over: target tokens, or examples for a preference batch."""
    if "examples" in batch:
        return int(batch["examples"])
    return int((batch["labels"][:, 1:] != IGNORE).sum())


class Stream:
    """Endless micro-batches over epochs; position ``(epoch, index)`` is all resume needs."""

    def __init__(self, rows: list[Rendered], batch_size: int, seed: int, epoch=0, index=0, group: int = 16):
        self.rows, self.batch_size, self.seed, self.group = rows, batch_size, seed, group
        self.lengths = [len(r.input_ids) for r in rows]
        self.epoch, self.index = epoch, index
        self._order = epoch_order(self.lengths, batch_size, seed, epoch, group)

    @property
    def per_epoch(self) -> int:
        return len(self._order)

    def take(self) -> list[Rendered]:
        if self.index >= len(self._order):
            self.epoch, self.index = self.epoch + 1, 0
            self._order = epoch_order(self.lengths, self.batch_size, self.seed, self.epoch, self.group)
        batch = [self.rows[i] for i in self._order[self.index]]
        self.index += 1
        return batch

    @property
    def epochs_done(self) -> float:
        return self.epoch + self.index / len(self._order)


def batch_of(rows: list, pad_id: int) -> dict[str, torch.Tensor]:
    """Rows right-padded into one batch; preference pairs as :func:`pair_batch` lays them out."""
    return pair_batch(rows, pad_id) if isinstance(rows[0], PairRow | LabeledRow) else collate(rows, pad_id)


def step_batches(rows: list[Rendered], pad_id: int, packing: bool, capacity: int, per_forward: int):
    """The micro-batches of one optimizer step's rows, ``per_forward`` rows (or packed rows of
    ``capacity`` tokens, or pairs) each. However they are split, the step sees the same examples
    and the same target tokens, so the same gradient."""
    if packing:
        rows = [[rows[i] for i in b] for b in pack([len(r.input_ids) for r in rows], capacity)]
    chunks = [rows[j : j + per_forward] for j in range(0, len(rows), per_forward)]
    return [collate_packed(c, pad_id) if packing else batch_of(c, pad_id) for c in chunks]


def rank_batches(shares: list[list[Rendered]], rank: int, batches) -> tuple[list[dict], int, int]:
    """This rank's micro-batches of a step whose rows are split in ``shares`` (one per rank),
    topped up with target-free copies to the largest rank's count; how many rows (packed rows
    when packing) all ranks forward; and the step's target tokens (the loss's denominator).
    ``batches(rows)`` is :func:`step_batches` with the step's settings."""
    every = [batches(share) if share else [] for share in shares]
    mine = every[rank]
    filler = without_targets(next(b for bs in every for b in bs))
    n_rows = sum(len(b["input_ids"]) for bs in every for b in bs)
    n_targets = sum(count_targets(b) for bs in every for b in bs)
    return mine + [filler] * (max(map(len, every)) - len(mine)), n_rows, n_targets


def without_targets(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``batch`` with no target (a preference batch: no example): a rank's filler pass, so all
    ranks run as many passes."""
    if "examples" in batch:
        return {**batch, "examples": torch.zeros_like(batch["examples"])}
    return {**batch, "labels": torch.full_like(batch["labels"], IGNORE)}


def cut(rows: list[Rendered], max_len: int) -> list[Rendered]:
    """Rows truncated to ``max_len`` (the OOM ladder's last rung); rows left without a target go."""
    return [c for c in (r.truncated(max_len) for r in rows) if c.n_targets]


def context_length(rows: list[Rendered]) -> float:
    """Mean number of tokens each token attends to (its document's earlier tokens and itself)."""
    n = [len(r.input_ids) for r in rows]
    return sum(k * (k + 1) / 2 for k in n) / max(sum(n), 1)
