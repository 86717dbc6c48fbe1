"""The data forms users bring besides JSONL: Parquet and Arrow files (plain and encrypted),
ShareGPT rows, OpenAI's chat format with per-turn weights, and tables whose columns have other
names. Each renders exactly the tokens and labels of the equivalent JSONL, trains, and names the
file, row and field of a bad row."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from afinar.cli import app
from afinar.data.read import read_dataset, read_rows
from afinar.data.render import IGNORE, render
from afinar.errors import AfinarError
from tests.conftest import alpaca_rows, write_jsonl, write_recipe

CHATS = [
    [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And 3 + 3?"},
        {"role": "assistant", "content": "6."},
    ],
    [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Red."}],
]
SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt"}


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def write_parquet(path, rows, **kw):
    pq.write_table(pa.Table.from_pylist(rows), path, **kw)
    return path


def write_arrow(path, rows, stream: bool = False):
    table = pa.Table.from_pylist(rows)
    open_writer = pa.ipc.new_stream if stream else pa.ipc.new_file
    with pa.OSFile(str(path), "wb") as sink, open_writer(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=3)  # several record batches
    return path


def rendered(tokenizer, path, **kw) -> list[tuple[list[int], list[int]]]:
    return [(r.input_ids, r.labels) for r in (render(tokenizer, ex) for ex in read_dataset(path, **kw))]


def test_tables_render_the_tokens_and_labels_of_the_same_rows_in_jsonl(tmp_path, tokenizer, encrypting):
    rows = [{**r, "scenario": "normal"} for r in alpaca_rows(10)]
    rows[3] = {"instruction": "Sum 1 and 2.", "input": "Show the working.", "output": "1 + 2 = 3."}
    want = rendered(tokenizer, write_jsonl(tmp_path / "d.jsonl", rows))
    assert len(want) == 10
    forms = {
        "parquet": write_parquet(tmp_path / "d.parquet", rows, row_group_size=4),
        "arrow file": write_arrow(tmp_path / "d.arrow", rows),
        "arrow stream": write_arrow(tmp_path / "s.arrow", rows, stream=True),
        "encrypted parquet": encrypting(write_parquet(tmp_path / "e.parquet", rows)),
    }
    for name, path in forms.items():
        assert rendered(tokenizer, path) == want, name
    assert not (tmp_path / "e.parquet").exists()  # the plaintext is gone; the rows came from memory

    renamed = [{"question": r["instruction"], "context": r.get("input"), "answer": r["output"]} for r in rows]
    path = write_parquet(tmp_path / "other-names.parquet", renamed)
    columns = {"instruction": "question", "input": "context", "output": "answer"}
    assert rendered(tokenizer, path, columns=columns) == [
        (ids, labels)
        for ids, labels in rendered(
            tokenizer,
            write_jsonl(tmp_path / "plain.jsonl", [{k: v for k, v in r.items() if k != "scenario"} for r in rows]),
        )
    ]


def test_sharegpt_and_openai_chat_rows_render_like_afinar_chat_rows(tmp_path, tokenizer):
    want = rendered(tokenizer, write_jsonl(tmp_path / "chat.jsonl", [{"messages": m} for m in CHATS]))
    sharegpt = [
        {"conversations": [{"from": SHAREGPT_FROM[t["role"]], "value": t["content"]} for t in m]} for m in CHATS
    ]
    assert rendered(tokenizer, write_jsonl(tmp_path / "sharegpt.jsonl", sharegpt)) == want
    # OpenAI's format says weight 1 where it wants the turn trained: the same rows
    weighted = [{"messages": [{**t, "weight": 1} if t["role"] == "assistant" else t for t in m]} for m in CHATS]
    assert rendered(tokenizer, write_jsonl(tmp_path / "openai.jsonl", weighted)) == want
    # chat rows in a table: a list of structs, with weight null on the turns that do not set it
    table = [{"messages": [{**t, "weight": None} for t in m]} for m in CHATS]
    assert rendered(tokenizer, write_parquet(tmp_path / "chat.parquet", table)) == want


def test_an_assistant_turn_of_weight_0_stays_in_the_context_and_out_of_the_loss(tmp_path, tokenizer):
    chat = [dict(t) for t in CHATS[0]]
    chat[2]["weight"] = 0  # "4." is context, "6." is learned
    (ids, labels), (ids_all, labels_all) = (
        rendered(tokenizer, write_jsonl(tmp_path / "w.jsonl", [{"messages": chat}]))[0],
        rendered(tokenizer, write_jsonl(tmp_path / "all.jsonl", [{"messages": CHATS[0]}]))[0],
    )
    assert ids == ids_all
    dropped = [i for i, (a, b) in enumerate(zip(labels, labels_all, strict=True)) if a != b]
    assert dropped == list(range(dropped[0], dropped[-1] + 1))  # one run of tokens
    assert all(labels[i] == IGNORE for i in dropped)
    assert tokenizer.decode([ids[i] for i in dropped]) == "4." + tokenizer.eos_token
    assert tokenizer.decode([t for t in labels if t != IGNORE]) == "6." + tokenizer.eos_token


@pytest.mark.parametrize("form", ["parquet", "arrow", "sharegpt", "encrypted parquet"])
def test_a_run_trains_from_each_form(tmp_path, tiny_model_dir, encrypting, form):
    train, held = alpaca_rows(12), alpaca_rows(2, start=100)
    if form == "sharegpt":

        def convert(r):
            return {
                "conversations": [{"from": "human", "value": r["instruction"]}, {"from": "gpt", "value": r["output"]}]
            }

        paths = [
            write_jsonl(tmp_path / f"{n}.jsonl", [convert(r) for r in rs]) for n, rs in (("t", train), ("e", held))
        ]
    elif form == "arrow":
        paths = [write_arrow(tmp_path / f"{n}.arrow", rs) for n, rs in (("t", train), ("e", held))]
    else:
        paths = [write_parquet(tmp_path / f"{n}.parquet", rs) for n, rs in (("t", train), ("e", held))]
        if form == "encrypted parquet":
            paths = [encrypting(p) for p in paths]
    recipe = write_recipe(tmp_path / "r.yaml", base_model=str(tiny_model_dir),
                          data={"train": str(paths[0]), "eval": str(paths[1]), "max_seq_len": 64},
                          train={"max_steps": 2}, output_dir=str(tmp_path / "runs"))  # fmt: skip
    out = cli("run", "--quiet", recipe, "--run-dir", tmp_path / "run")
    assert out.exit_code == 0, out.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["train"]["steps"] == 2
    assert (summary["data"]["train"]["rows"], summary["data"]["eval"]["rows"]) == (12, 2)


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        ([*alpaca_rows(2), {"instruction": "x", "output": None}], None, r"d.parquet: row 3: field 'output' is missing"),
        ([{"question": "x", "answer": None}], {"instruction": "question", "output": "answer"},
         r"row 1: field 'output' is missing; data.columns reads 'instruction' from column 'question', 'output' from "
         r"column 'answer'"),
        ([{"question": "x", "instruction": "y", "output": "z"}], {"instruction": "question"},
         r"row 1: field 'instruction' comes both from column 'question' \(data.columns\) and from a column of that"),
        ([{"conversations": [{"from": "bot", "value": "x"}]}], None,
         r"row 1: field 'conversations\[0\].from' is 'bot'; accepted: system, human, user, gpt, assistant"),
        ([{"conversations": [{"from": "gpt", "value": "x"}]}], None,
         r"field 'conversations\[0\].from' is 'gpt' where 'human' is expected"),
        ([{"messages": [{"role": "user", "content": "x", "weight": 0}, {"role": "assistant", "content": "y"}]}], None,
         r"field 'messages\[0\].weight' is 0; accepted: an assistant turn"),
        ([{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "weight": 0.5}]}],
         None, r"field 'messages\[1\].weight' is 0.5; accepted: 0 or 1"),
        ([{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "weight": 0}]}], None,
         r"field 'messages' has no assistant turn with content to learn from \(weight 1\)"),
    ],
)  # fmt: skip
def test_bad_table_rows_name_the_file_the_row_and_the_field(tmp_path, rows, columns, message):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(AfinarError, match=message):
        read_dataset(path, columns=columns)


def test_a_file_that_is_not_what_its_name_says_is_refused_by_name(tmp_path):
    fake = tmp_path / "d.parquet"
    fake.write_text('{"instruction": "x", "output": "y"}\n')
    with pytest.raises(AfinarError, match=r"d.parquet: not a parquet file .*accepted: .jsonl, .csv, .parquet, .arrow"):
        list(read_rows(fake))
    cut = write_parquet(tmp_path / "cut.parquet", alpaca_rows(50))
    cut.write_bytes(cut.read_bytes()[:-40])  # the footer is gone
    with pytest.raises(AfinarError, match=r"cut.parquet: row 1: cannot be read as parquet"):
        list(read_rows(cut))


def test_recipe_columns_must_name_fields_and_distinct_columns(tmp_path):
    from afinar.config import load_recipe

    for columns, message in (
        ({"question": "q"}, r"\['question'\] are not fields afinar reads; accepted: chosen, completion, conversations"),
        ({"instruction": "q", "output": "q"}, r"column\(s\) \['q'\] given for more than one field"),
    ):
        write_jsonl(tmp_path / "train.jsonl", alpaca_rows(2))
        path = write_recipe(tmp_path / "r.yaml", data={"train": "train.jsonl", "columns": columns})
        with pytest.raises(AfinarError, match=message):
            load_recipe(path)


def test_masking_a_table_keeps_its_columns_types_and_rows(tmp_path):
    rows = [
        {"instruction": "Mail ana.garcia@example.com about order 7.", "output": "Done.", "n": 1},
        {"instruction": "Nothing personal here.", "output": "Fine.", "n": None},
    ]
    src = write_parquet(tmp_path / "d.parquet", rows)
    out = cli("data", "mask", src, "-o", tmp_path / "m.parquet")
    assert out.exit_code == 0, out.output
    masked = pq.read_table(tmp_path / "m.parquet")
    assert masked.schema == pq.read_table(src).schema
    got = masked.to_pylist()
    assert len(got) == 2 and "ana.garcia@example.com" not in got[0]["instruction"]
    assert got[0]["instruction"].startswith("Mail ") and got[0]["n"] == 1
    assert got[1] == rows[1]  # nothing to mask: the row as it was
