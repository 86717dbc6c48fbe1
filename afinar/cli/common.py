"""What every verb module of the CLI shares: the consoles, the argument types, and the wrapper
that turns a user's mistake (AfinarError) into one message and exit code 2."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from afinar.errors import AfinarError

__all__ = ["AllowDataErrors", "Quiet", "RunDir", "console", "err_console", "user_errors"]

console = Console()
err_console = Console(stderr=True)

RunDir = Annotated[Path, typer.Argument(help="A run directory made by 'afinar run' or 'afinar train'.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
AllowDataErrors = Annotated[
    bool, typer.Option("--allow-data-errors", help="Train even if 'data check' finds errors (bad rows are skipped).")
]


_PATH_ERRORS = (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError)
"""A path the user gave that cannot be read or written (a missing folder for ``--json``, a run
directory without write permission): their mistake, said with the path, not a traceback."""


def user_errors(fn):
    """Run ``fn``; an AfinarError, or an OS error on a named path, prints ``error: <message>`` on
    stderr and exits 2. Anything else is our bug and keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AfinarError as err:
            _fail(str(err))
        except _PATH_ERRORS as err:
            if err.filename is None:
                raise
            _fail(f"{err.filename}: {err.strerror or type(err).__name__}")

    return wrapper


def _fail(message: str):
    err_console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(2) from None
