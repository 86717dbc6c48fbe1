"""The GGUF tokenizer metadata we build from a Hugging Face tokenizer, against the metadata that
llama.cpp's own converter wrote into the shipped SmolLM2 GGUF."""

import gguf
import pytest

from afinar.errors import AfinarError
from afinar.export.gguf import _pre_tokenizer_name, tokenizer_metadata
from afinar.model.load import _default_gguf


def shipped(reader: gguf.GGUFReader, name: str):
    f = reader.fields[name]
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        if f.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode() for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    if f.types[0] == gguf.GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode()
    return f.parts[f.data[0]].tolist()[0]


def test_built_metadata_equals_llama_cpps_own(tokenizer):
    meta = tokenizer_metadata(tokenizer)
    reader = gguf.GGUFReader(_default_gguf())
    for key, value in meta.items():
        if key == "tokenizer.ggml.pre":
            continue  # transformers' GGUF reader keeps the byte-level regex only (see below)
        assert shipped(reader, key) == value, key
    assert len(meta["tokenizer.ggml.tokens"]) == 49152 and meta["tokenizer.ggml.token_type"][:3] == [3, 3, 3]


def test_pre_tokenizer_names():
    assert _pre_tokenizer_name({"type": "ByteLevel", "use_regex": True}) == "gpt-2"
    digits = {"type": "Digits", "individual_digits": True}
    assert _pre_tokenizer_name({"type": "Sequence", "pretokenizers": [digits, {"type": "ByteLevel"}]}) == "smollm"
    with pytest.raises(AfinarError, match="does not know this pre-tokenizer"):
        _pre_tokenizer_name({"type": "Whitespace"})


def test_one_token_per_embedding_row(tokenizer):
    n = len(tokenizer)
    padded = tokenizer_metadata(tokenizer, vocab_size=n + 3)
    assert padded["tokenizer.ggml.tokens"][n:] == [f"[PAD{i}]" for i in range(n, n + 3)]
    assert padded["tokenizer.ggml.token_type"][n:] == [5, 5, 5]
    assert padded["tokenizer.ggml.tokens"][:n] == tokenizer_metadata(tokenizer)["tokenizer.ggml.tokens"]
    with pytest.raises(
        AfinarError, match=rf"has {n} tokens and the model {n - 2} embedding rows: ids {n - 2} to {n - 1}"
    ):
        tokenizer_metadata(tokenizer, vocab_size=n - 2)
