"""Packing: bins respect their capacity, and a document inside a packed row is isolated."""

import random

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

from afinar.data.pack import collate_packed, pack
from afinar.data.read import Example
from afinar.data.render import IGNORE, render


def _doc_rows(tokenizer):
    def ex(q, a):
        return Example([{"role": "user", "content": q}, {"role": "assistant", "content": a}], "x:1")

    return [
        render(tokenizer, ex("Capital of France?", "Paris.")),
        render(tokenizer, ex("Name three colours.", "Red, green and blue, " * 5)),
        render(tokenizer, ex("2 + 2?", "4.")),
    ]


def _loss_alone(model, row) -> float:
    ids = torch.tensor([row.input_ids])
    logits = model(input_ids=ids).logits[0, :-1]
    return F.cross_entropy(logits, torch.tensor(row.labels[1:]), ignore_index=IGNORE, reduction="sum").item()


def _losses_in_row(model, rows, batch) -> list[float]:
    # no cache: with one, transformers does not read the documents' boundaries from the positions
    logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
    out, at = [], 0
    for r in rows:
        n = len(r.input_ids)
        labels = torch.tensor(r.labels[1:])
        out.append(F.cross_entropy(logits[at : at + n - 1], labels, ignore_index=IGNORE, reduction="sum").item())
        at += n
    return out


def test_bins_hold_every_row_once_and_stay_within_capacity():
    rng = random.Random(3)
    lengths = [rng.randint(5, 120) for _ in range(200)]
    bins = pack(lengths, 128)
    assert sorted(i for b in bins for i in b) == list(range(200))
    assert all(sum(lengths[i] for i in b) <= 128 for b in bins)
    # best-fit decreasing, worked by hand into bins of 100: 70 | 60 | 50 each open a bin (rooms
    # 30, 40, 50); 40 goes where it leaves least room (beside 60), 30 beside 70, 20 beside 50.
    lengths = [50, 70, 20, 60, 40, 30]
    assert sorted(sorted(lengths[i] for i in b) for b in pack(lengths, 100)) == [[20, 50], [30, 70], [40, 60]]
    assert pack([300, 10], 128) == [[0], [1]]  # too long for any bin: a bin of its own


def test_each_document_in_a_packed_row_has_its_loss_alone(tiny_model_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    rows = _doc_rows(tokenizer)
    batch = collate_packed([rows], tokenizer.pad_token_id)
    with torch.no_grad():
        alone = [_loss_alone(model, r) for r in rows]
        packed = _losses_in_row(model, rows, batch)
        # The control: the same row with positions running on (no document boundaries) is not
        # isolated, so this test can fail.
        leaky = dict(batch, position_ids=torch.arange(batch["input_ids"].shape[1])[None])
        mixed = _losses_in_row(model, rows, leaky)
    for a, p in zip(alone, packed, strict=True):
        assert abs(a - p) <= 1e-5 * max(1.0, abs(a))
    assert any(abs(a - m) > 1e-3 for a, m in zip(alone[1:], mixed[1:], strict=True))


def test_a_documents_first_token_is_not_a_target_of_the_previous_one(tokenizer):
    rows = _doc_rows(tokenizer)
    batch = collate_packed([rows], tokenizer.pad_token_id)
    starts = [0, len(rows[0].input_ids), len(rows[0].input_ids) + len(rows[1].input_ids)]
    assert all(batch["labels"][0, s] == IGNORE for s in starts)
    assert batch["position_ids"][0, starts[1]] == 0 and batch["position_ids"][0, starts[2]] == 0
