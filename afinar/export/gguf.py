"""Write a merged Llama model as a GGUF file for llama.cpp, with the ``gguf`` package.

What llama.cpp needs, and where each piece comes from:

- hyper-parameters (``llama.*``): the model's config (context length, widths, heads, RoPE base,
  RMS-norm epsilon);
- tensors, renamed to llama.cpp's names (``blk.N.attn_q.weight``...). ``q_proj`` and ``k_proj``
  are permuted back to llama.cpp's interleaved RoPE layout: Hugging Face stores them in the
  "rotate half" layout, and transformers undid exactly this permutation when it read the GGUF;
- the tokenizer (``tokenizer.ggml.*``: vocab, merges, token types, special ids, pre-tokenizer
  name) and the chat template: copied from the GGUF the base model came from (so llama.cpp
  tokenizes exactly as it did for the base), or built from the Hugging Face tokenizer for a
  folder base (byte-level BPE: GPT-2, SmolLM and Llama 3 pre-tokenizers).

RoPE scaling of type ``llama3`` (Llama 3.1 and 3.2 ship it) travels as llama.cpp expects it: a
``rope_freqs.weight`` tensor holding, per rotary frequency, the factor that frequency is divided
by (1 for short wavelengths, ``factor`` for long ones, a smooth blend between), computed here
from the config as Meta defines the scaling. Other scaling types are refused by name.

Norms and other 1-D tensors stay f32 in every file type (as llama.cpp's own converter does);
matrices are f32, f16 or q8_0 (blocks of 32 with one f16 scale, quantized by ``gguf.quants``),
or one of the k-quant mixes q4_k_m and q5_k_m, quantized tensor by tensor by llama.cpp's own
code (:mod:`afinar.export.kquants`).
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import torch

from afinar.atomic import atomic_path
from afinar.errors import AfinarError
from afinar.export.kquants import MIXES, quantize_rows, tensor_type

__all__ = [
    "QUANTS",
    "gguf_name",
    "permute_heads",
    "read_weights",
    "rope_freq_factors",
    "tokenizer_metadata",
    "write_gguf",
]

QUANTS = {
    "f32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
    "f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
    **MIXES,
}
_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def permute_heads(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF rotate-half row order -> llama.cpp's interleaved pairs (rows grouped per head)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """The inverse of :func:`permute_heads`: llama.cpp's interleaved pairs -> HF rotate-half order."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def read_weights(path: Path, model, like: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The weights of ``model``'s tensors (or those of ``like``, by Hugging Face name) as the GGUF
    at ``path`` (written by :func:`write_gguf`) stores them, dequantized by ``gguf``'s reader and
    put back in Hugging Face's layout: what llama.cpp computes with, before it quantizes
    activations of its own."""
    cfg = model.config
    tensors = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    out = {}
    for hf_name, ref in (model.state_dict() if like is None else like).items():
        if hf_name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        t = tensors[gguf_name(hf_name)]
        data = gguf.quants.dequantize(t.data, t.tensor_type).reshape(ref.shape)
        if hf_name.endswith("q_proj.weight"):
            data = _unpermute(data, cfg.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            data = _unpermute(data, cfg.num_key_value_heads)
        out[hf_name] = torch.from_numpy(np.array(data, dtype=np.float32))  # a writable copy
    return out


def rope_freq_factors(rope: dict, head_dim: int) -> np.ndarray | None:
    """The per-frequency divisors of Llama 3 RoPE scaling (``None`` without scaling).

    Raises:
        AfinarError: a scaling type llama.cpp's Llama loader does not read from these fields.
    """
    kind = rope.get("rope_type") or rope.get("type") or "default"
    if kind == "default":
        return None
    if kind != "llama3":
        raise AfinarError(f"GGUF export supports RoPE scaling of type 'llama3' only; this model's is '{kind}'")
    base, factor = float(rope["rope_theta"]), float(rope["factor"])
    low, high = float(rope.get("low_freq_factor", 1.0)), float(rope.get("high_freq_factor", 4.0))
    context = float(rope.get("original_max_position_embeddings", 8192))
    freqs = 1.0 / base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    wavelen = 2 * np.pi / freqs
    smooth = (context / wavelen - low) / (high - low)
    blended = 1.0 / ((1 - smooth) / factor + smooth)
    out = np.where(wavelen < context / high, 1.0, np.where(wavelen > context / low, factor, blended))
    return out.astype(np.float32)


def gguf_name(hf_name: str) -> str:
    if hf_name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    if hf_name == "lm_head.weight":
        return "output.weight"
    parts = hf_name.split(".")  # model.layers.N.<module>.<sub>.weight
    if parts[:2] == ["model", "layers"] and ".".join(parts[3:-1]) in _NAMES:
        return f"blk.{parts[2]}.{_NAMES['.'.join(parts[3:-1])]}.{parts[-1]}"
    raise AfinarError(f"cannot export tensor '{hf_name}' to GGUF: not a Llama tensor afinar knows")


_LLAMA3_SPLIT = (  # the Split regex of Llama 3's tokenizer.json
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _pre_tokenizer_name(pre: dict) -> str:
    """llama.cpp's name for a tokenizer.json pre-tokenizer (it picks its split regex by name)."""
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [p.get("type") for p in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
        return "smollm"
    if kinds[:1] == ["Split"] and steps[0].get("pattern", {}).get("Regex") == _LLAMA3_SPLIT:
        return "llama-bpe"
    raise AfinarError(
        f"GGUF export does not know this pre-tokenizer ({kinds}); known: GPT-2 byte-level, SmolLM, "
        "Llama 3. Export --format hf instead"
    )


def tokenizer_metadata(tokenizer, vocab_size: int | None = None) -> dict[str, object]:
    """``tokenizer.ggml.*`` and the chat template, built from a Hugging Face byte-level BPE tokenizer.

    Token types follow llama.cpp: 3 (control) for special added tokens, 4 (user-defined) for other
    added tokens, 1 (normal) for the rest. llama.cpp needs one token per embedding row: with the
    model's ``vocab_size`` larger than the tokenizer (rows padded to a round number), the rest are
    ``[PAD{id}]`` of type 5 (unused), as llama.cpp's converter writes them. ``add_bos_token`` says
    what the tokenizer does when it encodes text (Llama 3's post-processor adds
    ``<|begin_of_text|>`` while transformers leaves the attribute unset), as llama.cpp's
    converter reads it from that post-processor, so llama.cpp tokenizes text as training did.

    Raises:
        AfinarError: not byte-level BPE, or a token id the model has no embedding row for.
    """
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    if spec["model"].get("type") != "BPE":
        raise AfinarError("GGUF export builds byte-level BPE tokenizers only; export --format hf instead")
    added = {t["id"]: t["special"] for t in spec.get("added_tokens", [])}
    n = len(tokenizer)
    rows = n if vocab_size is None else vocab_size
    if n > rows:
        beyond = tokenizer.convert_ids_to_tokens(list(range(rows, min(n, rows + 3))))
        raise AfinarError(
            f"the tokenizer has {n} tokens and the model {rows} embedding rows: ids {rows} to {n - 1} "
            f"({', '.join(beyond)}{', ...' if n - rows > 3 else ''}) cannot be written to GGUF; use the tokenizer "
            "the model was trained with"
        )
    tokens = [*tokenizer.convert_ids_to_tokens(list(range(n))), *(f"[PAD{i}]" for i in range(n, rows))]
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    meta: dict[str, object] = {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": _pre_tokenizer_name(spec.get("pre_tokenizer") or {}),
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [(3 if added[i] else 4) if i in added else 1 for i in range(n)] + [5] * (rows - n),
        "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.add_bos_token": _adds_bos(tokenizer),
    }
    for key, value in (
        ("bos", tokenizer.bos_token_id),
        ("eos", tokenizer.eos_token_id),
        ("unknown", tokenizer.unk_token_id),
        ("padding", tokenizer.pad_token_id),
    ):
        if value is not None:
            meta[f"tokenizer.ggml.{key}_token_id"] = int(value)
    if tokenizer.chat_template:
        meta["tokenizer.chat_template"] = tokenizer.chat_template
    return meta


def _adds_bos(tokenizer) -> bool:
    """Whether encoding text puts the BOS token first."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a")["input_ids"][:1] == [bos]


def _add_metadata(writer: gguf.GGUFWriter, meta: dict[str, object]) -> None:
    for key, value in meta.items():
        if isinstance(value, bool):
            writer.add_bool(key, value)
        elif isinstance(value, int):
            writer.add_uint32(key, value)
        elif isinstance(value, str):
            writer.add_string(key, value)
        elif value and isinstance(value[0], str):
            writer.add_array(key, value)
        else:
            writer.add_key_value(key, value, gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.INT32)


def _tokenizer_fields(source: Path) -> list:
    reader = gguf.GGUFReader(source)
    return [f for name, f in reader.fields.items() if name.startswith("tokenizer.")]


def _copy_field(writer: gguf.GGUFWriter, field) -> None:
    kind = field.types[0]
    if kind == gguf.GGUFValueType.ARRAY:
        sub = field.types[-1]
        if sub == gguf.GGUFValueType.STRING:
            values = [bytes(field.parts[i]).decode("utf-8", "surrogateescape") for i in field.data]
        else:
            values = [field.parts[i].tolist()[0] for i in field.data]
        writer.add_key_value(field.name, values, kind, sub_type=sub)
    elif kind == gguf.GGUFValueType.STRING:
        writer.add_key_value(field.name, bytes(field.parts[field.data[0]]).decode("utf-8"), kind)
    else:
        writer.add_key_value(field.name, field.parts[field.data[0]].tolist()[0], kind)


def write_gguf(
    model, out: Path, quant: str, tokenizer, name: str, tokenizer_gguf: Path | None = None,
    weights: dict[str, torch.Tensor] | None = None,
) -> None:  # fmt: skip
    """Write ``model`` (a merged ``LlamaForCausalLM``; or ``weights`` by Hugging Face name, with
    ``model``'s config) to ``out`` as GGUF ``quant``.

    The tokenizer metadata is copied from ``tokenizer_gguf`` when the base came from a GGUF file
    (exactly what llama.cpp read before), else built from ``tokenizer``.

    Raises:
        AfinarError: an unknown quant type, a non-Llama model, or a tokenizer GGUF cannot express.
    """
    if quant not in QUANTS:
        raise AfinarError(f"--quant {quant}: accepted: {', '.join(QUANTS)}")
    cfg = model.config
    if cfg.model_type != "llama":
        raise AfinarError(
            f"GGUF export supports Llama-architecture models (model_type 'llama': Llama 2/3, SmolLM); this one is "
            f"'{cfg.model_type}'. Export it with --format hf, or serve the run itself (afinar serve --run)"
        )
    tokenizer_meta = None if tokenizer_gguf else tokenizer_metadata(tokenizer, cfg.vocab_size)
    qtype, file_type = QUANTS[quant]
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_head
    rope_params = dict(getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {})
    rope = rope_params.get("rope_theta") or getattr(cfg, "rope_theta", 10000.0)
    factors = rope_freq_factors({**rope_params, "rope_theta": rope}, head_dim)
    out = Path(out)
    with atomic_path(out, mode=0o644) as tmp:  # the file appears complete or not at all
        w = gguf.GGUFWriter(str(tmp), arch="llama")
        w.add_name(name)
        w.add_context_length(cfg.max_position_embeddings)
        w.add_embedding_length(cfg.hidden_size)
        w.add_block_count(cfg.num_hidden_layers)
        w.add_feed_forward_length(cfg.intermediate_size)
        w.add_head_count(n_head)
        w.add_head_count_kv(n_kv)
        w.add_rope_freq_base(float(rope))
        w.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
        w.add_rope_dimension_count(head_dim)
        w.add_vocab_size(cfg.vocab_size)
        w.add_file_type(file_type)
        if tokenizer_meta is None:
            for field in _tokenizer_fields(Path(tokenizer_gguf)):
                _copy_field(w, field)
        else:
            _add_metadata(w, tokenizer_meta)
        if factors is not None:
            w.add_tensor("rope_freqs.weight", factors)
        for hf_name, tensor in (model.state_dict() if weights is None else weights).items():
            if hf_name == "lm_head.weight" and cfg.tie_word_embeddings:
                continue  # llama.cpp reuses token_embd when output.weight is absent
            data = tensor.detach().to(torch.float32).cpu().numpy()
            if hf_name.endswith("q_proj.weight"):
                data = permute_heads(data, n_head)
            elif hf_name.endswith("k_proj.weight"):
                data = permute_heads(data, n_kv)
            tensor_name = gguf_name(hf_name)
            if data.ndim == 1 or qtype == gguf.GGMLQuantizationType.F32:
                w.add_tensor(tensor_name, data)
            elif quant in MIXES:
                new = tensor_type(tensor_name, data.shape[-1], quant, cfg.num_hidden_layers, cfg.tie_word_embeddings)
                raw = None if new == gguf.GGMLQuantizationType.F16 else new  # f16 is a numpy type of its own
                w.add_tensor(tensor_name, quantize_rows(data, new), raw_dtype=raw)
            elif qtype == gguf.GGMLQuantizationType.F16:
                w.add_tensor(tensor_name, data.astype(np.float16))
            else:
                w.add_tensor(tensor_name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
