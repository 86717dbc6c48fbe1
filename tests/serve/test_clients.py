"""The enterprise clients our users run, for real: a Java 17 service with ``java.net.http`` (no
SDK; ``clients/AfinarClient.java``) and a Node service with the official ``openai`` npm package
(``clients/afinar-client.mjs``, pinned in ``clients/package.json``; ``.ci/run`` installs it) call
``afinar serve`` over TLS 1.3 with an API key from the registry, chat and stream; the streamed
deltas join to the plain answer, a wrong key is refused, and the audit log names the caller."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from afinar.registry import Registry
from afinar.serve.auth import Gatekeeper
from tests.conftest import needs_system
from tests.serve.conftest import audit_records, running
from tests.serve.test_tls import cert  # noqa: F401 (a fixture: a self-signed certificate for 127.0.0.1)

CLIENTS = Path(__file__).with_name("clients")
PROMPT = "Ventas de mayo"


@pytest.fixture(scope="module")
def api_key(tmp_path_factory):
    registry_url = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'registry.db'}"
    registry = Registry(registry_url)
    return registry_url, {name: registry.add_user(name, "ml_engineer") for name in ("svc-java", "svc-node")}


def _stream_text(lines: list[str]) -> str:
    """The content of server-sent ``data:`` lines, which must end with ``[DONE]``."""
    assert lines and lines[-1] == "data: [DONE]", lines[-3:]
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@needs_system("java", "openjdk-17-jdk-headless")
def test_a_java_service_chats_and_streams_over_tls13_with_an_api_key(deployment, api_key, cert):  # noqa: F811
    registry_url, key = api_key
    before = len(audit_records())

    def java(base: str, token: str) -> list[str]:
        args = ["java", str(CLIENTS / "AfinarClient.java"), base, token, str(cert[0]), "alpha", PROMPT]
        done = subprocess.run(args, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    with running(deployment, tls=cert, gate=Gatekeeper(registry_url)) as url:
        good = java(url, key["svc-java"])
        wrong = java(url, "afk_not-a-key")
    assert good[0] == "status 200" and good[2] == "stream 200", good[:3]
    answer = json.loads(good[1])
    content = answer["choices"][0]["message"]["content"]
    assert answer["model"] == "alpha" and answer["usage"]["completion_tokens"] >= 1 and content
    assert _stream_text(good[3:]) == content
    assert wrong[0] == "status 401" and json.loads(wrong[1])["error"]["code"] == "invalid_api_key"
    served = [r for r in audit_records()[before:] if r["decision"] == "allow"]
    assert [r["actor"] for r in served] == ["svc-java", "svc-java"]


@needs_system("node", "nodejs")
def test_a_node_service_with_the_openai_package_chats_and_streams(deployment, api_key, cert):  # noqa: F811
    registry_url, key = api_key
    if not (CLIENTS / "node_modules" / "openai").is_dir():
        assert os.environ.get("AFINAR_SYSTEM_TESTS") != "1", "npm ci --prefix tests/serve/clients did not run"
        pytest.skip("the openai npm package is not installed; enable with: npm ci --prefix tests/serve/clients")
    before = len(audit_records())
    with running(deployment, tls=cert, gate=Gatekeeper(registry_url)) as url:
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(cert[0])}
        args = ["node", str(CLIENTS / "afinar-client.mjs"), url, key["svc-node"], "alpha", PROMPT]
        done = subprocess.run(args, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    content = out["plain"]["choices"][0]["message"]["content"]
    assert out["plain"]["model"] == "alpha" and content
    assert out["streamed"] == content
    assert out["refused"] == {"status": 401, "code": "invalid_api_key"}
    served = [r for r in audit_records()[before:] if r["decision"] == "allow"]
    assert [r["actor"] for r in served] == ["svc-node", "svc-node"]
