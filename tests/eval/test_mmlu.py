"""MMLU scoring against an independent computation: the prompt written out by hand, one
unbatched forward pass per question, log-softmax over the four letter tokens."""

import json

import pytest
import torch
from typer.testing import CliRunner

from afinar.cli import app
from afinar.eval.mmlu import DEFAULT_DATA, _shots, letter_logprobs, load_questions, score_mmlu, wilson

# MMLU-Redux is not shipped with afinar (it sits in ../shared/data): the tests that read it skip
# without it; the others always run.
needs_data = pytest.mark.skipif(not DEFAULT_DATA.is_file(), reason=f"MMLU-Redux data not found at {DEFAULT_DATA}")


@pytest.fixture(scope="module")
def base():
    from afinar.model.load import load_base

    model, tokenizer, _ = load_base("default")
    return model, tokenizer


def by_hand(q: dict) -> str:
    subject = q["subject"].replace("_", " ")
    options = "\n".join(f"{letter}. {c}" for letter, c in zip("ABCD", q["choices"], strict=True))
    return (
        f"The following are multiple choice questions (with answers) about {subject}.\n\n"
        f"{q['question'].strip()}\n{options}\nAnswer:"
    )


@needs_data
def test_scores_equal_an_unbatched_computation(base):
    model, tokenizer = base
    rows = [json.loads(x) for x in DEFAULT_DATA.read_text(encoding="utf-8").split("\n") if x.strip()]
    first_ok = {}
    for r in rows:
        if r["error_type"] == "ok" and len(first_ok) < 6:
            first_ok.setdefault(r["subject"], r)
    expected_rows = list(first_ok.values())
    questions = load_questions(limit_per_subject=1)[: len(expected_rows)]
    assert [q.question for q in questions] == [r["question"] for r in expected_rows]

    letters = [tokenizer(f" {x}", add_special_tokens=False)["input_ids"][0] for x in "ABCD"]
    expected = []
    with torch.no_grad():
        for r in expected_rows:
            ids = torch.tensor([tokenizer(by_hand(r), add_special_tokens=False)["input_ids"]])
            expected.append(torch.log_softmax(model(input_ids=ids).logits[0, -1, letters], dim=-1))
    expected = torch.stack(expected)

    from afinar.eval.mmlu import mmlu_prompt

    got = letter_logprobs(model, tokenizer, [mmlu_prompt(q, []) for q in questions], batch_size=4)
    assert torch.allclose(got, expected, atol=1e-4)
    result = score_mmlu(model, tokenizer, questions, batch_size=4)
    assert result["predicted"] == expected.argmax(dim=-1).tolist()
    correct = sum(p == r["answer"] for p, r in zip(result["predicted"], expected_rows, strict=True))
    assert result["micro"] == correct / len(expected_rows)


@needs_data
def test_few_shot_examples_share_the_subject_and_never_the_question():
    questions = load_questions(limit_per_subject=8)
    for q, shots in zip(questions, _shots(questions, questions, 5, seed=1), strict=True):
        assert len(shots) == 5 and q not in shots and {s.subject for s in shots} == {q.subject}


def test_wilson_interval_matches_the_textbook_value():
    low, high = wilson(50, 100)  # p = 0.5, n = 100: 0.5 -/+ 0.0962
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)


@needs_data
def test_cli_scores_a_base_model(tmp_path):
    result = CliRunner().invoke(app, ["eval", "default", "--suite", "mmlu", "--limit-per-subject", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "57 questions, 0-shot" in " ".join(result.output.split())
    bad = CliRunner().invoke(app, ["eval", "default", "--suite", "mmlu,trivia"])
    assert bad.exit_code == 2, bad.output
    assert "unknown trivia; accepted: domain, mmlu, safety, hellaswag" in " ".join(bad.output.split())
