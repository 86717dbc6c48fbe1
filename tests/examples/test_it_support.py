"""examples/it-support-scripts: the generator is deterministic, the recipe loads, and its eval
spec scores hand-written answers: a correct one 1.0, a wrong one lower."""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import sys

import pytest

from afinar.config import load_recipe
from tests.conftest import REPO
from tests.examples import assert_generator_is_deterministic, score

EXAMPLE = REPO / "examples" / "it-support-scripts"
_spec = importlib.util.spec_from_file_location("it_support_generator", EXAMPLE / "generate_data.py")
gen = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))  # dataclasses look it up
_spec.loader.exec_module(gen)


def test_generator_is_deterministic_for_a_seed(tmp_path):
    files = ("train.jsonl", "eval.jsonl", "eval_disjoint.jsonl", "fixture.sql")
    assert_generator_is_deterministic(EXAMPLE, files, tmp_path)


def test_data_mix_languages_and_no_leakage():
    rows = {
        n: [json.loads(x) for x in (EXAMPLE / "data" / f"{n}.jsonl").open()] for n in ("train", "eval", "eval_disjoint")
    }
    assert len(rows["train"]) >= 1000
    for split in rows.values():
        metrics = {
            m: sum(r["metric"] == m for r in split) / len(split) for m in ("sql", "bash", "powershell", "clarify")
        }
        assert all(v >= 0.1 for v in metrics.values()), metrics
        assert {r["scenario"] for r in split} == {"normal", "exception", "user_error"}
        assert all((r["scenario"] == "user_error") == (r["metric"] == "clarify") for r in split)
    spanish = sum(any(w in r["instruction"] for w in ("¿", "ñ", " en ", " de ")) for r in rows["train"])
    assert 0.3 < spanish / len(rows["train"]) < 0.7
    assert not {r["instruction"] for r in rows["train"]} & {r["instruction"] for r in rows["eval"]}


def _template(text: str) -> str:
    """A request with its hosts, services, numbers, dates and names blanked: its phrasing."""
    text = re.sub(r"\b(nv|srv|legacy|mail)-[\w-]+|\b[\w-]+(?=\.service)|\d+|NV-[\w-]+|e\d{4}", "#", text)
    services = {s for v in gen.SERVICES.values() for s in v} | set(gen.WIN_SERVICES) | set(gen.PATHS)
    for word in sorted(services, key=len, reverse=True):
        text = text.replace(word, "#")
    return text


def test_the_disjoint_split_asks_in_phrasings_training_never_uses():
    rows = {n: [json.loads(x) for x in (EXAMPLE / "data" / f"{n}.jsonl").open()] for n in ("train", "eval_disjoint")}
    phrasings = {n: {_template(r["instruction"]) for r in rs} for n, rs in rows.items()}
    assert len(phrasings["eval_disjoint"]) > 30 and not phrasings["train"] & phrasings["eval_disjoint"]
    fixture = sqlite3.connect(":memory:")
    fixture.executescript((EXAMPLE / "data" / "fixture.sql").read_text())
    for r in rows["eval_disjoint"]:  # the references run on the same fixture as the eval split's
        if r["metric"] == "sql":
            fixture.execute(r["output"]).fetchall()


@pytest.fixture(scope="module")
def cfg():
    recipe = load_recipe(EXAMPLE / "recipe.yaml")
    assert recipe.eval.sql_database.is_file() and recipe.data.system_prompt.startswith("You are the IT")
    return recipe.eval


def _scores(cfg, cases: list[tuple[str, str, str]]) -> list[float]:
    """Score (metric, reference, answer) cases through the eval's own path."""
    return [score(cfg, m, ref, answer)["score"] for m, ref, answer in cases]


def test_sql_rows_are_scored_by_execution_on_the_fixture(cfg):
    ref = "SELECT COUNT(*) FROM tickets WHERE host = 'nv-db-01' AND priority = 'P2' AND status = 'open';"
    same = "select count(id) from tickets where status='open' and host='nv-db-01' and priority='P2'"
    other = "SELECT COUNT(*) FROM tickets WHERE host = 'nv-db-01' AND priority = 'P2' AND status = 'closed';"
    db = sqlite3.connect(":memory:")
    db.executescript((EXAMPLE / "data" / "fixture.sql").read_text())
    assert db.execute(ref).fetchall() != db.execute(other).fetchall()  # the wrong answer really differs
    ordered = "SELECT name FROM hosts WHERE site = 'MAD' AND role = 'web' ORDER BY name;"
    reversed_ = "SELECT name FROM hosts WHERE site = 'MAD' AND role = 'web' ORDER BY name DESC;"
    cases = [("sql", ref, same), ("sql", ref, other), ("sql", ref, "DROP TABLE tickets;")]
    cases += [("sql", ordered, ordered), ("sql", ordered, reversed_)]
    assert _scores(cfg, cases) == [1.0, 0.0, 0.0, 1.0, 0.0]


def test_bash_powershell_and_clarify_rows(cfg):
    bash = "ssh nv-web-02 'sudo systemctl restart nginx'"
    ps = "Invoke-Command -ComputerName nv-files-01 -ScriptBlock { Restart-Service -Name Spooler }"
    ask = "On which host? nginx runs on nv-web-01, nv-web-02, nv-web-03, nv-web-04."
    scores = _scores(
        cfg,
        [
            ("bash", bash, 'ssh nv-web-02 "sudo systemctl restart nginx"'),  # other quotes, same command
            ("bash", bash, "ssh nv-web-03 'sudo systemctl stop nginx'"),  # wrong host and action
            ("bash", bash, "ssh nv-web-02 'sudo systemctl restart nginx"),  # unclosed quote: bash -n fails
            ("powershell", ps, "Invoke-Command -ComputerName nv-files-01 -ScriptBlock {Restart-Service -Name Spooler}"),
            ("powershell", ps, "Restart-Service -Name Spooler"),  # runs locally: no Invoke-Command, no host
            ("powershell", ps, "Invoke-Command -ComputerName nv-files-01 -ScriptBlock { Restart-Service -Name Spooler"),
            ("clarify", ask, "Which host should it be? nginx runs on the nv-web hosts."),
            ("clarify", ask, "ssh nv-web-01 'sudo systemctl restart nginx'"),
        ],
    )
    assert scores[0] == 1.0 and 0 < scores[1] < 1 and scores[2] == 0.0
    assert scores[3] == 1.0 and 0 < scores[4] < 1 and scores[5] == 0.0
    assert scores[6:] == [1.0, 0.0]


def test_the_preference_pairs_are_reproducible_held_out_and_scored_as_meant(tmp_path, cfg):
    """generate_pairs.py (with the flags the recipe names) rewrites the committed pairs; no held-out
    prompt (nor the SFT data's eval prompts) is trained on; every chosen question or refusal passes
    the clarify metric, and every destructive pair's rejected command fails it."""
    import subprocess

    flags = ["--unknown-host-commands", "--known-host-mirrors"]
    assert " ".join(flags) in (EXAMPLE / "recipe-dpo.yaml").read_text().replace("\n# ", " ")
    subprocess.run([sys.executable, str(EXAMPLE / "generate_pairs.py"), "--out", str(tmp_path), *flags], check=True,
                   capture_output=True, cwd=EXAMPLE)  # fmt: skip
    for name in ("pairs_train.jsonl", "pairs_eval.jsonl"):
        assert (tmp_path / name).read_bytes() == (EXAMPLE / "data" / name).read_bytes(), name
    pairs = {n: [json.loads(x) for x in (EXAMPLE / "data" / f"pairs_{n}.jsonl").open()] for n in ("train", "eval")}
    assert len(pairs["train"]) == 600 and len(pairs["eval"]) == 120
    sft_eval = {
        json.loads(x)["instruction"]
        for n in ("eval", "eval_disjoint")
        for x in (EXAMPLE / "data" / f"{n}.jsonl").open()
    }
    assert not {p["prompt"] for p in pairs["train"]} & ({p["prompt"] for p in pairs["eval"]} | sft_eval)
    for split in pairs.values():
        kinds = {p["id"].split("-")[0] for p in split}
        assert kinds == {"confirm", "decline", "everyday", "clarify"}
        for p in split:
            if p["metric"] == "clarify":
                assert score(cfg, "clarify", p["chosen"], p["chosen"])["score"] == 1.0, p
            # a destructive pair's rejected side runs the command (a missing-info pair's is a question too)
            if p["id"].startswith(("confirm", "decline")):
                assert score(cfg, "clarify", p["chosen"], p["rejected"])["score"] == 0.0, p
    recipe = load_recipe(EXAMPLE / "recipe-dpo.yaml")
    assert recipe.train.objective == "dpo" and recipe.eval.safety.enabled


def test_known_host_mirrors_reject_the_unknown_host_answer_on_a_host_that_exists(tmp_path, cfg):
    """``--unknown-host-commands --known-host-mirrors``: each pair on a host Norvia does not have
    (chosen: the question; rejected: the command) is followed by its mirror on a host that runs the
    service (chosen: the command; rejected: the claim that the host does not exist)."""
    import subprocess

    args = [sys.executable, str(EXAMPLE / "generate_pairs.py"), "--out", str(tmp_path), "--unknown-host-commands"]
    subprocess.run([*args, "--known-host-mirrors"], check=True, capture_output=True, cwd=EXAMPLE)
    pairs = [json.loads(x) for x in (tmp_path / "pairs_train.jsonl").open()]
    assert len(pairs) == 600
    mirrors = [(pairs[i - 1], p) for i, p in enumerate(pairs) if p["id"] == "everyday-known-host"]
    assert len(mirrors) >= 30
    for unknown, mirror in mirrors:
        assert unknown["id"] == "clarify-unknown-host"
        bad, svc = re.search(r"(?:has no host|ningún host) (\S+)\. .*\? (\S+) ", unknown["chosen"]).groups()
        host = re.search(r"ssh (\S+) ", mirror["chosen"]).group(1)
        assert bad not in gen.LINUX and svc in gen.SERVICES[gen.LINUX[host]]
        assert mirror["prompt"] == unknown["prompt"].replace(bad, host)
        assert mirror["chosen"] == unknown["rejected"].replace(bad, host)
        assert f" {host}." in mirror["rejected"] and bad not in mirror["rejected"]
        assert score(cfg, "bash", mirror["chosen"], mirror["chosen"])["score"] == 1.0
        assert score(cfg, "bash", mirror["chosen"], mirror["rejected"])["score"] < 0.5
    subprocess.run(args, check=True, capture_output=True, cwd=EXAMPLE)  # without mirrors: none
    assert not any("everyday-known-host" in x for x in (tmp_path / "pairs_train.jsonl").open())
