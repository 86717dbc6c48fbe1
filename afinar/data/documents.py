"""Read a document (``data.format: text``): a .txt or .md file, whole, as one ``text`` row.

The file is held in memory whole, so it is capped at :data:`MAX_DOCUMENT_BYTES`; an encrypted
one (``.md.afe``) is decrypted in memory (:func:`afinar.shards.open_dataset`). A file that is not
UTF-8 is named with the line of its first bad byte.
"""

from __future__ import annotations

from pathlib import Path

from afinar.errors import AfinarError, where
from afinar.shards import dataset_kind, open_dataset

__all__ = ["MAX_DOCUMENT_BYTES", "document_rows"]

MAX_DOCUMENT_BYTES = 64 * 2**20
"""The largest .txt or .md file read as one document."""


def document_rows(path: Path):
    """Yield ``(1, {"text": ...})`` for the file, or ``(1, AfinarError)`` for a document that is not
    UTF-8 or is empty (as :func:`afinar.data.read.read_rows` yields a bad row).

    Raises:
        AfinarError: the file is over :data:`MAX_DOCUMENT_BYTES` or binary.
    """
    with open_dataset(path) as f:
        data = f.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise AfinarError(
            f"{path}: a document over {MAX_DOCUMENT_BYTES >> 20} MiB; split it into several files, or write it as "
            "JSONL rows with a 'text' field"
        )
    if b"\0" in data:
        raise AfinarError(f"{path}: a binary file (NUL bytes), not {dataset_kind(path)} text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        byte = f"byte 0x{data[err.start]:02x}"
        yield 1, AfinarError(f"{where(path, line)}: not UTF-8 text ({byte}); re-save the file as UTF-8")
        return
    if not text.strip():
        yield 1, AfinarError(f"{path}: the document is empty")
        return
    yield 1, {"text": text}
