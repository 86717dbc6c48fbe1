"""Derived fields (``x-afinar-derive``): sums and arg-maxes written from the lines the model
produced, checked against values worked out by hand; other answers untouched."""

from __future__ import annotations

import json

import pytest

from afinar.eval.derive import derive_answer, derived_fields
from tests.conftest import REPO

SCHEMA = json.loads((REPO / "examples" / "retail-sales-json" / "report.schema.json").read_text())


def test_the_retail_schema_derives_the_totals_and_the_top_product():
    rules = derived_fields(SCHEMA)
    assert sorted(rules) == ["top_product", "total_revenue", "total_units"]
    answer = {"store": "Quito-Cumbaya", "lines": [
        {"product": "camisas", "units": 49, "revenue": 2252.92},
        {"product": "abrigos", "units": 40, "revenue": 1572.31},
        {"product": "guantes", "units": None, "revenue": 1757.03},
    ], "issues": [], "status": "ok", "total_units": 12, "total_revenue": 300.0, "top_product": "guantes"}  # fmt: skip
    text, changed = derive_answer(json.dumps(answer), rules)
    got = json.loads(text)
    # 49 + 40 (the null skipped); 2252.92 + 1572.31 + 1757.03 = 5582.26; the largest revenue: camisas
    assert (got["total_units"], got["total_revenue"], got["top_product"]) == (89, 5582.26, "camisas")
    assert changed == ["total_units", "total_revenue", "top_product"]
    assert list(got) == list(answer)  # key order kept
    again, none = derive_answer(text, rules)
    assert again == text and none == []


def test_returns_and_empty_values_follow_the_rules():
    rules = derived_fields(SCHEMA)
    lines = [{"product": "a", "units": -3, "revenue": -45.5}, {"product": "b", "units": 2, "revenue": None}]
    got = json.loads(derive_answer(json.dumps({"lines": lines}), rules)[0])
    assert got == {"lines": lines, "total_units": -1, "total_revenue": -45.5, "top_product": "a"}
    nothing = json.loads(derive_answer(json.dumps({"lines": [{"product": "c", "revenue": None}]}), rules)[0])
    assert nothing["top_product"] is None and nothing["total_revenue"] == 0


@pytest.mark.parametrize(
    "answer",
    ['{"status":"error","error":{"code":"off_topic","message":"x"}}', '{"lines": "nope"}', "not json {", "[1, 2]"],
)
def test_answers_without_the_list_are_left_alone(answer):
    assert derive_answer(answer, derived_fields(SCHEMA)) == (answer, [])


def test_a_malformed_rule_names_the_field_and_the_accepted_forms():
    with pytest.raises(ValueError, match=r"x-afinar-derive of 'total': expected \{'sum': 'LIST.FIELD'"):
        derived_fields({"properties": {"total": {"x-afinar-derive": {"sum": "units"}}}})
