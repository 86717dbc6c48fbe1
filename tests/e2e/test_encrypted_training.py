"""Train on encrypted data and prove no plaintext byte reached the disk: a canary string in
every row is searched for in the run directory, the model cache, AFINAR_HOME and the temp dir."""

import json
import tempfile
from pathlib import Path

from typer.testing import CliRunner

from afinar.cli import app
from afinar.security.crypto import decrypt_chunks
from tests.conftest import write_jsonl, write_recipe

CANARY = "CANARY-7f3a9c-ZEBRA"


def rows(n: int, start: int = 0) -> list[dict]:
    return [
        {
            "instruction": f"Report store {i} ({CANARY}).",
            "output": json.dumps({"store": i, "note": CANARY}),
            "scenario": "normal",
        }
        for i in range(start, start + n)
    ]


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def holds_canary(root: Path) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]


def test_training_on_afe_files_writes_no_plaintext(tmp_path, monkeypatch, tiny_model_dir):
    home, cache, tmp = tmp_path / "home", tmp_path / "cache", tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("AFINAR_HOME", str(home))
    monkeypatch.setenv("AFINAR_CACHE", str(cache))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    data = tmp_path / "data"
    data.mkdir()
    assert cli("keys", "init").exit_code == 0
    for name, r in (("train", rows(12)), ("eval", rows(2, start=50))):
        write_jsonl(data / f"{name}.jsonl", r)
        out = cli("data", "encrypt", data / f"{name}.jsonl", "--remove-plaintext")
        assert out.exit_code == 0, out.output
    assert sorted(p.name for p in data.iterdir()) == ["eval.jsonl.afe", "train.jsonl.afe"]

    recipe = write_recipe(
        tmp_path / "r.yaml",
        base_model=str(tiny_model_dir),
        data={"train": str(data / "train.jsonl.afe"), "eval": str(data / "eval.jsonl.afe")},
        eval={"metric": "json", "max_new_tokens": 4},
        output_dir=str(tmp_path / "runs"),
    )
    assert cli("data", "check", "--recipe", recipe).exit_code == 0
    masked = cli("data", "mask", data / "train.jsonl.afe", "-o", tmp_path / "masked.jsonl")
    assert masked.exit_code == 2 and "its masked copy must be too" in masked.output
    assert cli("data", "mask", data / "train.jsonl.afe", "-o", tmp_path / "masked.jsonl.afe").exit_code == 0
    result = cli("run", "--quiet", recipe, "--run-dir", tmp_path / "runs" / "r1")
    assert result.exit_code == 0, result.output
    prepared = cli("prepare", "--quiet", recipe)
    assert prepared.exit_code == 0, prepared.output
    # the base's answers to encrypted prompts are the data's plaintext: never kept in the cache
    assert not (cache / "base-answers").exists() and "base answers" not in prepared.output

    run_dir = tmp_path / "runs" / "r1"
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert not (run_dir / "eval" / "predictions.jsonl").exists()
    predictions = b"".join(decrypt_chunks(run_dir / "eval" / "predictions.jsonl.afe")).decode()
    assert CANARY in predictions  # the references are there, encrypted
    # tmp_path holds the run dir, the data dir, the model cache, AFINAR_HOME (keys, audit log) and
    # the temp dir: no file anywhere in it may hold the canary in plaintext
    assert holds_canary(tmp_path) == []
    log = [json.loads(x) for x in (home / "audit" / "log.jsonl").read_text().splitlines()]
    assert {"data.encrypt", "data.check", "data.mask", "train.start", "train.end", "prepare"} <= {
        r["action"] for r in log
    }
