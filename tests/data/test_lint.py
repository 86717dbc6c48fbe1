"""``data check`` on tests/fixtures/broken: every finding has a row that triggers it.

Each fixture row carries an ``id`` naming what it breaks; line numbers are looked up from the
file's text here, independently of the reader under test.
"""

import json

import pytest

from afinar.data.intake import check_data
from afinar.model.load import load_tokenizer
from tests.conftest import REPO

BROKEN = REPO / "tests" / "fixtures" / "broken"


def line_of(row_id: str, name: str = "train.jsonl") -> str:
    path = BROKEN / name
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if f'"id": "{row_id}"' in line:
            return f"{path}:{n}"
    raise KeyError(row_id)


@pytest.fixture(scope="module")
def report():
    report, _ = check_data(None, BROKEN / "recipe.yaml", None, load_tokenizer)
    return report.to_json()


def findings(report, check: str, severity: str | None = None) -> list[dict]:
    return [f for f in report["findings"] if f["check"] == check and severity in (None, f["severity"])]


def test_the_report_counts_rows_and_severities(report):
    assert report["rows"] == {"train": 27, "eval": 3}  # 34 lines, 7 unreadable
    assert report["summary"] == {"error": 9, "warning": 11, "info": 1}


@pytest.mark.parametrize(
    ("row_id", "message"),
    [
        ("bad-json", "not valid JSON"),
        ("missing-field", "field 'output' is missing"),
        ("empty-field", "field 'output' is empty"),
        ("wrong-type", "field 'instruction' is a int, not a string"),
        ("unknown-role", "field 'messages[1].role' is 'bot'; accepted: system, user, assistant"),
        ("role-order", "field 'messages[1].role' is 'user' where 'assistant' is expected"),
        ("no-target", "field 'messages' has no assistant turn with content"),
    ],
)
def test_schema_errors_name_file_line_and_field(report, row_id, message):
    errors = findings(report, "schema", "error")
    hit = [f for f in errors if f["where"] == [line_of(row_id)]]
    assert len(hit) == 1 and hit[0]["message"].startswith(f"{line_of(row_id)}: {message}")


def test_exact_and_conflicting_duplicates(report):
    dup, conflict = findings(report, "duplicates", "warning")
    assert dup["where"] == [f"{line_of('good-0')} = {line_of('exact-duplicate')}"]
    assert conflict["where"] == [f"{line_of('good-1')} / {line_of('conflicting-answer')}"]


def test_near_duplicates_report_the_exact_jaccard(report):
    from afinar.data.dedup import shingles

    lines = (BROKEN / "train.jsonl").read_text().splitlines()
    rows = {r["id"]: r for r in (json.loads(x) for x in lines if '"id": "near-' in x)}
    a, b = (shingles(r["instruction"] + " " + r["output"]) for r in (rows["near-a"], rows["near-b"]))
    (near,) = findings(report, "near_duplicates")
    assert near["where"] == [f"{line_of('near-a')} ~ {line_of('near-b')} ({len(a & b) / len(a | b):.2f})"]


def test_train_eval_leakage_exact_is_an_error_near_is_a_warning(report):
    (exact,) = findings(report, "leakage", "error")
    (near,) = findings(report, "leakage", "warning")
    assert exact["where"] == [f"{line_of('leak-exact', 'eval.jsonl')} = {line_of('untagged-1')}"]
    assert near["where"][0].startswith(f"{line_of('leak-near', 'eval.jsonl')} ~ {line_of('near-a')} (")


def test_lengths_truncation_and_the_stop_token(report, tokenizer):
    over, lost = findings(report, "length")
    assert over["message"] == "3 row(s) are longer than max_seq_len=96 and would be truncated"
    assert set(over["where"]) == {line_of(i) for i in ("overlong-answer", "overlong-prompt", "pii")}
    assert lost["where"] == [line_of("overlong-prompt")]  # the prompt alone fills 96 tokens
    cut, round_trip = findings(report, "template")
    assert cut["severity"] == "warning" and line_of("overlong-answer") in cut["where"]
    assert round_trip["severity"] == "error" and round_trip["where"] == [line_of("stop-token-in-answer")]
    hist = report["stats"]["tokens"]["histogram"]
    assert sum(hist.values()) == 30 and report["stats"]["tokens"]["over_max_seq_len"] == 3


def test_scenario_coverage_size_and_languages(report):
    untagged, low = findings(report, "scenarios")
    assert untagged["where"] == [line_of("untagged-1"), line_of("untagged-2")]
    assert "user_error 3%" in low["message"]  # 1 of 30 rows
    assert report["stats"]["scenarios"]["user_error"] == round(1 / 30, 4)
    (size,) = findings(report, "size")
    assert size["severity"] == "warning" and size["message"].startswith("27 training rows")
    assert set(report["stats"]["languages"]) <= {"en", "es", "other"}


def test_pii_summary_counts_by_type_without_values(report):
    (pii,) = findings(report, "pii")
    assert report["stats"]["pii"] == {
        "AWS_KEY": 1,
        "CREDIT_CARD": 1,
        "EMAIL": 1,
        "ES_NIF": 1,
        "IBAN": 1,
        "PERSON": 1,
        "PHONE": 1,
        "SECRET": 1,
    }
    assert pii["where"] == [line_of("pii"), line_of("secret")]
    text = json.dumps(report)
    for raw in ("lucia.romero@correo.es", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE", "Tr0ub4dor&3"):
        assert raw not in text


def test_the_retail_example_passes_the_check():
    report, _ = check_data(None, REPO / "examples" / "retail-sales-json" / "recipe.yaml", None, load_tokenizer)
    out = report.to_json()
    assert out["summary"]["error"] == 0
    assert out["rows"] == {"train": 1200, "eval": 150}
    assert out["stats"]["pii"] == {}
    assert all(v >= 0.1 for k, v in out["stats"]["scenarios"].items() if k != "untagged")
