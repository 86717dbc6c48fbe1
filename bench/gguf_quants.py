"""What each GGUF type costs: size, perplexity on held-out rows, and answers in llama.cpp.

    python bench/gguf_quants.py RUN_DIR [--quants f16,q8_0,q5_k_m,q4_k_m] [--prompts 20]

Exports RUN_DIR (a promoted run) with ``afinar export --format gguf --quant Q`` for each type,
one after the other, into a temporary folder, and prints per type: the file's size and bits per
weight, the perplexity of its weights on the run's held-out rows against the trained model's,
the increase against f16's, and how many of the eval prompts llama.cpp answers with exactly the
trained model's greedy tokens. f16 is what a user would otherwise ship; f32 is the trained
weights themselves; q4_k_m and q5_k_m are quantized by llama.cpp's own code
(afinar/export/kquants.py). An f32 or f16 export that llama.cpp does not answer exactly as the
trained model is refused by ``afinar export``: the bench says so and goes on.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import gguf

REPO = Path(__file__).resolve().parents[1]


def _cpu() -> str:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in flags.splitlines() if ln.startswith("model name")), platform.processor()
    )
    return f"{model}, {'AMX' if 'amx_bf16' in flags else 'no AMX'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--quants", default="f32,f16,q8_0,q5_k_m,q4_k_m")
    parser.add_argument("--prompts", type=int, default=20)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for quant in args.quants.split(","):
            out = Path(tmp) / f"m-{quant}.gguf"
            cmd = [sys.executable, "-m", "afinar", "export", str(args.run_dir), "--format", "gguf", "--quant", quant,
                   "--prompts", str(args.prompts), "-o", str(out)]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            if done.returncode != 0:  # f32/f16 must answer exactly as the trained model, or are refused
                print(f"export --quant {quant} refused: {done.stderr.strip().splitlines()[-1]}", file=sys.stderr)
                continue
            info = json.loads(out.with_suffix(".export.json").read_text())
            rows.append((quant, out.stat().st_size, info["perplexity"], info["verify"]))
            params = sum(int(t.n_elements) for t in gguf.GGUFReader(str(out)).tensors)  # the same in every type
    if not rows:
        sys.exit("no export succeeded")
    f16 = next((p["export"] for q, _, p, _ in rows if q == "f16"), None)
    ppl = rows[0][2]
    print(f"# {args.run_dir.name}: {params / 1e6:.0f}M weights; perplexity on {ppl['rows']} {ppl['split']} rows "
          f"({ppl['tokens']:,} tokens), trained model {ppl['trained']:.4f}; CPU: {_cpu()}")  # fmt: skip
    head = f"{'type':<8} {'MiB':>7} {'bits/w':>7} {'perplexity':>11} {'vs trained':>11} {'vs f16':>8}"
    print(f"{head} {'llama.cpp = trained':>20}")
    for quant, size, p, v in rows:
        vs_f16 = f"{100 * (p['export'] / f16 - 1):+.2f}%" if f16 else "-"  # f16's own row when it was refused
        print(f"{quant:<8} {size / 2**20:>7.1f} {8 * size / params:>7.2f} {p['export']:>11.4f} "
              f"{100 * p['increase']:>+10.2f}% {vs_f16:>8} {v['identical']:>13}/{v['prompts']} prompts")  # fmt: skip


if __name__ == "__main__":
    main()
