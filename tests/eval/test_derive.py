"""Derived fields (``x-afinar-derive``): sums, arg-maxes, findings and a status written from
what the model extracted, checked against values worked out by hand and against every reference
the retail generator wrote by its own logic; other answers untouched."""

from __future__ import annotations

import json

import pytest

from afinar.eval.derive import derive_answer, derived_fields
from tests.conftest import REPO

SCHEMA = json.loads((REPO / "examples" / "retail-sales-json" / "report.schema.json").read_text())


def test_the_retail_schema_derives_the_totals_and_the_top_product():
    rules = {k: v for k, v in derived_fields(SCHEMA).items() if k.startswith("to")}
    assert sorted(derived_fields(SCHEMA)) == ["issues", "status", "top_product", "total_revenue", "total_units"]
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
    rules = {k: v for k, v in derived_fields(SCHEMA).items() if k.startswith("to")}
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
    bad_check = {"collect": [{"where": {"units": "< 1"}, "emit": {}}]}  # only comparisons with zero
    with pytest.raises(ValueError, match=r"x-afinar-derive of 'issues': expected .*'collect'"):
        derived_fields({"properties": {"issues": {"x-afinar-derive": bad_check}}})


def test_findings_and_status_follow_the_rules_not_the_model():
    """An invented finding on a clean table goes, a missed one comes, in the schema's order."""
    rules = derived_fields(SCHEMA)
    clean = {"store": "Leeds-Briggate", "period": "2022-11", "currency": "COP",
             "lines": [{"product": "collares", "units": 53, "revenue": 319.14}],
             "issues": [{"code": "missing_field", "field": "store"}], "status": "warning"}  # fmt: skip
    got = json.loads(derive_answer(json.dumps(clean), rules)[0])
    assert (got["issues"], got["status"]) == ([], "ok")
    messy = {"store": None, "period": "2024-01", "currency": None, "lines": [
        {"product": "a", "units": 4, "revenue": None},
        {"product": "b", "units": -2, "revenue": -30.0},
        {"product": "c", "units": -5, "revenue": 12.5},
        {"product": "d", "units": None, "revenue": 0},
    ], "issues": [], "status": "ok"}  # fmt: skip
    got = json.loads(derive_answer(json.dumps(messy), rules)[0])
    assert got["issues"] == [
        {"code": "missing_field", "field": "store"},
        {"code": "missing_field", "field": "currency"},
        {"code": "missing_value", "product": "a", "field": "revenue"},
        {"code": "return", "product": "b"},
        {"code": "inconsistent_figures", "product": "c"},
        {"code": "missing_value", "product": "d", "field": "units"},
    ]
    assert got["status"] == "warning"


def test_the_rules_reproduce_every_reference_the_generator_wrote():
    """The generator decides findings by its own code (generate_data.py); the schema's rules,
    run on each reference's extracted fields, must change nothing in any of the 1,500 rows."""
    rules = derived_fields(SCHEMA)
    data = REPO / "examples" / "retail-sales-json" / "data"
    rows = [json.loads(x) for f in ("train", "eval", "eval_disjoint") for x in (data / f"{f}.jsonl").open()]
    reports = [r for r in rows if '"lines"' in r["output"]]
    assert len(rows) == 1500 and len(reports) > 1000
    assert sum(json.loads(r["output"])["status"] == "warning" for r in reports) > 400
    assert [r["output"] for r in rows if derive_answer(r["output"], rules)[1]] == []


def test_a_check_that_reads_a_list_the_answer_lacks_leaves_it_alone():
    rules = derived_fields(SCHEMA)
    error = '{"status":"error","error":{"code":"off_topic","message":"x"}}'
    assert derive_answer(error, rules) == (error, [])
