"""The tool-calling example: reproducible, its tool results are the fixture database's (read here
with SQL of our own), its eval holds out tickets and phrasings, and every row reads and scores."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from afinar.data.read import read_dataset
from afinar.data.tools import parse_calls
from afinar.eval.metrics import tool_call_match
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "it-support-tools"
FIXTURE = REPO / "examples" / "it-support-scripts" / "data" / "fixture.sql"


def test_the_generator_reproduces_the_committed_files(tmp_path):
    subprocess.run(
        [sys.executable, str(EXAMPLE / "generate_data.py"), "--out", str(tmp_path)], check=True, capture_output=True
    )
    for name in ("train.jsonl", "eval.jsonl"):
        assert (tmp_path / name).read_bytes() == (EXAMPLE / "data" / name).read_bytes(), name


@pytest.fixture(scope="module")
def rows() -> dict[str, list[dict]]:
    read = {n: (EXAMPLE / "data" / f"{n}.jsonl").read_text() for n in ("train", "eval")}
    return {n: [json.loads(x) for x in text.splitlines()] for n, text in read.items()}


def _calls(row: dict) -> list[tuple[str, dict, str | None]]:
    """(tool, arguments, result) of every call in a row."""
    results = {m["tool_call_id"]: m["content"] for m in row["messages"] if m["role"] == "tool"}
    return [
        (c["function"]["name"], json.loads(c["function"]["arguments"]), results.get(c["id"]))
        for m in row["messages"]
        for c in m.get("tool_calls") or []
    ]


def test_ticket_results_are_the_fixture_databases(rows):
    db = sqlite3.connect(":memory:")
    db.executescript(FIXTURE.read_text())
    checked = 0
    for row in rows["train"]:
        for name, args, result in _calls(row):
            if name != "lookup_ticket":
                continue
            sql = "SELECT host, service, status FROM tickets WHERE id = ?"
            found = db.execute(sql, (args["ticket_id"],)).fetchone()
            got = json.loads(result)
            assert (got.get("host"), got.get("service"), got.get("status")) == (found or (None, None, None))
            checked += 1
    assert checked > 200


def test_eval_holds_out_tickets_and_phrasings(rows):
    def tickets(split):
        calls = [c for r in rows[split] for c in _calls(r)]
        return {a["ticket_id"] for n, a, _ in calls if n == "lookup_ticket" and a["ticket_id"] <= 360}

    def asks(split):
        return {r["messages"][0]["content"] for r in rows[split]}

    assert tickets("eval") and not tickets("eval") & tickets("train")
    assert not asks("eval") & asks("train")


def test_every_row_reads_and_each_reference_scores_one_against_itself(rows, tmp_path):
    examples = read_dataset(EXAMPLE / "data" / "eval.jsonl")
    assert len(examples) == len(rows["eval"]) == 120
    assert len(read_dataset(EXAMPLE / "data" / "train.jsonl")) == len(rows["train"])
    needs = [bool(parse_calls(ex.messages[-1]["content"])[1]) for ex in examples if ex.meta["metric"] == "tool_call"]
    assert sum(needs) == 60 and len(needs) - sum(needs) == 30
    for ex in examples:
        reference = ex.messages[-1]["content"]
        assert tool_call_match(reference, reference)["score"] == 1.0
