"""examples/api-docs: the generator is deterministic, the recipe loads, and the apidoc metric
scores a hand-written correct page 1.0 and wrong ones lower, part by part."""

from __future__ import annotations

import ast
import json
import re

import pytest

from afinar.config import load_recipe
from tests.conftest import REPO
from tests.examples import assert_generator_is_deterministic, score

EXAMPLE = REPO / "examples" / "api-docs"
SIGNATURE = (
    "def create_shipment(origin: str, destination: str, weight_kg: float, express: bool = False) -> str:\n"
    "purpose: creates a shipment and returns its ID"
)
PAGE = """## Summary
Creates a shipment and returns its ID.

## Parameters
- `origin` (str): code of the origin depot.
- `destination` (str): code of the destination depot.
- `weight_kg` (float): gross weight in kilograms.
- `express` (bool, default False): deliver within 24 hours.

## Returns
`str`: the new ID.

## Errors
- `NorviaConnectionError`: the Norvia API cannot be reached.

## Example
```python
from norvia_sdk import create_shipment

shipment_id = create_shipment("MAD-01", "BCN-02", weight_kg=12.5)
```"""


def test_generator_is_deterministic_for_a_seed(tmp_path):
    assert_generator_is_deterministic(EXAMPLE, ("train.jsonl", "eval.jsonl", "eval_disjoint.jsonl"), tmp_path)


def _objects(rows: list[dict]) -> set[str]:
    """The SDK objects rows are about: the noun of each function name they document or ask for."""
    names = re.findall(
        r"\b(?:create|get|list|cancel|update|track)_([a-z]+?)s?\b",
        " ".join(r["input"] + " " + r["instruction"] for r in rows),
    )
    return set(names)


def test_the_disjoint_split_shares_no_object_or_phrasing_with_training():
    rows = {n: [json.loads(x) for x in (EXAMPLE / "data" / f"{n}.jsonl").open()] for n in ("train", "eval_disjoint")}
    assert _objects(rows["train"]) == {"shipment", "invoice", "route", "driver", "depot", "pickup"}
    assert _objects(rows["eval_disjoint"]) == {"customer", "vehicle", "parcel", "return"}
    asks = {n: {r["instruction"] for r in rs if r["scenario"] != "user_error"} for n, rs in rows.items()}
    assert asks["eval_disjoint"] and not asks["train"] & asks["eval_disjoint"]
    assert {r["scenario"] for r in rows["eval_disjoint"]} == {"normal", "exception", "user_error"}


def test_every_reference_example_parses_and_uses_the_signature():
    rows = [json.loads(x) for x in (EXAMPLE / "data" / "train.jsonl").open()]
    assert len(rows) >= 1000 and {r["scenario"] for r in rows} == {"normal", "exception", "user_error"}
    for r in (r for r in rows if r["metric"] == "apidoc"):
        name = r["input"].split("(")[0].removeprefix("def ")
        code = r["output"].split("```python\n")[1].split("```")[0]
        calls = [n.func.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call)]
        assert calls == [name], r["output"]
        for param in r["input"].split("(", 1)[1].split(") ->")[0].split(", "):
            assert f"- `{param.split(':')[0]}`" in r["output"]


@pytest.fixture(scope="module")
def cfg():
    recipe = load_recipe(EXAMPLE / "recipe.yaml")
    assert recipe.eval.metric == "apidoc"
    return recipe.eval


def _score(cfg, answer: str, metric: str = "apidoc", prompt: str = SIGNATURE) -> dict:
    return score(cfg, metric, PAGE, answer, "Document this.\n\n" + prompt)


def test_a_correct_page_scores_one_and_each_fault_costs_its_part(cfg):
    assert _score(cfg, PAGE)["score"] == 1.0
    spanish = PAGE.replace("## Summary", "## Resumen").replace("## Parameters", "## Parámetros")
    spanish = (
        spanish.replace("## Returns", "## Retorno")
        .replace("## Errors", "## Errores")
        .replace("## Example", "## Ejemplo")
    )
    assert _score(cfg, spanish)["score"] == 1.0
    swapped = PAGE.replace("## Returns", "## TMP").replace("## Errors", "## Returns").replace("## TMP", "## Errors")
    assert _score(cfg, swapped)["sections"] == pytest.approx(4 / 5)
    invented = _score(cfg, PAGE.replace("- `express`", "- `priority` (int): made up.\n- `express`"))
    assert invented["parameters"] == pytest.approx(4 / 5) and invented["sections"] == 1.0
    missing = _score(cfg, PAGE.replace("- `weight_kg` (float): gross weight in kilograms.\n", ""))
    assert missing["parameters"] == pytest.approx(3 / 4)
    bad_call = _score(
        cfg, PAGE.replace('create_shipment("MAD-01", "BCN-02", weight_kg=12.5)', 'create_shipment("MAD-01")')
    )
    assert bad_call["example"] == 0.0 and bad_call["score"] == pytest.approx(2 / 3)
    unknown_kw = _score(cfg, PAGE.replace("weight_kg=12.5", "weight=12.5"))
    assert unknown_kw["example"] == 0.0
    broken = _score(cfg, PAGE.replace("shipment_id = create_shipment(", "shipment_id = create_shipment(("))
    assert broken["example"] == 0.0


def test_user_error_rows_want_a_question(cfg):
    ask = "Which signature should I document? Please paste the function's def line."
    assert _score(cfg, ask, "clarify", "")["score"] == 1.0
    assert _score(cfg, PAGE, "clarify", "")["score"] == 0.0
