"""MMLU (MMLU-Redux questions), scored the way EleutherAI's lm-evaluation-harness scores it.

Prompt (the harness's ``mmlu`` format)::

    The following are multiple choice questions (with answers) about high school physics.

    [k solved examples of the same subject, each: question, choices, "Answer: X", blank line]
    <question>
    A. <choice>
    B. <choice>
    C. <choice>
    D. <choice>
    Answer:

The prediction is the letter among " A", " B", " C", " D" with the highest log-likelihood at the
next position (each letter is one token for Llama-family BPE tokenizers; checked at load). Few-shot
examples come from other questions of the same subject, never the question itself, chosen by a
seeded generator. Scored on MMLU-Redux's ``error_type == "ok"`` questions unless told otherwise.

Accuracy per subject, micro (over questions) and macro (over subjects) averages, and a 95% Wilson
interval on the micro average.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from afinar.data.batch import left_padded_batches
from afinar.errors import AfinarError
from afinar.model.adapters import as_base, folded, has_adapter

__all__ = ["DEFAULT_DATA", "Question", "compare_models", "load_questions", "mmlu_prompt", "score_mmlu", "wilson"]

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "mmlu-redux" / "mmlu_redux.jsonl"
LETTERS = "ABCD"


@dataclass(frozen=True)
class Question:
    subject: str
    question: str
    choices: tuple[str, str, str, str]
    answer: int


def load_questions(path: Path | None = None, only_ok: bool = True, limit_per_subject: int | None = None):
    """Questions from an MMLU-Redux JSONL file (see its README), in file order.

    Raises:
        AfinarError: a missing file or a malformed line (named with its line number).
    """
    path = Path(path or DEFAULT_DATA)
    if not path.is_file():
        raise AfinarError(f"{path}: MMLU data not found; pass --mmlu-data PATH to mmlu_redux.jsonl")
    out, per_subject = [], defaultdict(int)
    # split on "\n" only: questions contain Unicode line separators that str.splitlines() would cut at
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            q = Question(row["subject"], row["question"], tuple(row["choices"]), int(row["answer"]))
        except (ValueError, KeyError, TypeError) as err:
            raise AfinarError(f"{path}:{n}: not an MMLU-Redux row ({err})") from None
        if len(q.choices) != 4 or not 0 <= q.answer < 4:
            raise AfinarError(f"{path}:{n}: field 'choices' must hold 4 options and 'answer' be 0-3")
        if only_ok and row.get("error_type") != "ok":
            continue
        if limit_per_subject is not None and per_subject[q.subject] >= limit_per_subject:
            continue
        per_subject[q.subject] += 1
        out.append(q)
    return out


def _block(q: Question, with_answer: bool) -> str:
    lines = [q.question.strip(), *(f"{LETTERS[i]}. {c}" for i, c in enumerate(q.choices))]
    lines.append(f"Answer: {LETTERS[q.answer]}" if with_answer else "Answer:")
    return "\n".join(lines)


def mmlu_prompt(q: Question, shots: list[Question]) -> str:
    """The harness-format prompt for ``q`` with solved ``shots`` before it."""
    header = f"The following are multiple choice questions (with answers) about {q.subject.replace('_', ' ')}.\n\n"
    return header + "".join(_block(s, True) + "\n\n" for s in shots) + _block(q, False)


def _shots(questions: list[Question], pool: list[Question], k: int, seed: int) -> list[list[Question]]:
    if k == 0:
        return [[] for _ in questions]
    by_subject = defaultdict(list)
    for q in pool:
        by_subject[q.subject].append(q)
    rng = random.Random(seed)
    return [rng.sample([s for s in by_subject[q.subject] if s != q], k) for q in questions]


def _letter_ids(tokenizer) -> list[int]:
    ids = [tokenizer(f" {x}", add_special_tokens=False)["input_ids"] for x in LETTERS]
    if any(len(i) != 1 for i in ids):
        raise AfinarError("this tokenizer splits ' A'..' D' into several tokens; MMLU scoring needs one each")
    return [i[0] for i in ids]


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (default z)."""
    if n == 0:
        return 0.0, 0.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@torch.no_grad()
def letter_logprobs(model, tokenizer, prompts: list[str], batch_size: int = 16, autocast=None, on_batch=None):
    """log-softmax over the four letter tokens at each prompt's next position: a (N, 4) tensor."""
    letters = _letter_ids(tokenizer)
    device = next(model.parameters()).device
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    out = torch.empty(len(encoded), 4)
    for idx, ids, mask in left_padded_batches(encoded, batch_size, tokenizer.pad_token_id):
        with (autocast or nullcontext)():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), logits_to_keep=1).logits[:, -1, :]
        out[idx] = torch.log_softmax(logits.float()[:, letters], dim=-1).cpu()
        if on_batch:
            on_batch(len(idx))
    return out


def score_mmlu(
    model,
    tokenizer,
    questions: list[Question],
    shots: int = 0,
    pool: list[Question] | None = None,
    seed: int = 1234,
    batch_size: int = 16,
    autocast=None,
    on_batch=None,
) -> dict:
    """Accuracy of ``model`` on ``questions``: per subject, micro, macro, and a 95% interval."""
    examples = _shots(questions, pool or questions, shots, seed)
    prompts = [mmlu_prompt(q, s) for q, s in zip(questions, examples, strict=True)]
    logp = letter_logprobs(model, tokenizer, prompts, batch_size, autocast, on_batch)
    predicted = logp.argmax(dim=-1).tolist()
    per = defaultdict(lambda: [0, 0])
    for q, p in zip(questions, predicted, strict=True):
        per[q.subject][0] += p == q.answer
        per[q.subject][1] += 1
    correct = sum(c for c, _ in per.values())
    low, high = wilson(correct, len(questions))
    return {
        "n": len(questions),
        "shots": shots,
        "micro": correct / max(len(questions), 1),
        "macro": sum(c / n for c, n in per.values()) / max(len(per), 1),
        "ci95": [low, high],
        "by_subject": {s: c / n for s, (c, n) in sorted(per.items())},
        "predicted": predicted,
    }


def compare_models(model, tokenizer, questions: list[Question], shots: int, autocast=None, show_progress=True) -> dict:
    """MMLU for the base (adapter disabled, when ``model`` has one) and the tuned model, with the delta."""
    names = ["base", "tuned"] if has_adapter(model) else ["base"]
    out = {}
    columns = (TextColumn("[bold]mmlu {task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not show_progress) as progress:
        for name in names:
            task = progress.add_task(name, total=len(questions))
            ctx = as_base(model) if name == "base" and len(names) == 2 else folded(model)
            with ctx as m:
                result = score_mmlu(
                    m,
                    tokenizer,
                    questions,
                    shots,
                    autocast=autocast,
                    on_batch=lambda n, t=task: progress.advance(t, n),
                )
            result.pop("predicted")
            out[name] = result
    if len(names) == 2:
        out["delta_points"] = 100 * (out["tuned"]["micro"] - out["base"]["micro"])
    return out
