"""Early stopping ends the run, and adapter/ holds the weights with the best eval loss."""

import json

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
from typer.testing import CliRunner

from afinar.cli import app
from afinar.data.batch import collate
from afinar.data.read import read_dataset
from afinar.data.render import render
from tests.conftest import tiny_recipe


def test_patience_stops_the_run_and_keeps_the_best_adapter(tmp_path, tiny_model_dir):
    # A rate this high makes eval loss climb after the first steps, so patience runs out.
    recipe = tiny_recipe(
        tmp_path,
        tiny_model_dir,
        n_train=16,
        n_eval=3,
        eval_start=40,
        optim={"lr": 0.3, "warmup_steps": 0, "schedule": "constant"},
        train={
            "micro_batch_size": 2,
            "grad_accum": 1,
            "max_steps": 40,
            "eval_interval": 1,
            "early_stopping_patience": 2,
            "precision": "fp32",
            "seed": 5,
        },
    )
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--quiet", str(recipe), "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    summary = json.loads((run_dir / "summary.json").read_text())["train"]
    assert summary["stopped_early"] and summary["steps"] < 40
    evals = [
        json.loads(x)["eval_loss"] for x in (run_dir / "metrics.jsonl").read_text().splitlines() if "eval_loss" in x
    ]
    assert min(evals) == summary["best_eval_loss"] and evals[-1] > min(evals)

    # Recompute the eval loss of the saved adapter with transformers' own loss, row by row.
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), run_dir / "adapter")
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for ex in read_dataset(tmp_path / "eval.jsonl"):
            row = render(tokenizer, ex)
            n = sum(1 for t in row.labels[1:] if t != -100)
            total += model(**collate([row], tokenizer.pad_token_id)).loss.item() * n
            count += n
    assert abs(total / count - summary["best_eval_loss"]) < 1e-4
