"""One short real run of the whole CLI on the bundled SmolLM2, checked artifact by artifact."""

import hashlib
import json
from importlib.metadata import version

from peft import PeftModel
from transformers import AutoModelForCausalLM
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import REPO, write_recipe

EXAMPLE = REPO / "examples" / "retail-sales-json"


def test_short_real_run_writes_a_complete_run_directory(tmp_path, bundled_dir):
    # Eight train rows from the demo, long ones cut to 160 tokens and counted.
    rows = (EXAMPLE / "data" / "train.jsonl").read_text().splitlines()[:8]
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "eval.jsonl").write_text(
        "\n".join((EXAMPLE / "data" / "eval.jsonl").read_text().splitlines()[:3]) + "\n"
    )
    recipe = write_recipe(
        tmp_path / "r.yaml",
        data={"max_seq_len": 160, "format": "alpaca"},
        optim={"lr": 1e-4, "warmup_steps": 0},
        train={"micro_batch_size": 2, "grad_accum": 2, "max_steps": 2, "seed": 1},
        eval={
            "metric": "json",
            "json_schema": str(EXAMPLE / "report.schema.json"),
            "ignore_fields": ["error.message"],
            "max_new_tokens": 8,
            "batch_size": 4,
        },
    )
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "schema-valid rate" in result.output

    for name in [
        "recipe.yaml",
        "lineage.json",
        "data_report.json",
        "pii_report.json",
        "metrics.jsonl",
        "loss.png",
        "summary.json",
        "adapter/adapter_config.json",
        "eval/domain.json",
        "eval/predictions.jsonl",
    ]:
        assert (run_dir / name).is_file(), name

    lineage = json.loads((run_dir / "lineage.json").read_text())
    data_sha = hashlib.sha256((tmp_path / "train.jsonl").read_bytes()).hexdigest()
    assert lineage["data"][0]["sha256"] == data_sha
    assert lineage["base_model"]["weights"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert lineage["packages"]["torch"] == version("torch") and lineage["packages"]["peft"] == version("peft")

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["train"]["steps"] == 2 and summary["data"]["train"]["rows"] == 8
    # Demo rows run ~230 tokens: cut to 160, counted, never silently.
    assert summary["data"]["train"]["truncated"] > 0
    assert summary["eval"]["tuned"]["n"] == 3
    steps = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps if "loss" in s] == [1, 2]
    assert all(s["loss"] > 0 for s in steps if "loss" in s)

    # `afinar eval` reloads base + adapter from disk and gets the answers `run` got in memory.
    first = (run_dir / "eval" / "predictions.jsonl").read_text()
    again = CliRunner().invoke(app, ["eval", "--quiet", str(run_dir)])
    assert again.exit_code == 0, again.output
    assert (run_dir / "eval" / "predictions.jsonl").read_text() == first

    # The adapter is plain PEFT: transformers + peft load it without afinar.
    base = AutoModelForCausalLM.from_pretrained(bundled_dir)
    tuned = PeftModel.from_pretrained(base, run_dir / "adapter")
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in tuned.named_parameters())

    # Two small steps at a low rate leave the base's knowledge in place.
    answer = CliRunner().invoke(
        app, ["generate", str(run_dir), "What is the capital of France?", "--max-new-tokens", "12"]
    )
    assert answer.exit_code == 0, answer.output
    assert "Paris" in answer.output

    chat = CliRunner().invoke(
        app, ["chat", str(run_dir), "--max-new-tokens", "12"], input="What is the capital of France?\n\n/exit\n"
    )
    assert chat.exit_code == 0, chat.output
    assert chat.output.count("model> ") == 1 and "Paris" in chat.output
