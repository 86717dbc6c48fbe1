"""Shared fixtures: the bundled model's tokenizer, a tiny random Llama, recipe/data writers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]


def needs_system(tool: str, package: str) -> pytest.MarkDecorator:
    """Skip a test whose ``tool`` (a browser or a database server: what ``make setup`` cannot
    install) is not on PATH, with one line saying how to enable it. ``.ci/run`` installs these
    and sets ``AFINAR_SYSTEM_TESTS=1``, which turns the skip off: there a missing tool fails."""
    missing = shutil.which(tool) is None and os.environ.get("AFINAR_SYSTEM_TESTS") != "1"
    return pytest.mark.skipif(missing, reason=f"{tool} not installed; enable with: apt-get install {package}")


@pytest.fixture(autouse=True, scope="session")
def afinar_home(tmp_path_factory) -> Path:
    """Keys, the audit log and any registry of the test run live in a temporary AFINAR_HOME."""
    home = tmp_path_factory.mktemp("afinar-home")
    os.environ["AFINAR_HOME"] = str(home)
    os.environ.pop("AFINAR_REGISTRY", None)
    os.environ.pop("AFINAR_KEK", None)
    os.environ.pop("AFINAR_API_KEY", None)
    return home


def _postgres_database():
    """A new, empty PostgreSQL database on the server at ``$AFINAR_TEST_POSTGRES`` (an admin URL;
    ``.ci/run`` starts a server and sets it); yields its URL and drops it afterwards."""
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = os.environ.get("AFINAR_TEST_POSTGRES")
    if not admin:
        why = "no PostgreSQL server: set AFINAR_TEST_POSTGRES to an admin URL (.ci/run starts one and sets it)"
        if os.environ.get("AFINAR_SYSTEM_TESTS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    name = f"afinar_test_{secrets.token_hex(6)}"
    server = create_engine(admin, isolation_level="AUTOCOMMIT")
    with server.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        from afinar.database import forget

        forget(url)
        _drop(server, name)
        server.dispose()


def _drop(server, name: str) -> None:
    """Drop the test database once the last connection has gone. Not ``WITH (FORCE)``: a role that
    may only create databases cannot end the server's own processes (an autovacuum worker on the
    new database), which a plain DROP asks to stop and waits for."""
    import time

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    deadline = time.monotonic() + 60
    while True:
        try:
            with server.connect() as c:
                c.execute(text(f'DROP DATABASE "{name}"'))
            return
        except OperationalError:  # "is being accessed by other users": a connection still closing
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def registry_users(**roles: str) -> dict[str, str]:
    """In the current ``$AFINAR_HOME`` (and ``$AFINAR_REGISTRY``): a key, a registry whose admin is
    ``root``, and a user of each ``name=role``; returns every user's API key by name."""
    from typer.testing import CliRunner

    from afinar.cli import app

    cli = CliRunner()
    assert cli.invoke(app, ["keys", "init"]).exit_code == 0
    out = cli.invoke(app, ["users", "init", "--admin", "root"])
    assert out.exit_code == 0, out.output
    keys = {"root": out.output.strip().split()[-1]}
    for name, role in roles.items():
        out = cli.invoke(app, ["users", "add", name, "--role", role], env={"AFINAR_API_KEY": keys["root"]})
        assert out.exit_code == 0, out.output
        keys[name] = out.output.strip().split()[-1]
    return keys


postgres_database = pytest.fixture(_postgres_database)
"""A fresh PostgreSQL database's URL (skipped without a server, failed under .ci/run)."""


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_url(request, tmp_path) -> str:
    """The registry's database, once SQLite and once PostgreSQL: a test using it runs on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return request.getfixturevalue("postgres_database")


@pytest.fixture(scope="session")
def bundled_dir() -> Path:
    """The bundled SmolLM2 as a cached safetensors folder (converted from the GGUF once)."""
    from afinar.model.load import resolve_base

    return Path(resolve_base("default").path)


@pytest.fixture(scope="session")
def tokenizer(bundled_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bundled_dir)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    """A 2-layer random Llama (hidden 64) with the bundled tokenizer, saved as a HF folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=1,
    )
    out = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(cfg).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows))
    return path


def alpaca_rows(n: int, start: int = 0) -> list[dict]:
    """Small, varied alpaca rows (answers of different lengths)."""
    return [
        {
            "instruction": f"Add {i} and {i + 1}.",
            "input": "",
            "output": f"{i} + {i + 1} = {2 * i + 1}." + " ok" * (i % 4),
        }
        for i in range(start, start + n)
    ]


def write_recipe(path: Path, **overrides) -> Path:
    """A recipe YAML; ``overrides`` are merged section by section into a small default."""
    recipe = {
        "name": "t",
        "base_model": "default",
        "data": {"train": "train.jsonl", "eval": "eval.jsonl", "max_seq_len": 128},
        "adapter": {"r": 4, "alpha": 8},
        "optim": {"lr": 1e-3, "warmup_steps": 1},
        "train": {"micro_batch_size": 2, "grad_accum": 2, "max_steps": 4, "seed": 7},
        "eval": {"metric": "none", "benchmarks": {"enabled": False}},  # on by default; tests that measure turn it on
        "output_dir": "runs",
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(recipe.get(key), dict):
            recipe[key] = {**recipe[key], **value}
        else:
            recipe[key] = value
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def tiny_recipe(
    tmp_path: Path, model_dir: Path, n_train: int = 24, n_eval: int = 2, eval_start: int = 100, **sections
) -> Path:
    """Train/eval files of :func:`alpaca_rows` and a recipe training the tiny Llama on them."""
    write_jsonl(tmp_path / "train.jsonl", alpaca_rows(n_train))
    write_jsonl(tmp_path / "eval.jsonl", alpaca_rows(n_eval, start=eval_start))
    return write_recipe(tmp_path / "r.yaml", base_model=str(model_dir), **sections)


@pytest.fixture
def encrypting(tmp_path, monkeypatch):
    """A fresh AFINAR_HOME with a key: returns a function that encrypts a file as afinar does."""
    from typer.testing import CliRunner

    from afinar.cli import app

    monkeypatch.setenv("AFINAR_HOME", str(tmp_path / "home"))
    assert CliRunner().invoke(app, ["keys", "init"]).exit_code == 0

    def encrypt(path):
        out = CliRunner().invoke(app, ["data", "encrypt", str(path), "--remove-plaintext"])
        assert out.exit_code == 0, out.output
        return path.with_name(path.name + ".afe")

    return encrypt
