"""QLoRA: a base quantized to int8 or nf4 (bitsandbytes, on this CPU) trains an fp32 adapter,
and a run's merge dequantizes the base first."""

import pytest
import torch
from typer.testing import CliRunner

from afinar.cli import app
from afinar.data.batch import collate
from afinar.data.gate import rows_as_trained
from afinar.data.render import render_all
from afinar.pipeline import load_tuned
from afinar.train.loop import target_loss_sum
from tests.conftest import tiny_recipe


@pytest.mark.parametrize("quantize", ["int8", "nf4"])
def test_a_quantized_base_trains_and_dequantizes_for_merging(tmp_path, tiny_model_dir, quantize):
    import bitsandbytes as bnb

    recipe = tiny_recipe(
        tmp_path, tiny_model_dir, train={"max_steps": 6, "precision": "bf16"}, memory={"quantize": quantize}
    )
    result = CliRunner().invoke(app, ["train", "-q", str(recipe), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    quantized, tokenizer, recipe = load_tuned(tmp_path / "r")
    kind = bnb.nn.Linear8bitLt if quantize == "int8" else bnb.nn.Linear4bit
    layer = quantized.get_base_model().model.layers[0].mlp.down_proj
    assert isinstance(layer.base_layer, kind) and layer.lora_A["default"].weight.dtype == torch.float32

    # it learned: on rows it trained on, the adapter lowers the loss of its quantized base
    rows, _ = render_all(tokenizer, rows_as_trained(recipe).train[:8], 128, "truncate")
    batch = collate(rows, tokenizer.pad_token_id)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        tuned, _ = target_loss_sum(quantized, batch)
        with quantized.disable_adapter():
            base, _ = target_loss_sum(quantized, batch)
    assert tuned < base

    plain, _, _ = load_tuned(tmp_path / "r", dequantize=True)
    layer = plain.get_base_model().model.layers[0].mlp.down_proj
    assert type(layer.base_layer) is torch.nn.Linear
    ids = torch.tensor([tokenizer("Add 3 and 4.")["input_ids"]])
    with torch.no_grad():
        before = plain(input_ids=ids).logits
        merged = plain.merge_and_unload()(input_ids=ids).logits
    torch.testing.assert_close(merged, before, rtol=1e-4, atol=1e-4)  # merging a dequantized base is exact
