"""Replay: the KL term against a hand computation, the base's distributions against a plain
forward, and self-synthesis on the bundled SmolLM2 (distinct requests, cached per base)."""

from __future__ import annotations

import math

import pytest
import torch

from afinar.config import ReplayConfig
from afinar.data.read import Example
from afinar.train import replay
from afinar.train.replay import ReplayRow, _kl_sum, _teach, build_replay, synthesize


def test_kl_with_the_whole_vocabulary_is_the_textbook_kl():
    torch.manual_seed(0)
    student, teacher = torch.randn(5, 11), torch.randn(5, 11)
    p = torch.softmax(teacher.double(), -1)
    expected = (p * (p.log() - torch.log_softmax(student.double(), -1))).sum().item()
    top = torch.log_softmax(teacher, -1).topk(11, dim=-1)
    assert _kl_sum(student, top.indices, top.values).item() == pytest.approx(expected, rel=1e-5)


def test_kl_keeps_the_rest_of_the_base_mass_as_one_bucket():
    # base: 0.5, 0.3, then 0.2 spread over the other tokens; tuned: uniform over 4 tokens
    teacher_ids = torch.tensor([[2, 0]])
    teacher_logp = torch.tensor([[math.log(0.5), math.log(0.3)]])
    student = torch.zeros(1, 4)  # q = 0.25 each: top two 0.25, 0.25; rest 0.5
    expected = 0.5 * math.log(0.5 / 0.25) + 0.3 * math.log(0.3 / 0.25) + 0.2 * math.log(0.2 / 0.5)
    assert _kl_sum(student, teacher_ids, teacher_logp).item() == pytest.approx(expected, rel=1e-5)
    same = torch.log(torch.tensor([[0.3, 0.1, 0.5, 0.1]]))
    assert _kl_sum(same, teacher_ids, teacher_logp).item() == pytest.approx(0.0, abs=1e-6)


def test_the_base_distribution_is_a_plain_forward_topk(tiny_model_dir, tokenizer):
    from contextlib import nullcontext

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    texts = ["The river runs to the sea.", "Chess"]
    rows = [ReplayRow(ids, ids, t) for t in texts for ids in [tokenizer(t)["input_ids"]]]
    _teach(model, rows, 5, tokenizer.pad_token_id, nullcontext)
    for row in rows:
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([row.input_ids])).logits[0, :-1].double(), -1)
        want = logp.topk(5, dim=-1)
        assert row.teacher_logp.shape == (len(row.input_ids) - 1, 5)
        assert torch.equal(row.teacher_ids, want.indices)
        assert torch.allclose(row.teacher_logp.double(), want.values, atol=1e-4)


def test_kl_plus_sft_is_both_terms_of_one_forward(tiny_model_dir, tokenizer):
    """``kl+sft``: its KL sum is the ``kl`` term's, its cross-entropy the loop's own target loss on
    the same rows (computed here by ``target_loss_sum``, a separate forward)."""
    from contextlib import nullcontext

    from transformers import AutoModelForCausalLM

    from afinar.data.batch import collate
    from afinar.train.loss import target_loss_sum
    from afinar.train.replay import _rows, replay_kl_sum

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    pairs = [("Tell me of rivers.", "Rivers run to the sea."), ("Chess?", "A game.")]
    examples = [Example([{"role": "user", "content": q}, {"role": "assistant", "content": a}], f"g:{i}")
                for i, (q, a) in enumerate(pairs)]  # fmt: skip
    rows = _rows(tokenizer, examples, 64)
    _teach(model, rows, 5, tokenizer.pad_token_id, nullcontext)
    with torch.no_grad():
        model.lm_head.weight.add_(0.01)  # tuned away from the teacher: a KL above zero
        kl, n, ce, n_ce = replay_kl_sum(model, rows, tokenizer.pad_token_id, with_sft=True)
        kl_alone, n_alone = replay_kl_sum(model, rows, tokenizer.pad_token_id)
        expected_ce, expected_n = target_loss_sum(model, collate(rows, tokenizer.pad_token_id))
    assert (kl.item(), n) == (pytest.approx(kl_alone.item(), rel=1e-6), n_alone) and kl.item() > 0
    assert n_ce == expected_n
    assert ce.item() == pytest.approx(expected_ce.item(), rel=1e-5)


def test_rows_are_a_chat_row_and_the_answer_as_plain_text(tokenizer):
    from contextlib import nullcontext

    ex = Example(
        [{"role": "user", "content": "Name a red fruit."}, {"role": "assistant", "content": "A cherry."}], "x:1"
    )
    cfg = ReplayConfig(enabled=True, loss="sft")
    chat, plain = build_replay(None, tokenizer, cfg, "-", 64, nullcontext, examples=[ex])
    answer = tokenizer("A cherry.", add_special_tokens=False)["input_ids"]
    kept = [t for t in chat.labels if t != -100]
    assert kept[: len(answer)] == answer and kept[-1] == tokenizer.eos_token_id  # the answer and its end of turn
    assert tokenizer.decode(plain.input_ids, skip_special_tokens=True) == "A cherry." and plain.labels[0] == -100


def test_the_bundled_model_writes_distinct_requests_once(bundled_dir, tmp_path, monkeypatch):
    from afinar.model.load import load_base

    monkeypatch.setenv("AFINAR_CACHE", str(tmp_path))
    model, tokenizer, _ = load_base("default")
    cfg = ReplayConfig(enabled=True, conversations=4, max_new_tokens=12)
    state = torch.random.get_rng_state()
    made = synthesize(model, tokenizer, cfg, "digest-a", batch_size=4)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random stream is untouched
    assert 1 <= len(made) <= 4 and len({m["user"] for m in made}) == len(made)
    assert all(len(m["user"]) >= 8 and m["assistant"] for m in made)

    def no_generation(*a, **k):
        raise AssertionError("the cached set must be read, not made again")

    monkeypatch.setattr(replay, "generate", no_generation)
    assert synthesize(model, tokenizer, cfg, "digest-a") == made
    assert len(list((tmp_path / "replay").iterdir())) == 1


def test_a_gguf_base_writes_its_conversations_in_llamacpp(bundled_dir, tmp_path, monkeypatch):
    from afinar.model.load import _default_gguf, load_tokenizer

    monkeypatch.setenv("AFINAR_CACHE", str(tmp_path))
    tokenizer = load_tokenizer("default")
    cfg = ReplayConfig(enabled=True, conversations=4, max_new_tokens=12)
    made = synthesize(None, tokenizer, cfg, "digest-b", gguf=_default_gguf())
    assert 1 <= len(made) <= 4 and len({m["user"] for m in made}) == len(made)
    assert all(len(m["user"]) >= 8 and m["assistant"] for m in made)
    # the answers are greedy: the same request answered again by llama.cpp gives the same text
    from afinar.data.render import prompt_ids
    from afinar.model.llamacpp import LlamaCpp

    ids = prompt_ids(tokenizer, [{"role": "user", "content": made[0]["user"]}])
    again = LlamaCpp(_default_gguf()).greedy(ids, 12, tokenizer.eos_token_id)
    assert tokenizer.decode(again, skip_special_tokens=True).strip() == made[0]["assistant"]


def test_the_gate_report_names_the_mitigation(tmp_path):
    from afinar.config import recipe_from_dict
    from afinar.eval.suites import _mitigation

    plain = recipe_from_dict({"name": "x", "data": {"train": "t.jsonl"}})
    assert _mitigation(plain) == "none (replay off, adapter unscaled)"
    kl = recipe_from_dict({"name": "x", "data": {"train": "t.jsonl"}, "replay": {"enabled": True, "weight": 3}})
    assert _mitigation(kl) == "replay: 2 rows per step, KL to the base x3, from 128 conversations written by the base"
