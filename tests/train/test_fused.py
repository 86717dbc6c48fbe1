"""The lean decoder layers (afinar/train/fused.py) keep less for backward and change no number."""

import gc
import weakref
from contextlib import nullcontext

import pytest
import torch

from afinar.data.batch import collate
from afinar.model.adapters import causal_lm_of, trainable_parameters
from afinar.train.batches import step_batches
from afinar.train.fused import fused_layers
from afinar.train.loss import accumulate_step, target_loss_sum
from afinar.train.speed import store_frozen_in_bf16
from tests.train.test_speed import _grads, _lora_model, _rows


def _step(model, batches, autocast=False):
    cast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if autocast else nullcontext
    loss, _ = accumulate_step(model, batches, cast)
    return loss, _grads(model)


def _assert_fused_step_is(model, batches, eager_loss, eager):
    """The same step through the lean layers: fp32 loss and every gradient as eager."""
    with fused_layers(causal_lm_of(model).model.layers) as fused:
        assert fused == 2
        loss, got = _step(model, batches)
    assert abs(loss - eager_loss) < 1e-6
    assert eager.keys() == got.keys()
    for name in eager:
        torch.testing.assert_close(got[name], eager[name], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("packing", [False, True])
def test_fp32_loss_and_gradients_equal_the_eager_layers(tiny_model_dir, tokenizer, packing):
    model = _lora_model(tiny_model_dir)
    causal_lm_of(model).model.layers[0].post_attention_layernorm.weight.requires_grad_(True)  # its gradient too
    rows, pad = _rows(tokenizer), tokenizer.pad_token_id
    batches = step_batches(rows, pad, packing, capacity=128, per_forward=3)
    eager_loss, eager = _step(model, batches)
    assert len(eager) == 2 * 7 * 2 + 1  # A and B of 7 projections in 2 layers, and the norm
    _assert_fused_step_is(model, batches, eager_loss, eager)


def test_bf16_loss_is_the_eager_one_and_gradients_are_as_close_to_fp32(tiny_model_dir, tokenizer):
    model = _lora_model(tiny_model_dir)
    rows, pad = _rows(tokenizer), tokenizer.pad_token_id
    batch = [collate(rows, pad)]
    _, exact = _step(model, batch)  # fp32 weights, no autocast: the reference
    store_frozen_in_bf16(model)
    eager_loss, eager = _step(model, batch, autocast=True)
    with fused_layers(causal_lm_of(model).model.layers):
        loss, got = _step(model, batch, autocast=True)
    assert loss == pytest.approx(eager_loss, rel=1e-6)  # the same operations in the same order

    def error(grads):
        return (
            sum((grads[n] - exact[n]).norm() ** 2 for n in exact) ** 0.5
            / sum(g.norm() ** 2 for g in exact.values()) ** 0.5
        )

    # bf16 rounds both; the fused norm sums its readers' gradients in bf16, not fp32, so allow a
    # little more, but far from a wrong gradient (which would be off by order 1).
    assert error(eager) < 0.02
    assert error(got) < 1.5 * error(eager) + 0.005


def _kept(model, batch, rebuild: bool) -> dict[str, bool]:
    """Whether the first layer's norm output (q_proj's input) and MLP product (down_proj's input)
    are still alive after the forward, i.e. kept for backward."""
    layer = causal_lm_of(model).model.layers[0]
    seen = {}

    def watch(name):
        def hook(module, args):
            seen.setdefault(name, weakref.ref(args[0]))

        return hook

    hooks = [
        layer.self_attn.q_proj.register_forward_pre_hook(watch("norm")),
        layer.mlp.down_proj.register_forward_pre_hook(watch("product")),
    ]
    with fused_layers(causal_lm_of(model).model.layers, rebuild=rebuild), torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = target_loss_sum(model, batch)
        gc.collect()
        kept = {name: ref() is not None for name, ref in seen.items()}
        loss.backward()  # the rebuilt tensors serve backward
    for h in hooks:
        h.remove()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable_parameters(model).values())
    model.zero_grad()
    return kept


def test_norm_outputs_and_the_mlp_product_are_rebuilt_not_kept(tiny_model_dir, tokenizer):
    model = _lora_model(tiny_model_dir)
    store_frozen_in_bf16(model)
    batch = collate(_rows(tokenizer), tokenizer.pad_token_id)
    assert _kept(model, batch, rebuild=False) == {"norm": True, "product": True}  # the control: kept
    assert _kept(model, batch, rebuild=True) == {"norm": False, "product": False}


def test_layers_come_back_as_they_were(tiny_model_dir, tokenizer):
    model = _lora_model(tiny_model_dir)
    lm = causal_lm_of(model)
    with fused_layers(lm.model.layers):
        assert lm.config._attn_implementation == "afinar_sdpa"
        assert "forward" in vars(lm.model.layers[0].mlp)
        assert lm.model.layers[0].self_attn.q_proj.cast_input_dtype_enabled is False
    assert lm.config._attn_implementation == "sdpa"
    modules = list(lm.model.layers.modules())
    assert not any("forward" in vars(m) for m in modules)
    assert lm.model.layers[0].self_attn.q_proj.cast_input_dtype_enabled is True


def test_with_gradient_checkpointing_the_gradients_are_still_eager(tiny_model_dir, tokenizer):
    from afinar.train.memory import enable_checkpointing

    model = _lora_model(tiny_model_dir)
    batch = [collate(_rows(tokenizer), tokenizer.pad_token_id)]
    eager_loss, eager = _step(model, batch)
    enable_checkpointing(model)
    model.train()
    _assert_fused_step_is(model, batch, eager_loss, eager)


@pytest.mark.parametrize("method", ["dora", "ia3", "bottleneck", "full"])
def test_other_methods_train_through_the_lean_layers_as_eager(tiny_model_dir, tokenizer, method):
    model = _lora_model(tiny_model_dir, method)
    batch = [collate(_rows(tokenizer), tokenizer.pad_token_id)]
    eager_loss, eager = _step(model, batch)
    _assert_fused_step_is(model, batch, eager_loss, eager)
