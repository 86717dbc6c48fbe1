"""Held-out documents (``data.format: text``): how well the base and the tuned model predict them.

Continued pretraining has no answers to score; what it should change is how well the model
predicts text of the domain it has not seen. Each held-out document is tokenized and split as
training splits it (:func:`afinar.data.render.render_all`), and both models' mean next-token
cross-entropy over every target token is reported, with its perplexity (exp of that mean). The
base is the same model with its adapter off (:func:`afinar.model.adapters.as_base`), so both
see the same tokens.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch

from afinar.data.read import Example
from afinar.data.render import render_all
from afinar.model.adapters import as_base, folded
from afinar.train.loss import eval_loss

__all__ = ["evaluate_documents"]


def evaluate_documents(
    model, tokenizer, examples: list[Example], max_seq_len: int, autocast=None, compare_base: bool = True
) -> dict:
    """Mean token loss and perplexity of the documents among ``examples`` for the tuned model
    and (``compare_base``) its base; ``{}`` when there are none."""
    docs = [ex for ex in examples if ex.document is not None]
    if not docs:
        return {}
    rows, stats = render_all(tokenizer, docs, max_seq_len, "truncate")
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out: dict = {"documents": len(docs), "rows": stats.rows, "tokens": stats.target_tokens}
    for name in ("base", "tuned") if compare_base else ("tuned",):
        ctx = as_base(model) if name == "base" else folded(model)
        with ctx as m, torch.no_grad():
            loss = eval_loss(m, rows, 8, pad_id, device, autocast or nullcontext)
        out[name] = {"loss": loss, "perplexity": math.exp(loss)}
    if compare_base:
        out["perplexity_change"] = out["tuned"]["perplexity"] / out["base"]["perplexity"] - 1
    return out
