"""Write files and folders so that they appear complete or not at all, and serialise the
read-modify-write of a shared file between processes.

Every file a later step or a person relies on (the summary, the gate's decision, the eval
results, an export and its ``export.json``, keyrings, checkpoints' metadata) goes through here:
a crash, a full disk or Ctrl-C mid-write leaves the previous version, never half a file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from afinar.errors import AfinarError

__all__ = ["atomic_path", "atomic_write", "locked", "read_json", "write_json", "write_text"]


@contextmanager
def atomic_path(
    dst: Path, directory: bool = False, mode: int | None = None, replace: bool = False, parents: bool = True
):
    """Yield a new temporary path next to ``dst``: a file name (the file exists, empty) or, with
    ``directory``, an empty folder. On success it is renamed onto ``dst``; on any exception (a
    bad row, a failed check, Ctrl-C) it is deleted and ``dst`` is left as it was.

    It is private (0600, a folder 0700) from the first byte unless ``mode`` says otherwise.
    Missing parent folders are created unless ``parents`` is false (then a missing folder is
    the caller's ``FileNotFoundError``, as with ``Path.write_text``).

    A folder replaces an existing ``dst`` only with ``replace`` (the old one is moved aside, the new
    one renamed in, the old one deleted); otherwise renaming onto a non-empty ``dst`` raises
    ``OSError`` (ENOTEMPTY), and the caller decides whether the one already there will do.
    """
    dst = Path(dst)
    if parents:
        dst.parent.mkdir(parents=True, exist_ok=True)
    elif not dst.parent.is_dir():  # named as the destination, not as the temporary beside it
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(dst))
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
        os.close(fd)
        tmp = Path(name)
    if mode is not None:
        tmp.chmod(mode)
    try:
        yield tmp
        if directory and replace and dst.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old.", dir=dst.parent))
            dst.rename(old / dst.name)
            tmp.rename(dst)
            shutil.rmtree(old, ignore_errors=True)
        elif directory:
            tmp.rename(dst)
        else:
            os.replace(tmp, dst)
    except BaseException:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_write(dst: Path, mode: int | None = None, parents: bool = True):
    """Yield a binary file next to ``dst`` (private unless ``mode``); on success it is fsynced
    and renamed over ``dst``, on any exception it is deleted and ``dst`` is left as it was."""
    with atomic_path(dst, mode=mode, parents=parents) as tmp, tmp.open("wb") as out:
        yield out
        out.flush()
        os.fsync(out.fileno())


def write_text(dst: Path, text: str, mode: int = 0o644) -> None:
    """``dst.write_text(text)`` (UTF-8), atomically; like it, into an existing folder only."""
    with atomic_write(dst, mode, parents=False) as out:
        out.write(text.encode("utf-8"))


def write_json(dst: Path, obj, mode: int = 0o644) -> None:
    """``obj`` as indented JSON with a final newline, atomically."""
    write_text(dst, json.dumps(obj, indent=2) + "\n", mode)


def read_json(path: Path):
    """The JSON in ``path``.

    Raises:
        AfinarError: the file is not valid JSON (edited by hand, or torn by a tool that does not
        write atomically), naming the file, the line and the column.
        FileNotFoundError: there is no such file (the CLI prints its path).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise AfinarError(
            f"{path}:{err.lineno}:{err.colno}: damaged JSON ({err.msg}); restore the file or run that step again"
        ) from None


@contextmanager
def locked(path: Path):
    """Hold an exclusive ``flock`` on ``path``'s sibling ``.lock`` file while the block runs:
    another process doing the same waits, so a read-modify-write of ``path`` loses no update."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
