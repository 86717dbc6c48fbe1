"""A bounded load test: 16 concurrent clients x 10 requests, zero errors, and an audit chain that
verifies afterwards with exactly one record per request."""

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

        def client_run(c: int) -> list[int]:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
            out = []
            for i in range(REQUESTS):
                model = ("alpha", "beta", "base")[(c + i) % 3]
                r = client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": f"Cliente {c}, petición {i}: ventas de mayo"}],
                    max_tokens=6,
                    stream=i % 2 == 1,
                )
                out.append(sum(1 for _ in r) if i % 2 else r.usage.completion_tokens)
            return out

        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(client_run, range(CLIENTS)))
    assert all(len(r) == REQUESTS and all(n > 0 for n in r) for r in results)
    new = log.records()[before:]
    assert len(new) == CLIENTS * REQUESTS
    assert all(r["action"] == "serve.chat.completions" and r["decision"] == "allow" for r in new)
    check = log.verify()
    assert check.ok, check.problems
    assert max(list(deployment.engine.batches)[-CLIENTS * REQUESTS :]) > 1
