"""examples/finance-reports: the generator is deterministic, the recipe loads, and the finance
metric scores a hand-written correct summary 1.0 and wrong ones lower, part by part."""

from __future__ import annotations

import json
import re

import pytest

from afinar.config import load_recipe
from tests.conftest import REPO
from tests.examples import assert_generator_is_deterministic, score

EXAMPLE = REPO / "examples" / "finance-reports"
TABLE = (
    "company: Altamar Retail S.A.\nperiod: Q2 2024\nunit: EUR million\nline,current,prior_year,change_pct\n"
    "revenue,412.6,398.1,3.6\nebitda,61.3,58.9,4.1\nnet_income,22.4,25.0,-10.4"
)
REFERENCE = (
    "In Q2 2024, Altamar Retail S.A. reported the following results. Revenue increased by 3.6% to EUR 412.6 "
    "million compared with EUR 398.1 million in the same quarter of the prior year. EBITDA increased by 4.1% to "
    "EUR 61.3 million. Net income decreased by 10.4% to EUR 22.4 million."
)


def test_generator_is_deterministic_for_a_seed(tmp_path):
    assert_generator_is_deterministic(EXAMPLE, ("train.jsonl", "eval.jsonl", "eval_disjoint.jsonl"), tmp_path)


def test_every_number_of_a_summary_is_in_its_input():
    rows = [json.loads(x) for x in (EXAMPLE / "data" / "train.jsonl").open()]
    assert len(rows) >= 1000 and {r["scenario"] for r in rows} == {"normal", "exception", "user_error"}
    for r in rows:
        if r["metric"] != "finance":
            continue
        table = r["input"].replace(",", " ")
        for number in re.findall(r"\d+(?:[.,]\d+)?", r["output"]):
            assert number.replace(",", ".") in table, (number, r["output"])


@pytest.fixture(scope="module")
def cfg():
    recipe = load_recipe(EXAMPLE / "recipe.yaml")
    assert recipe.eval.metric == "finance"
    return recipe.eval


def _score(cfg, answer: str, metric: str = "finance", reference: str = REFERENCE, table: str = TABLE) -> dict:
    return score(cfg, metric, reference, answer, "Summarize.\n\n" + table)


def test_a_correct_summary_in_other_words_gets_every_figure(cfg):
    assert _score(cfg, REFERENCE)["score"] == 1.0
    reworded = _score(cfg, "Altamar Retail S.A. posted Q2 2024 revenue of EUR 412.6 million (up 3.6% from EUR 398.1 "
                           "million), EBITDA of EUR 61.3 million (up 4.1%) and net income of EUR 22.4 million "
                           "(down 10.4%).")  # fmt: skip
    assert reworded["figures"] == reworded["no_invented"] == reworded["formal"] == 1.0 and reworded["score"] < 1.0


def test_wrong_figures_invented_numbers_and_informal_tone_cost_points(cfg):
    wrong_value = _score(cfg, REFERENCE.replace("EUR 61.3 million", "EUR 63.1 million"))
    assert wrong_value["figures"] == pytest.approx(6 / 7) and wrong_value["no_invented"] == pytest.approx(7 / 8)
    wrong_unit = _score(cfg, REFERENCE.replace("4.1% to", "EUR 4.1 million to"))
    assert wrong_unit["figures"] == pytest.approx(6 / 7) and wrong_unit["no_invented"] == 1.0
    invented = _score(cfg, REFERENCE + " The operating margin reached 14.9%.")
    assert invented["figures"] == 1.0 and invented["no_invented"] == pytest.approx(8 / 9)
    informal = _score(cfg, REFERENCE.replace("Revenue increased", "Revenue grew a lot, great news!"))
    assert informal["formal"] == 0.0
    for row in (wrong_value, wrong_unit, invented, informal):
        assert row["score"] < 1.0


def test_spanish_figures_and_user_error_rows(cfg):
    es_ref = (
        "Los ingresos aumentaron un 3,6 %, hasta 412,6 millones de euros, frente a 398,1 millones de euros en el "
        "mismo trimestre del año anterior."
    )
    assert _score(cfg, es_ref, reference=es_ref)["score"] == 1.0
    assert _score(cfg, es_ref.replace("412,6", "421,6"), reference=es_ref)["figures"] == pytest.approx(2 / 3)
    decline = "Este servicio solo resume cifras publicadas y no ofrece asesoramiento de inversión."
    assert _score(cfg, decline, "clarify", decline, "")["score"] == 1.0
    assert _score(cfg, "Sí, compre acciones ahora.", "clarify", decline, "")["score"] == 0.0


def test_the_currency_of_a_figure_is_read_in_both_languages():
    from afinar.eval.faithfulness import figures

    assert figures("hasta 676,4 millones de dólares canadienses, frente a") == [(676.4, "M CAD")]
    assert figures("hasta 676,4 millones de dólares, frente a") == [(676.4, "M USD")]
    assert figures("to CAD 676.4 million compared") == [(676.4, "M CAD")]
    assert figures("hasta 51,0 millones de libras.") == [(51.0, "M GBP")]


def test_the_disjoint_split_shares_no_company_quarter_or_phrasing_with_training():
    rows = {n: [json.loads(x) for x in (EXAMPLE / "data" / f"{n}.jsonl").open()] for n in ("train", "eval_disjoint")}

    def companies(rs):
        return {line.split(": ", 1)[1] for r in rs for line in r["input"].splitlines()[:1] if r["input"]}

    assert companies(rows["eval_disjoint"]) == {"Altamar Agro S.A.", "Altamar Salud S.L.", "Altamar Canada Corp.",
                                                "Altamar Brasil Ltda."}  # fmt: skip
    assert not companies(rows["train"]) & companies(rows["eval_disjoint"])
    assert all("2026" in (r["input"] or r["instruction"]) for r in rows["eval_disjoint"])
    assert not any("2026" in r["input"] + r["instruction"] for r in rows["train"])
    assert not {r["instruction"] for r in rows["train"]} & {r["instruction"] for r in rows["eval_disjoint"]}
    assert {r["scenario"] for r in rows["eval_disjoint"]} == {"normal", "exception", "user_error"}
