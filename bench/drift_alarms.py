"""How often ``afinar drift`` alerts, at its default thresholds, on windows of real retail
prompts: the false-alarm rate when nothing changed and the detection rate of a topic shift.

    python bench/drift_alarms.py [--trials 100] [--sizes 50,100,150] [--shares 0.1,0.2,0.3]

The reference is 600 training prompts of ``examples/retail-sales-json`` (a seeded sample); the
windows, each drawn anew per trial:

- ``resampled``: training prompts outside the reference (nothing changed);
- ``fresh``: prompts of the held-out eval file (new rows from the same generator);
- ``shift N%``: fresh prompts with N% replaced by IT incident logs written in the retail rows'
  own shape (instruction + key: value lines + a CSV table, EN and ES): the same form, another
  topic.

Prints the share of windows that alerted per kind and window size. The default thresholds are
meant to keep the first two rows under 5%; tests/eval/test_drift.py runs 20 trials at size 100.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

RETAIL = Path(__file__).resolve().parents[1] / "examples" / "retail-sales-json" / "data"


def it_prompts(n: int, seed: int) -> list[str]:
    """``n`` IT incident-log prompts (EN and ES) in the shape of the retail prompts."""
    rng = random.Random(seed)
    asks = {
        "en": ["Summarize this incident log as a JSON report.", "Write a JSON incident report for the IT team."],
        "es": ["Resume este registro de incidencias en un informe JSON.", "Genera un informe de incidencias en JSON."],
    }
    keys = {"en": ("period", "service", "error,count"), "es": ("periodo", "servicio", "error,recuento")}
    errors = ["timeout", "disk_full", "oom_killed", "tls_handshake", "502", "auth_failed"]
    out = []
    for _ in range(n):
        lang = rng.choice(["en", "es"])
        period, service, table = keys[lang]
        lines = [
            f"host: {rng.choice(['web', 'db', 'cache', 'mq'])}-{rng.randint(1, 40):02d}",
            f"{period}: 2024-{rng.randint(1, 12):02d}",
            f"{service}: {rng.choice(['nginx', 'postgres', 'redis', 'rabbitmq', 'sshd'])}",
            table,
            *(f"{e},{rng.randint(1, 90)}" for e in rng.sample(errors, rng.randint(2, 4))),
        ]
        out.append(rng.choice(asks[lang]) + "\n\n" + "\n".join(lines))
    return out


def alarm_rates(encoder, trials: int, sizes=(100,), shares=(0.3,), seed: int = 0) -> dict[tuple[str, int], float]:
    """``{(kind, window size): share of trials that alerted}`` at the default thresholds."""
    from afinar.eval.drift import Thresholds, Window, compare, window_from_file

    texts = {
        "train": window_from_file(RETAIL / "train.jsonl").prompts,
        "held": window_from_file(RETAIL / "eval.jsonl").prompts,
        "other": it_prompts(int(max(sizes) * max(shares)) + 1, seed + 1),
    }
    emb = {k: encoder.embed(v) for k, v in texts.items()}
    rng = np.random.default_rng(seed)
    ref = rng.choice(len(texts["train"]), 600, replace=False)
    rest = np.setdiff1d(np.arange(len(texts["train"])), ref)
    reference, ref_emb = [texts["train"][i] for i in ref], emb["train"][ref]

    def alerts(picks: list[tuple[str, int]], trial: int) -> bool:
        window = Window([texts[k][i] for k, i in picks], "bench")
        win_emb = np.stack([emb[k][i] for k, i in picks])
        return compare(reference, window, ref_emb, win_emb, Thresholds(), seed=trial)["drift"]

    def draw(kind: str, n: int) -> list[tuple[str, int]]:
        pool = rest if kind == "train" else np.arange(len(texts[kind]))
        if n > len(pool):
            raise SystemExit(f"a window of {n} {kind} prompts: only {len(pool)} to draw from (largest --sizes: 150)")
        return [(kind, int(i)) for i in rng.choice(pool, n, replace=False)]

    rates = {}
    for size in sizes:
        # kind -> (where the window comes from, how many of its prompts are IT incidents)
        kinds = {"resampled": ("train", 0), "fresh": ("held", 0)}
        kinds.update({f"shift {share:.0%}": ("held", round(size * share)) for share in shares})
        for kind, (pool, k) in kinds.items():
            hits = sum(alerts(draw(pool, size - k) + draw("other", k), t) for t in range(trials))
            rates[(kind, size)] = hits / trials
    return rates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--sizes", default="50,100,150")
    p.add_argument("--shares", default="0.1,0.2,0.3")
    args = p.parse_args()
    from afinar.eval.drift import Encoder

    sizes = [int(s) for s in args.sizes.split(",")]
    shares = [float(s) for s in args.shares.split(",")]
    start = time.perf_counter()
    rates = alarm_rates(Encoder(), args.trials, sizes, shares)
    kinds = list(dict.fromkeys(k for k, _ in rates))
    print(f"alert rate over {args.trials} windows per cell, default thresholds ({time.perf_counter() - start:.0f} s)")
    print(f"{'window':<12}" + "".join(f"{f'n={s}':>9}" for s in sizes))
    for kind in kinds:
        print(f"{kind:<12}" + "".join(f"{rates[(kind, s)]:>9.0%}" for s in sizes))


if __name__ == "__main__":
    main()
