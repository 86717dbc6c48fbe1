"""``afinar eval run RUN_DIR --data FILE``: a scheduled evaluation on a fresh labeled sample,
appended to the eval history, exit 1 when it regressed; the run's own eval is left alone."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from afinar.cli import app
from afinar.security.audit import audit_log
from tests.conftest import alpaca_rows, tiny_recipe, write_jsonl


def _fresh(path, metrics: list[str]):
    """Fresh labeled rows, one per metric. The tiny random model answers blank lines: ``exact``
    scores them 0 against these references and ``shell`` 1 (bash -n and shellcheck accept a
    blank script), so each file's score is known before it is evaluated."""
    rows = alpaca_rows(len(metrics), start=200)
    return write_jsonl(path, [{**r, "metric": m} for r, m in zip(rows, metrics, strict=True)])


def _eval(run, data, *extra):
    return CliRunner().invoke(app, ["eval", "run", "--quiet", str(run), "--data", str(data), *extra])


def test_scheduled_eval_appends_to_history_and_flags_a_regression(tmp_path, tiny_model_dir):
    recipe = tiny_recipe(tmp_path, tiny_model_dir, name="fresh-sample", eval={"metric": "exact", "max_new_tokens": 4})
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    own_eval = (run / "eval" / "domain.json").read_text()

    result = _eval(run, _fresh(tmp_path / "week1.jsonl", ["exact"] * 4))
    assert result.exit_code == 0, result.output  # 0% after the run's own 0%: no fall
    (week1,) = (run / "eval" / "fresh").iterdir()
    assert json.loads((week1 / "source.json").read_text())["rows"] == 4
    assert json.loads((week1 / "domain.json").read_text())["tuned"]["score"] == 0.0
    assert [json.loads(x)["tuned"] for x in (week1 / "predictions.jsonl").open()] == ["\n\n\n\n"] * 4

    result = _eval(run, _fresh(tmp_path / "week2.jsonl", ["shell"] * 4))
    assert result.exit_code == 0, result.output
    assert "+100.0 pts" in result.output

    result = _eval(run, _fresh(tmp_path / "week3.jsonl", ["shell", "exact", "shell", "exact"]))
    assert result.exit_code == 1, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│")]
    assert len(rows) == 4 and "-50.0 pts REGRESSION" in rows[3] and "fresh" in rows[3]  # the run's own eval first
    last = [r for r in audit_log().records() if r["action"] == "eval.fresh"][-1]
    assert last["decision"] == "regression" and last["details"]["score"] == 0.5
    assert (run / "eval" / "domain.json").read_text() == own_eval  # the run's own eval is untouched
    assert len(list((run / "eval" / "fresh").iterdir())) == 3

    result = _eval(run, tmp_path / "week1.jsonl", "--metric", "rouge_l")
    assert (
        result.exit_code == 2
        and "--metric rouge_l: not measured on these rows; measured: score, exact_match" in result.output
    )
    assert len(list((run / "eval" / "fresh").iterdir())) == 3  # nothing left of the refused one
