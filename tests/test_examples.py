"""The example datasets are reproducible from their seeded generators and match their schemas."""

import json
import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import REPO

RETAIL = REPO / "examples" / "retail-sales-json"


def test_retail_generator_reproduces_the_committed_files(tmp_path):
    subprocess.run(
        [sys.executable, str(RETAIL / "generate_data.py"), "--out", str(tmp_path)], check=True, capture_output=True
    )
    for name in ("train.jsonl", "eval.jsonl", "eval_disjoint.jsonl"):
        assert (tmp_path / name).read_bytes() == (RETAIL / "data" / name).read_bytes(), name


@pytest.fixture(scope="module")
def retail():
    return {
        n: [json.loads(x) for x in (RETAIL / "data" / f"{n}.jsonl").read_text().splitlines()]
        for n in ("train", "eval", "eval_disjoint")
    }


def test_retail_sizes_scenarios_languages_and_no_leakage(retail):
    train, held = retail["train"], retail["eval"]
    assert len(train) >= 1000 and len(held) >= 150
    for rows in (train, held):
        shares = {s: sum(r["scenario"] == s for r in rows) / len(rows) for s in ("normal", "exception", "user_error")}
        assert all(v >= 0.1 for v in shares.values()), shares
    assert sum("tienda:" in r["input"] for r in train) > 300 and sum("store:" in r["input"] for r in train) > 300
    assert not {(r["instruction"], r["input"]) for r in train} & {(r["instruction"], r["input"]) for r in held}


def _words(rows: list[dict]) -> dict[str, set[str]]:
    """Stores, products and request sentences of ``rows``, read from the rows themselves."""
    out: dict[str, set[str]] = {"stores": set(), "products": set(), "requests": set()}
    for r in rows:
        out["requests"].add(r["instruction"])
        for line in r["input"].split("\n"):
            if line.startswith(("tienda: ", "store: ")):
                out["stores"].add(line.split(": ", 1)[1])
        if r["output"].startswith('{"store"'):
            out["products"] |= {ln["product"] for ln in json.loads(r["output"])["lines"]}
    return out


def test_the_disjoint_split_shares_no_store_product_or_request_with_training(retail):
    seen, held = _words(retail["train"]), _words(retail["eval_disjoint"])
    assert len(retail["eval_disjoint"]) == 150
    for kind in ("stores", "products", "requests"):
        assert held[kind] and not held[kind] & seen[kind], kind
    sizes = {
        len(json.loads(r["output"])["lines"]) for r in retail["eval_disjoint"] if r["output"].startswith('{"store"')
    }
    trained = {len(json.loads(r["output"])["lines"]) for r in retail["train"] if r["output"].startswith('{"store"')}
    assert trained == {1, 2, 3, 4, 5} and sizes == {1, 2, 3, 4}


def test_retail_answers_follow_the_schema_and_add_up(retail):
    validator = Draft202012Validator(json.loads((RETAIL / "report.schema.json").read_text()))
    for row in retail["train"] + retail["eval"] + retail["eval_disjoint"]:
        out = json.loads(row["output"])
        assert validator.is_valid(out), row
        if out["status"] == "error":
            assert row["scenario"] == "user_error"
            continue
        # Recompute the totals from the input table, independently of the generator's code.
        table = row["input"].split("\n")
        header = next(i for i, x in enumerate(table) if x.startswith(("producto,", "product,")))
        cells = [x.rsplit(",", 2) for x in table[header + 1 :]]
        assert out["total_units"] == sum(int(u) for _, u, _ in cells if u)
        assert abs(out["total_revenue"] - sum(float(v) for _, _, v in cells if v)) < 0.006
        assert (out["status"] == "warning") == bool(out["issues"]) == (row["scenario"] == "exception")
