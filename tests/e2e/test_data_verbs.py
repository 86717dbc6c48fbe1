"""``afinar data check`` / ``data mask`` through the real CLI, and the data gate in ``afinar run``."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from afinar.cli import app
from afinar.data.read import MAX_LINE_BYTES
from tests.conftest import REPO, alpaca_rows, tiny_recipe, write_jsonl

BROKEN = REPO / "tests" / "fixtures" / "broken"
RETAIL = REPO / "examples" / "retail-sales-json"
PII_ROW = {
    "instruction": "Refund Sra. Lucía Romero, lucia.romero@correo.es, card 4111 1111 1111 1111.",
    "output": "Refunded to lucia.romero@correo.es.",
    "scenario": "exception",
}
RAW = ("lucia.romero@correo.es", "4111 1111 1111 1111", "Lucía Romero")


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_check_exits_1_on_errors_and_writes_the_json_report(tmp_path):
    out = tmp_path / "report.json"
    result = cli("data", "check", "--recipe", BROKEN / "recipe.yaml", "--json", out)
    assert result.exit_code == 1, result.output
    assert "9 error(s), 11 warning(s)" in result.output
    assert json.loads(out.read_text())["summary"]["error"] == 9


def test_check_passes_on_the_retail_example():
    result = cli("data", "check", RETAIL / "data" / "train.jsonl", "--eval", RETAIL / "data" / "eval.jsonl")
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


@pytest.mark.parametrize(
    ("content", "message", "code"),
    [
        (b"\x1f\x8b\x08\x00" + bytes(range(256)), "a binary file (NUL bytes), not .jsonl text", 2),
        (
            b'{"prompt": "ok", "completion": "fine"}\n{"prompt": "caf\xe9", "completion": "x"}\n',
            "bad.jsonl:2: not UTF-8 text (byte 0xe9 at byte 16); re-save the file as UTF-8",
            1,
        ),
        (None, f"bad.jsonl:1: line longer than {MAX_LINE_BYTES >> 20} MiB; not a dataset row", 2),
    ],
    ids=["binary", "latin-1", "giant-line"],
)
def test_bad_files_give_a_clear_error_not_a_traceback(tmp_path, content, message, code):
    bad = tmp_path / "bad.jsonl"
    if content is None:  # one line just over the limit, written in pieces
        with bad.open("wb") as f:
            f.write(b'{"prompt": "')
            f.write(b"a" * (MAX_LINE_BYTES + 16))
            f.write(b'", "completion": "x"}\n')
    else:
        bad.write_bytes(content)
    result = cli("data", "check", bad, "--json", tmp_path / "r.json")
    assert result.exit_code == code, result.output
    if code == 2:  # the file as a whole is refused
        assert message in " ".join(result.output.split())
    else:  # one row is refused; the rest is checked
        assert message in json.loads((tmp_path / "r.json").read_text())["findings"][0]["message"]
    assert result.exception is None or isinstance(result.exception, SystemExit)
    masked = cli("data", "mask", bad, "-o", tmp_path / "out.jsonl")
    assert masked.exit_code == 2 and not (tmp_path / "out.jsonl").exists()


def test_mask_writes_a_masked_copy_and_never_prints_values(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [PII_ROW, *alpaca_rows(2)])
    report = tmp_path / "mask.json"
    result = cli("data", "mask", src, "-o", tmp_path / "out.jsonl", "--policy", "redact", "--report", report)
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows[0]["instruction"] == "Refund Sra. [PERSON], [EMAIL], card [CREDIT_CARD]."
    assert rows[1:] == alpaca_rows(2)
    assert json.loads(report.read_text())["replaced"] == {"CREDIT_CARD": 1, "EMAIL": 2, "PERSON": 1}
    for raw in RAW:
        assert raw not in result.output and raw not in report.read_text()


def test_mask_on_the_retail_example_changes_nothing(tmp_path):
    result = cli("data", "mask", RETAIL / "data" / "eval.jsonl", "-o", tmp_path / "eval.jsonl")
    assert result.exit_code == 0, result.output
    original = [json.loads(x) for x in (RETAIL / "data" / "eval.jsonl").read_text().splitlines()]
    assert [json.loads(x) for x in (tmp_path / "eval.jsonl").read_text().splitlines()] == original


def test_run_refuses_data_with_errors_and_leaves_nothing(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    text = (BROKEN / "recipe.yaml").read_text().replace("train.jsonl", str(BROKEN / "train.jsonl"))
    recipe.write_text(text.replace("eval.jsonl", str(BROKEN / "eval.jsonl")) + f"output_dir: {tmp_path / 'runs'}\n")
    result = cli("run", "--quiet", recipe)
    assert result.exit_code == 2
    assert "the data has 9 error(s); training refused" in result.output
    assert "--allow-data-errors" in result.output
    assert not (tmp_path / "runs").exists()


def _files_text(root: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


def test_block_policy_refuses_and_mask_policy_trains_on_masked_text(tmp_path, tiny_model_dir):
    recipe = tiny_recipe(tmp_path, tiny_model_dir, pii={"policy": "block"})
    write_jsonl(tmp_path / "train.jsonl", [PII_ROW, *alpaca_rows(12)])
    blocked = cli("run", "--quiet", recipe)
    assert blocked.exit_code == 2
    assert "pii.policy is 'block'" in blocked.output and "CREDIT_CARD 1, EMAIL 2, PERSON 1" in blocked.output
    assert not (tmp_path / "runs").exists()

    recipe = tiny_recipe(tmp_path, tiny_model_dir, pii={"policy": "mask", "operators": {"EMAIL": "redact"}})
    write_jsonl(tmp_path / "train.jsonl", [PII_ROW, *alpaca_rows(12)])
    result = cli("train", "--quiet", recipe, "--run-dir", tmp_path / "run")
    assert result.exit_code == 0, result.output
    pii = json.loads((tmp_path / "run" / "pii_report.json").read_text())
    assert pii["replaced"] == {"CREDIT_CARD": 1, "EMAIL": 2, "PERSON": 1}
    assert pii["operators"] == {"CREDIT_CARD": "surrogate", "EMAIL": "redact", "PERSON": "surrogate"}
    data = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert data["stats"]["pii"] == {"CREDIT_CARD": 1, "EMAIL": 2, "PERSON": 1}
    written = _files_text(tmp_path / "run")
    for raw in RAW:
        assert raw not in written


def test_mask_on_the_broken_fixture_names_the_bad_line_and_writes_nothing(tmp_path):
    result = cli("data", "mask", BROKEN / "train.jsonl", "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 2
    assert "train.jsonl:17: not valid JSON" in " ".join(result.output.split())
    assert list(tmp_path.iterdir()) == []


def test_eval_and_export_see_the_rows_training_saw(tmp_path, tiny_model_dir, tokenizer):
    from afinar.config import load_recipe
    from afinar.data.intake import rows_as_trained
    from afinar.pipeline import _gated_data

    recipe = tiny_recipe(tmp_path, tiny_model_dir)
    write_jsonl(tmp_path / "eval.jsonl", [PII_ROW, *alpaca_rows(2, start=70)])
    r = load_recipe(recipe)
    trained = _gated_data(r, tokenizer, allow_data_errors=False)[0]
    later = rows_as_trained(r)
    assert [e.messages for e in later.held] == [e.messages for e in trained.held]
    assert [e.messages for e in later.train] == [e.messages for e in trained.train]
    assert RAW[0] not in later.held[0].messages[0]["content"]
