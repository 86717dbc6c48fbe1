"""README's ``make test`` on a fresh machine: nothing it runs by default may need an executable
that ``make setup`` does not install. The tests that run external programs run again here with a
``PATH`` that holds only ``bash`` (the shell metric's syntax check; every image has it): not even
the venv's ``bin``, as when ``.venv/bin/afinar`` is called without activating the venv. A
shellcheck from Debian on this machine's ``PATH`` can then no longer hide a missing dependency."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXTERNAL = (
    "tests/eval/test_metrics.py::test_shell_needs_bash_syntax_and_a_clean_shellcheck",
    "tests/examples/test_it_support.py::test_bash_powershell_and_clarify_rows",
    "tests/eval/test_fresh.py::test_scheduled_eval_appends_to_history_and_flags_a_regression",
)


def test_external_programs_come_from_make_setup(tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "bash").symlink_to(shutil.which("bash"))
    env = {**os.environ, "PATH": str(bare)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *EXTERNAL]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    closing = proc.stdout.strip().splitlines()[-1]
    assert f"{len(EXTERNAL)} passed" in closing and "skipped" not in closing, closing
