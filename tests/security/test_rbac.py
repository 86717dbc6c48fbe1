"""Role-based access through the real CLI: a registry, five roles, datasets of two
classifications, grants, and every denial audited."""

import json
import os

import pytest
from typer.testing import CliRunner

from afinar.cli import app
from afinar.security.audit import AuditLog
from tests.conftest import alpaca_rows, write_jsonl, write_recipe


@pytest.fixture
def world(tmp_path, monkeypatch, registry_url):
    """A registry with one user per role and two registered datasets (public, restricted), in
    SQLite and in PostgreSQL."""
    monkeypatch.setenv("AFINAR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AFINAR_REGISTRY", registry_url)
    keys = {}

    def run(*args, as_user=None):
        env = {"AFINAR_API_KEY": keys[as_user]} if as_user else {"AFINAR_API_KEY": ""}
        return CliRunner().invoke(app, [str(a) for a in args], env=env)

    out = run("users", "init", "--admin", "root")
    assert out.exit_code == 0, out.output
    keys["root"] = out.output.strip().splitlines()[-1]
    for name, role in [("sam", "data_steward"), ("eve", "ml_engineer"), ("max", "ml_engineer"), ("aud", "auditor"),
                       ("vic", "viewer")]:  # fmt: skip
        out = run("users", "add", name, "--role", role, as_user="root")
        assert out.exit_code == 0, out.output
        keys[name] = out.output.strip().splitlines()[-1]
    write_jsonl(tmp_path / "public.jsonl", alpaca_rows(4))
    write_jsonl(tmp_path / "restricted.jsonl", alpaca_rows(4, start=10))
    for name, cls in [("public", "public"), ("restricted", "restricted")]:
        out = run(
            "data", "register", tmp_path / f"{name}.jsonl", "--name", name, "--classification", cls, as_user="sam"
        )
        assert out.exit_code == 0, out.output
    out = run("data", "grant", "restricted", "eve", "--permission", "train", as_user="sam")
    assert out.exit_code == 0, out.output
    run.keys = keys
    return tmp_path, run


def test_api_keys_are_shown_once_and_stored_as_digests(world):
    import hashlib

    from sqlalchemy import create_engine, text

    tmp_path, run = world
    if (tmp_path / "registry.db").exists():  # SQLite: nowhere in the file
        db = (tmp_path / "registry.db").read_bytes()
    else:  # PostgreSQL: nowhere in the users table
        engine = create_engine(os.environ["AFINAR_REGISTRY"])
        with engine.connect() as c:
            db = repr(c.execute(text("SELECT * FROM users")).fetchall()).encode()
        engine.dispose()
    for key in run.keys.values():
        assert key.startswith("afk_") and len(key) > 40
        assert key.encode() not in db and hashlib.sha256(key.encode()).hexdigest().encode() in db


@pytest.mark.parametrize(
    ("user", "dataset", "allowed"),
    [
        ("root", "restricted", True),  # admin: every dataset
        ("sam", "restricted", False),  # steward may read, but restricted data needs a grant
        ("eve", "restricted", True),  # granted 'train', which implies read
        ("max", "restricted", False),  # same role as eve, no grant
        ("aud", "public", False),  # auditors read the log, not data
        ("vic", "public", False),
        ("max", "public", True),
        ("sam", "public", True),
    ],
)
def test_data_check_permission_per_role(world, user, dataset, allowed):
    tmp_path, run = world
    out = run("data", "check", tmp_path / f"{dataset}.jsonl", as_user=user)
    if allowed:
        assert out.exit_code == 0, out.output
    else:
        assert out.exit_code == 2 and "permission denied" in out.output
        denial = [r for r in AuditLog().records() if r["decision"] == "deny"][-1]
        assert (denial["actor"], denial["action"]) == (user, "data.check")
        assert denial["resource"] == str(tmp_path / f"{dataset}.jsonl")


@pytest.mark.parametrize(
    ("args", "user", "allowed"),
    [
        (("audit", "show"), "aud", True),
        (("audit", "show"), "eve", False),
        (("data", "grant", "restricted", "max"), "sam", True),
        (("data", "grant", "restricted", "max"), "eve", False),
        (("users", "add", "zed", "--role", "viewer"), "sam", False),
        (("users", "list"), "aud", True),
        (("keys", "init"), "eve", False),
    ],
)
def test_management_verbs_per_role(world, args, user, allowed):
    _, run = world
    out = run(*args, as_user=user)
    assert (out.exit_code == 0) is allowed, out.output
    if not allowed:
        assert "permission denied" in out.output


def test_a_grant_opens_and_a_revoke_closes_access(world):
    tmp_path, run = world
    target = tmp_path / "restricted.jsonl"
    assert run("data", "check", target, as_user="max").exit_code == 2
    assert run("data", "grant", "restricted", "role:ml_engineer", as_user="sam").exit_code == 0
    assert run("data", "check", target, as_user="max").exit_code == 0
    assert run("data", "revoke", "restricted", "role:ml_engineer", as_user="sam").exit_code == 0
    assert run("data", "check", target, as_user="max").exit_code == 2


def test_a_copy_of_registered_data_is_that_data(world):
    """Access follows the bytes, not the path: a copy of restricted data elsewhere is refused
    (audited), even after the registered file changed; a copy of public data keeps its rules."""
    import shutil

    tmp_path, run = world
    copy = tmp_path / "elsewhere" / "mine.jsonl"
    copy.parent.mkdir()
    shutil.copy(tmp_path / "restricted.jsonl", copy)
    for user in ("max", "eve"):  # no grant, and a grant on the registered file
        out = run("data", "check", copy, as_user=user)
        assert out.exit_code == 2 and "is a copy of the restricted dataset 'restricted'" in out.output, out.output
        denial = [r for r in AuditLog().records() if r["decision"] == "deny"][-1]
        assert (denial["actor"], denial["resource"]) == (user, str(copy))
    shutil.copy(tmp_path / "public.jsonl", copy)
    assert run("data", "check", copy, as_user="max").exit_code == 0

    registered = tmp_path / "restricted.jsonl"
    write_jsonl(registered, alpaca_rows(5, start=20))  # the steward's file grows
    assert run("data", "check", registered, as_user="eve").exit_code == 0  # used at its path: digest noted
    shutil.copy(registered, copy)
    assert "is a copy of the restricted dataset" in run("data", "check", copy, as_user="eve").output
    again = run("data", "register", copy, "--name", "mine", "--classification", "public", as_user="sam")
    assert again.exit_code == 2  # nor can it come back under another name and class


def test_missing_and_bad_keys_are_refused_and_audited(world):
    tmp_path, run = world
    missing = run("data", "check", tmp_path / "public.jsonl")
    assert missing.exit_code == 2 and "set AFINAR_API_KEY" in missing.output
    bad = CliRunner().invoke(app, ["data", "check", str(tmp_path / "public.jsonl")], env={"AFINAR_API_KEY": "afk_x"})
    assert bad.exit_code == 2 and "not a valid key" in bad.output
    logins = [r for r in AuditLog().records() if r["action"] == "login"]
    assert [r["decision"] for r in logins[-2:]] == ["deny", "deny"]
    assert AuditLog().verify().ok


def test_training_on_restricted_data_needs_a_train_grant(world, tiny_model_dir):
    tmp_path, run = world
    write_jsonl(tmp_path / "eval.jsonl", alpaca_rows(2, start=50))
    recipe = write_recipe(tmp_path / "r.yaml", base_model=str(tiny_model_dir), train={"max_steps": 2})
    text = recipe.read_text().replace("train.jsonl", str(tmp_path / "restricted.jsonl"))
    recipe.write_text(text.replace("eval.jsonl", str(tmp_path / "eval.jsonl")))
    denied = run("train", "--quiet", recipe, "--run-dir", tmp_path / "run-max", as_user="max")
    assert denied.exit_code == 2 and "holds no grant for 'train'" in denied.output
    assert not (tmp_path / "run-max").exists()
    ok = run("train", "--quiet", recipe, "--run-dir", tmp_path / "run-eve", as_user="eve")
    assert ok.exit_code == 0, ok.output
    actions = [(r["actor"], r["action"]) for r in AuditLog().records()]
    assert ("eve", "train.start") in actions and ("eve", "train.end") in actions
    end = next(r for r in AuditLog().records() if r["action"] == "train.end")
    adapter = json.loads((tmp_path / "run-eve" / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and any(k.endswith("adapter_model.safetensors") for k in end["digests"])
    assert AuditLog().verify().ok and AuditLog().verify().checkpoints >= 1
