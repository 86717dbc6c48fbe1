"""Drift: the statistics against hand computations, the encoder against known similarities, the
alarm rates on real retail prompts (resamples must not alert, a shifted topic mix must), and
``afinar drift`` on a real run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from afinar.cli import app
from afinar.errors import AfinarError
from afinar.eval.drift import Encoder, classifier_auc, mmd_test, psi, window_from_file
from bench.drift_alarms import alarm_rates, it_prompts
from tests.conftest import alpaca_rows, tiny_recipe, write_jsonl


def test_psi_matches_the_formula_by_hand():
    expected, actual = np.array([50, 30, 20]), np.array([20, 30, 50])
    by_hand = (0.2 - 0.5) * math.log(0.2 / 0.5) + 0 + (0.5 - 0.2) * math.log(0.5 / 0.2)
    assert psi(expected, actual) == pytest.approx(by_hand, abs=1e-12)
    assert psi(expected, expected) == 0.0
    # an empty bin takes the floor share instead of an infinite logarithm
    assert psi(np.array([10, 0]), np.array([5, 5])) == pytest.approx(
        (0.5 - 1) * math.log(0.5 / 1) + (0.5 - 1e-4) * math.log(0.5 / 1e-4), rel=1e-9
    )


def test_mmd_matches_a_double_loop_and_its_test_separates_shifted_samples():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(9, 3)) + 0.3
    z = np.concatenate([x, y])
    d2 = [[float(((a - b) ** 2).sum()) for b in z] for a in z]
    width = float(np.median([d2[i][j] for i in range(len(z)) for j in range(i + 1, len(z))]))
    k = lambda i, j: math.exp(-d2[i][j] / width)  # noqa: E731
    n, m = len(x), len(y)
    by_hand = (
        sum(k(i, j) for i in range(n) for j in range(n)) / n**2
        + sum(k(i, j) for i in range(n, n + m) for j in range(n, n + m)) / m**2
        - 2 * sum(k(i, j) for i in range(n) for j in range(n, n + m)) / (n * m)
    )
    result = mmd_test(x, y, permutations=50)
    assert result["mmd2"] == pytest.approx(by_hand, rel=1e-9) and result["kernel_width"] == pytest.approx(width)

    same = mmd_test(rng.normal(size=(200, 5)), rng.normal(size=(80, 5)), permutations=200)
    shifted = mmd_test(rng.normal(size=(200, 5)), rng.normal(size=(80, 5)) + 0.5, permutations=200)
    assert same["p_value"] > 0.05 and shifted["p_value"] == pytest.approx(1 / 201)
    assert classifier_auc(rng.normal(size=(100, 5)), rng.normal(size=(60, 5)) + 10) == 1.0


@pytest.fixture(scope="module")
def encoder():
    return Encoder()


def test_encoder_gives_all_minilm_similarities(encoder):
    e = encoder.embed(["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome"])
    assert e.shape == (3, 384) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert e[0] @ e[1] > 0.6 and abs(e[0] @ e[2]) < 0.2  # paraphrase close, unrelated near orthogonal
    # the order of the inputs does not change any row (batches are built by length)
    again = encoder.embed(["The new movie is awesome", "A man is eating food."])
    assert np.allclose(again, e[[2, 0]], atol=1e-5)


def test_alarm_rates_on_retail_prompts(encoder):
    """20 windows of 100 real retail prompts of each kind at the default thresholds (the table
    in README comes from the same function with 100 trials): resampled training prompts and
    fresh held-out prompts alert in at most 1 (5%); a 30% shift to IT-incident prompts of the
    same shape alerts in at least 19 (95%)."""
    rates = alarm_rates(encoder, trials=20, sizes=(100,), shares=(0.3,))
    print(rates)
    assert rates[("resampled", 100)] <= 0.05 and rates[("fresh", 100)] <= 0.05
    assert rates[("shift 30%", 100)] >= 0.95


def test_window_file_errors_name_the_line_and_field(tmp_path):
    bad = write_jsonl(tmp_path / "w.jsonl", [{"prompt": "fine"}, {"messages": [{"role": "assistant", "content": "x"}]}])
    with pytest.raises(AfinarError, match=r"w\.jsonl:2: field 'messages' has no user turn"):
        window_from_file(bad)
    odd = write_jsonl(tmp_path / "o.jsonl", [{"text": "hi"}])
    with pytest.raises(AfinarError, match=r"o\.jsonl:1: no prompt in keys \['text'\]; accepted: prompt"):
        window_from_file(odd)
    rows = [
        '"plain string"',
        {"prompt": "a prompt"},
        {"messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "a"},
                      {"role": "user", "content": "last"}]},
        {"instruction": "Do it.", "input": "data"},
    ]  # fmt: skip
    assert window_from_file(write_jsonl(tmp_path / "ok.jsonl", rows)).prompts == [
        "plain string",
        "a prompt",
        "last",
        "Do it.\n\ndata",
    ]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("drift")
    recipe = tiny_recipe(tmp, tiny_model_dir, n_train=40)
    result = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(tmp / "run")])
    assert result.exit_code == 0, result.output
    return tmp / "run"


def test_afinar_drift_on_a_run_alerts_only_on_a_shift(run_dir, tmp_path):
    same = write_jsonl(tmp_path / "same.jsonl", [{"prompt": r["instruction"]} for r in alpaca_rows(40)[::2]])
    result = CliRunner().invoke(app, ["drift", "--quiet", str(run_dir), "--prompts", str(same)])
    assert result.exit_code == 0, result.output
    assert "no drift at the configured thresholds" in result.output
    (first,) = sorted((run_dir / "drift").iterdir())
    report = json.loads((first / "drift.json").read_text())
    assert report["window"]["prompts"] == 20 and report["reference"]["prompts"] == 40 and not report["alerts"]
    assert (first / "drift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    shifted = write_jsonl(tmp_path / "it.jsonl", [{"prompt": p} for p in it_prompts(25, 2)])
    result = CliRunner().invoke(app, ["drift", "--quiet", str(run_dir), "--prompts", str(shifted)])
    assert result.exit_code == 1, result.output
    assert "DRIFT: meaning: MMD p=0.0010 < 0.01" in result.output
    summary = json.loads((run_dir / "summary.json").read_text())["drift"]
    assert summary["drift"] and summary["window"] == 25 and summary["p_value"] == pytest.approx(1 / 1001)
    card = (run_dir / "model_card.md").read_text()
    assert "Drift (`afinar drift`," in card and "25 production prompts" in card
    assert f"![training vs production prompts]({summary['plot']})" in card
    assert 'id="drift-plot"' in (run_dir / "model_card.html").read_text()

    before = sorted((run_dir / "drift").iterdir())
    few = write_jsonl(tmp_path / "few.jsonl", [{"prompt": "Add 1 and 2."}] * 5)
    result = CliRunner().invoke(app, ["drift", "--quiet", str(run_dir), "--prompts", str(few)])
    assert result.exit_code == 2 and "5 prompts to compare; drift needs at least 20" in result.output
    assert sorted((run_dir / "drift").iterdir()) == before  # nothing written, nothing left half-done
