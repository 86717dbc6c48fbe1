"""``POST /v1/completions``: raw text in and out, through the official OpenAI client."""

from __future__ import annotations

import openai
import pytest
import torch

PROMPT = "tienda: Madrid-Centro\nperiodo: 2024-05\nproducto,unidades\ncamisas,10\n"


@pytest.fixture(scope="module")
def client(url):
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused-in-local-mode", max_retries=0)


def test_greedy_completion_matches_plain_transformers(client, tiny_model_dir, tiny_adapters, tokenizer):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(tiny_adapters["beta"]))
    ids = torch.tensor([tokenizer(PROMPT)["input_ids"]])
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=10, do_sample=False, eos_token_id=tokenizer.eos_token_id)
    expected = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

    r = client.completions.create(model="beta", prompt=PROMPT, max_tokens=10, temperature=0)
    assert r.choices[0].text == expected
    assert r.usage.prompt_tokens == ids.shape[1] and r.usage.completion_tokens == 10
    assert r.object == "text_completion"


def test_stream_joins_to_the_plain_completion(client):
    plain = client.completions.create(model="alpha", prompt=PROMPT, max_tokens=25, temperature=0)
    chunks = list(client.completions.create(model="alpha", prompt=PROMPT, max_tokens=25, temperature=0, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == plain.choices[0].text
    assert chunks[-1].choices[0].finish_reason == plain.choices[0].finish_reason


def test_one_prompt_per_request(client):
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="alpha", prompt=["a", "b"], max_tokens=4)
    assert "one prompt per request" in err.value.message
