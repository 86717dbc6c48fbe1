"""Gradient accumulation is normalised by the step's total target tokens."""

import torch
from transformers import AutoModelForCausalLM

from afinar.config import AdapterConfig
from afinar.data.batch import collate
from afinar.data.read import Example
from afinar.data.render import render
from afinar.model.adapters import attach_adapter, trainable_parameters
from afinar.train.loss import accumulate_step


def _rows(tokenizer):
    def ex(q, a):
        return Example([{"role": "user", "content": q}, {"role": "assistant", "content": a}], "x:1")

    # Target lengths differ a lot (2 vs ~40 tokens): a mean of per-batch means would weigh
    # the short answer's tokens ~20x more than the long one's.
    return [render(tokenizer, ex("Short?", "Yes.")), render(tokenizer, ex("Long?", "This answer is much longer, " * 6))]


def _grads(model):
    return {n: p.grad.clone() for n, p in trainable_parameters(model).items()}


def test_two_unequal_micro_batches_give_the_one_batch_gradient(tiny_model_dir, tokenizer):
    torch.manual_seed(0)
    model = attach_adapter(AutoModelForCausalLM.from_pretrained(tiny_model_dir), AdapterConfig(r=4, alpha=8))
    # Non-zero B so that every LoRA parameter gets a gradient worth comparing.
    for p in trainable_parameters(model).values():
        p.data.normal_(0, 0.02)
    a, b = _rows(tokenizer)
    pad = tokenizer.pad_token_id
    assert a.n_targets * 5 < b.n_targets

    loss, n = accumulate_step(model, [collate([a], pad), collate([b], pad)])
    accumulated = _grads(model)
    model.zero_grad()

    # Independent reference: transformers' own loss (mean over all target tokens) on one batch.
    batch = collate([a, b], pad)
    ref = model(**batch)
    ref.loss.backward()
    reference = _grads(model)

    assert n == a.n_targets + b.n_targets
    assert abs(loss - ref.loss.item()) < 1e-5
    for name in reference:
        torch.testing.assert_close(accumulated[name], reference[name], rtol=1e-4, atol=1e-7)
