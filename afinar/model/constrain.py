"""Decoding under a JSON Schema: at each step every token that would break the schema is masked.

A small model that has learned a report format still slips: a missing period becomes ``"Mon"``
instead of null, a revenue lands in the integer ``units``, a line loses a key (the retail
example's schema failures, docs/forgetting.md). A grammar compiled from the task schema rules
those out while the model still chooses every value. This is what structured-output APIs do;
here it is done by llguidance (the library behind several inference servers' structured output)
for PyTorch generation, and by llama.cpp's own JSON-Schema grammar for an exported GGUF.

The schema is compiled as afinar's answers are written: compact (``,`` and ``:``, no
whitespace), ``oneOf`` read as ``anyOf`` (the branches of a task schema are disjoint by their
required keys), afinar's ``x-`` keywords left out.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import torch
from transformers import LogitsProcessor

__all__ = ["SchemaConstraint", "decoding_schema"]

_COMPACT = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":", "coerce_one_of": True}


def decoding_schema(schema: dict) -> dict:
    """``schema`` without the keywords a grammar compiler need not see (``x-...``, ``$schema``,
    ``title``, ``description``), at every depth."""
    if isinstance(schema, dict):
        drop = {"$schema", "title", "description"}
        return {k: decoding_schema(v) for k, v in schema.items() if not k.startswith("x-") and k not in drop}
    if isinstance(schema, list):
        return [decoding_schema(v) for v in schema]
    return schema


@lru_cache(maxsize=4)
def _ll_tokenizer(tokenizer, n_vocab: int):
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer, n_vocab=n_vocab)  # ~1 s: once per tokenizer


class SchemaConstraint(LogitsProcessor):
    """A transformers ``LogitsProcessor`` that keeps each row of a batch inside ``schema``.

    Use one instance per ``generate`` call: it follows the rows from the first step (the prompt)
    to the end. A row that has finished (end of turn) is left alone, as ``generate`` pads it.

    Args:
        tokenizer: the model's (fast) tokenizer; its EOS ends an answer once the JSON is complete.
        schema: a JSON Schema (dict).
        vocab_size: the model's output width (may exceed the tokenizer's vocabulary).

    Raises:
        ValueError: the schema uses something the grammar compiler cannot express.
    """

    def __init__(self, tokenizer, schema: dict, vocab_size: int):
        from llguidance import LLMatcher

        self._tok = _ll_tokenizer(tokenizer, vocab_size)
        self._grammar = LLMatcher.grammar_from_json_schema(json.dumps(decoding_schema(schema)), defaults=_COMPACT)
        is_error, messages = LLMatcher.validate_grammar_with_warnings(self._grammar, self._tok)
        if is_error:
            raise ValueError(f"the JSON schema cannot be decoded under: {messages[0]}")
        self._matchers: list[Any] | None = None
        self._done: list[bool] = []
        self._vocab, self._eos = vocab_size, tokenizer.eos_token_id

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        from llguidance import LLMatcher
        from llguidance.torch import allocate_token_bitmask, fill_next_token_bitmask

        rows = input_ids.shape[0]
        if self._matchers is None:  # the first step: nothing generated yet
            self._matchers = [LLMatcher(self._tok, self._grammar) for _ in range(rows)]
            self._done = [False] * rows
        else:
            for r, token in enumerate(input_ids[:, -1].tolist()):
                if self._done[r]:
                    continue
                if token == self._eos:  # the answer is over; generate pads this row from now on
                    self._done[r] = True
                else:
                    self._matchers[r].consume_token(token)
                    self._done[r] = self._matchers[r].is_error()  # cannot happen under the mask
        live = [r for r in range(rows) if not self._done[r]]
        if live:
            bitmask = allocate_token_bitmask(rows, self._vocab)
            for r in live:  # a complete answer's mask holds only the end of turn
                fill_next_token_bitmask(self._matchers[r], bitmask, r)
            allowed = _unpack(bitmask[live], scores.shape[1]).to(scores.device)
            scores[live] = scores[live].masked_fill(~allowed, float("-inf"))
        return scores


def _unpack(bitmask: torch.Tensor, width: int) -> torch.Tensor:
    """``(rows, ceil(V/32))`` int32 bit words -> ``(rows, width)`` bool, bit ``i % 32`` of word ``i // 32``."""
    bits = (bitmask.unsqueeze(-1) >> torch.arange(32, dtype=torch.int32)) & 1
    return bits.reshape(bitmask.shape[0], -1)[:, :width].bool()
