"""The fast paths change nothing but speed: chunked loss, packed steps, bf16-stored frozen weights."""

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, LlamaConfig

from afinar.config import AdapterConfig
from afinar.data.batch import collate
from afinar.data.read import Example
from afinar.data.render import render
from afinar.model.adapters import attach_adapter, trainable_parameters
from afinar.train.batches import step_batches
from afinar.train.loss import accumulate_step, target_loss_sum
from afinar.train.speed import chunked_cross_entropy, step_flops, store_frozen_in_bf16


def _rows(tokenizer, n=6):
    def ex(i):
        q, a = f"Question {i}: what is {i} times {i + 2}?", f"{i} times {i + 2} is {i * (i + 2)}." + " Indeed." * i
        return Example([{"role": "user", "content": q}, {"role": "assistant", "content": a}], f"x:{i}")

    return [render(tokenizer, ex(i)) for i in range(n)]


def _lora_model(model_dir, method: str = "lora"):
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = attach_adapter(base, AdapterConfig(method=method, r=4))
    for p in trainable_parameters(model).values():
        p.data.normal_(0, 0.02)  # non-zero B (or IA3 scale...): every trainable parameter gets a gradient
    return model


def _grads(model):
    grads = {n: p.grad.clone() for n, p in trainable_parameters(model).items()}
    model.zero_grad()
    return grads


def test_chunked_cross_entropy_equals_the_full_one_in_value_and_gradients():
    torch.manual_seed(0)
    hidden = torch.randn(37, 16, requires_grad=True)
    weight = torch.randn(100, 16, requires_grad=True)
    targets = torch.randint(0, 100, (37,))
    full = F.cross_entropy(hidden @ weight.T, targets, reduction="sum")
    full.backward()
    ref = hidden.grad.clone(), weight.grad.clone()
    hidden.grad, weight.grad = None, None
    chunked = chunked_cross_entropy(hidden, weight, targets, chunk=8)
    (2.0 * chunked).backward()  # a non-unit upstream gradient must scale both
    torch.testing.assert_close(chunked, full, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(hidden.grad, 2 * ref[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weight.grad, 2 * ref[1], rtol=1e-5, atol=1e-6)


def test_a_packed_step_has_the_gradient_of_the_padded_batch(tiny_model_dir, tokenizer):
    model = _lora_model(tiny_model_dir)
    rows = _rows(tokenizer)
    pad = tokenizer.pad_token_id
    packed = step_batches(rows, pad, packing=True, capacity=128, per_forward=3)
    assert sum(len(mb["input_ids"]) for mb in packed) < len(rows)  # it did pack
    loss, n = accumulate_step(model, packed)
    got = _grads(model)

    # Independent reference: transformers' own loss (mean over target tokens) on one padded batch.
    ref = model(**collate(rows, pad))
    ref.loss.backward()
    reference = _grads(model)
    assert n == sum(r.n_targets for r in rows)
    assert abs(loss - ref.loss.item()) < 1e-5
    for name in reference:
        torch.testing.assert_close(got[name], reference[name], rtol=1e-4, atol=1e-7)


def test_a_right_padded_batch_trains_as_with_its_mask(tiny_model_dir, tokenizer):
    """The loop drops a right-padded batch's mask (causal attention never reaches the padding
    after a token); loss and gradients are transformers' own with the mask."""
    from afinar.train.loss import _unless_right_padded

    model = _lora_model(tiny_model_dir)
    rows, pad = _rows(tokenizer), tokenizer.pad_token_id
    batch = collate(rows, pad)
    assert _unless_right_padded(batch["attention_mask"]) is None and batch["attention_mask"].min() == 0
    left = batch["attention_mask"].flip(1)
    assert _unless_right_padded(left) is left  # left padding keeps its mask
    loss, _ = accumulate_step(model, [batch])
    got = _grads(model)
    ref = model(**batch)
    ref.loss.backward()
    reference = _grads(model)
    assert abs(loss - ref.loss.item()) < 1e-5
    for name in reference:
        torch.testing.assert_close(got[name], reference[name], rtol=1e-4, atol=1e-7)


def test_frozen_weights_in_bf16_give_the_autocast_loss(tiny_model_dir, tokenizer):
    model = _lora_model(tiny_model_dir)
    batch = collate(_rows(tokenizer), tokenizer.pad_token_id)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        before, _ = target_loss_sum(model, batch)
        cast = store_frozen_in_bf16(model)
        after, _ = target_loss_sum(model, batch)
    assert cast == 2 * 7  # the seven projections of both layers; the tied head stays fp32
    assert all(p.dtype == torch.float32 for p in trainable_parameters(model).values())
    assert model.get_output_embeddings().weight.dtype == torch.float32
    torch.testing.assert_close(after, before, rtol=2e-3, atol=0)


def test_step_flops_follow_the_published_parameter_count():
    # SmolLM2-135M: 134.5M parameters, of which 28.3M embedding (49,152 x 576), so 106.2M in
    # the decoder layers' matmuls: 6 FLOPs per parameter per trained token.
    cfg = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
    )
    assert step_flops(cfg, tokens=1, targets=0, context=0) == 6 * 106_168_320
    assert step_flops(cfg, tokens=0, targets=1, context=0) == 6 * 49152 * 576
    assert step_flops(cfg, tokens=1, targets=0, context=100) - 6 * 106_168_320 == 12 * 30 * 576 * 100


def _mapped(path) -> bool:
    return str(path) in open("/proc/self/maps").read()


def test_frozen_weights_let_go_of_the_safetensors_file(tiny_model_dir, tmp_path):
    """Loading maps the weights file into memory; once frozen weights are cast to bf16 no tensor
    points into it, so the mapping (and its resident pages) is gone."""
    import gc
    import shutil

    from afinar.model.load import load_base

    folder = shutil.copytree(tiny_model_dir, tmp_path / "model")  # a file no other test's model maps
    model, _, _ = load_base(str(folder))
    weights = next(folder.glob("*.safetensors")).resolve()
    assert _mapped(weights)  # the premise: transformers reads weights through a mapping
    embed = model.get_input_embeddings().weight.detach().clone()
    store_frozen_in_bf16(model)
    gc.collect()
    assert not _mapped(weights)
    assert torch.equal(model.get_input_embeddings().weight, embed)  # copied, not changed


def test_compiled_layers_give_the_eager_loss_and_gradients_and_come_back(tiny_model_dir, tokenizer):
    from afinar.model.adapters import causal_lm_of
    from afinar.train.speed import compiled_layers

    model = _lora_model(tiny_model_dir)
    rows = _rows(tokenizer)
    pad = tokenizer.pad_token_id
    eager_loss, _ = accumulate_step(model, [collate(rows, pad)])
    eager = _grads(model)
    layers = causal_lm_of(model).model.layers
    with compiled_layers(layers):
        assert all("forward" in vars(layer) for layer in layers)  # the compiled one is in place
        for batch in ([collate(rows, pad)], [collate(rows[:3], pad)], [collate(rows, pad)]):  # another length too
            loss, _ = accumulate_step(model, batch)
            got = _grads(model)
            if len(batch[0]["input_ids"]) == len(rows):
                assert abs(loss - eager_loss) < 1e-5
                for name in eager:
                    torch.testing.assert_close(got[name], eager[name], rtol=1e-4, atol=1e-6)
    assert not any("forward" in vars(layer) for layer in layers)  # plain layers again
