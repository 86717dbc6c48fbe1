"""What a base model computes on fixed inputs, kept per base in ``$AFINAR_CACHE``.

The same weights, tokenizer, precision, inputs, settings and software give the same result. So a
result that depends on nothing else (the base's benchmark results, its answers to an eval split,
its next-token distributions on the replay rows) is computed by the first run that needs it, or
ahead by ``afinar prepare``, and read back by every later run: a sweep of ten recipes over one
base and one dataset computes the base's side once. The file is named by the sha256 of all that
the result depends on, so a change to any of it misses and computes afresh.

Never for data the user encrypted: what the base answers to an encrypted eval split is that
data's plaintext, and the cache is not encrypted (callers check).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import transformers

from afinar.model.load import cache_dir

__all__ = ["base_result_path", "digest_of"]


def digest_of(value) -> str:
    """sha256 of ``value`` as sorted JSON (inputs too large to put in a key as they are)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _tokenizer_digest(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    vocab = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return hashlib.sha256((vocab + str(getattr(tokenizer, "chat_template", None))).encode()).hexdigest()


def base_result_path(kind: str, model, tokenizer, base_id: str, precision: str | None, suffix: str, **inputs) -> Path:
    """``$AFINAR_CACHE/<kind>/<key><suffix>``, the key covering the base's weights (``base_id``:
    their sha256 and how they were loaded), the tokenizer and its chat template, the weights'
    dtype and device, ``precision`` (the autocast in force, by name), torch and transformers
    versions, and ``inputs`` (the caller's inputs, settings and code version, JSON values)."""
    param = next(model.parameters())
    what = {
        "base": base_id,
        "tokenizer": _tokenizer_digest(tokenizer),
        "dtype": str(param.dtype),
        "device": param.device.type,
        "precision": precision,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        **inputs,
    }
    return cache_dir() / kind / f"{digest_of(what)[:32]}{suffix}"
