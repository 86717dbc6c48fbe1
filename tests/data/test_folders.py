"""Datasets that are folders: Parquet shards as Spark, DuckDB or pyarrow write them, and a
Hugging Face ``datasets`` folder written by ``save_to_disk`` (the real library writes each one
here). Each reads as the same rows in the same order as one JSONL file, trains, is masked and
encrypted folder to folder, and names the shard and row of a bad one."""

from __future__ import annotations

import hashlib
import json

import datasets
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from afinar.data.read import read_dataset
from afinar.errors import AfinarError
from tests.conftest import alpaca_rows, write_jsonl, write_recipe
from tests.data.test_formats import CHATS, cli, rendered


def parquet_shards(folder, rows, per_file: int):
    """``rows`` as Parquet files of ``per_file`` rows each, written by pyarrow's dataset writer."""
    pads.write_dataset(
        pa.Table.from_pylist(rows),
        folder,
        format="parquet",
        max_rows_per_file=per_file,
        max_rows_per_group=per_file,
        basename_template="part-{i}.parquet",  # pyarrow's default: part-0, ..., part-10 (not zero-padded)
    )
    return folder


def saved_dataset(folder, rows, shards: int):
    datasets.Dataset.from_list(rows).save_to_disk(str(folder), num_shards=shards)
    return folder


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_shard_folders_render_the_tokens_and_labels_of_one_jsonl_file_in_order(tmp_path, tokenizer, encrypting):
    rows = alpaca_rows(11)
    want = rendered(tokenizer, write_jsonl(tmp_path / "d.jsonl", rows))
    shards = parquet_shards(tmp_path / "shards", rows, per_file=1)  # part-10 after part-9, not after part-1
    assert len(list(shards.iterdir())) == 11
    (shards / "_SUCCESS").write_text("")  # what Spark leaves beside its shards: not data
    saved = saved_dataset(tmp_path / "saved", rows, shards=3)
    assert rendered(tokenizer, shards) == want
    assert rendered(tokenizer, saved) == want
    chats = [{"messages": [{**t, "weight": None} for t in m]} for m in CHATS]  # a list of structs, nulls
    want_chat = rendered(tokenizer, write_jsonl(tmp_path / "chat.jsonl", [{"messages": m} for m in CHATS]))
    assert rendered(tokenizer, saved_dataset(tmp_path / "saved-chat", chats, shards=2)) == want_chat

    out = cli("data", "encrypt", saved, "--remove-plaintext")
    assert out.exit_code == 0, out.output
    sealed = tmp_path / "saved.afe"
    assert not saved.exists()
    names = sorted(p.name for p in sealed.iterdir())
    assert names == ["data-00000-of-00003.arrow.afe", "data-00001-of-00003.arrow.afe",
                     "data-00002-of-00003.arrow.afe", "dataset_info.json", "state.json"]  # fmt: skip
    assert not any(b"Add 1 and 2" in p.read_bytes() for p in sealed.iterdir())
    assert rendered(tokenizer, sealed) == want
    out = cli("data", "decrypt", sealed, "-o", tmp_path / "plain")
    assert out.exit_code == 2 and "decrypt one shard at a time" in " ".join(out.output.split())
    assert not (tmp_path / "plain").exists()


def test_a_run_trains_from_folders_and_its_lineage_names_each_shard(tmp_path, tiny_model_dir):
    train = saved_dataset(tmp_path / "train", alpaca_rows(12), shards=2)
    held = parquet_shards(tmp_path / "held", alpaca_rows(3, start=100), per_file=2)
    recipe = write_recipe(tmp_path / "r.yaml", base_model=str(tiny_model_dir),
                          data={"train": str(train), "eval": str(held), "max_seq_len": 64},
                          train={"max_steps": 2}, output_dir=str(tmp_path / "runs"))  # fmt: skip
    out = cli("run", "--quiet", recipe, "--run-dir", tmp_path / "run")
    assert out.exit_code == 0, out.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert (summary["data"]["train"]["rows"], summary["data"]["eval"]["rows"]) == (12, 3)
    lineage = json.loads((tmp_path / "run" / "lineage.json").read_text())
    shards = [train / "data-00000-of-00002.arrow", train / "data-00001-of-00002.arrow",
              held / "part-0.parquet", held / "part-1.parquet"]  # fmt: skip
    assert lineage["data"] == [{"path": str(p), "sha256": sha256(p)} for p in shards]

    out = cli("data", "check", train)
    assert out.exit_code == 0, out.output
    assert "12" in out.output


def test_a_bad_row_names_its_shard_and_row(tmp_path):
    rows = alpaca_rows(6)
    rows[4] = {"instruction": "x", "output": None}
    with pytest.raises(AfinarError, match=r"part-1\.parquet: row 2: field 'output' is missing"):
        read_dataset(parquet_shards(tmp_path / "shards", rows, per_file=3))
    with pytest.raises(AfinarError, match=r"data-00001-of-00002\.arrow: row 2: field 'output' is missing"):
        read_dataset(saved_dataset(tmp_path / "saved", rows, shards=2))


def test_a_folder_that_is_not_one_dataset_is_refused_by_name(tmp_path):
    datasets.DatasetDict(
        train=datasets.Dataset.from_list(alpaca_rows(2)), test=datasets.Dataset.from_list(alpaca_rows(2))
    ).save_to_disk(str(tmp_path / "dict"))
    cases = {"dict": r"a DatasetDict .* name one split's folder: .*dict/test, .*dict/train"}
    mixed = parquet_shards(tmp_path / "mixed", alpaca_rows(4), per_file=2)
    write_jsonl(mixed / "more.jsonl", alpaca_rows(1))
    cases["mixed"] = r"mixed: shards of 2 kinds \(\.jsonl, \.parquet\); a folder holds one kind"
    stray = parquet_shards(tmp_path / "stray", alpaca_rows(2), per_file=2)
    (stray / "README.md").write_text("about the data")
    cases["stray"] = r"stray: 'README\.md' is a document beside \.parquet shards; a dataset folder holds shards of one"
    nested = parquet_shards(tmp_path / "nested", alpaca_rows(2), per_file=2)
    parquet_shards(nested / "year=2026", alpaca_rows(2), per_file=2)
    cases["nested"] = r"nested: 'year=2026' is a folder"
    (tmp_path / "empty").mkdir()
    cases["empty"] = r"empty: the folder has no dataset files"
    missing = saved_dataset(tmp_path / "missing", alpaca_rows(4), shards=2)
    (missing / "data-00001-of-00002.arrow").unlink()
    cases["missing"] = r"missing: state.json lists 'data-00001-of-00002\.arrow', which is not in the folder"
    for name, message in cases.items():
        with pytest.raises(AfinarError, match=message):
            read_dataset(tmp_path / name)


def test_plaintext_shards_beside_encrypted_ones_are_refused(tmp_path, encrypting):
    folder = parquet_shards(tmp_path / "shards", alpaca_rows(4), per_file=2)
    encrypting(folder / "part-0.parquet")  # one shard sealed, the other left plain
    with pytest.raises(AfinarError, match=r"'part-1\.parquet' is plaintext beside 1 encrypted shard"):
        read_dataset(folder)


def test_masking_a_folder_writes_a_new_folder_of_masked_shards_or_nothing(tmp_path):
    rows = alpaca_rows(4)
    rows[1] = {"instruction": "Mail ana.garcia@example.com about order 7.", "output": "Done."}
    rows[3] = {"instruction": "Call +34 612 345 678 today.", "output": "Will do."}
    src = saved_dataset(tmp_path / "saved", rows, shards=2)
    out = cli("data", "mask", src, "-o", tmp_path / "masked")
    assert out.exit_code == 0, out.output
    masked = datasets.load_from_disk(str(tmp_path / "masked")).to_list()
    assert len(masked) == 4 and masked[0] == rows[0] and masked[2] == rows[2]
    assert masked[1]["instruction"].startswith("Mail ") and "ana.garcia@example.com" not in masked[1]["instruction"]
    assert "612 345 678" not in masked[3]["instruction"]
    assert [p.name for p in (tmp_path / "saved").iterdir()] == [p.name for p in (tmp_path / "masked").iterdir()]

    out = cli("data", "mask", src, "-o", tmp_path / "masked")
    assert out.exit_code != 0 and "already exists" in out.output

    shards = parquet_shards(tmp_path / "bad", rows, per_file=3)
    (shards / "part-1.parquet").write_bytes(b"not parquet")  # the last shard: the first is masked by then
    out = cli("data", "mask", shards, "-o", tmp_path / "bad-masked")
    assert out.exit_code != 0 and "part-1.parquet: not a parquet file" in out.output
    assert not (tmp_path / "bad-masked").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bad-masked")] == []


def test_drift_reads_a_folder_of_production_prompts(tmp_path):
    from afinar.eval.drift import window_from_file

    rows = [{"prompt": f"question {i}"} for i in range(5)]
    window = window_from_file(parquet_shards(tmp_path / "prompts", rows, per_file=2))
    assert window.prompts == [r["prompt"] for r in rows]
