"""A local prompt-injection classifier: logistic regression over a static sentence embedding and
hashed n-grams, scored on windows of the prompt.

- **Embedding**: the token table of ``guard_encoder.npz``, all-MiniLM-L6-v2 distilled into one
  vector per vocabulary token (``bench/guard_encoder.py``: the model2vec method, PCA to 128
  dimensions, int8). A window's embedding is the mean of its tokens' rows, of unit length:
  paraphrases that share no word still land close ("the text you received before
  this conversation" and "your system prompt"), which n-grams cannot see.
- **N-grams** of the normalized text (see :func:`afinar.serve.rules.normalize`): word unigrams and
  bigrams and character 3- to 5-grams inside word boundaries, hashed (CRC-32) into ``2**16``
  buckets, presence only, unit L2 norm.
- **Windows**: a long prompt is scored on windows of ``WINDOW`` tokens (half-overlapping) and its
  score is the highest, so an injection in the middle of a pasted document is not averaged away.

The model is ``sigmoid(w . x + b)``, fitted offline (``bench/guard_quality.py --train`` writes
``injection_model.npz`` beside this file, with the threshold set at a stated false-positive rate
on prompts it never trained on). No network, no GPU, no transformer at serving time: a prompt
costs a tokenization and a few table lookups.
"""

from __future__ import annotations

import itertools
import re
import zlib
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from afinar.errors import AfinarError
from afinar.serve.rules import normalize

__all__ = ["ENCODER_FILE", "MIN_WORDS", "MODEL_FILE", "WINDOW", "InjectionClassifier", "StaticEncoder", "features"]

BUCKETS = 2**16
ENCODER_FILE = Path(__file__).with_name("guard_encoder.npz")
MODEL_FILE = Path(__file__).with_name("injection_model.npz")
WINDOW = 128
"""Tokens per scored window; windows overlap by half."""
MIN_WORDS = 3
"""Fewer words than this ("Thanks!", "Continue") are too little for a model of words to judge: such
a text scores 0 and only the rules see it (no attack of the corpus or the hold-outs is that short)."""
_WORD = re.compile(r"\w+|[^\w\s]")
_WORDS_ONLY = re.compile(r"\w+")


@dataclass
class StaticEncoder:
    table: np.ndarray
    """``[vocab, dims]`` float32: one row per token of the tokenizer."""
    tokenizer: Tokenizer

    @classmethod
    @cache
    def load(cls, path: Path = ENCODER_FILE) -> StaticEncoder:
        if not path.exists():
            raise AfinarError(f"{path} is missing: the prompt guard needs it (python bench/guard_encoder.py writes it)")
        data = np.load(path)
        tokenizer = Tokenizer.from_str(str(data["tokenizer"]))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return cls(data["table"].astype(np.float32) * data["scales"][:, None], tokenizer)

    @property
    def dims(self) -> int:
        return self.table.shape[1]

    def windows(self, text: str) -> list[tuple[np.ndarray, str]]:
        """``(embedding, text)`` of each window of ``text``: one for a prompt of up to ``WINDOW``
        tokens, else half-overlapping windows of ``WINDOW`` tokens."""
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        ids, offsets = enc.ids, enc.offsets
        if len(ids) <= WINDOW:
            return [(self.embed(ids), text)]
        out = []
        for start in range(0, len(ids) - WINDOW // 2, WINDOW // 2):
            end = min(start + WINDOW, len(ids))
            out.append((self.embed(ids[start:end]), text[offsets[start][0] : offsets[end - 1][1]]))
        return out

    def embed(self, ids: list[int]) -> np.ndarray:
        """The mean of the tokens' rows, scaled to unit length (zeros for no token)."""
        if not ids:
            return np.zeros(self.dims, dtype=np.float32)
        mean = self.table[ids].mean(0)
        return mean / (np.linalg.norm(mean) or 1.0)


def ngrams(text: str) -> np.ndarray:
    """Indices of the hashed n-gram buckets present in ``text`` (sorted, unique)."""
    words = _WORD.findall(normalize(text))
    if not words:
        return np.zeros(0, dtype=np.int64)
    pairs = [_bucket(f"b:{a} {b}") for a, b in itertools.pairwise(words)]
    return np.unique(np.concatenate([*(_word_grams(w) for w in set(words)), np.asarray(pairs, dtype=np.int64)]))


@lru_cache(maxsize=1 << 14)
def _word_grams(word: str) -> np.ndarray:
    """The buckets of one word: the word itself and its character 3- to 5-grams (cached: words repeat)."""
    padded = f" {word} "
    grams = [f"w:{word}"] + [f"c:{padded[i : i + n]}" for n in (3, 4, 5) for i in range(len(padded) - n + 1)]
    return np.fromiter((_bucket(g) for g in grams), dtype=np.int64, count=len(grams))


def _bucket(gram: str) -> int:
    return zlib.crc32(gram.encode()) % BUCKETS


def features(text: str, encoder: StaticEncoder) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(embedding, n-gram indices)`` of each window of ``text`` (n-gram values are ``1/sqrt(n)``)."""
    return [(emb, ngrams(window)) for emb, window in encoder.windows(text)]


def _logit(dense: np.ndarray, sparse: np.ndarray, bias: float, emb: np.ndarray, idx: np.ndarray) -> float:
    ngram = float(sparse[idx].sum() / np.sqrt(idx.size)) if idx.size else 0.0
    return float(dense @ emb) + ngram + bias


@dataclass
class InjectionClassifier:
    dense: np.ndarray
    """Weights of the embedding."""
    sparse: np.ndarray
    """Weights of the ``BUCKETS`` n-gram buckets."""
    bias: float
    threshold: float
    """Score above which a prompt is an injection: set at a stated false-positive rate on prompts
    the model never trained on (see ``fpr``)."""
    fpr: float = 0.01
    encoder: StaticEncoder | None = None

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> InjectionClassifier:
        data = np.load(path)
        return cls(
            data["dense"].astype(np.float32),
            data["sparse"].astype(np.float32),
            float(data["bias"]),
            float(data["threshold"]),
            float(data["fpr"]),
            StaticEncoder.load(),
        )

    def save(self, path: Path = MODEL_FILE) -> None:
        np.savez_compressed(
            path,
            dense=self.dense.astype(np.float32),
            sparse=self.sparse.astype(np.float16),
            bias=np.float32(self.bias),
            threshold=self.threshold,
            fpr=self.fpr,
        )

    def score(self, text: str) -> float:
        """Probability that ``text`` is an injection or jailbreak attempt (its worst window's); 0 for
        a text of fewer than ``MIN_WORDS`` words."""
        if len(_WORDS_ONLY.findall(text)) < MIN_WORDS:
            return 0.0
        z = max(_logit(self.dense, self.sparse, self.bias, e, i) for e, i in features(text, self.encoder))
        return float(1.0 / (1.0 + np.exp(-z)))

    @classmethod
    def fit(
        cls,
        texts: list[str],
        labels: list[int],
        encoder: StaticEncoder,
        epochs: int = 30,
        lr: float = 0.02,
        l2: float = 1e-5,
        seed: int = 0,
    ) -> InjectionClassifier:
        """Fit on ``texts`` with 0/1 ``labels`` (1 = injection), each class weighted to half of the
        loss, with L2-regularized mini-batch Adam; each window of a text counts as the text. The
        threshold is left at 0.5."""
        rows, y = [], []
        for text, label in zip(texts, labels, strict=True):
            for emb, idx in features(text, encoder):
                rows.append((emb, idx))
                y.append(float(label))
        y_arr = np.asarray(y, dtype=np.float32)
        weight = np.where(y_arr == 1, 0.5 / max(y_arr.sum(), 1), 0.5 / max((1 - y_arr).sum(), 1)) * len(y_arr)
        dense, sparse, bias = np.zeros(encoder.dims, dtype=np.float32), np.zeros(BUCKETS, dtype=np.float32), 0.0
        params = [dense, sparse]
        moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
        rng = np.random.default_rng(seed)
        step = 0
        for _ in range(epochs):
            for batch in np.array_split(rng.permutation(len(rows)), max(1, len(rows) // 32)):
                g_dense, g_sparse, g_bias = l2 * dense, l2 * sparse, 0.0
                for i in batch:
                    emb, idx = rows[i]
                    err = (
                        (1.0 / (1.0 + np.exp(-_logit(dense, sparse, bias, emb, idx))) - y_arr[i])
                        * weight[i]
                        / len(batch)
                    )
                    g_dense += err * emb
                    if idx.size:
                        g_sparse[idx] += err / np.sqrt(idx.size)
                    g_bias += err
                step += 1
                for p, g, (m, v) in zip(params, (g_dense, g_sparse), moments, strict=True):
                    m *= 0.9
                    m += 0.1 * g
                    v *= 0.999
                    v += 0.001 * g * g
                    p -= lr * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
                bias -= lr * g_bias
        return cls(dense, sparse, bias, 0.5, encoder=encoder)
