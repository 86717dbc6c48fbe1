"""The audit log: every tamper case is named at its first bad record, a wrong key and a
truncated tail are caught, and concurrent writers never fork the chain."""

import hashlib
import hmac
import json
import multiprocessing
import os

import pytest
from typer.testing import CliRunner

from afinar.cli import app
from afinar.security.audit import AuditLog


@pytest.fixture
def log(tmp_path) -> AuditLog:
    log = AuditLog(tmp_path / "home")
    for i in range(8):
        log.append("data.check", f"/data/{i}.jsonl", "allow", actor="ana", digests={"x": "0" * 64}, details={"i": i})
    return log


def lines(log: AuditLog) -> list[str]:
    return log.path.read_text().splitlines()


def rewrite(log: AuditLog, new: list[str]) -> None:
    log.path.write_text("\n".join(new) + "\n")


def test_an_untouched_log_verifies_and_each_mac_is_the_hmac_of_its_record(log):
    assert log.verify().ok and log.verify().records == 8
    key = log.key_path.read_bytes()
    prev = "0" * 64
    for line in lines(log):  # recompute the chain independently of verify()
        rec = json.loads(line)
        body = {k: v for k, v in rec.items() if k != "mac"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert rec["prev"] == prev
        assert rec["mac"] == hmac.new(key, canonical, hashlib.sha256).hexdigest()
        prev = rec["mac"]


def edit(ls):
    rec = json.loads(ls[3])
    rec["decision"] = "deny"
    return [*ls[:3], json.dumps(rec), *ls[4:]]


def insert(ls):
    forged = json.loads(ls[3])
    forged["action"] = "data.decrypt"
    return [*ls[:3], json.dumps(forged), *ls[3:]]


@pytest.mark.parametrize(
    ("tamper", "first_bad", "message"),
    [
        (edit, 4, "line 4 (seq 4): a field was edited"),
        (lambda ls: [*ls[:3], *ls[4:]], 4, "line 4: record(s) seq 4..4 were deleted before seq 5"),
        (insert, 4, "line 4 (seq 4): inserted (a second record with seq 4)"),
        (lambda ls: [*ls[:3], ls[3], ls[3], *ls[4:]], 5, "line 5 (seq 4): out of order after seq 4"),  # replayed
        (lambda ls: [*ls[:3], ls[4], ls[3], *ls[5:]], 4, "line 4 (seq 5): out of order after seq 3 (records swapped"),
        (lambda ls: [*ls[:3], "not json", *ls[4:]], 4, "line 4: not a valid record"),
    ],
    ids=["edited", "deleted", "inserted", "replayed", "swapped", "garbled"],
)
def test_each_tamper_case_names_the_first_bad_record(log, tamper, first_bad, message):
    rewrite(log, tamper(lines(log)))
    result = log.verify()
    assert not result.ok and result.first_bad == first_bad
    assert result.problems[0].startswith(message), result.problems


def test_a_truncated_tail_is_caught_by_the_signed_checkpoint(log):
    log.checkpoint()
    assert log.verify().ok
    rewrite(log, lines(log)[:6])  # a valid, shorter chain: only the checkpoint can tell
    result = log.verify()
    assert not result.ok and "the log was truncated: checkpoint 1" in result.problems[0]
    assert "signed 8 records, the log has 6" in result.problems[0]


def test_a_forged_checkpoint_signature_is_refused(log):
    log.checkpoint()
    cp = json.loads(log.checkpoints.read_text())
    cp["count"] = 3
    log.checkpoints.write_text(json.dumps(cp) + "\n")
    assert log.verify().problems == [f"{log.checkpoints}: checkpoint 1 has a bad signature"]


def test_a_wrong_key_is_reported_as_such(log):
    log.key_path.write_bytes(os.urandom(32))
    result = log.verify()
    assert result.problems == [f"{log.key_path}: wrong audit key: no record's MAC matches it"]


def _writer(home: str, worker: int, n: int) -> None:
    log = AuditLog(home)
    for i in range(n):
        log.append("test", f"w{worker}", "allow", actor=f"w{worker}", details={"i": i})


def test_four_concurrent_writers_keep_one_chain(tmp_path):
    home = tmp_path / "home"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(home), w, 200)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    log = AuditLog(home)
    records = log.records()
    assert [r["seq"] for r in records] == list(range(1, 801))
    for w in range(4):  # each writer's own records kept their order
        mine = [r["details"]["i"] for r in records if r["actor"] == f"w{w}"]
        assert mine == list(range(200))
    assert log.verify().ok


def test_cli_verify_exits_1_and_names_the_record(tmp_path, monkeypatch):
    monkeypatch.setenv("AFINAR_HOME", str(tmp_path / "home"))
    log = AuditLog(tmp_path / "home")
    for i in range(3):
        log.append("x", str(i), "allow")
    ok = CliRunner().invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "audit log intact: 3 records" in ok.output
    assert len(lines(log)) == 4  # the three, and verify's own record
    rewrite(log, edit(lines(log)))  # edit record 4
    bad = CliRunner().invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1 and "tampered: line 4 (seq 4): a field was edited" in bad.output
    shown = CliRunner().invoke(app, ["audit", "show", "--last", "2"])
    assert shown.exit_code == 0 and "audit.verify" in shown.output


def _read_key(home: str, out, start) -> None:
    start.wait()  # all at once
    out.put(AuditLog(home)._key())


def test_processes_creating_the_key_at_once_all_get_the_same_whole_key(tmp_path):
    """The first writers of a fresh home race to create the audit key; none may read a
    half-written file (an empty key MACed records that the real key then failed; with the old
    create-then-write, the first of these races already failed)."""
    ctx = multiprocessing.get_context("fork")
    for trial in range(30):
        out, start = ctx.Queue(), ctx.Barrier(6)
        procs = [ctx.Process(target=_read_key, args=(str(tmp_path / f"home{trial}"), out, start)) for _ in range(6)]
        for p in procs:
            p.start()
        keys = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert len(set(keys)) == 1 and len(keys[0]) == 32
        assert [f.name for f in (tmp_path / f"home{trial}" / "keys").iterdir()] == ["audit.key"]  # no temporary left


def test_a_huge_record_is_kept_bounded_and_the_log_goes_on(log):
    """A 900 KB prompt (what one chat request may carry) used to stop the log for good: the next
    append read only the last 64 KiB and called the record damaged."""
    prompt = "q" * 900_000
    log.append("serve.chat", "default", "reject", details={"prompt": prompt, "messages": ["x" * 5000, "short"]})
    log.append("serve.chat", "default", "allow", details={"prompt": "What is the capital of France?"})
    assert log.verify().ok
    huge, after = log.records()[-2:]
    want = hashlib.sha256(prompt.encode()).hexdigest()
    assert huge["details"]["prompt"] == "q" * 1024 + f"... [cut by the audit log: 900000 characters, sha256 {want}]"
    assert huge["details"]["messages"][1] == "short" and huge["details"]["messages"][0].startswith("x" * 1024 + "...")
    assert len(lines(log)[-2]) < 4096
    assert (after["seq"], after["prev"]) == (10, huge["mac"])


def test_details_too_big_as_a_whole_keep_their_size_and_digest(log):
    details = {"rows": [f"row {i}" for i in range(20_000)]}  # many short strings, none cut alone
    log.append("data.check", "/data/big.jsonl", "allow", details=details)
    kept = log.records()[-1]["details"]
    raw = json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert kept["cut_by_audit_log"] and kept["bytes"] == len(raw) and kept["sha256"] == hashlib.sha256(raw).hexdigest()
    assert log.verify().ok


def test_a_log_whose_last_record_spans_many_blocks_is_continued(log, monkeypatch):
    """A log written before records were bounded may end with a record of any size."""
    monkeypatch.setattr("afinar.security.audit.MAX_TEXT", 10**9)
    monkeypatch.setattr("afinar.security.audit.MAX_DETAILS", 10**9)
    log.append("serve.chat", "default", "reject", details={"prompt": "\n".join(["p" * 1000] * 300)})
    assert len(lines(log)[-1]) > 4 * 65536
    monkeypatch.undo()
    log.append("serve.chat", "default", "allow", details={"prompt": "next"})
    assert [r["seq"] for r in log.records()] == list(range(1, 11)) and log.verify().ok
