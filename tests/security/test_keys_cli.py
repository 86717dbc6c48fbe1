"""The key and file verbs through the real CLI, as an operator would chain them."""

import os

from typer.testing import CliRunner

from afinar.cli import app
from afinar.data.read import read_dataset
from afinar.security.audit import AuditLog
from tests.conftest import alpaca_rows, write_jsonl


def cli(*args, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def test_encrypt_read_rotate_retire_decrypt_shred(tmp_path, monkeypatch):
    monkeypatch.setenv("AFINAR_HOME", str(tmp_path / "home"))
    assert cli("keys", "init").exit_code == 0
    ring = tmp_path / "home" / "keys" / "keyring.json"
    assert ring.stat().st_mode & 0o777 == 0o600
    assert "a keyring exists already" in cli("keys", "init").output

    src = write_jsonl(tmp_path / "train.jsonl", alpaca_rows(5))
    csv = tmp_path / "t.csv"
    csv.write_text("instruction,input,output\nSay hi,,hi\n")
    assert cli("data", "encrypt", src).exit_code == 0
    assert cli("data", "encrypt", csv, "--remove-plaintext").exit_code == 0
    enc = tmp_path / "train.jsonl.afe"
    assert [e.messages for e in read_dataset(enc)] == [e.messages for e in read_dataset(src)]
    assert read_dataset(tmp_path / "t.csv.afe")[0].messages[-1]["content"] == "hi"

    old = cli("keys", "list").output
    assert cli("keys", "rotate").exit_code == 0
    rotated = cli("data", "rotate", enc)
    assert rotated.exit_code == 0 and "->" in rotated.output
    old_id = next(w for w in old.split() if w.startswith("kek-"))
    assert cli("keys", "retire", old_id).exit_code == 0
    assert cli("data", "decrypt", enc, "-o", tmp_path / "back.jsonl").exit_code == 0
    assert (tmp_path / "back.jsonl").read_bytes() == src.read_bytes()
    # t.csv.afe was not rotated: retiring its KEK made it unreadable, with a clear error
    lost = cli("data", "check", tmp_path / "t.csv.afe")
    assert lost.exit_code == 2 and f"wrapped under '{old_id}'" in lost.output

    assert "cannot be undone; repeat with --yes" in cli("data", "shred", enc).output
    assert cli("data", "shred", enc, "--yes").exit_code == 0
    gone = cli("data", "decrypt", enc, "-o", tmp_path / "again.jsonl")
    assert gone.exit_code == 2 and "destroyed" in gone.output and not (tmp_path / "again.jsonl").exists()

    actions = [r["action"] for r in AuditLog().records()]
    for action in (
        "keys.init",
        "data.encrypt",
        "keys.rotate",
        "data.rotate",
        "keys.retire",
        "data.decrypt",
        "data.shred",
    ):
        assert action in actions
    assert AuditLog().verify().ok


def test_an_env_kek_needs_no_keyring(tmp_path, monkeypatch):
    monkeypatch.setenv("AFINAR_HOME", str(tmp_path / "home"))
    src = write_jsonl(tmp_path / "d.jsonl", alpaca_rows(2))
    key = os.urandom(32).hex()
    assert cli("data", "encrypt", src, env={"AFINAR_KEK": key}).exit_code == 0
    assert cli("data", "check", tmp_path / "d.jsonl.afe", env={"AFINAR_KEK": key}).exit_code == 0
    other = cli("data", "check", tmp_path / "d.jsonl.afe", env={"AFINAR_KEK": os.urandom(32).hex()})
    assert other.exit_code == 2 and "AFINAR_KEK holds" in other.output
    missing = cli("data", "check", tmp_path / "d.jsonl.afe", env={"AFINAR_KEK": ""})
    assert (
        missing.exit_code == 2 and "no keyring; create one with 'afinar keys init' or set $AFINAR_KEK" in missing.output
    )


def test_concurrent_rotations_lose_no_key(tmp_path):
    """Two processes rotating the same keyring at once: every key each added is still there
    (a lost update would drop a KEK, and with it every file wrapped under it)."""
    import subprocess
    import sys

    from afinar.security.keys import KeyringProvider

    ring = tmp_path / "keys" / "keyring.json"
    first = KeyringProvider.create(ring).current_id()
    go = tmp_path / "go"
    script = (
        "import sys, time, pathlib\n"
        "from afinar.security.keys import KeyringProvider\n"
        "ring = KeyringProvider(pathlib.Path(sys.argv[1]))\n"  # loaded before the other one writes
        "while not pathlib.Path(sys.argv[2]).exists(): time.sleep(0.005)\n"
        "print(' '.join(ring.rotate() for _ in range(25)))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(ring), str(go)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    go.touch()
    added = [p.communicate(timeout=120)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and [len(a) for a in added] == [25, 25]
    kept = KeyringProvider(ring)
    assert set(kept.ids()) == {first, *added[0], *added[1]}
    assert kept.current_id() in {added[0][-1], added[1][-1]}
    assert ring.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in ring.parent.iterdir()) == ["keyring.json", "keyring.json.lock"]  # no temporaries
