"""Tool-calling rows (OpenAI's chat format with ``tools``): rendered in the afinar tool format,
token for token as the format is written by hand here, with the loss on the calls and the
answers only; from JSONL and from Parquet alike; bad rows named by file, line and field; PII in
arguments and results masked; and the ``tool_call`` metric."""

from __future__ import annotations

import copy
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from afinar.data.mask import Masker, mask_file
from afinar.data.read import read_dataset
from afinar.data.render import IGNORE, render
from afinar.data.tools import parse_calls
from afinar.errors import AfinarError
from afinar.eval.metrics import tool_call_match
from tests.conftest import write_jsonl

LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup_ticket",
        "description": "One ticket by number.",
        "parameters": {"type": "object", "properties": {"ticket_id": {"type": "integer"}}, "required": ["ticket_id"]},
    },
}
NOTIFY = {
    "type": "function",
    "function": {
        "name": "notify",
        "parameters": {"type": "object", "properties": {"to": {"type": "string"}, "text": {"type": "string"}}},
    },
}


def call(cid: str, name: str, args: dict) -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def loop_row() -> dict:
    """Two calls in one turn, their results in the other order, then the answer."""
    return {
        "tools": copy.deepcopy([LOOKUP, NOTIFY]),
        "messages": [
            {"role": "system", "content": "You help the IT desk."},
            {"role": "user", "content": "Check ticket 7 and tell Ana."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("c1", "lookup_ticket", {"ticket_id": 7}), call("c2", "notify", {"to": "ana"})],
            },
            {"role": "tool", "tool_call_id": "c2", "content": "sent"},
            {"role": "tool", "tool_call_id": "c1", "content": '{"status": "open"}'},
            {"role": "assistant", "content": "Ticket 7 is open; Ana knows."},
        ],
    }


def by_hand(tools: list[dict]) -> tuple[str, list[str]]:
    """The loop row in ChatML as docs/tools.md writes the format: the whole text, and the
    assistant pieces that must be targets (each with its <|im_end|>)."""
    offer = "\n".join(json.dumps(t["function"]) for t in tools)
    system = (
        "You help the IT desk.\n\nYou can call these tools (JSON Schema parameters):\n<tools>\n"
        f"{offer}\n</tools>\n"
        'To call a tool, answer with <tool_call>{"name": ..., "arguments": {...}}</tool_call>, one block per call.\n'
        "Results come back in <tool_response></tool_response> blocks."
    )
    calls = (
        '<tool_call>\n{"name": "lookup_ticket", "arguments": {"ticket_id": 7}}\n</tool_call>\n'
        '<tool_call>\n{"name": "notify", "arguments": {"to": "ana"}}\n</tool_call><|im_end|>'
    )
    results = '<tool_response>\n{"status": "open"}\n</tool_response>\n<tool_response>\nsent\n</tool_response>'
    answer = "Ticket 7 is open; Ana knows.<|im_end|>"
    text = (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\nCheck ticket 7 and tell Ana.<|im_end|>\n"
        f"<|im_start|>assistant\n{calls}\n<|im_start|>user\n{results}<|im_end|>\n<|im_start|>assistant\n{answer}"
    )
    return text, [calls, answer]


def test_a_tool_loop_renders_as_written_by_hand_with_the_loss_on_calls_and_answer(tmp_path, tokenizer):
    path = write_jsonl(tmp_path / "t.jsonl", [loop_row()])
    (ex,) = read_dataset(path)
    row = render(tokenizer, ex)
    text, targets = by_hand([LOOKUP, NOTIFY])
    assert tokenizer.decode(row.input_ids) == text
    spans, current = [], []
    for token, label in zip(row.input_ids, row.labels, strict=True):
        if label != IGNORE:
            assert label == token
            current.append(token)
        elif current:
            spans, current = [*spans, current], []
    spans += [current] if current else []
    assert [tokenizer.decode(s) for s in spans] == targets


def test_parquet_rows_with_tools_as_json_text_render_like_the_jsonl(tmp_path, tokenizer):
    row = loop_row()
    jsonl = write_jsonl(tmp_path / "t.jsonl", [row])
    table_row = {"tools": json.dumps(row["tools"]), "messages": row["messages"]}  # nested structs; nulls filled
    parquet = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist([table_row]), parquet)
    (a,), (b,) = read_dataset(jsonl), read_dataset(parquet)
    assert render(tokenizer, a).input_ids == render(tokenizer, b).input_ids
    assert render(tokenizer, a).labels == render(tokenizer, b).labels


def _broken(change) -> dict:
    row = loop_row()
    change(row)
    return row


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["messages"][2]["tool_calls"][0]["function"].update(name="drop_db"),
         r"t.jsonl:1: field 'messages\[2\].tool_calls\[0\].function.name' is 'drop_db'; the row's tools are: "
         r"lookup_ticket, notify"),
        (lambda r: r["messages"][2]["tool_calls"][0]["function"].update(arguments="{ticket"),
         r"field 'messages\[2\].tool_calls\[0\].function.arguments' is not JSON"),
        (lambda r: r["messages"][2]["tool_calls"][0]["function"].update(arguments='{"ticket_id": "7"}'),
         r"field 'messages\[2\].tool_calls\[0\].function.arguments' breaks the parameters of tool 'lookup_ticket' "
         r"at ticket_id: '7' is not of type 'integer'"),
        (lambda r: r["messages"][3].update(tool_call_id="c9"),
         r"field 'messages\[3\].tool_call_id' is 'c9', which is no unanswered call of the assistant turn before; "
         r"unanswered: c1, c2"),
        (lambda r: r["messages"].pop(4),
         r"field 'messages\[4\].role' is 'assistant' where 'tool' is expected"),
        (lambda r: r.pop("tools"),
         r"field 'messages\[2\].tool_calls' calls tools, but the row has no 'tools' to call"),
        (lambda r: (r.pop("tools"), r["messages"][2].update(content="On it."), r["messages"][2].pop("tool_calls")),
         r"field 'messages\[3\].role' is 'tool'; accepted: system, user, assistant; a 'tool' turn needs the row's"),
        (lambda r: r["tools"][0]["function"].update(parameters={"type": "objekt"}),
         r"field 'tools\[0\].function.parameters' is not a valid JSON Schema"),
        (lambda r: r["tools"].append(LOOKUP),
         r"field 'tools\[2\].function.name': tool 'lookup_ticket' is defined twice"),
        (lambda r: r["messages"][1].update(tool_call_id="c1"),
         r"field 'messages\[1\].tool_call_id' is only accepted on a tool turn"),
    ],
)  # fmt: skip
def test_bad_tool_rows_name_the_file_line_and_field(tmp_path, change, message):
    path = write_jsonl(tmp_path / "t.jsonl", [_broken(change)])
    with pytest.raises(AfinarError, match=message):
        read_dataset(path)


def test_a_row_ending_before_its_results_is_refused_but_ending_at_the_call_is_an_eval_row(tmp_path):
    row = loop_row()
    row["messages"] = row["messages"][:4]
    with pytest.raises(AfinarError, match=r"t.jsonl:1: field 'messages' ends before the results of call\(s\) c1"):
        read_dataset(write_jsonl(tmp_path / "t.jsonl", [row]))
    row["messages"] = row["messages"][:3]
    (ex,) = read_dataset(write_jsonl(tmp_path / "e.jsonl", [row]))
    assert parse_calls(ex.messages[-1]["content"])[1][0].arguments == {"ticket_id": 7}


def test_masking_reaches_arguments_and_results_and_keeps_them_json(tmp_path):
    row = loop_row()
    row["messages"][2]["tool_calls"][1]["function"]["arguments"] = json.dumps({"to": "ana.garcia@norvia.example"})
    row["messages"][3]["content"] = "sent to ana.garcia@norvia.example"
    src = write_jsonl(tmp_path / "t.jsonl", [row])
    mask_file(src, tmp_path / "m.jsonl", Masker())
    text = (tmp_path / "m.jsonl").read_text()
    assert "ana.garcia" not in text
    (ex,) = read_dataset(tmp_path / "m.jsonl")  # still a valid tool row: the arguments still parse
    assert "ana.garcia" not in ex.messages[2]["content"]


def test_parse_calls_reads_blocks_and_refuses_what_is_not_a_call():
    two = '<tool_call>\n{"name": "a", "arguments": {"x": 1}}\n</tool_call>\n<tool_call>\n{"name": "b"}'
    words, calls = parse_calls("Let me look.\n" + two)
    assert words == "Let me look." and [(c.name, c.arguments) for c in calls] == [("a", {"x": 1}), ("b", {})]
    assert parse_calls("No call here.") == ("No call here.", [])
    assert parse_calls("<tool_call>\n{name: a}\n</tool_call>")[1] is None
    assert parse_calls('<tool_call>{"name": "a", "arguments": "{\\"x\\": 2}"}</tool_call>')[1][0].arguments == {"x": 2}
    assert parse_calls('<tool_call>{"name": "a", "arguments": [1]}</tool_call>')[1] is None


def block(name: str, args: dict) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': args})}\n</tool_call>"


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [
        (block("a", {"x": 1, "y": [1, 2]}), block("a", {"y": [1, 2], "x": 1.0}), (1, 1, 1, 1)),
        (block("a", {"x": True}), block("a", {"x": 1}), (0, 1, 1, 0)),  # a boolean is no number
        (block("a", {"x": 2}), block("a", {"x": 1}), (0, 1, 1, 0)),
        (block("b", {"x": 1}), block("a", {"x": 1}), (0, 1, 0, 0)),
        (block("b", {}) + block("a", {}), block("a", {}) + block("b", {}), (1, 1, 1, 1)),  # any order
        (block("a", {}), block("a", {}) + block("a", {}), (0, 1, 0, 0)),  # one call short
        ("Ticket 7 is open.", block("a", {"x": 1}), (0, 0, 0, 0)),
        ("<tool_call>{broken", block("a", {"x": 1}), (0, 1, 0, 0)),  # tried to call: the decision holds
        ("Which host?", "On which host?", (1, 1, 1, 1)),  # no call needed, none made
        (block("a", {}), "On which host?", (0, 0, 0, 0)),
    ],
)
def test_tool_call_metric(answer, reference, expected):
    got = tool_call_match(answer, reference)
    assert (got["score"], got["decision"], got["name"], got["arguments"]) == expected
