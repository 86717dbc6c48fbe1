"""Replay: keep the base model's general behaviour while the domain is learned.

A narrow fine-tune (one JSON schema, one system prompt) moves the weights wherever the domain
loss pulls them, and nothing pulls them back toward what the base could do elsewhere: measured on
the retail demo, HellaSwag and ARC-Easy fell by 5 to 9 points. Replay adds, to every optimizer
step, a few rows of *general* text with a loss that holds the model there.

**The data is the base model's own** (Magpie, Xu et al. 2024, "Magpie: Alignment Data Synthesis
from Scratch by Prompting Aligned LLMs with Nothing"): given only the chat template up to an
empty user turn, an instruct model samples a plausible user request; answered by the same model,
that is a general conversation, made offline, with no dataset to ship or license. The set is
cached per base model and settings under ``$AFINAR_CACHE/replay/``, so only the first run of a
base pays for it. Each conversation gives two rows: the chat as the template renders it, and the
answer alone as plain text (general-ability benchmarks read plain text, not chats).

**The loss** (``replay.loss``):

- ``kl``: ``KL(base || tuned)`` at every position of the replay rows, summed over the vocabulary
  (knowledge distillation, Hinton et al. 2015, toward the model's own starting point, as in
  "Learning without Forgetting", Li & Hoiem 2016). The base's distribution is computed once,
  before the adapter exists, and kept as its ``top_k`` most likely tokens per position plus one
  bucket for the rest of its mass: ``sum_k p_k (log p_k - log q_k) + p_rest (log p_rest - log
  q_rest)``, exact for that coarsened distribution, zero at the start of training.
- ``sft``: cross-entropy on the base's own answers (chat rows: the answer tokens; plain rows:
  every token), mixed in like domain rows: plain replay.
- ``kl+sft``: both, from one forward pass over the replay rows (each a mean over its own
  positions, summed): the distribution held where the base had it, and the base's answers
  written as it wrote them.

Either term is a mean per replay token and is added to the domain loss (a mean per target token)
times ``replay.weight``.
"""

from __future__ import annotations

import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from afinar.atomic import atomic_write
from afinar.config import ReplayConfig
from afinar.data.batch import collate
from afinar.data.read import Example
from afinar.data.render import IGNORE, Rendered, prompt_ids, render
from afinar.errors import AfinarError
from afinar.model.adapters import causal_lm_of, decoder_states
from afinar.model.cache import base_result_path, digest_of
from afinar.model.generate import generate
from afinar.model.llamacpp import llamacpp_server
from afinar.model.load import cache_dir

__all__ = ["ReplayRow", "build_replay", "replay_kl_sum", "synthesize"]

_MARK = "\x00afinar-user-turn\x00"
_VERSION = 1
"""Bumped when the synthesis changes, so caches made by an older afinar are not reused."""


@dataclass
class ReplayRow(Rendered):
    """A replay row: ``labels`` for ``sft``; for ``kl`` the base's ``top_k`` next-token ids and
    log-probabilities at each position but the last, ``(T - 1, k)`` each."""

    teacher_ids: torch.Tensor | None = None
    teacher_logp: torch.Tensor | None = None


def _user_prefix(tokenizer) -> str:
    """The chat template's text up to where a user's words would start (its default system
    prompt, if any, and the user header)."""
    full = tokenizer.apply_chat_template([{"role": "user", "content": _MARK}], tokenize=False)
    return full[: full.index(_MARK)]


def _cache_key(base_digest: str, tokenizer, cfg: ReplayConfig, writer: str) -> str:
    what = {
        "version": _VERSION,
        "writer": writer,
        "base": base_digest,
        "template": tokenizer.chat_template,
        "conversations": cfg.conversations,
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "seed": cfg.seed,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:24]


@torch.no_grad()
def _sample_requests(model, tokenizer, n: int, cfg: ReplayConfig, batch_size: int) -> list[str]:
    """``n`` distinct user requests sampled from an empty user turn."""
    prefix = tokenizer(_user_prefix(tokenizer), add_special_tokens=False, return_tensors="pt")["input_ids"]
    device = next(model.parameters()).device
    out: list[str] = []
    tries = 0
    while len(out) < n and tries < 4 * n:  # a model that repeats itself ends with fewer
        ids = prefix.repeat(batch_size, 1).to(device)
        gen = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            do_sample=True,
            temperature=cfg.temperature,
            top_p=1.0,
            top_k=0,
            max_new_tokens=64,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        tries += batch_size
        # a request cut off before its end-of-turn token is not a whole turn
        ended = [row[: row.index(tokenizer.eos_token_id)] for row in gen[:, ids.shape[1] :].tolist()
                 if tokenizer.eos_token_id in row]  # fmt: skip
        out = _distinct([*out, *(tokenizer.decode(r, skip_special_tokens=True).strip() for r in ended)], n)
    return out


def _in_llamacpp(gguf: Path, tokenizer, cfg: ReplayConfig, parallel: int = 4) -> tuple[list[str], list[str]]:
    """Requests and answers written by llama.cpp from the base's own GGUF file (the same weights,
    several times faster than ``transformers.generate`` on a CPU): ``parallel`` slots at once."""
    width = cfg.max_new_tokens + 256
    server = llamacpp_server(gguf, width * parallel, parallel, why="replay from a GGUF base needs llama.cpp")
    prefix = tokenizer(_user_prefix(tokenizer), add_special_tokens=False)["input_ids"]

    def ask(i: int) -> str | None:
        request = {"prompt": prefix, "n_predict": 64, "temperature": cfg.temperature, "top_k": 0, "top_p": 1.0,
                   "seed": cfg.seed * 1_000_003 + i, "cache_prompt": False}  # fmt: skip
        choice = server.handle_completions(request)["choices"][0]
        return choice["text"].strip() if choice.get("finish_reason") == "stop" else None  # cut off: not a turn

    def answer(text: str) -> str:
        ids = prompt_ids(tokenizer, [{"role": "user", "content": text}])[-256:]
        request = {"prompt": ids, "n_predict": cfg.max_new_tokens, "temperature": 0.0, "top_k": 1,
                   "cache_prompt": False}  # fmt: skip
        return server.handle_completions(request)["choices"][0]["text"]

    with ThreadPoolExecutor(parallel) as pool:
        asked, requests = 0, []
        while len(requests) < cfg.conversations and asked < 4 * cfg.conversations:  # rounds: cut-offs and repeats
            more = cfg.conversations - len(requests) + parallel
            requests = _distinct([*requests, *pool.map(ask, range(asked, asked + more))], cfg.conversations)
            asked += more
        return requests, list(pool.map(answer, requests))


def _distinct(texts, n: int) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        if text and len(text) >= 8:
            seen.setdefault(text)
        if len(seen) == n:
            break
    return list(seen)


def synthesize(
    model, tokenizer, cfg: ReplayConfig, base_digest: str, gguf: Path | None = None, batch_size: int = 32
) -> list[dict]:
    """General conversations ``[{"user", "assistant"}]`` that the base writes itself (requests
    sampled at ``cfg.temperature``, answers greedy), or the cached set for the same base and
    settings: in llama.cpp when the base is a ``gguf`` file, else with ``model`` in transformers
    (on its own seeded random stream; the caller's is left as it was)."""
    writer = "llama.cpp" if gguf is not None else "transformers"
    path = cache_dir() / "replay" / f"{_cache_key(base_digest, tokenizer, cfg, writer)}.jsonl"
    if path.is_file():
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if gguf is not None:
        requests, answers = _in_llamacpp(gguf, tokenizer, cfg)
    else:
        was_training = model.training
        model.eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            requests = _sample_requests(model, tokenizer, cfg.conversations, cfg, batch_size)
        conversations = [[{"role": "user", "content": q}] for q in requests]
        answers = generate(model, tokenizer, conversations, cfg.max_new_tokens, batch_size)
        model.train(was_training)
    rows = [{"user": q, "assistant": a.strip()} for q, a in zip(requests, answers, strict=True) if a.strip()]
    with atomic_write(path) as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())
    return rows


def _rows(tokenizer, examples: list[Example], max_seq_len: int) -> list[ReplayRow]:
    """Each conversation as a chat row (labels on the answers) and its last answer as plain text
    (labels on every token after the first), a document as plain text alone, cut to ``max_seq_len``."""
    out = []
    for ex in examples:
        if ex.document is not None:  # a document of the user's replay.data: plain text only
            ids = render(tokenizer, ex).input_ids[:max_seq_len]
            out.append(ReplayRow(ids, [IGNORE, *ids[1:]], f"{ex.source}:text"))
            continue
        chat = render(tokenizer, ex).truncated(max_seq_len)
        answer = next(m["content"] for m in reversed(ex.messages) if m["role"] == "assistant")
        plain = tokenizer(answer, add_special_tokens=True)["input_ids"][:max_seq_len]
        out.append(ReplayRow(chat.input_ids, chat.labels, f"{ex.source}:chat"))
        out.append(ReplayRow(plain, [IGNORE, *plain[1:]], f"{ex.source}:text"))
    return [r for r in out if len(r.input_ids) >= 2]


_TEACH_BATCH = 32
"""Rows per forward pass of the teacher (part of its cache key: a batch's padding changes bf16 sums)."""


def _teach_kept(model, tokenizer, rows: list[ReplayRow], k: int, autocast, base_id: str, precision: str) -> None:
    """:func:`_teach`, kept per base in ``$AFINAR_CACHE/replay-teacher/`` (see
    :mod:`afinar.model.cache`): the base's distributions on the same rows are the same for every
    run, so only the first run (or ``afinar prepare``) computes them."""
    path = base_result_path(
        "replay-teacher", model, tokenizer, base_id, precision, ".pt",
        version=_VERSION, rows=digest_of([r.input_ids for r in rows]), top_k=k, batch_size=_TEACH_BATCH,
    )  # fmt: skip
    try:
        kept = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError):
        kept = None
    if isinstance(kept, dict) and len(kept.get("ids", ())) == len(rows) == len(kept.get("logp", ())):
        for row, ids, logp in zip(rows, kept["ids"], kept["logp"], strict=True):
            row.teacher_ids, row.teacher_logp = ids, logp
        return
    _teach(model, rows, k, tokenizer.pad_token_id, autocast)
    buffer = io.BytesIO()
    torch.save({"ids": [r.teacher_ids for r in rows], "logp": [r.teacher_logp for r in rows]}, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getvalue())


@torch.no_grad()
def _teach(model, rows: list[ReplayRow], k: int, pad_id: int, autocast, batch_size: int = _TEACH_BATCH) -> None:
    """Fill each row's ``teacher_ids`` / ``teacher_logp``: the base's ``k`` most likely next tokens
    and their log-probabilities at every position but the last."""
    device = next(model.parameters()).device
    head = causal_lm_of(model).lm_head
    for s in range(0, len(rows), batch_size):
        chunk = rows[s : s + batch_size]
        ids = collate(chunk, pad_id)["input_ids"].to(device)
        with autocast():
            hidden = decoder_states(model, ids, use_cache=False)  # right-padded: causal attention is enough
            for r, row in enumerate(chunk):
                n = len(row.input_ids) - 1
                logp = torch.log_softmax(head(hidden[r, :n]).float(), dim=-1)
                top = logp.topk(k, dim=-1)
                row.teacher_ids, row.teacher_logp = top.indices.cpu(), top.values.cpu()


def build_replay(
    model,
    tokenizer,
    cfg: ReplayConfig,
    base_digest: str,
    max_seq_len: int,
    autocast,
    examples: list | None = None,
    gguf: Path | None = None,
    base_id: str | None = None,
    precision: str | None = None,
) -> list[ReplayRow]:
    """The replay rows for a run, from the base ``model`` before any adapter is attached: the
    given ``examples`` (``replay.data``, read and masked by the caller), else the conversations
    the base writes (cached; in llama.cpp when it is a ``gguf`` file), rendered; for ``kl`` with
    the base's distributions (from ``model``, in PyTorch, under ``autocast``), cached too for
    the base's own conversations when ``base_id`` names its weights as loaded (``precision`` is
    ``autocast``'s name).

    Raises:
        AfinarError: the base wrote no usable conversation (not an instruct model).
    """
    own = examples is None
    if own:
        pairs = synthesize(model, tokenizer, cfg, base_digest, gguf)
        if not pairs:
            raise AfinarError(
                "replay: the base model wrote no complete request from an empty user turn (it needs to be an "
                "instruct model with a chat template); give replay.data (your own general conversations) or "
                "set replay.enabled: false"
            )
        examples = [Example([{"role": "user", "content": p["user"]}, {"role": "assistant", "content": p["assistant"]}],
                            f"replay:{i}") for i, p in enumerate(pairs)]  # fmt: skip
    rows = _rows(tokenizer, examples, max_seq_len)
    if cfg.loss in ("kl", "kl+sft"):
        if own and base_id is not None:  # never the user's replay.data: the cache is plaintext
            _teach_kept(model, tokenizer, rows, cfg.top_k, autocast, base_id, str(precision))
        else:
            _teach(model, rows, cfg.top_k, tokenizer.pad_token_id, autocast)
    return rows


def _kl_sum(logits: torch.Tensor, teacher_ids: torch.Tensor, teacher_logp: torch.Tensor) -> torch.Tensor:
    """Summed ``KL(base || tuned)`` over positions, the base known by its top ``k`` and a rest
    bucket. ``logits``: (N, vocab) of the tuned model; ``teacher_*``: (N, k)."""
    logq = torch.log_softmax(logits.float(), dim=-1)
    q_top = logq.gather(1, teacher_ids)  # (N, k)
    p_top = teacher_logp.exp()
    p_rest = (1 - p_top.sum(-1)).clamp(min=1e-12)
    q_rest = (1 - q_top.exp().sum(-1)).clamp(min=1e-12)
    kl = (p_top * (teacher_logp - q_top)).sum(-1) + p_rest * (p_rest.log() - q_rest.log())
    return kl.sum()


def replay_kl_sum(model, rows: list[ReplayRow], pad_id: int, with_sft: bool = False):
    """The ``kl`` replay term for one step's ``rows``, summed, and how many positions it sums over;
    with ``with_sft`` also the ``sft`` term (cross-entropy on the rows' labels) from the same
    logits, summed, and its target count: ``(kl, n, ce, n_targets)``. Rows are right-padded:
    under causal attention no real token sees the padding, so no mask is needed. (``sft`` alone
    needs nothing of its own: the loop's target loss on the rows' labels.)"""
    device = next(model.parameters()).device
    ids = collate(rows, pad_id)["input_ids"].to(device)
    hidden = decoder_states(model, ids, use_cache=False)
    n = [len(r.input_ids) - 1 for r in rows]
    states = torch.cat([hidden[i, : n[i]] for i in range(len(rows))])
    teacher_ids = torch.cat([r.teacher_ids for r in rows]).to(device)
    teacher_logp = torch.cat([r.teacher_logp for r in rows]).to(device)
    logits = causal_lm_of(model).lm_head(states)
    kl = _kl_sum(logits, teacher_ids, teacher_logp)
    if not with_sft:
        return kl, sum(n)
    labels = torch.cat([torch.as_tensor(r.labels[1:], dtype=torch.long) for r in rows]).to(device)
    ce = torch.nn.functional.cross_entropy(logits.float(), labels, ignore_index=IGNORE, reduction="sum")
    return kl, sum(n), ce, int((labels != IGNORE).sum())
