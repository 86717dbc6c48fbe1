"""Bases that are not Llama: Qwen2 (attention biases), Mistral (sliding-window attention) and Gemma
(its own norm, GeGLU MLP and scaled embeddings). Each trains, resumes its adapter and generates
through the real CLI on the plain transformers layers (the lean layers take Llama layers only and
leave these as they are); the GGUF export, written for the Llama architecture, refuses each with
an error that names what it supports, and writes nothing. A tiny random model of each, with the
bundled tokenizer (ChatML)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import tiny_recipe


def _tiny(root: Path, kind: str, tokenizer) -> Path:
    from transformers import (
        GemmaConfig,
        GemmaForCausalLM,
        MistralConfig,
        MistralForCausalLM,
        Qwen2Config,
        Qwen2ForCausalLM,
    )

    config_class, model_class = {
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "mistral": (MistralConfig, MistralForCausalLM),
        "gemma": (GemmaConfig, GemmaForCausalLM),
    }[kind]
    extra = {"sliding_window": 16} if kind == "mistral" else {"head_dim": 16} if kind == "gemma" else {}
    config = config_class(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=1, **extra,
    )  # fmt: skip
    torch.manual_seed(0)
    folder = root / kind
    model_class(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("kind", ["qwen2", "mistral", "gemma"])
def test_a_base_of_another_architecture_trains_and_generates_and_its_gguf_export_is_refused(tmp_path, tokenizer, kind):
    model_dir = _tiny(tmp_path, kind, tokenizer)
    recipe = tiny_recipe(tmp_path, model_dir, n_train=16)
    run = tmp_path / "run"
    cli = CliRunner()
    result = cli.invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    result = cli.invoke(app, ["generate", str(run), "Ventas de mayo, por favor."])
    assert result.exit_code == 0, result.output
    result = cli.invoke(app, ["export", str(run), "--format", "gguf", "--quant", "f16", "--force"])  # no gate here
    assert result.exit_code == 2, result.output
    assert "Llama-architecture" in result.output and kind in result.output
    assert not list(run.glob("export/**/*.gguf"))
