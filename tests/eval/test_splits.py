"""``data.eval_splits``: more held-out files, each evaluated (the tuned model; the base too with
``eval.compare_base_on_splits``) and reported beside the eval split, read under the same access
control and PII policy."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from afinar.cli import app
from afinar.security.audit import audit_log
from tests.conftest import alpaca_rows, tiny_recipe, write_jsonl


def test_a_second_held_out_split_is_scored_and_reported(tmp_path, tiny_model_dir):
    rows = alpaca_rows(3, start=300)
    rows[0]["output"] = "Write to ana.garcia@example.com"  # masked like the training rows
    write_jsonl(tmp_path / "unseen.jsonl", rows)
    recipe = tiny_recipe(
        tmp_path,
        tiny_model_dir,
        data={"eval_splits": {"unseen": "unseen.jsonl"}},
        eval={"metric": "exact", "max_new_tokens": 4},
        train={"max_steps": 1},
    )
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(recipe), "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    assert "split unseen: 3 rows" in result.output
    split = json.loads((run / "summary.json").read_text())["eval_splits"]["unseen"]
    assert split["tuned"]["n"] == 3 and split["tuned"]["exact_match"] == 0.0  # the tiny model answers blanks
    assert "base" not in split  # the base's side is on the eval split; compare_base_on_splits adds it here
    assert json.loads((run / "eval" / "unseen" / "domain.json").read_text()) == split
    predictions = (run / "eval" / "unseen" / "predictions.jsonl").read_text()
    assert "ana.garcia@example.com" not in predictions and len(predictions.splitlines()) == 3
    start = next(r for r in reversed(audit_log().records()) if r["action"] == "train.start")
    assert str(tmp_path / "unseen.jsonl") in start["digests"]  # read under the run's access check
