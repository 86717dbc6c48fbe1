"""Which files a dataset path names: a file, or a folder of shards read in order.

A folder is one of:

- a Hugging Face ``datasets`` folder written by ``Dataset.save_to_disk``: its ``state.json``
  lists the Arrow files in order (``data-00000-of-00002.arrow``, ...; each may be encrypted as
  ``.arrow.afe``, see ``afinar data encrypt``);
- a folder of shards of one kind (``.jsonl``, ``.csv``, ``.parquet`` or ``.arrow``, each may be
  encrypted as ``.afe``), read in name order, numbers by value (``part-2`` before ``part-10``):
  the Parquet shards that Spark, pandas, DuckDB or pyarrow write (``part-00000.parquet``, ...);
- a folder of documents (``.txt`` and ``.md`` side by side count as one kind), each file one
  document, for continued pretraining.
  Names that begin with ``_`` or ``.`` are not data (Spark's ``_SUCCESS``, Hadoop's ``.crc``
  checksums) and are skipped.

A ``DatasetDict`` folder (``dataset_dict.json``) holds several splits: a recipe names one split's
folder (``data/tickets/train``). Everything else a folder may hold is refused by name: a file of
another kind, a subfolder, shards of two kinds, or encrypted and plain shards side by side
(the plain ones would defeat the encryption of the rest).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from afinar.atomic import atomic_path
from afinar.errors import AfinarError
from afinar.security.crypto import open_decrypted

__all__ = [
    "ACCEPTED",
    "DOCUMENTS",
    "KINDS",
    "METADATA",
    "dataset_files",
    "dataset_kind",
    "is_encrypted",
    "open_dataset",
    "write_folder",
]

DOCUMENTS = (".txt", ".md")
"""Plain text and Markdown: each file is one document (``data.format: text``, continued pretraining)."""
KINDS = (".jsonl", ".csv", ".parquet", ".arrow", *DOCUMENTS)
"""The files afinar reads (each also encrypted, with ``.afe`` after it)."""
METADATA = ("state.json", "dataset_info.json")
"""A saved ``datasets`` folder's own files besides its shards (no row in them): copied as they are."""
ACCEPTED = (
    ".jsonl, .csv, .parquet, .arrow, and for documents .txt and .md (encrypted: the same with .afe), or a "
    "folder of them (Parquet shards, a datasets folder written by save_to_disk, a folder of documents)"
)


def dataset_kind(path: Path) -> str:
    """The row format of ``path``: its suffix, or the one before ``.afe`` for encrypted files."""
    path = Path(path)
    return Path(path.stem).suffix if path.suffix == ".afe" else path.suffix


def _saved_dataset(folder: Path, state: Path) -> list[Path]:
    """The Arrow files of a ``save_to_disk`` folder, in the order its ``state.json`` lists them."""
    try:
        names = [f["filename"] for f in json.loads(state.read_text())["_data_files"]]
    except (ValueError, KeyError, TypeError) as err:
        raise AfinarError(
            f"{state}: not a datasets state.json (it should list '_data_files' with a 'filename' each): {err}"
        ) from None
    if not names:
        raise AfinarError(f"{folder}: the saved dataset has no data files (state.json lists none)")
    files = []
    for name in names:
        plain, sealed = folder / name, folder / f"{name}.afe"
        if not plain.is_file() and not sealed.is_file():
            raise AfinarError(f"{folder}: state.json lists '{name}', which is not in the folder")
        files.append(plain if plain.is_file() else sealed)
    return files


def _name_order(path: Path) -> list:
    """Sort key: the name with its runs of digits read as numbers (``part-2`` before ``part-10``)."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", path.name)]


def _shards(folder: Path) -> list[Path]:
    """The data files of a plain folder, in name order, all of one kind."""
    files, refused = [], []
    for entry in sorted(folder.iterdir(), key=_name_order):
        if entry.name.startswith(("_", ".")):
            continue
        if entry.is_dir():
            refused.append(f"'{entry.name}' is a folder (shards are read from one folder, not its subfolders)")
        elif dataset_kind(entry) not in KINDS:
            refused.append(f"'{entry.name}' is not a dataset file")
        else:
            files.append(entry)
    if refused:
        raise AfinarError(f"{folder}: {refused[0]}; a dataset folder holds shards of {', '.join(KINDS)} only")
    if not files:
        raise AfinarError(f"{folder}: the folder has no dataset files; accepted: {ACCEPTED}")
    documents = [f for f in files if dataset_kind(f) in DOCUMENTS]
    if documents and len(documents) < len(files):  # a README beside Parquet shards, most often
        rows = sorted({dataset_kind(f) for f in files if f not in documents})
        raise AfinarError(
            f"{folder}: '{documents[0].name}' is a document beside {', '.join(rows)} shards; a dataset folder holds "
            "shards of one kind (documents for continued pretraining go in a folder of their own)"
        )
    kinds = sorted({dataset_kind(f) for f in files} - set(DOCUMENTS))  # .txt and .md: one kind
    if len(kinds) > 1:
        raise AfinarError(f"{folder}: shards of {len(kinds)} kinds ({', '.join(kinds)}); a folder holds one kind")
    return files


def dataset_files(path: str | Path) -> list[Path]:
    """The files of the dataset ``path`` in reading order: ``[path]`` for a file, a folder's shards.

    Raises:
        AfinarError: the path does not exist, or the folder is not a dataset (named in the message).
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise AfinarError(f"{path}: dataset file not found")
    if (path / "dataset_dict.json").is_file():
        splits = sorted(p.name for p in path.iterdir() if (p / "state.json").is_file())
        raise AfinarError(
            f"{path}: a DatasetDict saved with save_to_disk holds several splits; name one split's folder: "
            + ", ".join(str(path / s) for s in splits)
        )
    files = _saved_dataset(path, path / "state.json") if (path / "state.json").is_file() else _shards(path)
    sealed = [f for f in files if f.suffix == ".afe"]
    if sealed and len(sealed) < len(files):
        plain = next(f for f in files if f.suffix != ".afe")
        raise AfinarError(
            f"{path}: '{plain.name}' is plaintext beside {len(sealed)} encrypted shard(s); "
            f"encrypt the whole folder (afinar data encrypt {path})"
        )
    return files


def open_dataset(path: Path) -> BinaryIO:
    """The file's bytes; an encrypted ``.afe`` file is decrypted in memory, never to disk."""
    if path.suffix == ".afe":
        return open_decrypted(path)
    return path.open("rb")


def is_encrypted(path: str | Path) -> bool:
    """Whether the dataset ``path`` is encrypted (a ``.afe`` file, a folder of ``.afe`` shards)."""
    path = Path(path)
    if path.is_dir():
        return dataset_files(path)[0].suffix == ".afe"
    return path.suffix == ".afe"


def write_folder(src: Path, dst: Path, write_shard: Callable[[Path, Path], int], suffix: str = "") -> int:
    """Write the dataset folder ``src`` anew as ``dst``: ``write_shard(shard, out)`` for each shard
    (``out`` is the shard's name in ``dst``, plus ``suffix``), the metadata of a saved ``datasets``
    folder copied; returns the sum of what ``write_shard`` returned. ``dst`` appears complete or
    not at all (a bad row in the last shard leaves nothing behind).

    Raises:
        AfinarError: ``dst`` exists, or lies inside ``src`` (it would become a subfolder of the data).
    """
    src, dst = Path(src), Path(dst)
    shards = dataset_files(src)
    if dst.exists():
        raise AfinarError(f"{dst}: already exists; name a new folder for the output")
    if dst.resolve().is_relative_to(src.resolve()):
        raise AfinarError(f"{dst}: inside the dataset folder {src}; write the output beside it")
    with atomic_path(dst, directory=True, mode=0o755) as tmp:
        total = sum(write_shard(shard, tmp / f"{shard.name}{suffix}") for shard in shards)
        for name in METADATA:
            if (src / name).is_file():
                shutil.copyfile(src / name, tmp / name)
    return total
