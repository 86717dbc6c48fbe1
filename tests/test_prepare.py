"""``afinar prepare RECIPE``: what it computes ahead is, bit for bit and under the same keys, what a
run of that recipe computes about its base itself, and a run after it reads it back."""

import json

import torch
from typer.testing import CliRunner

from afinar.cli import app
from afinar.config import load_recipe
from afinar.lineage import sha256_file
from afinar.model.load import load_tokenizer, resolve_base
from afinar.train.replay import _cache_key
from tests.conftest import tiny_recipe, write_jsonl

CONVERSATIONS = [
    {"user": f"Name a colour that starts with the letter {c}.", "assistant": f"A colour with {c}: {w}."}
    for c, w in [("r", "red"), ("b", "blue"), ("g", "green"), ("y", "yellow")]
]


def _recipe(tmp_path, model_dir):
    recipe = tiny_recipe(
        tmp_path,
        model_dir,
        n_eval=3,
        train={"max_steps": 2, "micro_batch_size": 2, "grad_accum": 1},
        replay={"enabled": True, "loss": "kl+sft", "per_step": 1, "conversations": 4},
        eval={
            "metric": "exact",
            "max_new_tokens": 6,
            "batch_size": 2,
            "compare_base_on_splits": True,
            "benchmarks": {"enabled": False},
        },
        data={"train": "train.jsonl", "eval": "eval.jsonl", "max_seq_len": 64, "eval_splits": {"more": "more.jsonl"}},
    )
    write_jsonl(tmp_path / "more.jsonl", [{"instruction": "Add 7 and 9.", "input": "", "output": "16"}])
    return recipe


def _seed_conversations(cache, recipe_file, model_dir):
    """The tiny random model writes no request of its own: give it the set its cache would hold."""
    recipe = load_recipe(recipe_file)
    digest = sha256_file(resolve_base(str(model_dir)).weights_file)
    key = _cache_key(digest, load_tokenizer(str(model_dir)), recipe.replay, "transformers")
    (cache / "replay").mkdir(parents=True)
    write_jsonl(cache / "replay" / f"{key}.jsonl", CONVERSATIONS)


def _kept(cache):
    teacher = {p.name: torch.load(p, weights_only=True) for p in (cache / "replay-teacher").glob("*.pt")}
    answers = {p.name: json.loads(p.read_text()) for p in (cache / "base-answers").glob("*.json")}
    return teacher, answers


def test_prepare_computes_what_a_run_computes_about_its_base_and_the_run_reads_it(tmp_path, tiny_model_dir,
                                                                                  monkeypatch):  # fmt: skip
    recipe = _recipe(tmp_path, tiny_model_dir)
    by_run, ahead = tmp_path / "by-run", tmp_path / "ahead"
    for cache in (by_run, ahead):
        _seed_conversations(cache, recipe, tiny_model_dir)

    monkeypatch.setenv("AFINAR_CACHE", str(by_run))
    result = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(tmp_path / "run1")])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("AFINAR_CACHE", str(ahead))
    result = CliRunner().invoke(app, ["prepare", "--quiet", str(recipe)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "base answers: eval, more" in said and "replay rows and teacher: 8 rows" in said

    teacher_run, answers_run = _kept(by_run)
    teacher_ahead, answers_ahead = _kept(ahead)
    assert len(teacher_run) == 1 and len(answers_run) == 2  # the eval split and the split "more"
    assert teacher_ahead.keys() == teacher_run.keys() and answers_ahead == answers_run
    [(run_t), (ahead_t)] = [next(iter(t.values())) for t in (teacher_run, teacher_ahead)]
    assert len(run_t["ids"]) == 8  # each conversation as a chat row and as plain text
    for key in ("ids", "logp"):
        assert all(torch.equal(a, b) for a, b in zip(run_t[key], ahead_t[key], strict=True))

    # A run after prepare reads them: the base's answers it reports are the ones in the cache.
    for path in (ahead / "base-answers").glob("*.json"):
        path.write_text(json.dumps([f"kept {i}" for i in range(len(json.loads(path.read_text())))]))
    result = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(tmp_path / "run2")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "run2" / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert [r["base"] for r in rows] == ["kept 0", "kept 1", "kept 2"]
    first = [json.loads(line) for line in (tmp_path / "run1" / "metrics.jsonl").read_text().splitlines()]
    second = [json.loads(line) for line in (tmp_path / "run2" / "metrics.jsonl").read_text().splitlines()]
    assert [m.get("replay_loss") for m in second] == [m.get("replay_loss") for m in first]


def test_a_recipe_that_generates_nothing_prepares_no_answers(tmp_path, tiny_model_dir, monkeypatch):
    """Eval metric ``none``: a run asks the base nothing, so prepare writes no answers."""
    monkeypatch.setenv("AFINAR_CACHE", str(tmp_path / "cache"))
    recipe = tiny_recipe(tmp_path, tiny_model_dir)  # eval.metric none, replay off
    result = CliRunner().invoke(app, ["prepare", "--quiet", str(recipe)])
    assert result.exit_code == 0, result.output
    assert "base answers" not in result.output and not (tmp_path / "cache" / "base-answers").exists()
