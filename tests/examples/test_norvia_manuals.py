"""The continued-pretraining example: reproducible, its eval asks only what the manuals say, about
systems the training questions never ask about, and its three recipes read their data without errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from afinar.config import load_recipe
from afinar.data.intake import check_data
from afinar.model.load import load_tokenizer
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "norvia-manuals"


def test_the_generator_reproduces_the_committed_files(tmp_path):
    subprocess.run(
        [sys.executable, str(EXAMPLE / "generate_data.py"), "--out", str(tmp_path)], check=True, capture_output=True
    )
    committed = sorted(p.relative_to(EXAMPLE) for d in ("manuals", "heldout", "data") for p in (EXAMPLE / d).iterdir())
    written = sorted(p.relative_to(tmp_path) for d in ("manuals", "heldout", "data") for p in (tmp_path / d).iterdir())
    assert written == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), name


@pytest.fixture(scope="module")
def qa() -> dict[str, list[dict]]:
    return {
        n: [json.loads(x) for x in (EXAMPLE / "data" / f"{n}.jsonl").read_text().splitlines()]
        for n in ("qa_train", "qa_eval")
    }


def _lines_about(system: str) -> list[str]:
    """Every line of the manuals that names ``system`` (a whole word): a system's facts are stated
    within one line (a paragraph, a list item)."""
    lines = [x for p in sorted((EXAMPLE / "manuals").iterdir()) for x in p.read_text().splitlines()]
    return [x for x in lines if re.search(rf"\b{system}\b", x)]


def test_every_eval_answer_is_stated_in_the_manuals_and_asked_nowhere_in_training(qa):
    trained = {r["meta"]["system"] for r in qa["qa_train"]}
    asked = {r["meta"]["system"] for r in qa["qa_eval"]}
    assert len(trained) == 32 and len(asked) == 16 and not trained & asked
    for row in qa["qa_eval"]:
        system, answer = row["meta"]["system"], row["messages"][-1]["content"]
        value = answer.removesuffix(" days")  # "30 days": the manuals say "30 days" or "30"
        said = [s for s in _lines_about(system) if re.search(rf"\b{re.escape(value)}\b", s)]
        assert len(said) >= 2, (system, answer)  # each fact in at least two places, in other words


@pytest.mark.parametrize("recipe", ["recipe-cpt.yaml", "recipe-sft.yaml"])
def test_the_recipes_data_has_no_errors(recipe):
    report, _ = check_data(None, EXAMPLE / recipe, None, load_tokenizer)
    assert not report.errors, [f.message for f in report.errors]
    assert "pii" not in report.stats or not report.stats["pii"]  # team and system names are no persons


def test_the_fine_tune_after_pretraining_differs_from_the_plain_one_by_its_base_only():
    plain = load_recipe(EXAMPLE / "recipe-sft.yaml").model_dump()
    after = load_recipe(EXAMPLE / "recipe-sft-after-cpt.yaml").model_dump()
    different = {k for k in plain if plain[k] != after[k]}
    assert different == {"name", "base_model"}
    assert after["base_model"].endswith("runs/norvia-manuals-cpt")


def test_the_faq_answers_questions_about_the_training_systems_only(qa):
    faq = (EXAMPLE / "manuals" / "it-faq.md").read_text()
    trained = {r["meta"]["system"] for r in qa["qa_train"]}
    asked = {r["meta"]["system"] for r in qa["qa_eval"]}
    assert all(re.search(rf"\b{s}\b", faq) for s in trained)
    assert not [s for s in asked if re.search(rf"\b{s}\b", faq)]


def _fake_run(folder, questions: list[dict], right: set[int]):
    """A run folder whose eval answered question i right exactly when i is in ``right``."""
    (folder / "eval").mkdir(parents=True)
    lines = []
    for i, q in enumerate(questions):
        ref = q["messages"][-1]["content"]
        answer = ref if i in right else "I do not know"
        lines.append(json.dumps({"source": f"qa_eval.jsonl:{i + 1}", "reference": ref, "tuned": answer,
                                 "tuned_score": {"score": float(i in right), "metric": "exact"}}))  # fmt: skip
    (folder / "eval" / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_compare_prints_each_facts_rates_and_the_paired_difference(tmp_path, qa):
    questions = qa["qa_eval"]
    sites = {i for i, q in enumerate(questions) if q["meta"]["fact"] == "site"}
    first = _fake_run(tmp_path / "a", questions, set(list(sites)[:4]))
    second = _fake_run(tmp_path / "b", questions, sites)
    out = subprocess.run([sys.executable, str(EXAMPLE / "compare.py"), str(first), str(second)],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:-1]}
    assert rows["site"] == ["16", "25.0%", "100.0%"] and rows["team"] == ["16", "0.0%", "0.0%"]
    assert rows["all"] == ["80", "5.0%", "20.0%"]
    assert out.splitlines()[-1].startswith("paired difference: +15.0 points")  # 12 of 80 more right
    wrong = _fake_run(tmp_path / "c", questions[:-1], set())
    failed = subprocess.run([sys.executable, str(EXAMPLE / "compare.py"), str(first), str(wrong)],
                            capture_output=True, text=True)  # fmt: skip
    assert failed.returncode != 0 and "79 answers for 80 questions" in failed.stderr
