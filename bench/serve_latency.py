"""Serving speed: afinar's server against llama.cpp's own server, on the same model and prompts.

    python bench/serve_latency.py [--run RUN_DIR] [--gguf FILE] [--requests 8] [--clients 8] [--adapters 4] [--only 1,3]

Defaults to the newest ``runs/retail-demo-*`` that ``make demo`` left (its f16 GGUF export).
The servers, one at a time on loopback (never two at once: they would share the two cores):

1. ``llama-server``: llama.cpp's OpenAI-compatible server on the GGUF (through ``xllamacpp``),
   what a user would run without us.
2. ``afinar serve --gguf``: the same llama.cpp engine behind afinar's auth, guard, sanitizer and
   audit log; the ratio to (1) is what governance costs.
3. ``afinar serve --run``: the PyTorch engine (base model + LoRA adapter, unmerged).
4. ``llama-server`` on the unmerged f16 base with ``--adapters`` GGUF LoRA adapters, requests
   spread over them (llama.cpp's per-request ``lora`` field);
5. ``afinar serve --gguf BASE --adapter ...``: the same, behind afinar.

Rows 4 and 5 use the run's ``afinar export --format gguf-lora`` (made first when missing), copied
under ``--adapters`` names: llama.cpp holds each copy as an adapter of its own, as it would hold
adapters of different runs, so the cost of serving several is what is measured. Their ratio is
against row 1, one merged model of the same size.

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
import shutil
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
for path in sys.argv[5:]:
    lora = xllamacpp.CommonAdapterLoraInfo()
    lora.path, lora.scale = path, 0.0
    p.lora_adapters = [*p.lora_adapters, lora]
p.lora_init_without_apply = True
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


def _ask(url: str, model: str | int, messages: list[dict], max_tokens: int, loras: int = 0) -> tuple[float, int]:
    """One greedy chat request to ``model`` (for llama-server with ``loras`` adapters loaded: the
    adapter index, in its per-request ``lora`` field)."""
    body = {"model": str(model), "messages": messages, "max_tokens": max_tokens, "temperature": 0}
    if loras:
        body["lora"] = [{"id": i, "scale": 1.0 if i == model else 0.0} for i in range(loras)]
    started = time.perf_counter()
    r = httpx2.post(f"{url}/v1/chat/completions", json=body, timeout=600)
    r.raise_for_status()
    return time.perf_counter() - started, r.json()["usage"]["completion_tokens"]


def _phase(url, models: list, conversations, max_tokens, clients, loras: int = 0) -> dict:
    """Requests over ``conversations``, the i-th to ``models[i % len(models)]``."""
    jobs = [(models[i % len(models)], m) for i, m in enumerate(conversations)]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda job: _ask(url, job[0], job[1], max_tokens, loras), jobs))
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


def _adapter_copies(run: Path, k: int, env: dict) -> tuple[Path, list[Path]]:
    """The run's gguf-lora base and ``k`` copies of its adapter (with their export records) in a
    temporary folder; exports the run first if it has no gguf-lora export."""
    folder = run / "export" / "gguf-lora"
    if not list(folder.glob("*-lora.gguf")):
        print("exporting the run's adapter as GGUF LoRA (once)", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-m", "afinar", "export", str(run), "--format", "gguf-lora", "--force"]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    adapter = next(folder.glob("*-lora.gguf"))
    base = Path(json.loads(adapter.with_suffix(".export.json").read_text())["base"]["path"])
    copies = Path(tempfile.mkdtemp(prefix="afinar-bench-adapters-"))
    out = []
    for i in range(k):
        for suffix in (".gguf", ".export.json"):
            shutil.copy(adapter.with_suffix(suffix), copies / f"a{i}-lora{suffix}")
        out.append(copies / f"a{i}-lora.gguf")
    return base, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path)
    parser.add_argument("--gguf", type=Path)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--adapters", type=int, default=4, help="GGUF LoRA adapters in rows 4-5 (0: skip them)")
    parser.add_argument("--only", help="rows to run, e.g. 1,3 (row 1, llama-server, always runs: the reference)")
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
    llama = [sys.executable, "-c", LLAMA_SERVER]
    servers = [  # name, command, how it takes its port, the models requests go to, adapters in the body
        ("llama-server (llama.cpp)", [*llama, str(gguf)], "port", [gguf.name], []),
        ("afinar serve --gguf", [*afinar, "--gguf", str(gguf)], "--port", [recipe.name], []),
        ("afinar serve (PyTorch+LoRA)", [*afinar, "--engine", "torch"], "--port", [recipe.name], []),
    ]
    if args.adapters:
        base, loras = _adapter_copies(run, args.adapters, env)
        names = [p.name.removesuffix("-lora.gguf") for p in loras]
        pairs = [f"--adapter={n}={p}" for n, p in zip(names, loras, strict=True)]
        multi = [*afinar[:4], "--model", recipe.base_model, "--gguf", str(base), *afinar[6:], *pairs]
        servers += [
            (f"llama-server {len(loras)} adapters", [*llama, str(base)], "port", list(range(len(loras))), loras),
            (f"afinar --gguf {len(loras)} adapters", multi, "--port", names, []),
        ]
    if args.only:
        keep = {1, *(int(k) for k in args.only.split(","))}
        servers = [row for i, row in enumerate(servers, 1) if i in keep]
    table = []
    for name, cmd, port_flag, models, loras in servers:
        port = _port()
        url = f"http://127.0.0.1:{port}"
        full = (
            [*cmd, str(port), str(c), str(THREADS), *map(str, loras)]
            if port_flag == "port"
            else [*cmd, port_flag, str(port)]
        )
        print(f"{name}: starting", file=sys.stderr, flush=True)
        proc = _start(full, url, env)
        try:
            _ask(url, models[0], convs[0], args.max_tokens, len(loras))
            row = {"server": name, "single": _phase(url, models, single, args.max_tokens, 1, len(loras))}
            row["concurrent"] = _phase(url, models, concurrent_, args.max_tokens, c, len(loras))
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
