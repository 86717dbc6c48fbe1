"""Preference objectives (DPO, IPO, ORPO, KTO): the loss and its gradients equal the papers'
formulas computed here from each example's log-probabilities, each from a plain forward pass of
one unpadded row; the data forms and their errors; exact resume of a DPO and a KTO run."""

import json
import math
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from afinar.cli import app
from afinar.config import AdapterConfig
from afinar.data.read import Example, scan_dataset
from afinar.data.render import PairRow, render, render_all
from afinar.model.adapters import attach_adapter
from afinar.train.batches import step_batches
from afinar.train.preference import PreferenceLoss
from tests.conftest import write_jsonl, write_recipe
from tests.train.test_resume import _stopped_and_resumed_equals_whole

PAIRS = [
    ("Is the store open on Sunday?", "Yes, from 10:00 to 14:00.", "No idea."),
    ("Restart the web service on host a1.", "Do you want me to restart nginx on a1 now? (yes/no)", "rm -rf /"),
    ("Sum 2 and 3.", "5", "The sum of two and three is six, I think."),
]


def _pairs(tokenizer) -> list[PairRow]:
    out = []
    for i, (prompt, chosen, rejected) in enumerate(PAIRS):
        ex = Example([{"role": "user", "content": prompt}, {"role": "assistant", "content": chosen}], f"p:{i}",
                     rejected=rejected)  # fmt: skip
        rows, _ = render_all(tokenizer, [ex], 512, "truncate")
        out.append(rows[0])
    return out


def _plain_logp(model, row) -> tuple[torch.Tensor, int]:
    """log p(answer | prompt): one row, no padding, the model's own logits."""
    ids = torch.tensor([row.input_ids])
    logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
    total, n = logp.new_zeros(()), 0
    for t, label in enumerate(row.labels[1:]):
        if label != -100:
            total, n = total + logp[t, label], n + 1
    return total, n


def _textbook(objective: str, beta: float, c, r, c_ref, r_ref, n_c, n_r):
    if objective.endswith("+rpo"):  # RPO: plus 0.7 times the chosen answer's mean token cross-entropy
        return _textbook(objective[:-4], beta, c, r, c_ref, r_ref, n_c, n_r) + 0.7 * (-c / n_c)
    if objective == "dpo":
        z = beta * ((c - c_ref) - (r - r_ref))
        return torch.log1p(torch.exp(-z))  # -log sigmoid(z)
    if objective == "ipo":
        return ((c - c_ref) - (r - r_ref) - 1 / (2 * beta)) ** 2
    pc, pr = torch.exp(c / n_c), torch.exp(r / n_r)
    ratio = torch.log(pc / (1 - pc)) - torch.log(pr / (1 - pr))
    return -c / n_c + beta * torch.log1p(torch.exp(-ratio))


@pytest.fixture(scope="module")
def tiny_lora(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = attach_adapter(model, AdapterConfig(method="lora", r=4, alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # away from the reference, so every term moves
            p.data.normal_(0, 0.3)
    return model


@pytest.mark.parametrize("objective", ["dpo", "ipo", "orpo", "dpo+rpo", "ipo+rpo"])
def test_loss_and_gradients_equal_the_formula_from_four_logprobs(tiny_lora, tokenizer, objective):
    model, beta = tiny_lora, 0.5
    pairs = _pairs(tokenizer)
    refs = [(-40.0 - i, -55.0 + 2 * i) for i in range(len(pairs))]  # any numbers: the reference is given
    for p, ref in zip(pairs, refs, strict=True):
        p.reference = ref
    params = [p for n, p in model.named_parameters() if p.requires_grad]

    model.zero_grad()
    expected = 0
    for p, (c_ref, r_ref) in zip(pairs, refs, strict=True):
        (c, n_c), (r, n_r) = _plain_logp(model, p.first), _plain_logp(model, p.second)
        expected = expected + _textbook(objective, beta, c, r, c_ref, r_ref, n_c, n_r)
    expected = expected / len(pairs)
    expected.backward()
    want = [p.grad.clone() for p in params]

    model.zero_grad()
    loss_fn = PreferenceLoss(model, objective.removesuffix("+rpo"), beta, rpo_alpha=0.7 if "+rpo" in objective else 0)
    batches = step_batches(pairs, tokenizer.pad_token_id, packing=False, capacity=512, per_forward=2)
    assert [int(b["examples"]) for b in batches] == [2, 1]  # padded batches, one of them uneven
    total = 0
    for batch in batches:
        loss, _ = loss_fn(batch)
        (loss / len(pairs)).backward()
        total += loss.item()
    assert total / len(pairs) == pytest.approx(expected.item(), rel=1e-5)
    for got, w in zip((p.grad for p in params), want, strict=True):
        assert torch.allclose(got, w, rtol=1e-4, atol=1e-5 * w.abs().max().item())  # sums in another order
    assert max(w.abs().max().item() for w in want) > 1e-4  # the gradients are not all zero
    stats = loss_fn.take_stats()
    assert 0 <= stats["reward_accuracy"] <= 1 and loss_fn.take_stats() == {}


def test_dpo_starts_at_log_2_when_the_reference_is_the_model(tiny_model_dir, tokenizer):
    """With a fresh adapter (B = 0) the policy is the reference: every pair's loss is log 2."""
    from transformers import AutoModelForCausalLM

    from afinar.train.preference import with_reference

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    pairs = _pairs(tokenizer)
    with_reference(model, pairs, tokenizer.pad_token_id, nullcontext)
    for p in pairs:
        assert p.reference[0] == pytest.approx(_plain_logp(model, p.first)[0].item(), abs=1e-4)
    model = attach_adapter(model, AdapterConfig(method="lora", r=4, alpha=8))
    batch = step_batches(pairs, tokenizer.pad_token_id, False, 512, 8)[0]
    loss, n = PreferenceLoss(model, "dpo", 0.1)(batch)
    assert n == 3 and loss.item() / n == pytest.approx(math.log(2), abs=1e-5)


def test_preference_rows_from_jsonl_and_csv_and_their_errors(tmp_path, tokenizer):
    rows = [
        {"prompt": "Hi?", "chosen": "Hello.", "rejected": "Go away."},
        {
            "prompt": [{"role": "user", "content": "Hi?"}],
            "chosen": [{"role": "assistant", "content": "Hey."}],
            "rejected": [{"role": "assistant", "content": "No."}],
        },
        {"prompt": "Same?", "chosen": "Yes.", "rejected": "Yes."},
        {"prompt": "Spaces?", "chosen": "a  b", "rejected": "a b "},
        {"prompt": "Empty?", "chosen": "Fine.", "rejected": "  "},
        {"prompt": "List?", "chosen": [{"role": "user", "content": "x"}], "rejected": "y"},
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    examples, errors = scan_dataset(path)
    assert [e.rejected for e in examples] == ["Go away.", "No."]
    assert examples[1].messages[-1] == {"role": "assistant", "content": "Hey."}
    assert errors == [
        f"{path}:3: fields 'chosen' and 'rejected' are the same answer; a pair needs two different ones",
        f"{path}:4: fields 'chosen' and 'rejected' differ only in whitespace; a pair needs two different answers",
        f"{path}:5: field 'rejected' is empty",
        f"{path}:6: field 'chosen' must be a string or a list of one assistant message {{role, content}}",
    ]
    csv = tmp_path / "pairs.csv"
    csv.write_text('prompt,chosen,rejected\n"Hi?","Hello.","Go away."\n')
    (ex,), errors = scan_dataset(csv)
    assert errors == [] and ex.rejected == "Go away." and ex.messages[-1]["content"] == "Hello."
    rejected = render(tokenizer, ex.rejected_side())
    pair = render_all(tokenizer, [ex], 512, "truncate")[0][0]
    assert pair.second.input_ids == rejected.input_ids and pair.first.input_ids != rejected.input_ids
    # both sides share the prompt's tokens; only the answers are targets
    prompt = len(pair.first.input_ids) - pair.first.n_targets
    assert pair.first.input_ids[:prompt] == pair.second.input_ids[:prompt]


PAIR_ROWS = [{"prompt": f"Add {i} and {i + 1}.", "chosen": f"{2 * i + 1}", "rejected": f"{2 * i + 2}, roughly."}
             for i in range(16)]  # fmt: skip


def _dpo_recipe(tmp_path, model_dir, objective="dpo", rows=PAIR_ROWS):
    """6 steps of 2x2 examples from the first 12 ``rows`` (4 held out), resumable settings."""
    write_jsonl(tmp_path / "train.jsonl", rows[:12])
    write_jsonl(tmp_path / "eval.jsonl", rows[12:])
    return write_recipe(
        tmp_path / "r.yaml",
        base_model=str(model_dir),
        adapter={"r": 4, "alpha": 8, "dropout": 0.1},
        train={
            "micro_batch_size": 2,
            "grad_accum": 2,
            "max_steps": 6,
            "eval_interval": 2,
            "precision": "fp32",
            "seed": 3,
            "objective": objective,
            "beta": 0.5,
        },
        eval={"metric": "none", "benchmarks": {"enabled": False}},
    )


def test_a_dpo_run_resumes_exactly_and_logs_rewards(tmp_path, tiny_model_dir):
    recipe = _dpo_recipe(tmp_path, tiny_model_dir)
    _stopped_and_resumed_equals_whole(recipe, tmp_path, stop=3)
    full, part = tmp_path / "full", tmp_path / "part"
    metrics = [json.loads(x) for x in (full / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "loss" in m]
    assert len(steps) == 6 and steps[0]["loss"] == pytest.approx(math.log(2), abs=1e-3)  # policy = reference
    assert all(0 <= m["reward_accuracy"] <= 1 and "reward_margin" in m for m in steps)
    assert steps[0]["examples"] == 4  # pairs per step
    evals = [m for m in metrics if "eval_loss" in m]
    assert evals and all("eval_reward_accuracy" in m for m in evals)
    resumed = [json.loads(x) for x in (part / "metrics.jsonl").read_text().splitlines()]
    assert [m["loss"] for m in resumed if "loss" in m] == pytest.approx([m["loss"] for m in steps], rel=1e-6)


def test_objective_and_data_must_match(tmp_path, tiny_model_dir):
    recipe = _dpo_recipe(tmp_path, tiny_model_dir, objective="sft")
    result = CliRunner().invoke(app, ["train", "--quiet", str(recipe), "--run-dir", str(tmp_path / "a")])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "train.jsonl:1: train.objective sft trains on conversations" in said
    write_jsonl(tmp_path / "train.jsonl", [{"instruction": "Hi", "output": "Hello"}] * 4)
    recipe = _dpo_recipe(tmp_path, tiny_model_dir)
    write_jsonl(tmp_path / "train.jsonl", [{"instruction": f"Hi {i}", "output": "Hello"} for i in range(4)])
    result = CliRunner().invoke(app, ["train", "--quiet", str(recipe), "--run-dir", str(tmp_path / "b")])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "train.jsonl:1: train.objective dpo trains on preference pairs" in said


LABELED = [
    ("Is the store open on Sunday?", "Yes, from 10:00 to 14:00.", True),
    ("Restart the web service on host a1.", "rm -rf /", False),
    ("Sum 2 and 3.", "5", True),
    ("Sum 4 and 4.", "Nine, more or less.", False),
]


def _labeled(tokenizer) -> list:
    from afinar.data.render import LabeledRow

    examples = [Example([{"role": "user", "content": q}, {"role": "assistant", "content": a}], f"k:{i}", label=good)
                for i, (q, a, good) in enumerate(LABELED)]  # fmt: skip
    rows, _ = render_all(tokenizer, examples, 512, "truncate")
    assert all(isinstance(r, LabeledRow) for r in rows)
    return rows


def test_kto_loss_and_gradients_equal_the_formula(tiny_lora, tokenizer):
    """KTO (Ethayarajh et al. 2024): each answer's reward against the reference, the drift z
    estimated on each prompt with the next example's answer over the micro-batch, no gradient
    through z; undesirable answers weighted 1.5."""
    model, beta = tiny_lora, 0.5
    rows = _labeled(tokenizer)
    with torch.no_grad():  # a reference near the policy, so that no sigmoid saturates
        for i, row in enumerate(rows):
            row.reference = (_plain_logp(model, row.first)[0].item() + 0.7 - 0.5 * i,
                             _plain_logp(model, row.second)[0].item() - 1.1 + 0.4 * i)  # fmt: skip
    # the mismatched row: this prompt, the next example's answer
    nxt = render(tokenizer, Example([{"role": "user", "content": LABELED[0][0]},
                                     {"role": "assistant", "content": LABELED[1][1]}], "x"))  # fmt: skip
    assert rows[0].second.input_ids == nxt.input_ids and rows[0].second.labels == nxt.labels
    params = [p for n, p in model.named_parameters() if p.requires_grad]

    model.zero_grad()
    expected = 0
    for group in (rows[:2], rows[2:]):  # the micro-batches below: z is estimated per micro-batch
        drifts = [_plain_logp(model, r.second)[0] - r.reference[1] for r in group]
        z = torch.clamp(sum(drifts) / len(drifts), min=0).detach()
        labels = [good for _, _, good in (LABELED[:2] if group is rows[:2] else LABELED[2:])]
        for r, good in zip(group, labels, strict=True):
            reward = _plain_logp(model, r.first)[0] - r.reference[0]
            weight = 1.0 if good else 1.5
            expected = expected + weight * (1 - torch.sigmoid(beta * ((reward - z) if good else (z - reward))))
    expected = expected / len(rows)
    expected.backward()
    want = [p.grad.clone() for p in params]

    model.zero_grad()
    loss_fn = PreferenceLoss(model, "kto", beta, kto_weights=(1.0, 1.5))
    total = 0
    for batch in step_batches(rows, tokenizer.pad_token_id, packing=False, capacity=512, per_forward=2):
        loss, _ = loss_fn(batch)
        (loss / len(rows)).backward()
        total += loss.item()
    assert total / len(rows) == pytest.approx(expected.item(), rel=1e-5)
    for got, w in zip((p.grad for p in params), want, strict=True):
        assert torch.allclose(got, w, rtol=1e-4, atol=1e-5 * w.abs().max().item())
    assert max(w.abs().max().item() for w in want) > 1e-4
    stats = loss_fn.take_stats()
    assert set(stats) == {"chosen_reward", "rejected_reward", "reward_margin"}


def test_labeled_rows_and_their_errors(tmp_path):
    rows = [
        {"prompt": "Hi?", "completion": "Hello.", "label": True},
        {"prompt": "Hi?", "completion": "Go away.", "label": False},
        {"prompt": "Hi?", "completion": "Hey.", "label": "yes"},
        {"prompt": "Hi?", "completion": " ", "label": True},
    ]
    path = write_jsonl(tmp_path / "labeled.jsonl", rows)
    examples, errors = scan_dataset(path)
    assert [e.label for e in examples] == [True, False]
    assert errors == [
        f"{path}:3: field 'label' is 'yes'; accepted: true (a desirable answer) or false",
        f"{path}:4: field 'completion' is empty",
    ]
    csv = tmp_path / "labeled.csv"
    csv.write_text("prompt,completion,label\nHi?,Hello.,true\nHi?,Go away.,0\n")
    examples, errors = scan_dataset(csv)
    assert errors == [] and [e.label for e in examples] == [True, False]


LABELED_ROWS = [{"prompt": f"Add {i} and {i + 1}.", "completion": f"{2 * i + 1}" if i % 3 else "No idea.",
                 "label": bool(i % 3)} for i in range(16)]  # fmt: skip


def test_a_kto_run_resumes_exactly(tmp_path, tiny_model_dir):
    recipe = _dpo_recipe(tmp_path, tiny_model_dir, "kto", LABELED_ROWS)
    _stopped_and_resumed_equals_whole(recipe, tmp_path, stop=3)
    metrics = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "loss" in m]
    assert len(steps) == 6 and steps[0]["loss"] == pytest.approx(0.5, abs=1e-3)  # reward 0, drift 0: 1 - sigmoid(0)


def test_the_progress_bar_shows_reward_accuracy_and_margin():
    from afinar.train.progress import TrainProgress

    with TrainProgress(3, enabled=True) as bar:
        bar.update(1, 0.5, 100.0, 0.1, {"reward_accuracy": 0.75, "reward_margin": 0.2})
        assert bar._progress.tasks[0].fields["rewards"] == "  reward acc 75% margin +0.200"
        bar.update(2, 0.4, 100.0, 0.1, {"chosen_reward": 0.1, "rejected_reward": -0.1, "reward_margin": 0.2})  # kto
        assert bar._progress.tasks[0].fields["rewards"] == "  reward margin +0.200"
        bar.update(3, 0.3, 100.0, 0.1)  # sft: nothing
        assert bar._progress.tasks[0].fields["rewards"] == ""


def test_pairs_and_labeled_answers_from_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pairs = pa.table({"prompt": ["Hi?"], "chosen": ["Hello."], "rejected": ["Go away."]})
    pq.write_table(pairs, tmp_path / "p.parquet")
    (pair,), errors = scan_dataset(tmp_path / "p.parquet")
    assert errors == [] and pair.rejected == "Go away." and pair.messages[-1]["content"] == "Hello."
    table = pa.table({"prompt": [[{"role": "user", "content": "Hi?"}]],
                      "completion": [[{"role": "assistant", "content": "Hello."}]], "label": [False]})  # fmt: skip
    pq.write_table(table, tmp_path / "k.parquet")
    (labeled,), errors = scan_dataset(tmp_path / "k.parquet")
    assert errors == [] and labeled.label is False
    assert labeled.messages == [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]


def test_recipe_refuses_what_preference_runs_cannot_do():
    from pydantic import ValidationError

    from afinar.config import TrainConfig

    with pytest.raises(ValidationError, match="kto_weights must both be positive"):
        TrainConfig(objective="kto", kto_weights=(1.0, 0.0))
    with pytest.raises(ValidationError, match="objective dpo trains on pairs, which are not packed"):
        TrainConfig(objective="dpo", packing=True)
    with pytest.raises(ValidationError, match="rpo_alpha adds a term to dpo and ipo; objective kto has none"):
        TrainConfig(objective="kto", rpo_alpha=1.0)


def test_an_undesirable_answer_is_no_reference_for_the_domain_eval():
    from afinar.config import EvalConfig
    from afinar.eval.run import scored_examples

    def row(answer, label):
        return Example([{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": answer}], "x", label=label)

    rows = [row("Hello.", True), row("Go away.", False), row("Hey.", None)]
    scored = scored_examples(rows, EvalConfig(metric="exact"))
    assert [ex.messages[-1]["content"] for ex in scored] == ["Hello.", "Hey."]


def test_dpo_starts_from_an_sft_run_with_the_sft_model_as_reference(tmp_path, tiny_model_dir, monkeypatch):
    """``base_model:`` a run directory: the run's adapter merged into its base (once, cached) is
    the base, so it answers as the SFT run does, and DPO's reference is the SFT model (the first
    step's loss is log 2); lineage names the SFT run by its model hash. A run its gate did not
    promote (here: not evaluated yet) is no base."""
    from transformers import AutoModelForCausalLM

    from afinar.lineage import model_hash
    from afinar.model.load import resolve_base
    from afinar.model.tuned import load_tuned
    from tests.train.test_resume import _train

    monkeypatch.setenv("AFINAR_CACHE", str(tmp_path / "cache"))
    sft_dir = tmp_path / "sft"
    sft_dir.mkdir()
    write_jsonl(sft_dir / "train.jsonl", [{"instruction": r["prompt"], "output": r["chosen"]} for r in PAIR_ROWS])
    write_jsonl(sft_dir / "eval.jsonl", [{"instruction": "Add 1 and 1.", "output": "2"}])
    gate = {"min": {"exact_match": 0.0}}  # any measured value passes: promoted once evaluated
    sft_recipe = write_recipe(sft_dir / "r.yaml", base_model=str(tiny_model_dir),
                              train={"max_steps": 3, "precision": "fp32", "seed": 1},
                              eval={"metric": "exact", "max_new_tokens": 4, "gate": gate})  # fmt: skip
    _train(str(sft_recipe), "--run-dir", str(sft_dir / "run"))

    base = resolve_base(str(sft_dir / "run"))
    assert base.run == sft_dir / "run" and Path(base.path).is_relative_to(tmp_path / "cache")
    merged = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    tuned, _, _ = load_tuned(sft_dir / "run")
    ids = torch.tensor([[1, 5, 9, 13, 2, 7]])
    with torch.no_grad():
        want, got = tuned(input_ids=ids).logits, merged(input_ids=ids).logits
        plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)(input_ids=ids).logits
    assert (got - want).abs().max().item() < 1e-4 < (plain - want).abs().max().item()  # the SFT model, not its base
    assert resolve_base(str(sft_dir / "run")).weights_file.stat().st_mtime_ns == base.weights_file.stat().st_mtime_ns

    recipe = _dpo_recipe(tmp_path, tiny_model_dir)
    text = recipe.read_text().replace(f"base_model: {tiny_model_dir}", f"base_model: {sft_dir / 'run'}")
    recipe.write_text(text)
    refused = CliRunner().invoke(app, ["train", "--quiet", str(recipe), "--run-dir", str(tmp_path / "dpo")])
    assert refused.exit_code == 2 and "no promotion gate decision" in refused.output  # not evaluated yet
    evaluated = CliRunner().invoke(app, ["eval", "run", str(sft_dir / "run"), "--quiet"])
    assert evaluated.exit_code == 0, evaluated.output
    _train(str(recipe), "--run-dir", str(tmp_path / "dpo"))
    steps = [json.loads(x) for x in (tmp_path / "dpo" / "metrics.jsonl").read_text().splitlines()]
    assert steps[0]["loss"] == pytest.approx(math.log(2), abs=1e-3)
    lineage = json.loads((tmp_path / "dpo" / "lineage.json").read_text())["base_model"]
    assert lineage["run"]["model_hash"] == model_hash(sft_dir / "run") and lineage["sha256"]


def test_a_run_that_cannot_be_merged_is_no_base(tmp_path):
    from afinar.errors import AfinarError
    from afinar.model.load import resolve_base

    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    write_recipe(run / "recipe.yaml", adapter={"method": "prompt", "virtual_tokens": 4})
    with pytest.raises(AfinarError, match="a prompt adapter cannot be merged into its base's weights"):
        resolve_base(str(run))
    (run / "adapter").rmdir()
    with pytest.raises(AfinarError, match="the run has no adapter/ folder"):
        resolve_base(str(run))
