"""API keys from the registry, roles, rate limits and body limits, each with its audit record."""

from __future__ import annotations

import httpx2
import openai
import pytest

from afinar.registry import Registry
from afinar.serve.auth import Gatekeeper
from tests.serve.conftest import audit_records, running

ASK = {"model": "alpha", "messages": [{"role": "user", "content": "Ventas de mayo"}], "max_tokens": 2}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'registry.db'}"
    registry = Registry(url)
    keys = {name: registry.add_user(name, role) for name, role in [("ana", "ml_engineer"), ("olga", "auditor")]}
    keys["gone"] = registry.add_user("gone", "admin")
    registry.disable_user("gone")
    return url, keys


def _client(url, key):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def test_keys_roles_and_rate_limit(deployment, keys):
    registry_url, key = keys
    before = len(audit_records())
    with running(deployment, gate=Gatekeeper(registry_url, rate_per_minute=3)) as url:
        no_key = httpx2.post(f"{url}/v1/chat/completions", json=ASK)
        with pytest.raises(openai.AuthenticationError) as bad:
            _client(url, "afk_not-a-key").chat.completions.create(**ASK)
        with pytest.raises(openai.AuthenticationError):
            _client(url, key["gone"]).chat.completions.create(**ASK)
        with pytest.raises(openai.PermissionDeniedError) as denied:
            _client(url, key["olga"]).chat.completions.create(**ASK)
        ana = _client(url, key["ana"])
        served = [ana.chat.completions.create(**ASK) for _ in range(3)]
        throttled = httpx2.post(
            f"{url}/v1/chat/completions", json=ASK, headers={"Authorization": f"Bearer {key['ana']}"}
        )
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "missing_api_key"
    assert bad.value.code == "invalid_api_key"
    assert denied.value.code == "permission_denied" and "serve" in denied.value.message
    assert len(served) == 3
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 20
    records = audit_records()[before:]
    assert [(r["actor"], r["decision"]) for r in records] == [
        ("unknown", "deny"),
        ("unknown", "deny"),
        ("unknown", "deny"),
        ("olga", "deny"),
        ("ana", "allow"),
        ("ana", "allow"),
        ("ana", "allow"),
        ("ana", "throttle"),
    ]
    assert all(k not in str(records) for k in key.values())


def test_body_over_the_limit_is_413(deployment):
    before = len(audit_records())
    with running(deployment, max_body_bytes=2000) as url:
        big = {**ASK, "messages": [{"role": "user", "content": "x" * 3000}]}
        r = httpx2.post(f"{url}/v1/chat/completions", json=big)
        ok = httpx2.post(f"{url}/v1/chat/completions", json=ASK)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert ok.status_code == 200
    records = audit_records()[before:]
    assert [r["decision"] for r in records] == ["reject", "allow"]
    assert records[0]["details"]["status"] == 413
