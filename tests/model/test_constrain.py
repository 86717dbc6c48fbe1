"""Decoding under a JSON Schema: a random tiny Llama, which writes no JSON by itself, writes only
answers the schema accepts (checked with jsonschema, independently of the grammar), in
PyTorch and in llama.cpp."""

from __future__ import annotations

import json

import pytest
import torch
from jsonschema import Draft202012Validator

from afinar.model.constrain import decoding_schema
from afinar.model.generate import generate

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "a small report",
    "oneOf": [
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["kind", "period", "units", "tags"],
            "properties": {
                "kind": {"enum": ["ok", "warning"]},
                "period": {"type": ["string", "null"], "pattern": "^[0-9]{4}-[0-9]{2}$"},
                "units": {"type": "integer", "x-afinar-derive": {"sum": "lines.units"}},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 4}},
            },
        },
        {"type": "object", "additionalProperties": False, "required": ["error"], "properties": {"error": {"const": 1}}},
    ],
}
PROMPTS = [[{"role": "user", "content": f"Informe {i}: ventas de mayo"}] for i in range(6)]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), AutoTokenizer.from_pretrained(tiny_model_dir)


def _valid(text: str) -> bool:
    try:
        return Draft202012Validator(SCHEMA).is_valid(json.loads(text))
    except ValueError:
        return False


def test_the_grammar_sees_no_afinar_keywords():
    clean = decoding_schema(SCHEMA)
    assert "$schema" not in clean and "title" not in clean
    assert clean["oneOf"][0]["properties"]["units"] == {"type": "integer"}


def test_a_random_model_writes_only_valid_answers_under_the_schema(tiny):
    model, tokenizer = tiny
    free = generate(model, tokenizer, PROMPTS, max_new_tokens=60, batch_size=3)
    assert not any(_valid(a) for a in free)  # by itself it writes no such JSON
    constrained = generate(model, tokenizer, PROMPTS, max_new_tokens=60, batch_size=3, schema=SCHEMA)
    assert all(_valid(a) for a in constrained), constrained
    for a in map(json.loads, constrained):  # compact, keys in the schema's order
        keys = ["kind", "period", "units", "tags"] if "kind" in a else ["error"]
        assert list(a) == keys
    assert all(" " not in a for a in constrained if '"tags":[]' in a)


def test_llama_cpp_decodes_under_the_same_schema(tokenizer):
    """The bundled SmolLM2 GGUF in llama.cpp, under the compact grammar PyTorch uses (llama.cpp's
    own ``json_schema`` allows whitespace between JSON tokens: the tiny random model repeated one
    whitespace token 400 times in it; tests/serve/test_json_schema.py runs that model in llama.cpp
    under the compact grammar)."""
    from afinar.data.render import prompt_ids
    from afinar.model.llamacpp import LlamaCpp
    from afinar.model.load import resolve_base

    engine = LlamaCpp(resolve_base("default").weights_file)
    free, constrained = [], []
    for p in PROMPTS[:3]:
        ids = prompt_ids(tokenizer, p)
        free.append(tokenizer.decode(engine.greedy(ids, 80, tokenizer.eos_token_id), skip_special_tokens=True))
        out = engine.greedy(ids, 200, tokenizer.eos_token_id, SCHEMA)
        constrained.append(tokenizer.decode(out, skip_special_tokens=True))
    assert not any(_valid(a) for a in free)
    assert all(_valid(a) for a in constrained), constrained


def test_a_schema_the_grammar_cannot_express_is_a_clear_error(tiny):
    from afinar.model.constrain import SchemaConstraint

    model, tokenizer = tiny
    with pytest.raises(ValueError, match="cannot be decoded under"):
        SchemaConstraint(tokenizer, {"type": "string", "pattern": "(?<=a)b"}, model.config.vocab_size, rows=1)
    assert torch.is_grad_enabled()  # nothing left switched off


def test_a_prompt_tuned_model_is_constrained_too(tiny):
    """A model with virtual tokens decodes through transformers.generate (afinar/model/generate.py);
    the schema holds there as well, row by row."""
    from afinar.config import AdapterConfig
    from afinar.model.adapters import attach_adapter, virtual_tokens

    model, tokenizer = tiny
    torch.manual_seed(0)
    tuned = attach_adapter(model, AdapterConfig(method="prompt", virtual_tokens=4)).eval()
    assert virtual_tokens(tuned)[0] == 4
    constrained = generate(tuned, tokenizer, PROMPTS, max_new_tokens=60, batch_size=3, schema=SCHEMA)
    assert all(_valid(a) for a in constrained), constrained
