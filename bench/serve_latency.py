"""Serving speed: afinar's server against llama.cpp's own server, on the same model and prompts.

    python bench/serve_latency.py [--run RUN_DIR] [--gguf FILE] [--requests 8] [--clients 8]

Defaults to the newest ``runs/retail-demo-*`` that ``make demo`` left (its f16 GGUF export).
Three servers, one at a time on loopback (never two at once: they would share the two cores):

1. ``llama-server``: llama.cpp's OpenAI-compatible server on the GGUF (through ``xllamacpp``),
   what a user would run without us.
2. ``afinar serve --gguf``: the same llama.cpp engine behind afinar's auth, guard, sanitizer and
   audit log; the ratio to (1) is what governance costs.
3. ``afinar serve --run``: the PyTorch engine (base model + LoRA adapter, unmerged).

Each gets one warm-up request, then ``--requests`` sequential requests (single) and ``--clients``
concurrent clients sending ``--requests`` / 2 each (concurrent). Greedy decoding, the retail
eval prompts, the run's system prompt sent explicitly to all three. Prints p50/p95 latency and
completion tokens per second (all completion tokens / wall time of the phase).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

REPO = Path(__file__).resolve().parents[1]
THREADS = len(os.sched_getaffinity(0))

LLAMA_SERVER = """
import sys, time, xllamacpp
p = xllamacpp.CommonParams()
p.model.path = sys.argv[1]
p.port = int(sys.argv[2])
p.n_parallel = int(sys.argv[3])
p.n_ctx = 2560 * p.n_parallel
p.cpuparams.n_threads = p.cpuparams_batch.n_threads = int(sys.argv[4])
p.warmup = False
p.verbosity = -1
server = xllamacpp.Server(p)
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], url: str, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{cmd[:4]} exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx2.get(f"{url}/v1/models", timeout=2).status_code == 200:
                return proc
        except httpx2.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"{cmd[:4]} did not start in 300 s")


def _ask(url: str, model: str, messages: list[dict], max_tokens: int) -> tuple[float, int]:
    body = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}
    started = time.perf_counter()
    r = httpx2.post(f"{url}/v1/chat/completions", json=body, timeout=600)
    r.raise_for_status()
    return time.perf_counter() - started, r.json()["usage"]["completion_tokens"]


def _phase(url, model, conversations, max_tokens, clients) -> dict:
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda m: _ask(url, model, m, max_tokens), conversations))
    wall = time.perf_counter() - started
    latencies = sorted(r[0] for r in results)
    tokens = sum(r[1] for r in results)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return {"p50": statistics.median(latencies), "p95": p95, "tok_s": tokens / wall, "tokens": tokens}


def _newest_run() -> Path:
    runs = sorted(REPO.glob("runs/retail-demo-*/export/gguf-f16/*.gguf"))
    if not runs:
        raise SystemExit(
            "no runs/retail-demo-*/export/gguf-f16/*.gguf: run 'make demo' first, or pass --run and --gguf"
        )
    return runs[-1].parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path)
    parser.add_argument("--gguf", type=Path)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    run = args.run or _newest_run()
    gguf = args.gguf or next((run / "export" / "gguf-f16").glob("*.gguf"))
    sys.path.insert(0, str(REPO))
    from afinar.run_folder import load_run

    recipe = load_run(run)
    rows = [json.loads(x) for x in Path(recipe.data.eval).read_text(encoding="utf-8").splitlines() if x.strip()]
    system = {"role": "system", "content": recipe.data.system_prompt}
    convs = [[system, {"role": "user", "content": f"{r['instruction']}\n\n{r['input']}"}] for r in rows]
    n, c = args.requests, args.clients
    single, concurrent_ = convs[1 : 1 + n], convs[1 + n : 1 + n + c * max(1, n // 2)]
    home = tempfile.mkdtemp(prefix="afinar-bench-home-")
    env = {**os.environ, "AFINAR_HOME": home}
    # --force: speed is measured whatever the gate decided (the override is audited in the bench's home)
    afinar = [sys.executable, "-m", "afinar", "serve", "--run", str(run), "--max-batch", str(c), "--force"]
    servers = [
        ("llama-server (llama.cpp)", [sys.executable, "-c", LLAMA_SERVER, str(gguf)], "port", gguf.name),
        ("afinar serve --gguf", [*afinar, "--gguf", str(gguf)], "--port", recipe.name),
        ("afinar serve (PyTorch+LoRA)", afinar, "--port", recipe.name),
    ]
    table = []
    for name, cmd, port_flag, model in servers:
        port = _port()
        url = f"http://127.0.0.1:{port}"
        full = [*cmd, str(port), str(c), str(THREADS)] if port_flag == "port" else [*cmd, port_flag, str(port)]
        print(f"{name}: starting", file=sys.stderr, flush=True)
        proc = _start(full, url, env)
        try:
            _ask(url, model, convs[0], args.max_tokens)
            row = {"server": name, "single": _phase(url, model, single, args.max_tokens, 1)}
            row["concurrent"] = _phase(url, model, concurrent_, args.max_tokens, c)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        table.append(row)
        print(f"{name}: done", file=sys.stderr, flush=True)

    print(f"\n{gguf.name}, {THREADS} CPU threads, greedy, max_tokens {args.max_tokens}")
    print(f"single: {len(single)} sequential requests; concurrent: {c} clients, {len(concurrent_)} requests\n")
    head = f"{'server':<30}{'p50 s':>8}{'p95 s':>8}{'tok/s':>8}  |{'p50 s':>8}{'p95 s':>8}{'tok/s':>8}"
    print(f"{'':<30}{'--- single ---':>24}  |{'--- concurrent ---':>24}")
    print(head)
    for row in table:
        s, k = row["single"], row["concurrent"]
        print(
            f"{row['server']:<30}{s['p50']:>8.2f}{s['p95']:>8.2f}{s['tok_s']:>8.1f}  |"
            f"{k['p50']:>8.2f}{k['p95']:>8.2f}{k['tok_s']:>8.1f}"
        )
    ref = table[0]
    for row in table[1:]:
        one = row["single"]["tok_s"] / ref["single"]["tok_s"]
        many = row["concurrent"]["tok_s"] / ref["concurrent"]["tok_s"]
        print(f"\n{row['server']} / llama-server throughput: single {one:.2f}x, concurrent {many:.2f}x")


if __name__ == "__main__":
    main()
