import json

from afinar.eval.domain import flatten, json_metrics, parse_json

SCHEMA = {"type": "object", "required": ["status"], "properties": {"status": {"enum": ["ok", "error"]}}}


def test_flatten_paths():
    assert flatten({"a": 1, "b": [{"c": 2}, 3], "d": [], "e": {}}) == {"a": 1, "b.0.c": 2, "b.1": 3, "d": [], "e": {}}


def test_parse_tolerates_whitespace_and_a_code_fence_only():
    assert parse_json(' \n{"a": 1}\n') == (True, {"a": 1})
    assert parse_json('```json\n{"a": 1}\n```') == (True, {"a": 1})
    assert parse_json('Here you go: {"a": 1}') == (False, None)


def test_rates_and_field_accuracy_by_hand():
    ref = json.dumps({"status": "ok", "lines": [{"p": "x", "u": 2}], "total": 10.5, "error": {"message": "m"}})
    preds = [
        '{"status": "ok", "lines": [{"p": "x", "u": 2}], "total": 10.5, "error": {"message": "other"}}',  # 4/4
        '{"status": "ok", "lines": [{"p": "y", "u": 2}], "total": 10.501}',  # p wrong; total within 0.005: 3/4
        '{"status": "bad", "lines": [], "total": 11}',  # parses, schema-invalid; 0/4 fields
        "not json",  # 0
    ]
    m = json_metrics(preds, [ref] * 4, SCHEMA, ignore=["error.message"])
    assert m["n"] == 4
    assert m["json_parse_rate"] == 0.75
    assert m["schema_valid_rate"] == 0.5
    assert abs(m["field_accuracy"] - (1 + 0.75 + 0 + 0) / 4) < 1e-12
    assert [r["field_accuracy"] for r in m["rows"]] == [1.0, 0.75, 0.0, 0.0]
    assert m["by_field"] == {
        "status": {"n": 4, "accuracy": 0.5},  # rows 1 and 2; row 3 says "bad"
        "lines.p": {"n": 4, "accuracy": 0.25},
        "lines.u": {"n": 4, "accuracy": 0.5},
        "total": {"n": 4, "accuracy": 0.5},
    }


def test_booleans_are_not_numbers():
    m = json_metrics(['{"a": true}'], ['{"a": 1}'], None, [])
    assert m["field_accuracy"] == 0.0
