"""Metrics for answers that are scripts or questions (the IT-support example): Bash and PowerShell
scripts checked for structure and for what the reference does, and user-error rows that should
be answered with a question, not a script.

Each scorer takes ``(answer, reference)`` and returns a dict with ``score`` in [0, 1].

- ``bash``: ``bash -n`` and shellcheck must accept the script (see :func:`shell_check`; an empty
  answer fails); the score is then the mean of two recalls against the reference: its
  commands (the first word of each simple command, ``sudo`` skipped, inside quoted remote
  commands too) and its words (host and service names, paths, flags).
- ``powershell``: the brackets, braces and quotes must balance (no PowerShell parser runs here);
  the score is then the mean of the recall of the reference's cmdlets (``Verb-Noun``) and of its
  words (parameter names and values).
- ``clarify``: 1 when the answer contains no script or query and asks for what is missing (a
  question mark) or declines (a phrase list, English and Spanish).
"""

from __future__ import annotations

import re

from afinar.eval.metrics import shell_check, strip_fence

__all__ = ["bash_check", "clarify_check", "looks_like_code", "powershell_check"]

_SEPARATORS = re.compile(r"&&|\|\||[;|&\n'\"()`]|\$\(")
_KEYWORDS = {"if", "then", "else", "fi", "for", "do", "done", "while", "in", "case", "esac", "sudo", "!"}
_WORD = re.compile(r"[\w./:@=+-]+")
_CMDLET = re.compile(r"\b[A-Z][a-z]+-[A-Z][A-Za-z]+\b")


def _bash_commands(script: str) -> set[str]:
    """The command name of every simple command in ``script`` (quoted remote commands too)."""
    out = set()
    for segment in _SEPARATORS.split(script):
        words = [w for w in segment.split() if "=" not in w or w.startswith("-")]
        words = [w for w in words if w not in _KEYWORDS]
        if words and re.fullmatch(r"[a-z][\w.-]*", words[0]):
            out.add(words[0])
    return out


def _recall(want: set[str], got: set[str]) -> float:
    return len(want & got) / len(want) if want else 1.0


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def bash_check(answer: str, reference: str) -> dict:
    script = strip_fence(answer)
    if not script.strip():
        return {"score": 0.0, "shell_ok": False, "reason": "empty answer"}
    check = shell_check(script)
    ref = strip_fence(reference)
    commands, words = _recall(_bash_commands(ref), _bash_commands(script)), _recall(_words(ref), _words(script))
    score = check["score"] * (commands + words) / 2
    return {"score": score, "shell_ok": bool(check["score"]), "commands": commands, "words": words,
            "shellcheck": check["shellcheck"]}  # fmt: skip


def _balanced(text: str) -> bool:
    """Brackets, braces and parentheses nest and close, and quotes close (outside of quotes)."""
    pairs, stack, quote = {")": "(", "]": "[", "}": "{"}, [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack and quote is None


def powershell_check(answer: str, reference: str) -> dict:
    script, ref = strip_fence(answer), strip_fence(reference)
    if not script.strip():
        return {"score": 0.0, "balanced": False, "reason": "empty answer"}
    balanced = _balanced(script)
    want = {c.lower() for c in _CMDLET.findall(ref)}
    cmdlets = _recall(want, {c.lower() for c in _CMDLET.findall(script)})
    words = _recall(_words(ref), _words(script))
    return {"score": float(balanced) * (cmdlets + words) / 2, "balanced": balanced, "cmdlets": cmdlets,
            "words": words}  # fmt: skip


_CODE_START = re.compile(r"^\s*(ssh|sudo|systemctl|journalctl|find|df|du|grep|tail|ls|rm|kill|cat|docker)\s", re.M)
_SQL = re.compile(r"\b(select\s.+\sfrom|update\s+\w+\s+set|delete\s+from|insert\s+into)\b", re.I | re.S)
_DECLINE = re.compile(
    r"\b(i can(no|')t|i cannot|i won't|not able to|(does|do|can)( not|not|n't) provide|please (provide|specify|confirm|"
    r"tell|refer)|which (one|host|service|account)|no puedo|no (ofrece|puede)|indica|indique|especifica|confirma|"
    r"facilite|dirija|cuál|qué (host|servicio|equipo|cuenta))\b",
    re.I,
)


def looks_like_code(answer: str) -> bool:
    """A fenced block, a line that starts like a shell command or SQL, or a PowerShell cmdlet."""
    text = answer.strip()
    return text != strip_fence(text) or any(p.search(text) for p in (_CODE_START, _SQL, _CMDLET))


def clarify_check(answer: str, reference: str) -> dict:
    asks = "?" in answer or bool(_DECLINE.search(answer))
    code = looks_like_code(answer)
    return {"score": float(asks and not code), "asks": asks, "code": code}
