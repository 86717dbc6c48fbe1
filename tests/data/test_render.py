"""Label masking with the bundled model's real tokenizer and chat template."""

from afinar.data.batch import collate, epoch_order
from afinar.data.read import Example
from afinar.data.render import IGNORE, render, render_all


def _ex(*turns):
    roles = ["user", "assistant"] * len(turns)
    return Example(messages=[{"role": r, "content": c} for r, c in zip(roles, turns, strict=False)], source="x:1")


def test_prompt_is_masked_and_eos_is_a_target(tokenizer):
    r = render(tokenizer, _ex("What is 2+2?", "4"))
    eos = tokenizer.eos_token_id
    targets = [t for t in r.labels if t != IGNORE]
    # The target is exactly the answer followed by the end-of-turn token.
    assert targets == tokenizer("4", add_special_tokens=False)["input_ids"] + [eos]
    assert r.input_ids[-1] == eos and r.labels[-1] == eos
    # Everything before the answer is prompt: masked, and it ends with the generation prompt.
    first = next(i for i, t in enumerate(r.labels) if t != IGNORE)
    assert all(t == IGNORE for t in r.labels[:first])
    prompt_text = tokenizer.decode(r.input_ids[:first])
    assert prompt_text.endswith("<|im_start|>assistant\n") and "What is 2+2?" in prompt_text
    assert prompt_text == tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+2?"}], tokenize=False, add_generation_prompt=True
    )


def test_every_assistant_turn_is_a_target_and_no_user_turn_is(tokenizer):
    r = render(tokenizer, _ex("hi", "hello", "bye", "see you"))
    text = tokenizer.decode([t for t in r.labels if t != IGNORE])
    assert text == "hello<|im_end|>see you<|im_end|>"
    assert tokenizer.decode(r.input_ids) == tokenizer.apply_chat_template(
        _ex("hi", "hello", "bye", "see you").messages, tokenize=False
    ).rstrip("\n")


def test_overlong_rows_are_truncated_or_dropped_and_counted(tokenizer):
    long = _ex("word " * 60, "answer " * 30)
    short = _ex("hi", "hello")
    n_long = len(render(tokenizer, long).input_ids)
    rows, stats = render_all(tokenizer, [long, short], max_seq_len=n_long - 5, overlong="truncate")
    assert stats.truncated == 1 and stats.dropped == 0 and len(rows[0].input_ids) == n_long - 5
    rows, stats = render_all(tokenizer, [long, short], max_seq_len=n_long - 5, overlong="drop")
    assert stats.dropped == 1 and len(rows) == 1
    # Truncated so early that no target survives: dropped even under 'truncate'.
    prompt_len = render(tokenizer, long).labels.index(next(t for t in render(tokenizer, long).labels if t != IGNORE))
    rows, stats = render_all(tokenizer, [long], max_seq_len=prompt_len, overlong="truncate")
    assert rows == [] and stats.dropped == 1


def test_collate_pads_right_with_masked_labels(tokenizer):
    a, b = render(tokenizer, _ex("hi", "hello")), render(tokenizer, _ex("a longer question here", "ok"))
    batch = collate([a, b], pad_id=tokenizer.pad_token_id)
    n = len(a.input_ids)
    assert batch["input_ids"].shape == (2, max(n, len(b.input_ids)))
    assert batch["attention_mask"][0].sum() == n and (batch["labels"][0, n:] == IGNORE).all()


def test_epoch_order_covers_every_row_once_and_depends_only_on_seed_and_epoch():
    lengths = [5, 9, 3, 7, 1, 8, 2, 6, 4, 10, 11]
    order = epoch_order(lengths, 3, seed=1, epoch=0, group=2)
    assert sorted(i for b in order for i in b) == list(range(11))
    assert order == epoch_order(lengths, 3, seed=1, epoch=0, group=2)
    assert order != epoch_order(lengths, 3, seed=1, epoch=1, group=2)
