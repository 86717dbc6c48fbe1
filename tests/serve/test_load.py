"""A bounded load test: 16 concurrent clients x 10 requests, zero errors, every streamed answer
joining to the text of the same request not streamed, and an audit chain that verifies
afterwards with exactly one record per request."""

from __future__ import annotations

import concurrent.futures

import openai

from afinar.security.audit import audit_log
from tests.serve.conftest import running

CLIENTS, REQUESTS = 16, 10


def test_sixteen_clients_ten_requests_each(deployment):
    log = audit_log()
    before = len(log.records())
    with running(deployment) as url:

        def client_run(c: int) -> list[tuple[str, str]]:
            """Five pairs: the same greedy request plain, then streamed; returns both texts."""
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
            pairs = []
            for i in range(REQUESTS // 2):
                ask = {
                    "model": ("alpha", "beta", "base")[(c + i) % 3],
                    "messages": [{"role": "user", "content": f"Cliente {c}, petición {i}: ventas de mayo"}],
                    "max_tokens": 6,
                    "temperature": 0,
                }
                plain = client.chat.completions.create(**ask)
                assert plain.usage.completion_tokens > 0
                chunks = list(client.chat.completions.create(**ask, stream=True))
                streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
                pairs.append((plain.choices[0].message.content, streamed))
            return pairs

        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(client_run, range(CLIENTS)))
    pairs = [p for r in results for p in r]
    assert len(pairs) == CLIENTS * REQUESTS // 2
    assert all(plain == streamed for plain, streamed in pairs), [p for p in pairs if p[0] != p[1]][:3]
    assert len({plain for plain, _ in pairs}) > 3  # the answers differ by model and prompt: not one empty text
    new = log.records()[before:]
    assert len(new) == CLIENTS * REQUESTS
    assert all(r["action"] == "serve.chat.completions" and r["decision"] == "allow" for r in new)
    check = log.verify()
    assert check.ok, check.problems
    assert max(list(deployment.engine.batches)[-CLIENTS * REQUESTS :]) > 1
