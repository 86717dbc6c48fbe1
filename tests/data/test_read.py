import pytest

from afinar.data.read import read_dataset, split_eval
from afinar.errors import AfinarError
from tests.conftest import write_jsonl


def test_three_forms_become_the_same_conversation_shape(tmp_path):
    p = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"instruction": "Sum", "input": "1 2", "output": "3", "scenario": "normal"},
            {
                "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": "u"},
                    {"role": "assistant", "content": "a"},
                ]
            },
            {"prompt": "p", "completion": "c", "scenario": "user_error"},
        ],
    )
    a, b, c = read_dataset(p)
    assert a.messages == [{"role": "user", "content": "Sum\n\n1 2"}, {"role": "assistant", "content": "3"}]
    assert a.scenario == "normal" and a.source == f"{p}:1"
    assert [m["role"] for m in b.messages] == ["system", "user", "assistant"]
    assert c.messages[1] == {"role": "assistant", "content": "c"} and c.scenario == "user_error"


def test_system_prompt_is_added_only_where_missing(tmp_path):
    p = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"prompt": "p", "completion": "c"},
            {
                "messages": [
                    {"role": "system", "content": "own"},
                    {"role": "user", "content": "u"},
                    {"role": "assistant", "content": "a"},
                ]
            },
        ],
    )
    a, b = read_dataset(p, system_prompt="S")
    assert a.messages[0] == {"role": "system", "content": "S"}
    assert b.messages[0]["content"] == "own"


def test_csv_rows_read_as_alpaca(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text('instruction,input,output\nSay hi,,"hi, there"\n')
    (ex,) = read_dataset(p)
    assert ex.messages[-1]["content"] == "hi, there" and ex.source == f"{p}:2"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (['{"prompt": "p", "completion": "c"}', '{"prompt": "p", "completion": '], r"d.jsonl:2: not valid JSON"),
        ([{"instruction": "i", "output": ""}], r"d.jsonl:1: field 'output' is empty"),
        ([{"instruction": "i", "output": 3}], r"d.jsonl:1: field 'output' is a int, not a string"),
        ([{"messages": [{"role": "user", "content": "u"}]}], r"d.jsonl:1: field 'messages' has no assistant turn"),
        (
            [{"messages": [{"role": "user", "content": "u"}, {"role": "bot", "content": "a"}]}],
            r"d.jsonl:1: field 'messages\[1\].role' is 'bot'; accepted: system, user, assistant",
        ),
        ([{"messages": [{"role": "assistant", "content": "a"}]}], r"messages\[0\].role' is 'assistant' where 'user'"),
        ([{"prompt": "p", "completion": "c", "scenario": "odd"}], r"field 'scenario' is 'odd'; accepted: normal"),
        ([{"prompt": "p", "completion": "c", "answer": "x"}], r"unknown field\(s\) \['answer'\] for completion rows"),
        ([{"body": "t"}], r"cannot tell the row's form .* text \(documents\)"),
        (["[1, 2]"], r"each row must be a JSON object"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, rows, message):
    p = write_jsonl(tmp_path / "d.jsonl", rows)
    with pytest.raises(AfinarError, match=message):
        read_dataset(p)


def test_missing_empty_and_unsupported_files(tmp_path):
    with pytest.raises(AfinarError, match="dataset file not found"):
        read_dataset(tmp_path / "nope.jsonl")
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(AfinarError, match="the dataset is empty"):
        read_dataset(tmp_path / "e.jsonl")
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(AfinarError, match=r"accepted: \.jsonl, \.csv"):
        read_dataset(tmp_path / "d.xlsx")


def test_split_is_seeded_disjoint_and_complete(tmp_path):
    p = write_jsonl(tmp_path / "d.jsonl", [{"prompt": f"p{i}", "completion": "c"} for i in range(20)])
    rows = read_dataset(p)
    tr, ev = split_eval(rows, 0.25, seed=1)
    assert len(ev) == 5 and len(tr) == 15
    assert {e.source for e in tr}.isdisjoint({e.source for e in ev})
    assert [e.source for e in split_eval(rows, 0.25, seed=1)[1]] == [e.source for e in ev]
