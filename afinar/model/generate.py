"""Batched greedy generation for evaluation and for trying a model by hand."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch
from transformers import LogitsProcessorList

from afinar.data.batch import left_padded_batches
from afinar.data.render import prompt_ids
from afinar.model.constrain import SchemaConstraint

__all__ = ["generate", "generate_ids"]


@torch.no_grad()
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
    prompts = [prompt_ids(tokenizer, c) for c in conversations]
    out: list[list[int]] = [[] for _ in prompts]
    pad = tokenizer.pad_token_id
    for idx, ids, mask in left_padded_batches(prompts, batch_size, pad):
        width = ids.shape[1]
        constraint = [SchemaConstraint(tokenizer, schema, model.config.vocab_size)] if schema else []
        with (autocast or nullcontext)():
            gen = model.generate(
                logits_processor=LogitsProcessorList(constraint),
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=pad,
            )
        for row, i in enumerate(idx):
            new = gen[row, width:].tolist()
            if tokenizer.eos_token_id in new:
                new = new[: new.index(tokenizer.eos_token_id)]
            out[i] = new
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
