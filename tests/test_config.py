from pathlib import Path

import pytest

from afinar.config import load_recipe
from afinar.errors import AfinarError
from tests.conftest import REPO, write_recipe

EXAMPLE_RECIPES = sorted((REPO / "examples").glob("*/recipe.yaml"))


def test_there_are_example_recipes():
    assert EXAMPLE_RECIPES, "examples/*/recipe.yaml: none found"


@pytest.mark.parametrize("path", EXAMPLE_RECIPES, ids=lambda p: p.parent.name)
def test_every_example_recipe_loads_and_its_files_exist(path: Path):
    r = load_recipe(path)
    assert r.data.train.is_file()
    assert r.data.eval is None or r.data.eval.is_file()
    assert r.eval.json_schema is None or r.eval.json_schema.is_file()
    assert r.eval.sql_database is None or r.eval.sql_database.is_file()
    assert r.intended_use, "every example says what its model is for (the model card shows it)"


def test_misspelled_key_names_the_key_its_line_and_the_allowed_keys(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("name: x\ndata:\n  train: t.jsonl\nadapter:\n  rank: 8\n")
    with pytest.raises(AfinarError) as e:
        load_recipe(p)
    msg = str(e.value)
    assert f"{p}:5: field 'adapter.rank': unknown key" in msg
    assert "did you mean 'r'" not in msg  # 'rank' is not close to 'r'; no misleading guess
    assert "allowed here: alpha, bottleneck_size, dropout, method, r, target_modules" in msg


def test_a_near_miss_gets_a_suggestion(tmp_path):
    p = write_recipe(tmp_path / "r.yaml", train={"max_stpes": 3})
    with pytest.raises(AfinarError, match=r"field 'train.max_stpes': unknown key \(did you mean 'max_steps'\?\)"):
        load_recipe(p)


def test_wrong_value_says_what_was_given(tmp_path):
    p = write_recipe(tmp_path / "r.yaml", train={"micro_batch_size": 0})
    with pytest.raises(AfinarError, match=r"field 'train.micro_batch_size': .*greater than or equal to 1.*got 0"):
        load_recipe(p)


def test_missing_section_and_missing_file(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("name: x\n")
    with pytest.raises(AfinarError, match="field 'data': required but missing"):
        load_recipe(p)
    with pytest.raises(AfinarError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_relative_paths_resolve_against_the_recipe_folder(tmp_path):
    r = load_recipe(write_recipe(tmp_path / "r.yaml"))
    assert r.data.train == tmp_path / "train.jsonl"
    assert r.output_dir == tmp_path / "runs"


def test_the_recipe_reference_page_is_the_schema():
    """docs/recipe.md is generated (``python -m afinar.recipe_reference``): regenerated, it must not change,
    and it shows defaults and choices as written here, by hand."""
    from afinar.recipe_reference import reference_markdown

    page = (REPO / "docs" / "recipe.md").read_text()
    assert page == reference_markdown(), "docs/recipe.md is stale: python -m afinar.recipe_reference > docs/recipe.md"
    for row in [
        "| `lr` | number | `0.0002` |",
        "| `r` | integer | `16` |",
        "| `max_seq_len` | integer | `512` |",
        "| `micro_batch_size` | integer | `8` |",
        "| `policy` | `mask` \\| `block` \\| `off` | `mask` |",
        "| `names` | list of `hellaswag` \\| `piqa` \\| `arc_easy` \\| `arc_challenge` \\| `winogrande` \\| `mmlu` |",
        "| `train` | path | (required) |",
    ]:
        assert row in page, row
    sections = [line for line in page.splitlines() if line.startswith("## ")]
    assert sections == ["## Top level"] + [f"## `{s}`" for s in (
        "data", "adapter", "optim", "train", "memory", "replay", "eval", "eval.mmlu", "eval.benchmarks",
        "eval.scale", "eval.safety", "eval.gate", "pii", "tracking")]  # fmt: skip


def test_one_registry_of_metrics_names_every_rate_once():
    """The metrics a row may name, their summary rates, the labels tables print and what the gate
    may threshold all come from afinar/names.py; the schema accepts exactly those metrics."""
    from typing import get_args

    from afinar.config import EvalConfig
    from afinar.names import GATE_METRICS, METRICS, RATE_LABELS, RATES

    json_rates = {"json_parse_rate", "schema_valid_rate", "field_accuracy"}
    assert set(RATE_LABELS) == json_rates | set(RATES.values())
    assert len(set(RATES.values())) == len(RATES)  # no two metrics share a rate
    assert set(GATE_METRICS) == {"score"} | set(RATE_LABELS)
    assert set(get_args(EvalConfig.model_fields["metric"].annotation)) == {*METRICS, "none"}
    assert "json" in METRICS and "json" not in RATES
