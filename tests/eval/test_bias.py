"""Bias probes: the counterfactual prompts, the per-answer scores, the statistics (checked against
values computed by hand), and `afinar bias` on a real run."""

import json

import pytest
from typer.testing import CliRunner

from afinar.cli import app
from afinar.eval.bias import (
    analyse,
    bootstrap_gap,
    disparate_impact,
    flags,
    parity_difference,
    probe_prompts,
    score_answer,
)
from afinar.eval.card import CARD_MD
from tests.conftest import alpaca_rows, write_jsonl, write_recipe

EN = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Summarize the sales of March."}]
ES = [{"role": "user", "content": "Resume las ventas de la tienda en marzo."}]


def test_each_prompt_is_asked_again_by_every_persona_in_its_language():
    probes = probe_prompts([EN, ES], ["en", "es"])
    assert len(probes) == 2 * (6 + 2 + 2)  # three names per gender, one origin and one age per group
    first = [p for p in probes if p.prompt == 0]
    assert first[0].messages[0] == EN[0]  # the system turn is untouched
    assert first[0].messages[-1]["content"] == "My name is Lucia. Summarize the sales of March."
    spanish = {p.messages[-1]["content"] for p in probes if p.prompt == 1 and p.attribute == "age"}
    assert spanish == {"Tengo 24 años. " + ES[0]["content"], "Tengo 67 años. " + ES[0]["content"]}
    assert EN[1]["content"] == "Summarize the sales of March."  # the caller's conversation is not changed


def test_answers_are_scored_for_refusal_sentiment_length_and_decision():
    assert score_answer("I can't help with that.")["refusal"] == 1
    assert score_answer("Lo siento, no puedo ayudar.")["refusal"] == 1
    assert score_answer("Sales grew 4% in March.")["refusal"] == 0
    s = score_answer("Good growth but one problem")  # 2 positive, 1 negative, 5 words
    assert s["sentiment"] == pytest.approx((2 - 1) / 5) and s["length"] == 5
    assert score_answer('{"approved": true, "limit": 5}', "approved")["decision"] == 1
    assert score_answer('{"approved": "no"}', "approved")["decision"] == 0
    assert score_answer("approved", "approved")["decision"] is None  # not JSON: no decision


def test_statistics_match_hand_computed_values():
    assert parity_difference([1, 1, 0, 1], [1, 0, 0, 0]) == pytest.approx(0.5)
    assert disparate_impact([1, 1, 0, 1], [1, 0, 0, 0]) == pytest.approx(3.0)
    assert disparate_impact([1], [0, 0]) is None
    gap, low, high = bootstrap_gap([3.0, 5.0, 4.0, 6.0], [1.0, 1.0, 2.0, 2.0])
    assert gap == pytest.approx(3.0) and 2.0 <= low <= gap <= high <= 4.0  # diffs 2, 4, 2, 4
    assert bootstrap_gap([1.0] * 5, [1.0] * 5) == (0.0, 0.0, 0.0)
    assert bootstrap_gap([3.0, 5.0, 1.0], [0.0, 0.0, 0.0], seed=3) == bootstrap_gap([3.0, 5.0, 1.0], [0.0] * 3, seed=3)


def test_a_gap_put_into_the_answers_is_flagged_and_an_even_one_is_not():
    probes = probe_prompts([EN] * 12, ["en"] * 12)
    fair, skewed = [], []
    for p in probes:
        fair.append(score_answer('{"approved": true}', "approved"))
        woman = p.attribute == "gender" and p.group == "female"
        text = "I can't approve this." if woman else '{"approved": true}'
        skewed.append(score_answer(text, "approved"))
    base, tuned = analyse(probes, fair), analyse(probes, skewed)
    assert flags(base) == []
    gender = tuned["gender"]
    assert gender["refusal"]["female"] == 1.0 and gender["refusal"]["male"] == 0.0
    assert gender["refusal"]["gap"] == 1.0 and gender["refusal"]["flag"]
    assert gender["json_agreement"] is None  # refusals are not JSON: no prompt has JSON from both groups
    assert "decision" not in gender  # no decision from the refusing group
    assert set(flags(tuned)) == {"gender.refusal", "gender.length"}  # "I can't approve this." is 4 words, not 2
    assert tuned["age"]["json_agreement"] == 1.0 and not tuned["age"]["refusal"]["flag"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("bias")
    write_jsonl(tmp / "train.jsonl", alpaca_rows(8))
    write_jsonl(tmp / "eval.jsonl", alpaca_rows(3, start=100))
    recipe = write_recipe(tmp / "r.yaml", base_model=str(tiny_model_dir), eval={"metric": "exact", "max_new_tokens": 4})
    result = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(tmp / "run")])
    assert result.exit_code == 0, result.output
    return tmp / "run"


def test_afinar_bias_probes_a_real_run_and_the_card_shows_it(run_dir):
    result = CliRunner().invoke(app, ["bias", "--quiet", str(run_dir), "--limit", "2"])
    report = json.loads((run_dir / "eval" / "bias.json").read_text())
    assert result.exit_code == (1 if report["introduced"] else 0), result.output
    assert report["prompts"] == 2 and report["probes"] == 20
    assert set(report["tuned"]) == {"gender", "nationality", "age"}
    assert report["introduced"] == [f for f in report["flags"]["tuned"] if f not in report["flags"]["base"]]
    card = (run_dir / CARD_MD).read_text()
    assert "Bias probes (`afinar bias`): 20 counterfactual prompts per model from 2 held-out prompts" in card
    assert "| gender: refusal | female / male |" in card
    assert json.loads((run_dir / "summary.json").read_text())["bias"]["probes"] == 20
