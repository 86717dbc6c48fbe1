"""GGUF k-quant mixes (Q4_K_M, Q5_K_M), quantized by llama.cpp's own code.

The ``xllamacpp`` wheel that runs GGUF files here carries llama.cpp's quantization kernels
(``ggml_quantize_chunk``, the function ``llama-quantize`` calls for every tensor) but not the
``llama-quantize`` program. afinar calls that function through ``ctypes`` and chooses each
tensor's type by the rules ``llama-quantize`` applies for these mixes (``llama_tensor_get_type``
in llama.cpp's ``src/llama-quant.cpp``), for the dense Llama architecture:

- the output matrix (or the token embeddings, when the output is tied to them): Q6_K, or Q8_0
  when its rows are not a multiple of 256 values;
- ``attn_v`` and ``ffn_down``: Q6_K in the layers ``use_more_bits`` picks (the first and last
  eighth, and every third layer between), the mix's type elsewhere; an 80-layer model (Llama 3
  70B) gets Q5_K instead of Q4_K for ``attn_v``;
- every other matrix: the mix's type (Q4_K for Q4_K_M, Q5_K for Q5_K_M);
- a matrix whose rows are not a multiple of 256 values cannot hold a k-quant: Q4_K falls back to
  Q5_0, Q5_K to Q5_1, Q6_K to Q8_0 (SmolLM2's 576-wide rows do; Llama 3's 4,096 do not);
- 1-D tensors (norms, RoPE factors) stay f32.

No importance matrix is used (``llama-quantize`` without ``--imatrix``).
"""

from __future__ import annotations

import ctypes
import importlib.util
from functools import cache
from pathlib import Path

import gguf
import numpy as np

from afinar.errors import AfinarError

__all__ = ["MIXES", "quantize_rows", "tensor_type"]

Q = gguf.GGMLQuantizationType
MIXES = {
    "q4_k_m": (Q.Q4_K, gguf.LlamaFileType.MOSTLY_Q4_K_M),
    "q5_k_m": (Q.Q5_K, gguf.LlamaFileType.MOSTLY_Q5_K_M),
}
"""Each mix: its default tensor type and the GGUF file type it declares."""
_FALLBACK = {Q.Q4_K: Q.Q5_0, Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0}


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def tensor_type(name: str, row_width: int, quant: str, n_layer: int, tied: bool) -> gguf.GGMLQuantizationType:
    """The type ``llama-quantize`` gives the 2-D tensor ``name`` (llama.cpp's name, such as
    ``blk.3.attn_v.weight``) whose rows hold ``row_width`` values, in mix ``quant``."""
    default = MIXES[quant][0]
    block = gguf.GGML_QUANT_SIZES[Q.Q6_K][0]  # 256 values: every k-quant's block
    layer = int(name.split(".")[1]) if name.startswith("blk.") else -1
    kind = name.split(".")[-2] if name.startswith("blk.") else name.removesuffix(".weight")
    if kind == "output" or (tied and kind == "token_embd"):
        new = Q.Q8_0 if row_width % block else Q.Q6_K
    elif kind in ("attn_v", "ffn_down"):
        new = Q.Q6_K if _use_more_bits(layer, n_layer) else default
        if kind == "attn_v" and n_layer == 80 and new == Q.Q4_K:
            new = Q.Q5_K
    else:
        new = default
    if row_width % gguf.GGML_QUANT_SIZES[new][0]:
        new = _FALLBACK.get(new, new)
        if row_width % gguf.GGML_QUANT_SIZES[new][0]:
            new = Q.F16
    return new


@cache
def _quantize_chunk():
    """llama.cpp's ``ggml_quantize_chunk`` from the ``xllamacpp`` wheel's library."""
    spec = importlib.util.find_spec("xllamacpp")
    library = Path(spec.origin).parent / "xllamacpp.abi3.so" if spec and spec.origin else None
    if library is None or not library.exists():
        raise AfinarError(
            "k-quant GGUF export needs llama.cpp's library from the xllamacpp wheel; pip install xllamacpp"
        )
    fn = ctypes.CDLL(str(library)).ggml_quantize_chunk
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                   ctypes.c_void_p]  # fmt: skip
    fn.restype = ctypes.c_size_t
    return fn


def quantize_rows(data: np.ndarray, qtype: gguf.GGMLQuantizationType) -> np.ndarray:
    """``data`` (rows x width, f32) quantized to ``qtype`` by llama.cpp: uint8, rows x row bytes."""
    if qtype == Q.F16:
        return data.astype(np.float16)
    rows = np.ascontiguousarray(data.reshape(-1, data.shape[-1]), dtype=np.float32)
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    out = np.empty((rows.shape[0], rows.shape[1] // block * size), dtype=np.uint8)
    written = _quantize_chunk()(int(qtype), rows.ctypes.data, out.ctypes.data, 0, rows.shape[0], rows.shape[1], None)
    if written != out.nbytes:
        raise AfinarError(f"llama.cpp wrote {written} bytes quantizing to {qtype.name}, {out.nbytes} expected")
    return out.reshape(*data.shape[:-1], out.shape[-1])
