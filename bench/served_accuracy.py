"""Field accuracy of a run served by afinar, with and without schema-constrained decoding.

    python bench/served_accuracy.py [--run RUN_DIR] [--limit 150] [--engine auto] [--clients 4]

Defaults to the newest ``runs/retail-demo-*`` that ``make demo`` left. The rows ``afinar eval``
scores (the held-out split, as training masked it), each asked through ``afinar serve --run`` on
loopback as a client would (greedy, ``max_tokens`` = the recipe's ``eval.max_new_tokens``), in
three ways:

1. ``free``: no ``response_format``: what a client gets that does not ask for JSON;
2. ``constrained``: ``response_format: json_schema`` with the task schema less its
   ``x-afinar-derive`` rules: decoded under the schema, every field the model's own;
3. ``constrained + derived``: the task schema as it is: afinar also writes the derived fields
   (totals, arg-maxes, findings) from the model's own lines, as the eval scores them.

Scored with the eval's own metric (parse rate, schema-valid rate, field accuracy), next to what
``afinar eval`` wrote for the run (PyTorch ``generate``; the server may run llama.cpp on the
run's GGUF LoRA export: ``--engine``). An answer the server refuses (422: not JSON where JSON was
promised, e.g. cut by ``max_tokens``) counts as an unparseable answer.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from serve_latency import REPO, _port, _start

sys.path.insert(0, str(REPO))

from afinar.data.intake import rows_as_trained
from afinar.eval.derive import KEYWORD
from afinar.eval.domain import json_metrics
from afinar.eval.run import load_schema, prompt_and_reference, scored_examples
from afinar.run_folder import load_run


def _without_rules(node):
    """``node`` (a JSON Schema) without its ``x-afinar-derive`` keywords."""
    if isinstance(node, dict):
        return {k: _without_rules(v) for k, v in node.items() if k != KEYWORD}
    if isinstance(node, list):
        return [_without_rules(v) for v in node]
    return node


def _ask(url: str, model: str, messages: list[dict], max_tokens: int, schema: dict | None) -> str:
    body = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}
    if schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    r = httpx2.post(f"{url}/v1/chat/completions", json=body, timeout=900)
    if r.status_code == 422:  # the promise of JSON broken (cut by max_tokens): no answer
        return ""
    r.raise_for_status()
    return r.json()["choices"][0]["message"]["content"] or ""


def _newest_run() -> Path:
    runs = sorted(REPO.glob("runs/retail-demo-*/eval/domain.json"))
    if not runs:
        raise SystemExit("no runs/retail-demo-*/eval/domain.json: run 'make demo' first, or pass --run")
    return runs[-1].parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path)
    parser.add_argument("--limit", type=int, default=150, help="the first N scored rows")
    parser.add_argument("--engine", default="auto", choices=["auto", "llamacpp", "torch"])
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    run = args.run or _newest_run()
    recipe = load_run(run)
    schema = load_schema(recipe.eval.json_schema)
    if schema is None:
        raise SystemExit(f"{run}: its recipe has no eval.json_schema: nothing to constrain")
    examples = scored_examples(rows_as_trained(recipe).held, recipe.eval)[: args.limit]
    prompts, refs = zip(*(prompt_and_reference(ex) for ex in examples), strict=True)
    modes = {"free": None, "constrained": _without_rules(copy.deepcopy(schema)), "constrained + derived": schema}

    port = _port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AFINAR_HOME": tempfile.mkdtemp(prefix="afinar-bench-home-"), "COLUMNS": "400"}
    cmd = [sys.executable, "-m", "afinar", "serve", "--run", str(run), "--engine", args.engine, "--force",
           "--max-batch", str(args.clients), "--port", str(port)]  # fmt: skip
    print(f"afinar serve --run {run} --engine {args.engine}: starting", file=sys.stderr, flush=True)
    proc = _start(cmd, url, env)
    table = {}
    try:
        for mode, constraint in modes.items():
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
                answers = list(pool.map(lambda p, c=constraint: _ask(url, recipe.name, p, recipe.eval.max_new_tokens,
                                                                     c), prompts))  # fmt: skip
            m = json_metrics(answers, list(refs), schema, recipe.eval.ignore_fields)
            table[mode] = m | {"seconds": time.perf_counter() - started}
            print(f"{mode}: {m['field_accuracy']:.3f} field accuracy", file=sys.stderr, flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    engine = next((line for line in proc.stderr.read().splitlines() if "engine" in line), "") if proc.stderr else ""

    print(f"\n{run.name}: {len(prompts)} eval rows served ({engine or args.engine})\n")
    print(f"{'answers':<26}{'parsed':>9}{'schema-valid':>14}{'field acc.':>12}{'seconds':>10}")
    for mode, m in table.items():
        print(f"{mode:<26}{m['json_parse_rate']:>9.1%}{m['schema_valid_rate']:>14.1%}{m['field_accuracy']:>12.1%}"
              f"{m['seconds']:>10.0f}")  # fmt: skip
    try:
        tuned = json.loads((run / "eval" / "domain.json").read_text())["tuned"]
        alone = tuned.get("derived", {}).get("model_only", tuned)
        print(f"{'afinar eval (PyTorch)':<26}{tuned['json_parse_rate']:>9.1%}{tuned['schema_valid_rate']:>14.1%}"
              f"{tuned['field_accuracy']:>12.1%}   (model alone: {alone['field_accuracy']:.1%}; "
              f"constrained: {recipe.eval.constrained})")  # fmt: skip
    except (OSError, KeyError, ValueError):
        pass
    free, held = table["free"]["field_accuracy"], table["constrained"]["field_accuracy"]
    print(
        f"\nconstrained / free: {held / free if free else float('inf'):.3f}x field accuracy; "
        f"schema-valid {table['free']['schema_valid_rate']:.1%} -> {table['constrained']['schema_valid_rate']:.1%}"
    )


if __name__ == "__main__":
    main()
