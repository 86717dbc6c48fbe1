"""Adapters added and removed while the server runs under load: no request fails, the new adapter
answers as it does loaded at start, each change and each request is one audit record, and only
callers with ``deploy`` may make a change."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest
from typer.testing import CliRunner

from afinar.cli import app
from afinar.registry import Registry
from afinar.serve.auth import Gatekeeper
from tests.conftest import tiny_recipe
from tests.serve.conftest import audit_records, running

ASK = {"messages": [{"role": "user", "content": "Ventas de camisas en mayo"}], "max_tokens": 6, "temperature": 0}


@pytest.fixture(scope="module")
def alpha_only(tiny_model_dir, tiny_adapters, deployment):
    """The tiny model served with ``alpha`` only; ``beta`` is added by the tests."""
    from afinar.serve.server import ServeOptions, build

    dep = build(
        ServeOptions(
            model=str(tiny_model_dir),
            adapters={"alpha": tiny_adapters["alpha"]},
            system_prompt=deployment.system_prompt,  # the same prompts as the deployment with beta from the start
            max_tokens=16,
        )
    )
    yield dep
    dep.engine.close()


def _chat(url: str, model: str, headers: dict | None = None) -> httpx2.Response:
    return httpx2.post(f"{url}/v1/chat/completions", json={**ASK, "model": model}, headers=headers, timeout=120)


def test_an_adapter_added_under_load_serves_and_no_request_fails(alpha_only, deployment, tiny_adapters):
    with running(deployment) as url:  # beta loaded at start: what the added one must answer
        expected = _chat(url, "beta").json()["choices"][0]["message"]["content"]
    before = len(audit_records())
    stop, results = threading.Event(), []

    def client(i: int) -> None:
        while not stop.is_set():
            results.append(_chat(url, "alpha" if i % 2 else "base").status_code)

    with running(alpha_only) as url, ThreadPoolExecutor(16) as pool:
        for i in range(16):
            pool.submit(client, i)
        time.sleep(1.0)  # the load is running
        added = httpx2.post(f"{url}/v1/adapters", json={"name": "beta", "path": str(tiny_adapters["beta"])}, timeout=60)
        first = _chat(url, "beta")
        time.sleep(0.5)
        stop.set()
    assert added.status_code == 200, added.text
    assert added.json()["id"] == "beta"
    assert first.status_code == 200 and first.json()["choices"][0]["message"]["content"] == expected
    assert len(results) > 16 and set(results) == {200}
    records = audit_records()[before:]
    adds = [r for r in records if r["action"] == "serve.adapter.add"]
    assert [(r["resource"], r["decision"], r["details"]["path"]) for r in adds] == [
        ("beta", "allow", str(tiny_adapters["beta"]))
    ]
    chats = [r for r in records if r["action"] == "serve.chat.completions"]
    assert len(chats) == len(results) + 1  # every request, and the first one to beta
    assert sorted(alpha_only.models) == ["alpha", "base", "beta"]


def test_a_removed_adapter_finishes_its_requests_then_is_gone(alpha_only, tiny_adapters):
    before = len(audit_records())
    with running(alpha_only) as url:
        if "beta" not in alpha_only.models:
            body = {"name": "beta", "path": str(tiny_adapters["beta"])}
            assert httpx2.post(f"{url}/v1/adapters", json=body, timeout=60).status_code == 200
        engine, admitted = alpha_only.engine, alpha_only.engine.admitted
        with ThreadPoolExecutor(4) as pool:
            running_requests = [pool.submit(_chat, url, "beta") for _ in range(4)]
            deadline = time.monotonic() + 30
            while engine.admitted + engine._queue.qsize() < admitted + 4:  # all four reached the engine
                assert time.monotonic() < deadline
                time.sleep(0.001)
            removed = httpx2.delete(f"{url}/v1/adapters/beta", timeout=60)
            answers = [f.result() for f in running_requests]
        assert removed.status_code == 200 and removed.json() == {"id": "beta", "object": "model", "deleted": True}
        assert [a.status_code for a in answers] == [200] * 4  # in flight or queued before: answered
        gone = _chat(url, "beta")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "model_not_found"
        assert "beta" not in alpha_only.engine.adapters
        assert httpx2.delete(f"{url}/v1/adapters/base", timeout=10).status_code == 404
    records = audit_records()[before:]
    removals = [(r["resource"], r["decision"]) for r in records if r["action"] == "serve.adapter.remove"]
    assert removals == [("beta", "allow"), ("base", "reject")]


def test_who_may_change_adapters_and_what_is_refused(alpha_only, tiny_adapters, tiny_model_dir, tmp_path):
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    registry = Registry(registry_url)
    key = {name: registry.add_user(name, role) for name, role in [("ana", "ml_engineer"), ("vic", "viewer")]}
    registry.add_user("sam", "auditor")
    body = {"name": "gamma", "path": str(tiny_adapters["beta"])}
    recipe = tiny_recipe(tmp_path, tiny_model_dir, train={"max_steps": 1})
    assert CliRunner().invoke(app, ["train", "--quiet", str(recipe), "--run-dir", str(tmp_path / "run")]).exit_code == 0
    before = len(audit_records())
    with running(alpha_only, gate=Gatekeeper(registry_url)) as url:

        def post(who: str, json: dict) -> httpx2.Response:
            return httpx2.post(f"{url}/v1/adapters", json=json, headers={"Authorization": f"Bearer {key[who]}"})

        denied = post("vic", body)
        bad_name = post("ana", {**body, "name": "../x"})
        missing = post("ana", {**body, "path": str(tmp_path / "nothing")})
        unpromoted = post("ana", {**body, "path": str(tmp_path / "run")})
        taken = post("ana", {**body, "name": "alpha"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission_denied"
    assert "deploy" in denied.json()["error"]["message"]
    assert bad_name.status_code == 400 and "name" in bad_name.json()["error"]["message"]
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "invalid_adapter"
    assert unpromoted.status_code == 409 and unpromoted.json()["error"]["code"] == "not_promoted"
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "adapter_exists"
    records = [r for r in audit_records()[before:] if r["action"] == "serve.adapter.add"]
    assert [(r["actor"], r["decision"]) for r in records] == [("vic", "deny")] + [("ana", "reject")] * 4
    assert "gamma" not in alpha_only.models


def test_a_change_asked_of_a_server_shutting_down_is_503(tiny_model_dir, tiny_adapters):
    from afinar.serve.server import ServeOptions, build

    dep = build(ServeOptions(model=str(tiny_model_dir), adapters={"alpha": tiny_adapters["alpha"]}))
    dep.engine.close()
    with running(dep) as url:
        added = httpx2.post(f"{url}/v1/adapters", json={"name": "beta", "path": str(tiny_adapters["beta"])})
        removed = httpx2.delete(f"{url}/v1/adapters/alpha")
    assert added.status_code == 503 and added.json()["error"]["code"] == "server_busy"
    assert removed.status_code == 503 and removed.json()["error"]["code"] == "server_busy"
