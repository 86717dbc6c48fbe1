"""``GET /v1/models``: the base model and every adapter, by the names requests use."""

from __future__ import annotations

import openai
import pytest


def test_lists_base_and_adapters(url):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused-in-local-mode", max_retries=0)
    assert sorted(m.id for m in client.models.list()) == ["alpha", "base", "beta"]
    assert client.models.retrieve("alpha").owned_by == "afinar"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gamma")
