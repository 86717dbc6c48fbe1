"""Render conversations with the tokenizer's chat template into token ids and labels.

Loss is on assistant tokens only (but for turns the data gives ``weight: 0``, which stay as
context), and each assistant turn's end-of-turn token (the tokenizer's
EOS, ``<|im_end|>`` for SmolLM2 and Llama-3-style ``<|eot_id|>``) is inside the loss: a model
that never sees the stop token as a target never learns to stop.

A document (``data.format: text``) is no conversation: its text is tokenized as the base's
tokenizer encodes plain text (with the BOS where the tokenizer adds one), every token after the
first is a target, and a document longer than ``max_seq_len`` becomes several rows of that length
(its pieces; none is dropped or cut short).

Each turn is tokenized piece by piece (prompt piece, then assistant piece), the same way the
prompt is tokenized at inference, so training and generation see identical prompt tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from afinar.data.read import Example
from afinar.errors import AfinarError

__all__ = [
    "IGNORE",
    "LabeledRow",
    "PairRow",
    "RenderStats",
    "Rendered",
    "prompt_ids",
    "prompt_text",
    "render",
    "render_all",
]

IGNORE = -100
"""Label value that cross-entropy skips (PyTorch's default ``ignore_index``)."""


@dataclass
class Rendered:
    input_ids: list[int]
    labels: list[int]
    source: str

    @property
    def n_targets(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)

    @property
    def longest(self) -> int:
        return len(self.input_ids)

    @property
    def learnable(self) -> bool:
        return self.n_targets > 0

    def truncated(self, max_len: int) -> Rendered:
        """This row cut to its first ``max_len`` tokens (itself when it is not longer)."""
        if len(self.input_ids) <= max_len:
            return self
        return Rendered(self.input_ids[:max_len], self.labels[:max_len], self.source)


class _TwoRows:
    """A training example forwarded as two rows (``first``, ``second``): what a step forwards,
    how the stream groups it by length, and how it is cut."""

    first: Rendered
    second: Rendered

    @property
    def input_ids(self) -> list[int]:
        """Both rows' tokens (what a step forwards; the stream groups examples by this length)."""
        return self.first.input_ids + self.second.input_ids

    @property
    def n_targets(self) -> int:
        return self.first.n_targets + self.second.n_targets

    @property
    def longest(self) -> int:
        return max(len(self.first.input_ids), len(self.second.input_ids))

    @property
    def learnable(self) -> bool:
        """Both rows keep a target token (a pair with one side cut away teaches nothing)."""
        return self.first.n_targets > 0 and self.second.n_targets > 0

    def truncated(self, max_len: int):
        """Both rows cut to ``max_len`` tokens; a reference computed before no longer holds."""
        if self.longest <= max_len:
            return self
        return replace(self, first=self.first.truncated(max_len), second=self.second.truncated(max_len), reference=None)


@dataclass
class PairRow(_TwoRows):
    """A preference pair rendered: the conversation ending in the chosen answer (``first``) and the
    one ending in the rejected answer (``second``), labels on that answer only, and, for
    objectives with a reference model, the reference's summed log-probabilities of both answers
    (:mod:`afinar.train.preference`)."""

    first: Rendered
    second: Rendered
    source: str
    reference: tuple[float, float] | None = None


@dataclass
class LabeledRow(_TwoRows):
    """A labeled answer rendered (KTO): ``first`` the conversation ending in the answer,
    ``desirable`` its label, ``second`` the same prompt with another example's answer (the
    policy's drift from the reference is estimated on such mismatched answers), and their
    reference log-probabilities."""

    first: Rendered
    second: Rendered
    source: str
    desirable: bool = True
    reference: tuple[float, float] | None = None


def _prompt_length(row: Rendered) -> int:
    return next(i for i, label in enumerate(row.labels) if label != IGNORE)


def _mismatched(rows: list[Rendered]) -> list[Rendered]:
    """Each row's prompt with the next row's answer (the last row's with the first's)."""
    out = []
    for k, row in enumerate(rows):
        other = rows[(k + 1) % len(rows)]
        p, q = _prompt_length(row), _prompt_length(other)
        out.append(Rendered(row.input_ids[:p] + other.input_ids[q:], row.labels[:p] + other.labels[q:], row.source))
    return out


@dataclass
class RenderStats:
    rows: int = 0
    truncated: int = 0
    dropped: int = 0
    tokens: int = 0
    target_tokens: int = 0
    longest: int = 0
    split: int = 0
    """Documents longer than ``max_seq_len``, each trained on as several rows."""


def _template(tokenizer, messages, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


def prompt_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of ``messages`` followed by the assistant generation prompt."""
    return _ids(tokenizer, prompt_text(tokenizer, messages))


def prompt_text(tokenizer, messages: list[dict[str, str]]) -> str:
    """The text of ``messages`` followed by the assistant generation prompt (:func:`prompt_ids`
    tokenizes it without adding special tokens)."""
    return _template(tokenizer, messages, True)


def _pieces(row: Rendered, max_len: int) -> list[Rendered]:
    """A document's rows of at most ``max_len`` tokens, each piece's first token context only."""
    ids = row.input_ids
    return [
        Rendered(ids[at : at + max_len], [IGNORE, *ids[at + 1 : at + max_len]], f"{row.source} (piece {k + 1})")
        for k, at in enumerate(range(0, len(ids), max_len))
        if len(ids) - at >= 2  # a last piece of one token has nothing to predict
    ]


def render(tokenizer, example: Example) -> Rendered:
    """Tokenize one conversation; labels are the ids on assistant turns (but those with
    ``weight: 0``), ``IGNORE`` elsewhere. A document is tokenized whole, every token after the
    first a target.

    Raises:
        AfinarError: the chat template renders turns in a way that is not prefix-consistent.
    """
    if example.document is not None:
        ids = tokenizer(example.document, add_special_tokens=True)["input_ids"]  # as plain text: BOS where it adds one
        return Rendered(ids, [IGNORE, *ids[1:]], example.source)
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    labels: list[int] = []
    done = ""  # text already turned into tokens
    msgs = example.messages
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        prefix = _template(tokenizer, msgs[:i], True)
        full = _template(tokenizer, msgs[: i + 1], False)
        if not (prefix.startswith(done) and full.startswith(prefix)):
            raise AfinarError(f"{example.source}: the chat template does not render turns as prefixes of each other")
        prompt = _ids(tokenizer, prefix[len(done) :])
        answer = _ids(tokenizer, full[len(prefix) :])
        stop = answer.index(eos) + 1 if eos in answer else None
        if stop is None:  # the template has no end-of-turn token: supply the EOS ourselves
            answer, tail = [*answer, eos], []
        else:
            answer, tail = answer[:stop], answer[stop:]
        # Text after the stop token (the template's newline) is context, never a target;
        # after the last turn it is dropped, as generation stops at the EOS.
        tail = tail if i < len(msgs) - 1 else []
        ids += prompt + answer + tail
        targets = answer if m.get("weight", 1) else [IGNORE] * len(answer)
        labels += [IGNORE] * len(prompt) + targets + [IGNORE] * len(tail)
        done = full
    return Rendered(input_ids=ids, labels=labels, source=example.source)


def render_all(
    tokenizer, examples: list[Example], max_seq_len: int, overlong: str
) -> tuple[list[Rendered | PairRow | LabeledRow], RenderStats]:
    """Render ``examples``, then truncate or drop rows longer than ``max_seq_len``; a document
    longer than that is split into rows of that length instead.

    A truncated row that keeps no target token is dropped. A preference pair (an example with
    ``rejected``) becomes a :class:`PairRow`, a labeled answer a :class:`LabeledRow` (paired with
    the next labeled example's answer), each kept or dropped whole. Counts land in the returned
    stats (a pair is one row).
    """
    stats = RenderStats()
    out = []
    labeled = [ex for ex in examples if ex.label is not None]
    others = dict(zip(map(id, labeled), _mismatched([render(tokenizer, ex) for ex in labeled]), strict=True))
    for ex in examples:
        r = render(tokenizer, ex)
        if ex.rejected is not None:  # a preference pair: both sides, or neither
            r = PairRow(r, render(tokenizer, ex.rejected_side()), ex.source)
        elif ex.label is not None:
            r = LabeledRow(r, others[id(ex)], ex.source, ex.label)
        if ex.document is not None:
            pieces = _pieces(r, max_seq_len)
            stats.split += len(pieces) > 1
            for piece in pieces:
                _count(stats, piece)
            out += pieces
            continue
        if r.longest > max_seq_len:
            if overlong == "drop":
                stats.dropped += 1
                continue
            r = r.truncated(max_seq_len)
            if not r.learnable:
                stats.dropped += 1
                continue
            stats.truncated += 1
        _count(stats, r)
        out.append(r)
    return out, stats


def _count(stats: RenderStats, row) -> None:
    stats.rows += 1
    stats.tokens += len(row.input_ids)
    stats.target_tokens += row.n_targets
    stats.longest = max(stats.longest, row.longest)
