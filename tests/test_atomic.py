"""Files later steps rely on are written whole or not at all, and the summary's
read-modify-write loses no update when two processes write it at once."""

from __future__ import annotations

import json
import subprocess
import sys

# A full disk, played by a file-size limit: writes past 4 KiB fail with EFBIG (SIGXFSZ ignored).
FULL_DISK = "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); " \
            "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"  # fmt: skip


def _python(code: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_a_failed_write_leaves_the_summary_and_gate_as_they_were(tmp_path):
    before = {"train": {"steps": 150}, "eval": {"tuned": {"score": 0.5}}}
    (tmp_path / "summary.json").write_text(json.dumps(before))
    (tmp_path / "gate.json").write_text(json.dumps({"decision": "rejected", "checks": []}))
    code = FULL_DISK + (
        "import sys; from pathlib import Path\n"
        "from afinar.atomic import write_json\n"
        "from afinar.run_folder import update_summary\n"
        "run = Path(sys.argv[1])\n"
        "for write in (lambda: update_summary(run, {'big': 'x' * 100_000}),\n"
        "              lambda: write_json(run / 'gate.json', {'decision': 'promoted', 'pad': 'x' * 100_000})):\n"
        "    try:\n"
        "        write()\n"
        "    except OSError as err:\n"
        "        print(err.errno)\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["27", "27"]  # EFBIG, twice: the writes did fail
    assert json.loads((tmp_path / "summary.json").read_text()) == before
    assert json.loads((tmp_path / "gate.json").read_text())["decision"] == "rejected"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gate.json", "summary.json", "summary.json.lock"]


def test_concurrent_summary_updates_lose_no_key(tmp_path):
    code = (
        "import sys; from pathlib import Path\n"
        "from afinar.run_folder import update_summary\n"
        "for i in range(40):\n"
        "    update_summary(Path(sys.argv[1]), {f'{sys.argv[2]}{i}': i})\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), tag], stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    keys = set(json.loads((tmp_path / "summary.json").read_text()))
    assert keys == {f"{t}{i}" for t in "ab" for i in range(40)}
