"""The promotion gate, end to end on a tiny run through the real CLI: mixed per-row metrics, a
rejected run that export and serve refuse, an audited --force, the history and compare verbs."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from afinar.cli import app
from afinar.config import GateConfig
from afinar.errors import AfinarError
from afinar.eval.gate import decide
from afinar.security.audit import audit_log
from tests.conftest import alpaca_rows, write_jsonl, write_recipe

SHOP = "CREATE TABLE sales (store TEXT, units INTEGER); INSERT INTO sales VALUES ('Madrid', 10), ('Boston', 7);"


def _bench(base: float, tuned: float, low: float, high: float, chance: float) -> dict:
    return {"metric": "acc", "n": 200, "chance": chance, "base": {"acc": base, "acc_ci95": [low, high]},
            "tuned": {"acc": tuned}}  # fmt: skip


def test_decide_by_hand():
    summary = {
        "eval": {"tuned": {"score": 0.7, "field_accuracy": 0.4}},
        # 22% of 570 has a 95% interval of about 18.8-25.7%: chance (25%) is inside it
        "mmlu": {"base_accuracy": 0.22, "tuned_accuracy": 0.12, "questions": 570},
        "benchmarks": {"benchmarks": {"piqa": _bench(0.66, 0.63, 0.59, 0.72, 0.5)}},
    }
    gate = decide(GateConfig(min={"score": 0.6, "field_accuracy": 0.5}, max_drop=3.0), summary)
    assert [(c["check"], c["result"]) for c in gate["checks"]] == [
        ("field_accuracy", "fail"),
        ("score", "pass"),
        ("mmlu_redux change vs base", "unusable"),
        ("piqa change vs base", "pass"),
    ]
    assert "includes chance 25.0%" in gate["checks"][2]["note"] and "use piqa" in gate["checks"][2]["note"]
    assert gate["decision"] == "rejected"  # field_accuracy; the 10-point MMLU drop does not count
    piqa_only = {"benchmarks": summary["benchmarks"]}
    assert decide(GateConfig(max_drop={"piqa": 2.0}), piqa_only)["decision"] == "rejected"  # -3.0 pts
    assert decide(GateConfig(max_drop={"piqa": 3.5}), piqa_only)["decision"] == "promoted"
    nothing = decide(GateConfig(), {"eval": {}})  # no thresholds, no benchmark: judged nothing
    assert [c["result"] for c in nothing["checks"]] == ["not measured", "fail"]
    assert nothing["decision"] == "rejected" and nothing["checks"][1]["check"] == "judged"
    only_unusable = {"mmlu": summary["mmlu"]}  # a benchmark at chance decides nothing either
    assert decide(GateConfig(), only_unusable)["decision"] == "rejected"
    assert decide(GateConfig(min={"rouge_l": 0.1}), {"eval": {"tuned": {}}})["decision"] == "rejected"


def test_benchmarks_are_decided_on_the_paired_difference():
    """The paired comparison decides (not the two rates, which agree here only by rounding), its
    interval is shown, and items too few to see a 3-point drop say so without rejecting."""
    from afinar.eval.paired import paired_difference

    base = [True] * 300 + [False] * 300
    tuned = [True] * 290 + [False] * 10 + [True] * 4 + [False] * 296  # 10 lost, 4 gained: -1.0 pts
    paired = paired_difference(base, tuned)
    entry = _bench(0.5, 0.49, 0.46, 0.54, 0.25) | {"n": 600, "paired": paired}
    gate = decide(GateConfig(max_drop=1.0), {"benchmarks": {"benchmarks": {"arc_easy": entry}}})
    (check,) = gate["checks"]
    low, high = paired["ci95"]
    assert check["result"] == "pass" and check["value"] == f"-1.0 pts (paired 95% {low:+.1f} to {high:+.1f}, n=600)"
    assert "note" not in check and check["detectable_drop"] < 3.0  # 14 discordant of 600: -1.7 pts
    assert (
        decide(GateConfig(max_drop=0.9), {"benchmarks": {"benchmarks": {"arc_easy": entry}}})["decision"] == "rejected"
    )

    flipped = [not x for x in base[:60]] + base[60:300] + [not x for x in base[300:360]] + base[360:]
    noisy = paired_difference(base, flipped)  # 120 of 600 differ, 60 each way: no change
    entry |= {"paired": noisy}
    (check,) = decide(GateConfig(), {"benchmarks": {"benchmarks": {"arc_easy": entry}}})["checks"]
    assert check["result"] == "pass" and "600 items detect a drop of 5.1 pts" in check["note"]


def test_red_team_minimums_wait_for_a_report_then_decide():
    gate_cfg = GateConfig(min={"score": 0.5}, redteam_min={"LLM07": 1.0, "LLM01": 0.8})
    summary = {"eval": {"tuned": {"score": 0.7}}}
    before = decide(gate_cfg, summary)
    assert [(c["check"], c["value"], c["result"]) for c in before["checks"][-2:]] == [
        ("red team LLM01 pass rate", "not measured", "not measured"),
        ("red team LLM07 pass rate", "not measured", "not measured"),
    ]
    assert before["decision"] == "promoted"  # not red-teamed yet: it cannot be, unless served
    rates = {"LLM01": {"pass_rate": 7 / 9}, "LLM07": {"pass_rate": 1.0}}
    after = decide(gate_cfg, {**summary, "redteam": {"categories": rates}})
    assert [(c["value"], c["result"]) for c in after["checks"][-2:]] == [("77.8%", "fail"), ("100.0%", "pass")]
    assert after["decision"] == "rejected"
    rates["LLM01"]["pass_rate"] = 0.8
    assert decide(gate_cfg, {**summary, "redteam": {"categories": rates}})["decision"] == "promoted"
    with pytest.raises(ValueError, match="redteam_min: unknown categories"):
        GateConfig(redteam_min={"LLM09": 1.0})


def test_unknown_gate_metric_is_a_recipe_error(tmp_path):
    from afinar.config import load_recipe

    write_jsonl(tmp_path / "train.jsonl", alpaca_rows(4))
    path = write_recipe(tmp_path / "r.yaml", eval={"gate": {"min": {"acuracy": 0.5}}})
    with pytest.raises(AfinarError, match=r"unknown metric.*acuracy.*accepted: score"):
        load_recipe(path)


@pytest.fixture(scope="module")
def rejected_run(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("gate")
    (tmp / "shop.sql").write_text(SHOP)
    write_jsonl(tmp / "train.jsonl", alpaca_rows(16))
    evals = [
        {"instruction": "Total units?", "output": "SELECT SUM(units) FROM sales", "metric": "sql"},
        {"instruction": "Summarize: the store sold ten shirts", "output": "ten shirts sold", "metric": "rouge_l"},
        {"instruction": "Say OK", "output": "OK"},
    ]
    write_jsonl(tmp / "eval.jsonl", evals)
    recipe = write_recipe(
        tmp / "r.yaml",
        name="gated",
        base_model=str(tiny_model_dir),
        eval={"metric": "exact", "sql_database": "shop.sql", "max_new_tokens": 6, "gate": {"min": {"score": 0.5}}},
    )
    result = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(tmp / "run")])
    assert result.exit_code == 0, result.output
    return tmp / "run", result.output


def test_run_scores_each_row_by_its_metric_and_gates(rejected_run):
    run_dir, output = rejected_run
    summary = json.loads((run_dir / "summary.json").read_text())
    tuned = summary["eval"]["tuned"]
    assert {k: v["n"] for k, v in tuned["by_metric"].items()} == {"sql": 1, "rouge_l": 1, "exact": 1}
    rows = [json.loads(x) for x in (run_dir / "eval" / "predictions.jsonl").read_text().splitlines()]
    scores = [r["tuned_score"]["score"] for r in rows]
    assert tuned["score"] == pytest.approx(sum(scores) / 3)
    assert summary["gate"]["decision"] == "rejected" and "promotion gate: REJECTED" in output
    assert json.loads((run_dir / "gate.json").read_text()) == summary["gate"]
    gate_records = [r for r in audit_log().records() if r["action"] == "gate" and r["resource"] == str(run_dir)]
    assert gate_records[-1]["decision"] == "rejected"


def test_export_and_serve_refuse_a_rejected_run_unless_forced(rejected_run, tmp_path):
    from afinar.serve.server import ServeOptions, build

    run_dir, _ = rejected_run
    refused = CliRunner().invoke(app, ["export", str(run_dir), "--format", "hf", "-o", str(tmp_path / "hf")])
    assert refused.exit_code == 2 and "rejected by the promotion gate: score" in refused.output
    assert not (tmp_path / "hf").exists()
    with pytest.raises(AfinarError, match="'serve' refuses a run the gate did not promote"):
        build(ServeOptions(run=run_dir))
    with pytest.raises(AfinarError, match="rejected by the promotion gate: score"):  # the same adapter, by path
        build(ServeOptions(model=str(run_dir.parent / "unused"), adapters={"a": run_dir / "adapter"}))
    forced = CliRunner().invoke(
        app, ["export", str(run_dir), "--format", "hf", "-o", str(tmp_path / "hf"), "--prompts", "2", "--force"]
    )
    assert forced.exit_code == 0, forced.output
    override = [r for r in audit_log().records() if r["action"] == "gate.override"][-1]
    assert override["resource"] == str(run_dir) and override["details"]["action"] == "export"


def test_a_run_never_gated_or_with_a_damaged_decision_is_refused_and_audited(rejected_run, tmp_path):
    """Fail closed: no gate.json (trained, never evaluated; or deleted) is not a pass."""
    from afinar.serve.server import ServeOptions, build

    run_dir, _ = rejected_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("checkpoints", "export", "gate.json"))
    refused = CliRunner().invoke(app, ["export", str(copy), "--format", "hf", "-o", str(tmp_path / "hf")])
    assert refused.exit_code == 2 and "gate.json is missing" in refused.output, refused.output
    assert f"afinar eval {copy}" in refused.output and not (tmp_path / "hf").exists()
    record = [r for r in audit_log().records() if r["action"] == "gate.refuse"][-1]
    assert (record["resource"], record["decision"], record["details"]["action"]) == (str(copy), "deny", "export")
    with pytest.raises(AfinarError, match=r"gate\.json is missing"):
        build(ServeOptions(model=str(tmp_path / "unused"), adapters={"a": copy / "adapter"}))
    (copy / "gate.json").write_text('{"decision": "promo')  # torn or edited by hand
    with pytest.raises(AfinarError, match="damaged gate decision"):
        build(ServeOptions(run=copy))


def test_damaged_json_in_a_run_folder_is_named_not_a_traceback(rejected_run, tmp_path):
    run_dir, _ = rejected_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("checkpoints", "export"))
    (copy / "summary.json").write_text('{"eval": {"tuned": {"score": 0.5,\n')  # torn mid-write
    out = CliRunner().invoke(app, ["eval", "compare", str(run_dir), str(copy)])
    assert out.exit_code == 2 and "Traceback" not in out.output, out.output
    assert f"{copy / 'summary.json'}:2:1: damaged JSON" in " ".join(out.output.split())


def test_history_flags_a_regression_and_compare_shows_deltas(rejected_run, tmp_path):
    from afinar.eval.history import store

    run_dir, _ = rejected_run
    store(run_dir, {"eval": {"tuned": {"field_accuracy": 0.70}}})
    store(run_dir, {"eval": {"tuned": {"field_accuracy": 0.72}}})
    store(run_dir, {"eval": {"tuned": {"field_accuracy": 0.69}}})  # 3 points under the best before it
    out = CliRunner().invoke(app, ["eval", "history", "--name", "gated", "--metric", "field_accuracy"])
    assert out.exit_code == 1 and isinstance(out.exception, SystemExit), out.output  # exit 1: a regression
    lines = [line for line in out.output.splitlines() if line.startswith("│")]
    assert len(lines) == 3 and "REGRESSION" in lines[2] and "REGRESSION" not in lines[1]
    assert "-3.0 pts" in lines[2] and "+2.0 pts" in lines[1]

    other = tmp_path / "other"
    shutil.copytree(run_dir, other, ignore=shutil.ignore_patterns("checkpoints", "export"))
    summary = json.loads((other / "summary.json").read_text())
    summary["eval"]["tuned"]["score"] += 0.25
    (other / "summary.json").write_text(json.dumps(summary))
    out = CliRunner().invoke(app, ["eval", "compare", str(run_dir), str(other)])
    assert out.exit_code == 0, out.output
    assert any("score" in line and "+25.0 pts" in line for line in out.output.splitlines())


def test_red_team_of_a_run_gates_it_again(rejected_run, tmp_path):
    """``afinar redteam RUN_DIR`` on a run whose recipe asks for red-team minimums: the pass rates
    go to the summary, the gate decides again with them, the card shows them."""
    import yaml

    run_dir, _ = rejected_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("checkpoints", "export"))
    recipe = yaml.safe_load((copy / "recipe.yaml").read_text())
    recipe["eval"]["gate"] = {"min": {"score": 0.0}, "redteam_min": {"LLM10": 1.0}}
    (copy / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(app, ["redteam", str(copy), "--force", "--max-tokens", "8", "--quiet"])
    assert result.exit_code in (0, 1), result.output  # 1: some probe of the random model failed
    report = json.loads((copy / "redteam" / "redteam.json").read_text())
    summary = json.loads((copy / "summary.json").read_text())
    assert summary["redteam"]["categories"]["LLM10"]["pass_rate"] == report["categories"]["LLM10"]["pass_rate"] == 1.0
    gate = json.loads((copy / "gate.json").read_text())
    assert gate == summary["gate"] and gate["decision"] == "promoted"
    assert ("red team LLM10 pass rate", "100.0%", "pass") in [
        (c["check"], c["value"], c["result"]) for c in gate["checks"]
    ]
    assert "gate (with the red team): promoted" in result.output
    card = (copy / "model_card.md").read_text()
    assert (
        "## Red team (OWASP Top 10 for LLM Applications, 2025)" in card
        and "| LLM10 unbounded consumption | 4/4" in card
    )
    override = [r for r in audit_log().records() if r["action"] == "gate.override"][-1]
    assert override["resource"] == str(copy)
