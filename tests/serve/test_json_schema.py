"""Answers decoded under a JSON schema: a tiny model with random weights, which on its own writes
no JSON at all, answers only JSON that the schema accepts (checked here with jsonschema), through
the PyTorch engine and through llama.cpp, for a request's ``response_format`` and for a
deployment's ``--json-schema``; a schema no grammar can express is a 400 before generating."""

from __future__ import annotations

import json

import jsonschema
import openai
import pytest
import torch

from afinar.serve.guard import Sanitizer
from tests.serve.conftest import running

SCHEMA = {
    "type": "object",
    "properties": {"s": {"enum": ["open", "shut"]}, "u": {"type": "boolean"}},
    "required": ["s", "u"],
    "additionalProperties": False,
}
"""Short enough to finish within the deployment's 40 tokens even spelt a character a token (a
random model, held to the grammar, picks short pieces as often as long ones)."""
FORMAT = {"type": "json_schema", "json_schema": {"name": "ticket", "schema": SCHEMA}}
ASK = [{"role": "user", "content": "Estado del ticket 7, en JSON"}]


def _client(url):
    return openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)


def _valid(text: str) -> dict:
    value = json.loads(text)
    jsonschema.Draft202012Validator(SCHEMA).validate(value)
    return value


def test_the_pytorch_engine_answers_only_json_the_schema_accepts(deployment):
    with running(deployment) as url:
        client = _client(url)
        free = client.chat.completions.create(model="alpha", messages=ASK, max_tokens=40, temperature=0)
        with pytest.raises(ValueError):  # unconstrained, the random model writes no JSON
            json.loads(free.choices[0].message.content)
        answers = []
        for seed in (1, 2, 3):
            r = client.chat.completions.create(model="alpha", messages=ASK, max_tokens=40, temperature=1.0, seed=seed,
                                               response_format=FORMAT)  # fmt: skip
            assert r.choices[0].finish_reason == "stop"
            answers.append(_valid(r.choices[0].message.content))
        stream = client.chat.completions.create(model="beta", messages=ASK, max_tokens=40, temperature=0, stream=True,
                                                response_format=FORMAT)  # fmt: skip
        _valid("".join(c.choices[0].delta.content or "" for c in stream))
    assert len({json.dumps(a) for a in answers}) > 1  # sampled values, the structure held


def test_a_deployments_json_schema_holds_every_answer_without_asking(deployment):
    with running(deployment, sanitizer=Sanitizer(schema=SCHEMA)) as url:
        client = _client(url)
        chat = client.chat.completions.create(model="alpha", messages=ASK, max_tokens=40, temperature=0)
        _valid(chat.choices[0].message.content)
        text = client.completions.create(model="alpha", prompt="Ticket 7:", max_tokens=40, temperature=0)
        _valid(text.choices[0].text)


def test_a_schema_no_grammar_can_express_is_refused_before_generating(deployment):
    odd = {"type": "object", "properties": {"a": {"type": "string", "pattern": "(?<=x)y"}}, "required": ["a"]}
    with running(deployment) as url, pytest.raises(openai.BadRequestError) as err:
        _client(url).chat.completions.create(model="alpha", messages=ASK, max_tokens=8, response_format={
            "type": "json_schema", "json_schema": {"name": "r", "schema": odd}})  # fmt: skip
    assert err.value.code == "invalid_request" and "response_format" in err.value.message


def test_llama_cpp_answers_only_json_the_schema_accepts(tiny_model_dir, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    from afinar.export.gguf import write_gguf
    from afinar.serve.server import ServeOptions, build

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    write_gguf(model, tmp_path / "tiny.gguf", "f32", tokenizer, "tiny")
    dep = build(ServeOptions(model=str(tiny_model_dir), gguf=tmp_path / "tiny.gguf", max_tokens=40))
    try:
        with running(dep) as url:
            client = _client(url)
            free = client.chat.completions.create(model="tiny", messages=ASK, max_tokens=40, temperature=0)
            with pytest.raises(ValueError):
                json.loads(free.choices[0].message.content)
            r = client.chat.completions.create(model="tiny", messages=ASK, max_tokens=40, temperature=0,
                                               response_format=FORMAT)  # fmt: skip
    finally:
        dep.engine.close()
    assert r.choices[0].finish_reason == "stop"
    _valid(r.choices[0].message.content)


DERIVED = {
    "type": "object",
    "properties": {
        "lines": {"type": "array", "maxItems": 3, "items": {"type": "object", "properties": {"u": {"enum": [1, 2, 30]}},
                                                            "required": ["u"], "additionalProperties": False}},
        "total": {"type": "integer", "minimum": 0, "maximum": 99, "x-afinar-derive": {"sum": "lines.u"}},
    },
    "required": ["lines", "total"],
    "additionalProperties": False,
}  # fmt: skip


def test_derived_fields_are_written_by_afinar_in_served_answers(deployment):
    """As the eval scores and ``afinar chat`` answers: the total is the sum of the model's own
    lines, whatever the model wrote there; the record names the field."""
    from tests.serve.conftest import audit_records

    fmt = {"type": "json_schema", "json_schema": {"name": "t", "schema": DERIVED}}
    with running(deployment) as url:
        client = _client(url)
        answers = [client.chat.completions.create(model=m, messages=ASK, max_tokens=40, temperature=0,
                                                  response_format=fmt) for m in ("alpha", "beta", "base")]  # fmt: skip
        broken = {**DERIVED, "properties": {**DERIVED["properties"], "total": {"x-afinar-derive": {"sum": "u"}}}}
        with pytest.raises(openai.BadRequestError) as err:  # a rule afinar cannot apply: refused at the door
            client.chat.completions.create(model="alpha", messages=ASK, max_tokens=40, response_format={
                "type": "json_schema", "json_schema": {"name": "t", "schema": broken}})  # fmt: skip
        assert "x-afinar-derive of 'total'" in err.value.message
    changed = 0
    for r in answers:
        value = json.loads(r.choices[0].message.content)
        jsonschema.Draft202012Validator(DERIVED).validate(value)
        assert value["total"] == sum(line["u"] for line in value["lines"])
        record = next(x for x in audit_records("serve.chat") if x["details"].get("completion_id") == r.id)
        changed += record["details"].get("derived_fields") == ["total"]
    assert changed  # the random model's own totals are not the sums: afinar rewrote at least one
