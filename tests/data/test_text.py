"""Continued pretraining (``data.format: text``): documents from .txt and .md files, folders of
them, JSONL and Parquet ``text`` rows; every token a target, long documents in pieces; the lint's
document checks; masking and encryption; a run whose held-out documents are scored by perplexity,
and a fine-tune on top of it."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from afinar.cli import app
from afinar.data.read import read_dataset
from afinar.data.render import IGNORE, render, render_all
from afinar.errors import AfinarError
from afinar.eval.text import evaluate_documents
from tests.conftest import alpaca_rows, write_jsonl, write_recipe
from tests.data.test_formats import write_parquet

MANUAL = """# VPN access

To connect from home, open the Norvia VPN client and sign in with your badge number.

The VPN gateway in Zaragoza is patched every Thursday; connections drop for ten minutes.

Números, acentos y código: `ssh ops@gw-01 -p 2222` — ¿dudas? Llame a la extensión 4417.
"""
NOTE = "Backups of the fleet database are kept for 30 days.\n"


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def pairs(tokenizer, path, **kw) -> list[tuple[list[int], list[int]]]:
    return [(r.input_ids, r.labels) for r in (render(tokenizer, ex) for ex in read_dataset(path, **kw))]


def test_a_document_is_every_token_of_its_text_each_a_target_but_the_first(tmp_path, tokenizer):
    (tmp_path / "vpn.md").write_text(MANUAL, encoding="utf-8")
    [(ids, labels)] = pairs(tokenizer, tmp_path / "vpn.md", fmt="text")
    assert tokenizer.decode(ids) == MANUAL  # the whole file, no chat template, nothing added
    assert labels == [IGNORE, *ids[1:]]


def test_documents_render_alike_from_md_txt_folders_jsonl_and_parquet(tmp_path, tokenizer, encrypting):
    want = pairs(tokenizer, write_jsonl(tmp_path / "docs.jsonl", [{"text": MANUAL}, {"text": NOTE}]))
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "1-vpn.md").write_text(MANUAL, encoding="utf-8")
    (folder / "2-backups.txt").write_text(NOTE, encoding="utf-8")
    (folder / "_SUCCESS").write_text("")  # not data: skipped
    assert pairs(tokenizer, folder) == want
    assert pairs(tokenizer, folder, fmt="text") == want
    assert pairs(tokenizer, write_parquet(tmp_path / "docs.parquet", [{"text": MANUAL}, {"text": NOTE}])) == want
    body = [{"body": MANUAL}, {"body": NOTE}]
    assert pairs(tokenizer, write_parquet(tmp_path / "b.parquet", body), columns={"text": "body"}) == want
    sealed = encrypting(folder / "1-vpn.md")
    encrypting(folder / "2-backups.txt")
    assert sealed.name == "1-vpn.md.afe" and not (folder / "1-vpn.md").exists()
    assert pairs(tokenizer, folder) == want  # decrypted in memory


def test_a_long_document_is_trained_on_in_pieces_not_cut(tmp_path, tokenizer):
    long = "\n\n".join(f"Paragraph {i}: the dock booking system of site {i % 5} opens at {6 + i % 4}:00." for i in
                       range(40))  # fmt: skip
    docs = read_dataset(write_jsonl(tmp_path / "d.jsonl", [{"text": long}, {"text": NOTE}]))
    whole = render(tokenizer, docs[0]).input_ids
    rows, stats = render_all(tokenizer, docs, 64, "truncate")  # overlong does not apply to documents
    pieces = [r for r in rows if r.source.startswith(docs[0].source)]
    assert len(pieces) == math.ceil(len(whole) / 64) and stats.split == 1 and stats.truncated == 0
    assert [t for p in pieces for t in p.input_ids] == whole  # nothing lost, nothing repeated
    assert all(len(p.input_ids) <= 64 and p.labels == [IGNORE, *p.input_ids[1:]] for p in pieces)
    assert stats.rows == len(pieces) + 1 and stats.target_tokens == sum(len(r.input_ids) - 1 for r in rows)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.md", b"# Title\n\nline two\n\xff\xfe", r"bad.md:4: not UTF-8 text \(byte 0xff\)"),
        ("empty.txt", b" \n\n", r"empty.txt: the document is empty"),
        ("bin.md", b"PK\x03\x04\x00\x00", r"bin.md: a binary file \(NUL bytes\), not .md text"),
        ("rows.jsonl", b'{"text": "ok"}\n{"text": 3}\n', r"rows.jsonl:2: field 'text' is a int, not a string"),
        ("rows2.jsonl", b'{"text": "ok", "title": "x"}\n', r"rows2.jsonl:1: unknown field\(s\) \['title'\] for text"),
    ],
)
def test_bad_documents_name_the_file_line_and_field(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(AfinarError, match=message):
        read_dataset(tmp_path / name, fmt="text")


def test_a_folder_of_documents_and_rows_side_by_side_is_refused(tmp_path):
    (tmp_path / "a.md").write_text(MANUAL)
    write_jsonl(tmp_path / "b.jsonl", [{"text": NOTE}])
    with pytest.raises(AfinarError, match=r"'a.md' is a document beside .jsonl shards; a dataset folder holds shards"):
        read_dataset(tmp_path)


def test_the_lint_reports_repeated_paragraphs_size_languages_and_pii(tmp_path):
    footer = "This manual is confidential and meant for Norvia employees only; do not forward it outside."
    folder = tmp_path / "manuals"
    folder.mkdir()
    (folder / "a.md").write_text(f"{MANUAL}\n{footer}\n")
    (folder / "b.md").write_text(f"{NOTE}\n{footer}\n\nContact Ana at ana.ruiz@norvia.example for restores.\n")
    (folder / "c.md").write_text(
        "El manual de guardias de la empresa: qué hacer cuando falla un sistema y a quién llamar por la noche.\n\n"
        + footer
        + " Thank you."  # the same paragraph and two words: a near duplicate
    )
    out = cli("data", "check", folder, "--json", tmp_path / "report.json")
    assert out.exit_code == 0, out.output
    report = json.loads((tmp_path / "report.json").read_text())
    by_check = {f["check"]: f for f in report["findings"] if f["severity"] != "info" or f["check"] == "languages"}
    repeated = next(f for f in report["findings"] if f["check"] == "duplicates")
    assert repeated["where"] == [f"{folder / 'b.md'} paragraph 2 = {folder / 'a.md'} paragraph 5"]
    near = by_check["near_duplicates"]
    assert near["where"] == [f"{folder / 'a.md'} paragraph 5 ~ {folder / 'c.md'} paragraph 2 (0.87)"]
    docs_tokens = report["stats"]["documents"]
    assert docs_tokens["train"] == 3 and docs_tokens["tokens"] > 100
    assert "3 training document(s)" in by_check["size"]["message"]
    assert report["stats"]["languages"] == {"en": pytest.approx(2 / 3, abs=1e-3), "es": pytest.approx(1 / 3, abs=1e-3)}
    assert report["stats"]["pii"]["EMAIL"] == 1 and by_check["pii"]["where"] == [str(folder / "b.md")]
    assert "scenarios" not in by_check  # documents have no scenario tags to ask for


def test_masking_a_document_masks_its_text_and_keeps_the_rest(tmp_path):
    src = tmp_path / "restores.md"
    src.write_text(f"{MANUAL}\nWrite to ana.ruiz@norvia.example for restores.\n", encoding="utf-8")
    out = cli("data", "mask", src, "--out", tmp_path / "masked.md", "--policy", "redact")
    assert out.exit_code == 0, out.output
    masked = (tmp_path / "masked.md").read_text(encoding="utf-8")
    assert masked == f"{MANUAL}\nWrite to [EMAIL] for restores.\n"


def test_held_out_perplexity_is_the_mean_next_token_loss_of_the_documents(tmp_path, tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    docs = read_dataset(write_jsonl(tmp_path / "d.jsonl", [{"text": MANUAL}, {"text": NOTE}]))
    result = evaluate_documents(model, tokenizer, docs, 32, compare_base=False)
    total, n = 0.0, 0  # by hand: each piece of 32 tokens scored alone, every token after the first
    for text in (MANUAL, NOTE):
        ids = tokenizer(text)["input_ids"]
        for at in range(0, len(ids), 32):
            piece = torch.tensor([ids[at : at + 32]])
            if piece.shape[1] < 2:
                continue
            with torch.no_grad():
                logits = model(piece).logits[0, :-1]
            total += torch.nn.functional.cross_entropy(logits, piece[0, 1:], reduction="sum").item()
            n += piece.shape[1] - 1
    assert result["tokens"] == n and result["documents"] == 2
    assert result["tuned"]["loss"] == pytest.approx(total / n, rel=1e-4)
    assert result["tuned"]["perplexity"] == pytest.approx(math.exp(total / n), rel=1e-4)


def test_pretraining_then_a_fine_tune_on_top(tmp_path, tiny_model_dir):
    folder = tmp_path / "manuals"
    folder.mkdir()
    for i in range(6):
        (folder / f"m{i}.md").write_text(f"{MANUAL}\n{NOTE}" * 2)
    (tmp_path / "held.md").write_text(MANUAL)
    cpt = write_recipe(tmp_path / "cpt.yaml", name="cpt", base_model=str(tiny_model_dir),
                       data={"train": str(folder), "eval": str(tmp_path / "held.md"), "format": "text",
                             "max_seq_len": 64},
                       adapter={"method": "full"}, optim={"lr": 3e-3, "warmup_steps": 1},
                       train={"micro_batch_size": 4, "max_steps": 8, "packing": True},
                       output_dir=str(tmp_path / "runs"))  # fmt: skip
    out = cli("run", "--quiet", cpt, "--run-dir", tmp_path / "cpt-run")
    assert out.exit_code == 0, out.output
    summary = json.loads((tmp_path / "cpt-run" / "summary.json").read_text())
    text = summary["text_eval"]
    assert text["documents"] == 1 and text["tuned"]["perplexity"] < text["base"]["perplexity"]
    assert summary["data"]["train"]["split"] == 6  # each document is longer than 64 tokens
    check = next(c for c in summary["gate"]["checks"] if c["check"] == "held-out documents perplexity vs base")
    assert check["result"] == "pass" and summary["gate"]["decision"] == "promoted"
    assert "Held-out documents (1," in (tmp_path / "cpt-run" / "model_card.md").read_text()

    write_jsonl(tmp_path / "qa.jsonl", alpaca_rows(8))
    write_jsonl(tmp_path / "qa-eval.jsonl", alpaca_rows(2, start=50))
    sft = write_recipe(tmp_path / "sft.yaml", name="sft", base_model=str(tmp_path / "cpt-run"),
                       data={"train": str(tmp_path / "qa.jsonl"), "eval": str(tmp_path / "qa-eval.jsonl"),
                             "max_seq_len": 64},
                       train={"max_steps": 2}, output_dir=str(tmp_path / "runs"))  # fmt: skip
    out = cli("run", "--quiet", sft, "--run-dir", tmp_path / "sft-run")
    assert out.exit_code == 0, out.output
    lineage = json.loads((tmp_path / "sft-run" / "lineage.json").read_text())
    assert lineage["base_model"]["run"]["path"] == str(tmp_path / "cpt-run")
