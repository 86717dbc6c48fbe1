"""GGUF k-quant mixes: the tensor types follow llama-quantize's rules (restated here as a table
for a Llama 3 8B shape), llama.cpp's quantizer is called right (its Q8_0 equals gguf-py's own),
and a Q4_K_M file of a small Llama written by afinar loads and answers in llama.cpp, its weights
close to the model's."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from afinar.export.gguf import read_weights, write_gguf
from afinar.export.kquants import quantize_rows, tensor_type

Q = gguf.GGMLQuantizationType
MORE_BITS_32 = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}
"""The layers of 32 that llama.cpp's use_more_bits picks: the first and last eighth, and every
third layer between (i - 4) % 3 == 2."""


@pytest.mark.parametrize("mix", ["q4_k_m", "q5_k_m"])
def test_a_llama3_8b_shape_gets_llama_quantizes_types(mix):
    base = Q.Q4_K if mix == "q4_k_m" else Q.Q5_K
    for layer in range(32):
        bumped = Q.Q6_K if layer in MORE_BITS_32 else base
        for kind, width, expected in [("attn_q", 4096, base), ("attn_k", 4096, base), ("attn_v", 4096, bumped),
                                      ("attn_output", 4096, base), ("ffn_gate", 4096, base), ("ffn_up", 4096, base),
                                      ("ffn_down", 14336, bumped)]:  # fmt: skip
            assert tensor_type(f"blk.{layer}.{kind}.weight", width, mix, 32, tied=False) == expected, (layer, kind)
    assert tensor_type("output.weight", 4096, mix, 32, tied=False) == Q.Q6_K
    assert tensor_type("token_embd.weight", 4096, mix, 32, tied=False) == base
    assert tensor_type("token_embd.weight", 2048, mix, 16, tied=True) == Q.Q6_K  # Llama 3.2 1B: tied output


def test_rows_that_hold_no_k_quant_fall_back_as_llama_cpp_does():
    # SmolLM2: 576-wide rows (not a multiple of 256); ffn_down rows are 1,536 wide (a multiple)
    assert tensor_type("blk.5.attn_q.weight", 576, "q4_k_m", 30, tied=True) == Q.Q5_0
    assert tensor_type("blk.5.attn_q.weight", 576, "q5_k_m", 30, tied=True) == Q.Q5_1
    assert tensor_type("blk.0.attn_v.weight", 576, "q4_k_m", 30, tied=True) == Q.Q8_0  # Q6_K's fallback
    assert tensor_type("token_embd.weight", 576, "q4_k_m", 30, tied=True) == Q.Q8_0
    assert tensor_type("blk.0.ffn_down.weight", 1536, "q4_k_m", 30, tied=True) == Q.Q6_K
    assert tensor_type("blk.4.ffn_down.weight", 1536, "q4_k_m", 30, tied=True) == Q.Q4_K
    assert tensor_type("blk.1.attn_q.weight", 40, "q4_k_m", 2, tied=True) == Q.F16  # not even 32
    assert tensor_type("blk.0.attn_v.weight", 8192, "q4_k_m", 80, tied=False) == Q.Q6_K  # 70B, a bumped layer
    assert tensor_type("blk.13.attn_v.weight", 8192, "q4_k_m", 80, tied=False) == Q.Q5_K  # 70B: Q5_K, not Q4_K


def test_llama_cpps_quantizer_is_called_right():
    x = np.random.default_rng(0).standard_normal((8, 512)).astype(np.float32)
    assert np.array_equal(quantize_rows(x, Q.Q8_0), gguf.quants.quantize(x, Q.Q8_0))  # two implementations
    errors = {}
    for t in (Q.Q4_K, Q.Q5_K, Q.Q6_K):
        back = gguf.quants.dequantize(quantize_rows(x, t), t)
        errors[t] = float(np.sqrt(np.mean((back - x) ** 2)))
    assert errors[Q.Q6_K] < errors[Q.Q5_K] < errors[Q.Q4_K] < 0.12, errors  # 4 bits: ~1/10 of a unit-variance value


@pytest.fixture(scope="module")
def wide_model(tokenizer):
    """A 4-layer random Llama whose rows hold k-quants (width 256, FFN 512)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id, bos_token_id=1)  # fmt: skip
    return LlamaForCausalLM(cfg).eval()


def test_a_q4_k_m_file_loads_in_llama_cpp_with_weights_close_to_the_model(wide_model, tokenizer, tmp_path):
    from afinar.data.render import prompt_ids
    from afinar.model.llamacpp import LlamaCpp

    out = tmp_path / "m.gguf"
    write_gguf(wide_model, out, "q4_k_m", tokenizer, "wide")
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(str(out)).tensors}
    assert types["blk.1.attn_q.weight"] == types["blk.0.attn_v.weight"] == Q.Q4_K
    assert types["blk.3.attn_v.weight"] == Q.Q6_K  # of 4 layers, use_more_bits picks the last
    assert types["token_embd.weight"] == Q.Q6_K and types["blk.0.attn_norm.weight"] == Q.F32
    weights, model = read_weights(out, wide_model), wide_model.state_dict()
    for name, w in weights.items():
        rel = float((w - model[name]).norm() / model[name].norm())
        assert rel < (0.02 if w.ndim == 1 else 0.12), (name, rel)
    ids = prompt_ids(tokenizer, [{"role": "user", "content": "Hello"}])
    tokens = LlamaCpp(out).greedy(ids, 8)
    assert len(tokens) == 8 and all(0 <= t < len(tokenizer) for t in tokens)
