"""Decoding under a JSON Schema: at each step every token that would break the schema is masked.

A small model that has learned a report format still slips: a missing period becomes ``"Mon"``
instead of null, a revenue lands in the integer ``units``, a line loses a key (the retail
example's schema failures, docs/forgetting.md). A grammar compiled from the task schema rules
those out while the model still chooses every value. This is what structured-output APIs do;
here it is done by llguidance (the library behind several inference servers' structured output)
for PyTorch generation, and by the same llguidance grammar inside llama.cpp for an exported GGUF.

The schema is compiled as afinar's answers are written: compact (``,`` and ``:``, no
whitespace), ``oneOf`` read as ``anyOf`` (the branches of a task schema are disjoint by their
required keys), afinar's ``x-`` keywords left out.
"""

from __future__ import annotations

import json
from functools import lru_cache

import llguidance.hf
import torch
from llguidance import LLMatcher
from llguidance.torch import allocate_token_bitmask, fill_next_token_bitmask

__all__ = ["SchemaConstraint", "decoding_schema", "llamacpp_grammar"]

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


def llamacpp_grammar(schema: dict) -> str:
    """The grammar llama.cpp decodes ``schema`` under: llama.cpp runs llguidance too (the
    ``%llguidance`` form), given the options above, so both engines allow the same answers. (Its
    ``json_schema`` field compiles with flexible whitespace: a model that favours blanks could fill
    an answer with them.)"""
    return "%llguidance {}\nstart: %json " + json.dumps({"x-guidance": _COMPACT, **decoding_schema(schema)})


@lru_cache(maxsize=4)
def _ll_tokenizer(tokenizer, n_vocab: int):

    return llguidance.hf.from_tokenizer(tokenizer, n_vocab=n_vocab)  # ~1 s: once per tokenizer


class SchemaConstraint:
    """Keeps each of a batch's ``rows`` inside ``schema``, for :func:`afinar.model.generate.generate_ids`.

    One instance per batch: row ``r``'s matcher follows the tokens given to :meth:`advance`, and
    :meth:`mask` keeps, for the rows still answering, only the tokens their matchers allow (a
    complete answer allows only the end of turn).

    Args:
        tokenizer: the model's (fast) tokenizer; its EOS ends an answer once the JSON is complete.
        schema: a JSON Schema (dict).
        vocab_size: the model's output width (may exceed the tokenizer's vocabulary).
        rows: the batch's rows.

    Raises:
        ValueError: the schema uses something the grammar compiler cannot express.
    """

    def __init__(self, tokenizer, schema: dict, vocab_size: int, rows: int):

        self._tok = _ll_tokenizer(tokenizer, vocab_size)
        grammar = LLMatcher.grammar_from_json_schema(json.dumps(decoding_schema(schema)), defaults=_COMPACT)
        is_error, messages = LLMatcher.validate_grammar_with_warnings(grammar, self._tok)
        if is_error:
            raise ValueError(f"the JSON schema cannot be decoded under: {messages[0]}")
        self._matchers = [LLMatcher(self._tok, grammar) for _ in range(rows)]
        self._vocab = vocab_size

    def advance(self, row: int, token: int) -> None:
        """Row ``row`` wrote ``token`` (one its mask allowed)."""
        self._matchers[row].consume_token(token)

    def mask(self, rows: list[int], scores: torch.Tensor) -> torch.Tensor:
        """``scores`` (``(len(rows), vocab)``, one line per row of ``rows``) with every token
        those rows' matchers forbid set to ``-inf``."""
        bitmask = allocate_token_bitmask(len(rows), self._vocab)
        for line, row in enumerate(rows):
            fill_next_token_bitmask(self._matchers[row], bitmask, line)
        allowed = _unpack(bitmask, scores.shape[1]).to(scores.device)
        return scores.masked_fill(~allowed, float("-inf"))


def _unpack(bitmask: torch.Tensor, width: int) -> torch.Tensor:
    """``(rows, ceil(V/32))`` int32 bit words -> ``(rows, width)`` bool, bit ``i % 32`` of word ``i // 32``."""
    bits = (bitmask.unsqueeze(-1) >> torch.arange(32, dtype=torch.int32)) & 1
    return bits.reshape(bitmask.shape[0], -1)[:, :width].bool()
