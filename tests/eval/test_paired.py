"""The paired comparison of base and tuned on the same items, against numbers computed without
afinar: a published interval, a hand-built binomial, and a brute-force bootstrap."""

from __future__ import annotations

import math
import random

import pytest

from afinar.eval.paired import detectable_drop, items_needed, paired_difference


def _results(both: int, base_only: int, tuned_only: int, neither: int, seed: int = 0):
    pairs = [(1, 1)] * both + [(1, 0)] * base_only + [(0, 1)] * tuned_only + [(0, 0)] * neither
    random.Random(seed).shuffle(pairs)
    return [bool(b) for b, _ in pairs], [bool(t) for _, t in pairs]


def test_interval_matches_the_published_example():
    """Cavo et al. 2012 as tabled in Fagerland, Lydersen & Laake, "Statistical Analysis of
    Contingency Tables" (ch. 8): 59 / 6 / 16 / 80, Newcombe's square-and-add interval
    -0.0621 (-0.1186 to -0.0046) for row minus column; tuned minus base is its mirror."""
    base, tuned = _results(59, 6, 16, 80)
    got = paired_difference(base, tuned)
    assert (got["n"], got["base_only"], got["tuned_only"]) == (161, 6, 16)
    assert got["delta"] == pytest.approx(100 * 10 / 161)
    assert got["ci95"] == pytest.approx([0.46, 11.86], abs=0.005)


def test_mcnemar_is_the_exact_binomial_tail():
    base, tuned = _results(50, 9, 2, 39)
    # P(X <= 2) for X ~ Binomial(11, 1/2), two-sided
    tail = (1 + 11 + 55) / 2048
    assert paired_difference(base, tuned)["mcnemar_p"] == pytest.approx(2 * tail)
    assert paired_difference(*_results(10, 0, 0, 5))["mcnemar_p"] == 1.0


def test_interval_agrees_with_a_paired_bootstrap():
    """600 items, 9% discordant: the score interval and 4,000 resamples of the items agree
    within half a point at both ends."""
    base, tuned = _results(330, 33, 21, 216, seed=3)
    got = paired_difference(base, tuned)
    rng = random.Random(7)
    diffs = [int(t) - int(b) for b, t in zip(base, tuned, strict=True)]
    boots = sorted(100 * sum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(4000))
    assert got["delta"] == pytest.approx(-2.0)
    assert got["ci95"][0] == pytest.approx(boots[99], abs=0.5)
    assert got["ci95"][1] == pytest.approx(boots[3899], abs=0.5)


def test_no_discordant_item_gives_a_narrow_interval_around_zero():
    got = paired_difference(*_results(300, 0, 0, 200))
    assert got["delta"] == 0.0 and got["ci95"][0] < 0 < got["ci95"][1] and got["ci95"][1] < 1.0


def test_detectable_drop_and_items_needed_invert_each_other():
    # (1.96 + 0.8416)^2 * 0.08 / 0.03^2 = 697.6 items for a 3-point drop at 8% discordance
    assert items_needed(3.0, 0.08) == 698
    assert detectable_drop(round(0.08 * 698), 698) == pytest.approx(3.0, abs=0.01)
    assert detectable_drop(40, 1000) == pytest.approx(100 * 2.8016 * math.sqrt(0.04 / 1000), abs=1e-3)


def test_unpaired_lengths_are_refused():
    with pytest.raises(ValueError, match="same items"):
        paired_difference([True, False], [True])
