"""QLoRA: a base quantized to int8 or nf4 (bitsandbytes, on this CPU) trains an fp32 adapter,
and a run's merge dequantizes the base first."""

import pytest
import torch
from typer.testing import CliRunner

from afinar.cli import app
from afinar.data.batch import collate
from afinar.data.intake import rows_as_trained
from afinar.data.render import render_all
from afinar.model.tuned import load_tuned
from afinar.train.loss import target_loss_sum
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


@pytest.mark.parametrize("quantize", ["int8", "nf4"])
def test_quantized_layers_compute_in_bf16_and_keep_the_gradients(tiny_model_dir, tokenizer, quantize):
    """Under autocast afinar feeds bitsandbytes layers bf16 (they would compute and keep fp32)
    and drops the input int8's node keeps for a weight gradient a frozen base never needs;
    the adapter's gradients match bitsandbytes' own path in bf16 precision."""
    from afinar.config import AdapterConfig
    from afinar.data.read import Example
    from afinar.model.adapters import attach_adapter, trainable_parameters
    from afinar.model.load import load_base
    from afinar.train.speed import store_frozen_in_bf16

    chats = [
        [{"role": "user", "content": f"Add {a} and 4."}, {"role": "assistant", "content": f"{a} + 4 = {a + 4}"}]
        for a in (3, 5)
    ]
    rows, _ = render_all(tokenizer, [Example(c, f"x:{i}") for i, c in enumerate(chats)], 64, "truncate")
    batch = collate(rows, tokenizer.pad_token_id)
    grads, dtypes = [], []
    for hooked in (False, True):
        torch.manual_seed(0)
        model, _, _ = load_base(str(tiny_model_dir), quantize)
        model = attach_adapter(model, AdapterConfig()).train()  # as the loop does: int8 takes its training path
        with torch.no_grad():  # B starts at zero; give it values so every gradient is non-trivial
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.02)
        if hooked:
            store_frozen_in_bf16(model)
        layer = model.get_base_model().model.layers[0].mlp.up_proj.base_layer  # input: the fp32 stream
        seen = []
        layer.register_forward_hook(lambda m, a, out, seen=seen: seen.append(out))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = target_loss_sum(model, batch)
        kept = getattr(seen[0].grad_fn, "A", None)  # int8 keeps its input on the node
        dtypes.append((seen[0].dtype, None if kept is None else kept.dtype))
        seen.clear()
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in trainable_parameters(model).values()]))
    if quantize == "nf4":  # nf4 returned fp32 activations; now bf16
        assert dtypes == [(torch.float32, None), (torch.bfloat16, None)]
    else:  # int8 kept an fp32 copy of its input until the end of backward; now none
        assert dtypes == [(torch.bfloat16, torch.float32), (torch.bfloat16, None)]
    torch.testing.assert_close(grads[1], grads[0], rtol=0.05, atol=0.05 * grads[0].abs().max().item())
