"""Write files and folders so that they appear complete or not at all, and serialise the
read-modify-write of a shared file between processes.

Every file a later step or a person relies on (the summary, the gate's decision, the eval
results, an export and its ``export.json``, keyrings, checkpoints' metadata) goes through here:
a crash, a full disk or Ctrl-C mid-write leaves the previous version, never half a file.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write", "locked", "write_json", "write_text"]


@contextmanager
def atomic_path(dst: Path, directory: bool = False, mode: int | None = None, replace: bool = False):
    """Yield a new temporary path next to ``dst``: a file name (the file exists, empty) or, with
    ``directory``, an empty folder. On success it is renamed onto ``dst``; on any exception (a
    bad row, a failed check, Ctrl-C) it is deleted and ``dst`` is left as it was.

    It is private (0600, a folder 0700) from the first byte unless ``mode`` says otherwise.

    A folder replaces an existing ``dst`` only with ``replace`` (the old one is moved aside, the new
    one renamed in, the old one deleted); otherwise renaming onto a non-empty ``dst`` raises
    ``OSError`` (ENOTEMPTY), and the caller decides whether the one already there will do.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
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
def atomic_write(dst: Path, mode: int | None = None):
    """Yield a binary file next to ``dst`` (private unless ``mode``); on success it is fsynced
    and renamed over ``dst``, on any exception it is deleted and ``dst`` is left as it was."""
    with atomic_path(dst, mode=mode) as tmp, tmp.open("wb") as out:
        yield out
        out.flush()
        os.fsync(out.fileno())


def write_text(dst: Path, text: str, mode: int = 0o644) -> None:
    """``dst.write_text(text)`` (UTF-8), atomically."""
    with atomic_write(dst, mode) as out:
        out.write(text.encode("utf-8"))


def write_json(dst: Path, obj, mode: int = 0o644) -> None:
    """``obj`` as indented JSON with a final newline, atomically."""
    write_text(dst, json.dumps(obj, indent=2) + "\n", mode)


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
