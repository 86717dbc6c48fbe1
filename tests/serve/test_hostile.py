"""Hostile input against a running ``afinar serve`` (the real CLI in a subprocess, on loopback).

200 requests in a fixed random order, from 8 clients at once: oversized bodies, broken and deeply
nested JSON, wrong types, bytes that are not UTF-8, response_format schemas that are not schemas,
prompts over the token limit, with valid chat and completion requests among them. Afterwards:
no request got a 5xx, the server still answers, the audit log holds exactly one record per
request (with the status the client saw), and ``afinar audit verify`` passes.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import random
import signal
import subprocess
import sys

import httpx2

from afinar.security.audit import AuditLog
from tests.serve.test_tls import _afinar, _free_port, _wait_until_up

CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
MAX_BODY = 64 * 1024
JSON = {"Content-Type": "application/json"}


def _chat(content="¿Ventas de camisas en mayo?", **extra) -> bytes:
    body = {"model": "alpha", "messages": [{"role": "user", "content": content}], "max_tokens": 3, **extra}
    return json.dumps(body).encode()


WRONG_TYPES = [
    {"model": 5, "messages": "hola"},
    {"model": "alpha", "messages": [{"role": "user", "content": "a"}], "max_tokens": "three"},
    {"model": "alpha", "messages": [{"role": ["user"], "content": {"x": 1}}]},
    {"model": "alpha", "messages": [{"role": "user", "content": "a"}], "temperature": [1]},
    ["not", "an", "object"],
]
NOT_SCHEMAS = [{"type": 12}, {"type": "object", "properties": 3}, {"$ref": 7}]


def _nested(i: int) -> bytes:
    """20,000+ levels of lists: past Python's recursion limit, under the body limit."""
    depth = 20_000 + i
    return b'{"model": "alpha", "messages": ' + b"[" * depth + b"]" * depth + b"}"


def _not_utf8(i: int) -> bytes:
    return b'{"model": "alpha", "messages": [{"role": "user", "content": "caf\xe9\xff' + bytes([i]) + b'"}]}'


def _bad_schema(i: int) -> bytes:
    return _chat(response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": NOT_SCHEMAS[i % 3]}})


def _requests() -> list[tuple[str, str, bytes]]:
    """``(kind, path, body)``: 10 kinds x 20, shuffled with a fixed seed."""
    kinds = {
        "valid chat": lambda i: (CHAT, _chat(f"Resumen de ventas {i}")),
        "valid completion": lambda i: (COMPLETIONS, json.dumps({"model": "alpha", "prompt": f"{i}:", "max_tokens": 3})),
        "oversized body": lambda i: (CHAT, _chat("x" * (MAX_BODY + 10 * i))),
        "broken json": lambda i: (CHAT, _chat()[: 20 + i]),
        "deeply nested": lambda i: (CHAT, _nested(i)),
        "wrong types": lambda i: (CHAT, json.dumps(WRONG_TYPES[i % 5])),
        "not utf-8": lambda i: (CHAT, _not_utf8(i)),
        "bad schema": lambda i: (CHAT, _bad_schema(i)),
        "prompt too long": lambda i: (CHAT, _chat("palabra " * (6000 + i))),
        "unknown model": lambda i: (
            CHAT,
            json.dumps({"model": f"m{i}", "messages": [{"role": "user", "content": "a"}]}),
        ),
    }
    out = [(kind, path, body if isinstance(body, bytes) else body.encode()) for kind, make in kinds.items()
           for path, body in (make(i) for i in range(20))]  # fmt: skip
    random.Random(7).shuffle(out)
    return out


def test_two_hundred_hostile_requests_leave_the_server_answering_and_the_audit_log_whole(
    tiny_model_dir, tiny_adapters, tmp_path
):
    home = tmp_path / "home"
    env = {**os.environ, "AFINAR_HOME": str(home)}
    port = _free_port()
    proc = _afinar(
        "serve", "--model", str(tiny_model_dir), "--adapter", f"alpha={tiny_adapters['alpha']}", "--port", str(port),
        "--max-body-bytes", str(MAX_BODY), "--max-prompt-tokens", "4000", "--max-tokens", "8", env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, url)
        requests = _requests()

        def send(req) -> tuple[str, int]:
            kind, path, body = req
            r = httpx2.post(url + path, content=body, headers=JSON, timeout=120)
            return kind, r.status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, requests))
        after = httpx2.post(url + CHAT, content=_chat("¿Sigues ahí?"), headers=JSON, timeout=60)
        health = httpx2.get(f"{url}/healthz", timeout=10)
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]

    by_kind = collections.defaultdict(collections.Counter)
    for kind, status in answers:
        by_kind[kind][status] += 1
    assert all(status < 500 for _, status in answers), dict(by_kind)
    assert by_kind["valid chat"] == {200: 20} and by_kind["valid completion"] == {200: 20}
    assert by_kind["oversized body"] == {413: 20} and by_kind["prompt too long"] == {400: 20}
    assert by_kind["unknown model"] == {404: 20}
    for kind in ("broken json", "deeply nested", "wrong types", "not utf-8", "bad schema"):
        assert by_kind[kind] == {400: 20}, (kind, by_kind[kind])
    assert after.status_code == 200 and health.status_code == 200, after.text

    records = [r for r in AuditLog(home).records() if r["action"] in ("serve.chat.completions", "serve.completions")]
    assert len(records) == len(requests) + 1  # one per request, the check afterwards included
    seen = collections.Counter(r["details"]["status"] for r in records)
    sent = collections.Counter([status for _, status in answers] + [after.status_code])
    assert seen == sent
    verify = subprocess.run(
        [sys.executable, "-m", "afinar", "audit", "verify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr + out
