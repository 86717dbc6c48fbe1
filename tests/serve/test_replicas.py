"""Three ``afinar serve`` processes on loopback as replicas behind one balancer, sharing a home: each
keeps its own audit chain, ``afinar audit verify`` checks them all, and a record deleted from one
replica's chain is reported with the replica and the record."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx2
from typer.testing import CliRunner

from afinar.cli import app


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(model_dir, replica: str, env: dict) -> tuple[subprocess.Popen, str]:
    port = _port()
    cmd = [sys.executable, "-m", "afinar", "serve", "--model", str(model_dir), "--port", str(port),
           "--replica", replica, "--max-tokens", "8"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{port}"


def _ready(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if httpx2.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        assert time.monotonic() < deadline, "a replica did not start"
        time.sleep(0.2)


def test_three_replicas_keep_verifiable_chains_and_a_deleted_record_is_named(tiny_model_dir, tmp_path, monkeypatch):
    home = tmp_path / "home"  # its own: the chain tampered with below must not reach other tests
    monkeypatch.setenv("AFINAR_HOME", str(home))
    env = {**os.environ, "AFINAR_HOME": str(home)}
    env.pop("AFINAR_REPLICA", None)
    servers = [_start(tiny_model_dir, f"r{i}", env) for i in (1, 2, 3)]
    try:
        for proc, url in servers:
            _ready(proc, url)
        body = {"model": "base", "messages": [{"role": "user", "content": "Ventas de mayo"}], "max_tokens": 4}
        for i in range(9):  # the balancer's round robin
            url = servers[i % 3][1]
            assert httpx2.post(f"{url}/v1/chat/completions", json=body, timeout=60).status_code == 200
    finally:
        for proc, _ in servers:
            proc.terminate()
            proc.wait(timeout=30)

    audit = home / "audit"
    chains = {}
    for replica in ("r1", "r2", "r3"):
        chains[replica] = [json.loads(x) for x in (audit / f"log.{replica}.jsonl").read_text().splitlines()]
    assert not (audit / "log.jsonl").exists()  # every record went to a replica's chain
    for replica, records in chains.items():
        served = [r for r in records if r["action"] == "serve.chat.completions"]
        assert len(served) == 3 and {r["replica"] for r in records} == {replica}
        assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
        assert records[0]["action"] == "serve.start"

    runner = CliRunner()
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    total = sum(len(records) for records in chains.values())
    assert f"intact: {total} records in 3 chains" in " ".join(result.output.split())

    lines = (audit / "log.r2.jsonl").read_text().splitlines()
    deleted = json.loads(lines[2])["seq"]
    (audit / "log.r2.jsonl").write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert f"replica r2: line 3: record(s) seq {deleted}..{deleted} were deleted before seq {deleted + 1}" in said
    assert "replica r1" not in said and "replica r3" not in said
