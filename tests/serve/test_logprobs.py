"""``logprobs`` / ``top_logprobs`` and ``n`` on a real server on loopback, through the PyTorch
engine and through llama.cpp. The expected log-probabilities come from the test's own greedy
decoding with the model's plain forward pass (no cache, no engine code); what the sanitizer
redacts is never shown, as a token or as an alternative."""

from __future__ import annotations

import json
import math

import openai
import pytest
import torch

from afinar.serve.engine import TokenLogprob
from afinar.serve.generation import logprob_entries
from afinar.serve.guard import Sanitizer
from tests.serve.conftest import audit_records, running

PROMPT = "Ventas de la tienda 12 en marzo:"


def _client(url):
    return openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)


def _greedy(model, tokenizer, steps: int, top: int) -> list[tuple[str, float, list[tuple[str, float]]]]:
    """Each greedy step after PROMPT: the token's text, its log-probability, the ``top`` best."""
    ids = tokenizer(PROMPT)["input_ids"]
    out = []
    with torch.no_grad():
        for _ in range(steps):
            lp = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1)
            best = lp.topk(top)
            token = int(best.indices[0])
            pairs = zip(best.values, best.indices, strict=True)
            alternatives = [(tokenizer.decode([int(i)]), float(v)) for v, i in pairs]
            out.append((tokenizer.decode([token]), float(lp[token]), alternatives))
            ids.append(token)
    return out


def _expected(tiny_model_dir, adapter=None):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    return PeftModel.from_pretrained(model, adapter).eval() if adapter else model.eval()


def _check(entries: list[dict], want, tol: float) -> None:
    assert len(entries) == len(want)
    for entry, (text, logprob, alternatives) in zip(entries, want, strict=True):
        assert entry["token"] == text and entry["bytes"] == list(text.encode())
        assert math.isclose(entry["logprob"], logprob, abs_tol=tol)
        assert [t["token"] for t in entry["top_logprobs"]] == [t for t, _ in alternatives]
        for got, (_, lp) in zip(entry["top_logprobs"], alternatives, strict=True):
            assert math.isclose(got["logprob"], lp, abs_tol=tol)


def test_pytorch_logprobs_are_the_models_own(deployment, tiny_model_dir, tiny_adapters, tokenizer):
    want = _greedy(_expected(tiny_model_dir, tiny_adapters["alpha"]), tokenizer, 6, 3)
    with running(deployment) as url:
        client = _client(url)
        r = client.completions.create(model="alpha", prompt=PROMPT, max_tokens=6, temperature=0, logprobs=3)
        stream = client.completions.create(model="alpha", prompt=PROMPT, max_tokens=6, temperature=0, logprobs=3,
                                           stream=True)  # fmt: skip
        streamed = [c.choices[0].logprobs for c in stream if c.choices and c.choices[0].logprobs]
    lp = r.choices[0].logprobs
    entries = [{"token": t, "logprob": v, "bytes": list(t.encode()),
                "top_logprobs": [{"token": k, "logprob": x} for k, x in top.items()]}
               for t, v, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True)]  # fmt: skip
    _check(entries, want, 1e-4)
    assert "".join(lp.tokens) == r.choices[0].text
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:k]) for k in range(len(lp.tokens))]
    assert [t for s in streamed for t in s.tokens] == lp.tokens  # streamed, the same tokens once each


def test_chat_logprobs_follow_the_answer_and_need_asking(deployment):
    with running(deployment) as url:
        client = _client(url)
        ask = [{"role": "user", "content": PROMPT}]
        r = client.chat.completions.create(model="beta", messages=ask, max_tokens=12, temperature=0, logprobs=True,
                                           top_logprobs=2)  # fmt: skip
        chunks = client.chat.completions.create(model="beta", messages=ask, max_tokens=12, temperature=0,
                                                logprobs=True, top_logprobs=2, stream=True)  # fmt: skip
        streamed = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
        plain = client.chat.completions.create(model="beta", messages=ask, max_tokens=4)
        with pytest.raises(openai.BadRequestError):  # as OpenAI: top_logprobs needs logprobs
            client.chat.completions.create(model="beta", messages=ask, max_tokens=4, top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert "".join(e.token for e in content) == r.choices[0].message.content
    assert all(len(e.top_logprobs) == 2 and e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob for e in content)
    assert all(e.logprob == e.top_logprobs[0].logprob for e in content)  # greedy: the best token each time
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in content]
    assert plain.choices[0].logprobs is None


def test_llama_cpp_logprobs_equal_the_models(tiny_model_dir, tokenizer, tmp_path):
    from afinar.export.gguf import write_gguf
    from afinar.serve.server import ServeOptions, build

    model = _expected(tiny_model_dir)
    want = _greedy(model, tokenizer, 6, 3)
    write_gguf(model, tmp_path / "tiny.gguf", "f32", tokenizer, "tiny")
    dep = build(ServeOptions(model=str(tiny_model_dir), gguf=tmp_path / "tiny.gguf", max_tokens=40))
    try:
        with running(dep) as url:
            client = _client(url)
            r = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=6, temperature=0, logprobs=3)
            chat = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": PROMPT}],
                                                  max_tokens=6, temperature=0, logprobs=True, n=2)  # fmt: skip
    finally:
        dep.engine.close()
    lp = r.choices[0].logprobs
    entries = [{"token": t, "logprob": v, "bytes": list(t.encode()),
                "top_logprobs": [{"token": k, "logprob": x} for k, x in top.items()]}
               for t, v, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True)]  # fmt: skip
    _check(entries, want, 1e-3)  # llama.cpp's f32 kernels sum in another order
    assert [c.index for c in chat.choices] == [0, 1]
    for c in chat.choices:  # greedy: both choices the same, no alternatives asked
        assert c.message.content == chat.choices[0].message.content
        assert all(e.top_logprobs == [] for e in c.logprobs.content)


def test_several_choices_are_decoded_side_by_side_and_reproducible(deployment):
    ask = [{"role": "user", "content": "Dame tres ideas"}]
    with running(deployment) as url:
        client = _client(url)
        first = client.chat.completions.create(model="alpha", messages=ask, max_tokens=5, n=3, seed=7)
        again = client.chat.completions.create(model="alpha", messages=ask, max_tokens=5, n=3, seed=7)
        stream = client.chat.completions.create(model="alpha", messages=ask, max_tokens=5, n=3, seed=7, stream=True,
                                                stream_options={"include_usage": True})  # fmt: skip
        parts: dict[int, str] = {}
        usage = None
        for c in stream:
            usage = c.usage or usage
            for choice in c.choices:
                parts[choice.index] = parts.get(choice.index, "") + (choice.delta.content or "")
        text = client.completions.create(model="alpha", prompt="Ideas:", max_tokens=5, n=2, seed=3)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="alpha", messages=ask, max_tokens=5, n=17)
    answers = [c.message.content for c in first.choices]
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert len(set(answers)) > 1  # seed + i: not three copies of one answer
    assert answers == [c.message.content for c in again.choices]
    assert [parts[i] for i in range(3)] == answers  # streamed, each choice the same text
    assert all(c.finish_reason == "length" for c in first.choices)
    assert first.usage.completion_tokens == 3 * 5 and usage.completion_tokens == 3 * 5
    assert [c.index for c in text.choices] == [0, 1] and text.usage.completion_tokens == 2 * 5
    records = [r for r in audit_records("serve.chat") if r["details"].get("completion_id") == first.id]
    assert len(records) == 1  # one request, one record, every choice in it
    assert records[0]["details"]["responses"] == answers and "response" not in records[0]["details"]


def test_no_token_of_a_redacted_value_is_shown():
    """The entries of an answer whose e-mail address the sanitizer redacts, split into tokens as a
    BPE tokenizer would: the address is one entry, the redaction, without alternatives."""
    raw = "Escriba a ana.perez@example.com hoy"
    pieces_text = ["Escri", "ba", " a", " ana", ".", "perez", "@", "example", ".com", " hoy"]
    assert "".join(pieces_text) == raw
    pieces, at = [], 0
    for k, text in enumerate(pieces_text):
        pieces.append((at, TokenLogprob(text, -0.5 * (k + 1), (("x" + text, -1.0), ("y" + text, -2.0)))))
        at += len(text)
    clean, counts, spans = Sanitizer().redact(raw)
    assert counts == {"EMAIL": 1}
    entries = [e for _, e in logprob_entries(pieces, raw, spans)]
    assert "".join(e["token"] for e in entries) == clean
    shown = json.dumps(entries)
    assert "perez" not in shown and "example" not in shown
    (redaction,) = [e for e in entries if "EMAIL" in e["token"]]
    assert redaction["top_logprobs"] == []
    assert redaction["token"] == " [EMAIL]"  # " ana" starts the address's first token
    assert math.isclose(redaction["logprob"], sum(-0.5 * (k + 1) for k in range(3, 9)))  # " ana" .. ".com"
    assert entries[0] == {"token": "Escri", "logprob": -0.5, "bytes": list(b"Escri"),
                          "top_logprobs": [{"token": "xEscri", "logprob": -1.0, "bytes": list(b"xEscri")},
                                           {"token": "yEscri", "logprob": -2.0, "bytes": list(b"yEscri")}]}  # fmt: skip
    assert [e["token"] for e in entries] == ["Escri", "ba", " a", " [EMAIL]", " hoy"]
