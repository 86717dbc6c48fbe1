"""Our greedy decoding loop against transformers' own greedy search (``model.generate``): the same
tokens, row by row, for batches whose prompts differ in length and whose answers end at
different steps (rows leave the batch as they end). The bundled SmolLM2 in fp32: a random tiny
model repeats one token and never ends a turn."""

from __future__ import annotations

import pytest
import torch

from afinar.data.batch import left_padded_batches
from afinar.data.render import prompt_ids
from afinar.model.generate import generate_ids

PROMPTS = [
    [{"role": "user", "content": text}]
    for text in (
        "Answer yes or no only: is Madrid in Spain?",
        "Name one colour, in one word.",
        "Write a long story about a lighthouse keeper and the sea.",
        "¿Cuánto es 2 + 2? Responde solo con el número.",
        "List the days of the week.",
        "Say hello.",
        "Explain what a database index is, in detail, with an example.",
    )
]
MAX_NEW = 40


@pytest.fixture(scope="module")
def bundled(bundled_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(bundled_dir, dtype=torch.float32).eval(), tokenizer


@torch.no_grad()
def _transformers_greedy(model, tokenizer, max_new_tokens: int, batch_size: int) -> list[list[int]]:
    """What ``model.generate`` answers, batch by batch as generate_ids batches, cut before EOS."""
    prompts = [prompt_ids(tokenizer, p) for p in PROMPTS]
    out: list[list[int]] = [[] for _ in prompts]
    for idx, ids, mask in left_padded_batches(prompts, batch_size, tokenizer.pad_token_id):
        gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
        for row, i in enumerate(idx):
            new = gen[row, ids.shape[1] :].tolist()
            out[i] = new[: new.index(tokenizer.eos_token_id)] if tokenizer.eos_token_id in new else new
    return out


def test_the_same_tokens_as_transformers_greedy_search(bundled):
    model, tokenizer = bundled
    expected = _transformers_greedy(model, tokenizer, MAX_NEW, batch_size=4)
    assert len({len(a) for a in expected}) >= 3, expected  # rows end at different steps
    assert any(len(a) == MAX_NEW for a in expected)  # and one runs to the limit

    assert generate_ids(model, tokenizer, PROMPTS, MAX_NEW, batch_size=4) == expected
    assert generate_ids(model, tokenizer, PROMPTS, MAX_NEW, batch_size=len(PROMPTS)) == _transformers_greedy(
        model, tokenizer, MAX_NEW, batch_size=len(PROMPTS)
    )
