"""Base vs tuned on the same benchmark items: the paired difference, its interval, and the drop
the item count can detect.

Two models scored on the same ``n`` items give a 2x2 table of per-item results::

                     tuned right   tuned wrong
    base right            a             b
    base wrong            c             d

The difference in accuracy is ``(c - b) / n``: only the discordant items (``b``, ``c``) carry
information, which is why a paired comparison is far tighter than two independent intervals
(each item's own difficulty cancels). Reported:

- ``delta``: tuned minus base, in points;
- ``ci95``: Newcombe's hybrid score interval for a paired difference of proportions (Newcombe
  1998, "Improved confidence intervals for the difference between binomial proportions based on
  paired data", Stat. Med. 17:2635, method 10, its correlation continuity-corrected): the Wilson
  intervals of both rates, combined with the correlation of the pairs; it stays inside
  [-100, 100] and behaves at 0 discordant items;
- ``mcnemar_p``: the exact two-sided McNemar test (a binomial test of ``c`` among ``b + c``);
- ``detectable_drop``: the smallest true drop, in points, that a one-sided test at 2.5% finds
  with 80% power at this ``n``, given the discordance seen: ``(z_0.975 + z_0.8) * sqrt(p_disc / n)``
  with ``p_disc = (b + c) / n`` (the usual sample-size formula for paired proportions, e.g.
  Connor 1987, Biometrics 43:207). A gate that allows a 1-point drop but whose items cannot see
  a 3-point one says little; the report prints it beside each benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from afinar.eval.mmlu import wilson

__all__ = ["Z80", "Z95", "detectable_drop", "items_needed", "paired_difference"]

Z95 = 1.959963984540054
"""Two-sided 95% normal quantile (here and in the Wilson intervals)."""
Z80 = 0.8416212335729143
"""80% power normal quantile."""


def _table(base: Sequence[bool], tuned: Sequence[bool]) -> tuple[int, int, int, int]:
    if len(base) != len(tuned):
        raise ValueError(f"paired results need the same items: base has {len(base)}, tuned {len(tuned)}")
    a = sum(1 for x, y in zip(base, tuned, strict=True) if x and y)
    b = sum(1 for x, y in zip(base, tuned, strict=True) if x and not y)
    c = sum(1 for x, y in zip(base, tuned, strict=True) if y and not x)
    return a, b, c, len(base) - a - b - c


def _newcombe(a: int, b: int, c: int, d: int) -> tuple[float, float]:
    """Method 10 of Newcombe (1998) for ``p_tuned - p_base``, as rates."""
    n = a + b + c + d
    p_tuned, p_base = (a + c) / n, (a + b) / n
    l1, u1 = wilson(a + c, n, Z95)
    l2, u2 = wilson(a + b, n, Z95)
    denom = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    # the correlation of the two rates, with Newcombe's continuity correction of a positive one
    phi = 0.0 if not denom or 0 <= cross <= n / 2 else (cross - n / 2 * (cross > 0)) / math.sqrt(denom)
    delta = p_tuned - p_base
    lower = (p_tuned - l1) ** 2 - 2 * phi * (p_tuned - l1) * (u2 - p_base) + (u2 - p_base) ** 2
    upper = (u1 - p_tuned) ** 2 - 2 * phi * (u1 - p_tuned) * (p_base - l2) + (p_base - l2) ** 2
    return delta - math.sqrt(max(lower, 0.0)), delta + math.sqrt(max(upper, 0.0))


def _mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: twice the smaller binomial tail of ``min(b, c)`` in
    ``Binomial(b + c, 1/2)``, at most 1."""
    m = b + c
    if m == 0:
        return 1.0
    tail = sum(math.comb(m, k) for k in range(min(b, c) + 1)) / 2**m
    return min(1.0, 2 * tail)


def detectable_drop(discordant: int, n: int) -> float:
    """Points: the drop found with 80% power by a 2.5% one-sided test on ``n`` items of which
    ``discordant`` differ between the models (one discordant item assumed when none did)."""
    return 100 * (Z95 + Z80) * math.sqrt(max(discordant, 1) / n / n) if n else math.inf


def items_needed(drop_points: float, discordance: float) -> int:
    """Items for :func:`detectable_drop` to reach ``drop_points`` when a share ``discordance`` of
    the items differ between the models."""
    return math.ceil(((Z95 + Z80) / (drop_points / 100)) ** 2 * discordance)


def paired_difference(base: Sequence[bool], tuned: Sequence[bool]) -> dict:
    """Tuned minus base on the same items, per-item results in the same order.

    Returns ``{n, base_only, tuned_only, delta, ci95: [low, high], mcnemar_p, detectable_drop}``,
    with ``delta``, the interval and ``detectable_drop`` in points (``base_only``: items only the
    base got right).

    Raises:
        ValueError: the two sequences differ in length, or are empty.
    """
    a, b, c, d = _table(base, tuned)
    n = a + b + c + d
    if n == 0:
        raise ValueError("paired results need at least one item")
    low, high = _newcombe(a, b, c, d)
    return {
        "n": n,
        "base_only": b,
        "tuned_only": c,
        "delta": 100 * (c - b) / n,
        "ci95": [100 * low, 100 * high],
        "mcnemar_p": _mcnemar_exact(b, c),
        "detectable_drop": detectable_drop(b + c, n),
    }
