"""Batched greedy generation for evaluation and for trying a model by hand.

Our own decoding loop over the model's forward, not ``transformers.generate``: it keeps each
layer's keys and values in one buffer with room for the whole answer (the library's default
cache concatenates, copying the whole cache at every token), and it drops a row from the batch
once its answer has ended, so a batch costs what its answers need rather than 32 times its
longest one. The tokens are the same as ``generate``'s greedy search (a test compares them).
A prefix- or prompt-tuned model (PEFT puts its virtual tokens into the cache and the input)
goes through ``transformers.generate`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from functools import partial

import torch
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.cache_utils import Cache, DynamicLayer

from afinar.data.batch import left_padded_batches
from afinar.data.render import prompt_ids
from afinar.model.adapters import virtual_tokens
from afinar.model.constrain import SchemaConstraint

__all__ = ["DECODER_VERSION", "generate", "generate_ids"]

DECODER_VERSION = 1
"""Bumped when a change here (or in constrained decoding) changes the tokens a model writes, so
that answers cached by an older afinar (:mod:`afinar.model.cache`) are not reused."""


class _Preallocated(DynamicLayer):
    """One layer's keys and values, ``(batch, kv_heads, room, head_dim)`` allocated at the first
    update; attention reads the filled ``[:, :, :length]`` part (a view, no copy)."""

    def __init__(self, room: int):
        super().__init__()
        self.room, self.length = room, 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        b, h, _, d = key_states.shape
        self.dtype, self.device = key_states.dtype, key_states.device
        self.keys = key_states.new_empty(b, h, self.room, d)
        self.values = value_states.new_empty(b, h, self.room, value_states.shape[-1])
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        self.keys[:, :, self.length : end] = key_states
        self.values[:, :, self.length : end] = value_states
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self.keys, self.values = self.keys[indices], self.values[indices]


@torch.no_grad()
def _greedy(model, ids: torch.Tensor, mask: torch.Tensor, max_new_tokens: int, eos: int, constraint) -> list[list[int]]:
    """Greedy answer ids for one left-padded batch (``ids``, ``mask``: ``(rows, width)``), each
    cut before its first ``eos``. Rows leave the batch (and their cache rows) when they end."""
    rows = ids.shape[0]
    cache = Cache(layer_class_to_replicate=partial(_Preallocated, ids.shape[1] + max_new_tokens))
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(
        input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True,
        logits_to_keep=1,
    ).logits[:, -1]  # fmt: skip
    live = list(range(rows))  # the input row of each batch row
    position = positions[:, -1:] + 1
    answers: list[list[int]] = [[] for _ in range(rows)]
    for step in range(max_new_tokens):
        if constraint is not None:
            logits = constraint.mask(live, logits)
        tokens = logits.argmax(-1)
        ended = []
        for b, (row, token) in enumerate(zip(live, tokens.tolist(), strict=True)):
            if token == eos:
                ended.append(b)
            else:
                answers[row].append(token)
                if constraint is not None:
                    constraint.advance(row, token)
        if len(ended) == len(live) or step == max_new_tokens - 1:
            break
        if ended:
            gone = set(ended)
            keep = torch.tensor([b for b in range(len(live)) if b not in gone], device=ids.device)
            cache.batch_select_indices(keep)
            live = [live[b] for b in keep.tolist()]
            tokens, mask, position = tokens[keep], mask[keep], position[keep]
        mask = torch.cat([mask, mask.new_ones(len(live), 1)], dim=1)
        logits = model(
            input_ids=tokens[:, None], attention_mask=mask, position_ids=position, past_key_values=cache, use_cache=True
        ).logits[:, -1]
        position = position + 1
    return answers


class _RowsFollowed(LogitsProcessor):
    """A :class:`SchemaConstraint` for ``transformers.generate``, whose batch keeps every row to
    the end: a row is followed until it writes the end of turn, then left as generate pads it."""

    def __init__(self, constraint: SchemaConstraint, eos: int):
        self.constraint, self.eos, self.done = constraint, eos, None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.done is None:  # the first step: nothing written yet
            self.done = [False] * input_ids.shape[0]
        else:
            for row, token in enumerate(input_ids[:, -1].tolist()):
                if not self.done[row]:
                    self.done[row] = token == self.eos
                    if not self.done[row]:
                        self.constraint.advance(row, token)
        live = [row for row, done in enumerate(self.done) if not done]
        if live:
            scores[live] = self.constraint.mask(live, scores[live])
        return scores


@torch.no_grad()
def _transformers_greedy(model, ids, mask, max_new_tokens: int, tokenizer, constraint) -> list[list[int]]:
    """``transformers.generate``'s greedy answers for one left-padded batch, cut before EOS."""
    eos = tokenizer.eos_token_id
    processors = [_RowsFollowed(constraint, eos)] if constraint is not None else []
    gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                         eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
                         logits_processor=LogitsProcessorList(processors))  # fmt: skip
    out = []
    for row in gen[:, ids.shape[1] :].tolist():
        out.append(row[: row.index(eos)] if eos in row else row)
    return out


def generate_ids(
    model,
    tokenizer,
    conversations: list[list[dict[str, str]]],
    max_new_tokens: int = 256,
    batch_size: int = 16,
    autocast=None,
    on_batch: Callable[[int], None] | None = None,
    schema: dict | None = None,
) -> list[list[int]]:
    """Greedy answer token ids for ``conversations`` (each a message list ending before the answer).

    Prompts are sorted by length and left-padded in batches; outputs come back in input order,
    cut before the first EOS. With ``schema``, every answer is decoded under that JSON Schema
    (:mod:`afinar.model.constrain`).
    """
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    prompts = [prompt_ids(tokenizer, c) for c in conversations]
    out: list[list[int]] = [[] for _ in prompts]
    for idx, ids, mask in left_padded_batches(prompts, batch_size, tokenizer.pad_token_id):
        constraint = SchemaConstraint(tokenizer, schema, model.config.vocab_size, len(idx)) if schema else None
        ids, mask = ids.to(device), mask.to(device)
        with (autocast or nullcontext)():
            if virtual_tokens(model)[0]:  # PEFT's virtual tokens live in its own cache and input
                answers = _transformers_greedy(model, ids, mask, max_new_tokens, tokenizer, constraint)
            else:
                answers = _greedy(model, ids, mask, max_new_tokens, eos, constraint)
        for i, answer in zip(idx, answers, strict=True):
            out[i] = answer
        if on_batch:
            on_batch(len(idx))
    return out


def generate(
    model,
    tokenizer,
    conversations: list[list[dict[str, str]]],
    max_new_tokens: int = 256,
    batch_size: int = 16,
    autocast=None,
    on_batch: Callable[[int], None] | None = None,
    schema: dict | None = None,
) -> list[str]:
    """Greedy answers to ``conversations``, decoded without special tokens (see :func:`generate_ids`)."""
    ids = generate_ids(model, tokenizer, conversations, max_new_tokens, batch_size, autocast, on_batch, schema)
    return [tokenizer.decode(x, skip_special_tokens=True) for x in ids]
