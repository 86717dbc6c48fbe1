"""What the /ui pages are built from, without a browser: base vs tuned per scenario, masking of
audit details, run ids of folders that share a name, and the SVG chart's accessible text."""

from __future__ import annotations

from afinar.serve.ui.charts import Series, line_chart
from afinar.serve.ui.views import find_runs, masked, scenario_section


def test_base_vs_tuned_per_scenario():
    summary = {"eval": {
        "base": {"by_scenario": {"normal": {"n": 4, "score": 0.25}}},
        "tuned": {"by_scenario": {"normal": {"n": 4, "score": 0.75, "schema_valid_rate": 1.0, "field_accuracy": 0.5},
                                  "exception": {"n": 2, "score": 0.5}}},
    }}  # fmt: skip
    section = scenario_section(summary)
    _, header, rows = section.blocks[0]
    assert header == ["scenario", "rows", "metric", "base", "tuned"]
    assert rows == [
        ["exception", "2", "mean row score", "-", "50.0%"],
        ["normal", "4", "mean row score", "25.0%", "75.0%"],
        ["normal", "4", "schema-valid rate", "-", "100.0%"],
        ["normal", "4", "field accuracy", "-", "50.0%"],
    ]
    assert scenario_section({"eval": {}}) is None


def test_every_string_of_audit_details_is_masked():
    details = {"prompt": "mail maria.lopez@norvia-retail.es", "n": 3, "more": ["call +34 612 345 678", {"x": "ok"}]}
    out = masked(details)
    assert "maria.lopez@norvia-retail.es" not in str(out) and "612 345 678" not in str(out)
    assert out["n"] == 3 and out["more"][1] == {"x": "ok"} and out["prompt"].startswith("mail ")


def test_runs_in_two_folders_with_one_name_get_two_ids(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder / "run-1").mkdir(parents=True)
        (tmp_path / folder / "run-1" / "recipe.yaml").write_text("name: t\n")
    (tmp_path / "a" / "not-a-run").mkdir()
    found = find_runs([tmp_path / "a", tmp_path / "b", tmp_path / "missing"])
    assert found == {"run-1": tmp_path / "a" / "run-1", "run-1~2": tmp_path / "b" / "run-1"}


def test_a_chart_says_what_it_shows():
    svg = line_chart([Series("train loss", [(1, 2.0), (2, 1.5), (3, 1.0)]), Series("eval loss", [])], "Loss", "step",
                     "loss", "c")  # fmt: skip
    assert 'role="img"' in svg and '<title id="c-title">Loss</title>' in svg
    assert "train loss: 3 points, from 2 at step 1 to 1 at 3" in svg and "eval loss" not in svg
    assert "<tr><td>2</td><td>1.5</td></tr>" in svg  # the numbers, in a table under the chart
    assert line_chart([Series("x", [])], "Empty", "step", "y", "e") == "<p>Empty: nothing recorded.</p>"
