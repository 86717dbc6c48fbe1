"""The docs' commands exist: every ``afinar ...`` line in a shell block of README.md or docs/, and
every inline ``afinar ...`` span (the verb tables), names a verb afinar has and only options that
verb takes (parsed from the CLI itself, as ``--help`` shows them). A renamed option or a removed
verb fails here, not in a reader's shell."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.main import get_command

from afinar.cli import app

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL = ("bash", "sh", "shell", "console")


def _commands(page: Path) -> list[tuple[int, str]]:
    """``(line, command)`` for each ``afinar`` command in the page's shell blocks (continued lines
    joined, a leading ``$ `` and trailing comments dropped) and inline code spans."""
    out, block, start, pending = [], None, 0, ""
    for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        fence = re.match(r"^\s*```(\w*)", line)
        if fence:
            block = None if block is not None else fence.group(1)
            continue
        if block is None:  # prose and tables: inline `afinar ...` spans
            out += [(n, span.replace("\\|", "|")) for span in re.findall(r"`(afinar [^`]+)`", line)]
            continue
        if block not in SHELL:
            continue
        text = pending + line.strip().removeprefix("$ ")
        if text.endswith("\\"):
            pending, start = text[:-1] + " ", start or n
            continue
        pending = ""
        if text.startswith("afinar "):
            out.append((start or n, re.sub(r"\s+#.*$", "", text)))
        start = 0
    return out


def _resolve(words: list[str]):
    """The command ``words`` (after ``afinar``) runs, and the words left for it (typer's own click
    objects: a group is what has ``commands``)."""
    cmd = get_command(app)
    while hasattr(cmd, "commands") and words and not words[0].startswith("-"):
        name = words[0]
        if name in cmd.commands:
            cmd, words = cmd.commands[name], words[1:]
        elif "run" in cmd.commands and cmd.name == "eval":  # `afinar eval RUN_DIR` is `afinar eval run RUN_DIR`
            cmd = cmd.commands["run"]
        else:
            raise AssertionError(f"no verb '{name}' under '{cmd.name}'; there are: {', '.join(sorted(cmd.commands))}")
    return cmd, words


def _options(cmd) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}


DOC_COMMANDS = [(page, line, command) for page in PAGES for line, command in _commands(page)]


def test_the_docs_have_commands_to_check():
    assert len(DOC_COMMANDS) >= 40
    assert {page.name for page, _, _ in DOC_COMMANDS} >= {"README.md", "data.md", "serving.md", "security.md"}


@pytest.mark.parametrize(
    ("page", "line", "command"), DOC_COMMANDS, ids=lambda v: v.name if isinstance(v, Path) else str(v)
)
def test_a_documented_command_names_a_verb_and_options_that_exist(page, line, command):
    where = f"{page.relative_to(REPO)}:{line}: {command}"
    words = shlex.split(command.replace("|", " "), posix=True)[1:]
    cmd, rest = _resolve(words)
    if hasattr(cmd, "commands"):  # a verb group named in prose (`afinar data`) is fine; options need a verb
        assert not rest, f"{where}: '{cmd.name}' needs a subcommand"
        return
    known = _options(cmd)
    for word in rest:
        option = word.strip("[]").split("=")[0]
        if option.startswith("--") or re.fullmatch(r"-[a-zA-Z]", option):
            assert option in known, f"{where}: '{cmd.name}' has no option {option}; it has {', '.join(sorted(known))}"
