"""Every adapter method: parameter counts by formula, learning, save/load, merge, the identity init."""

import json

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, LlamaForCausalLM

from afinar.config import AdapterConfig, OptimConfig
from afinar.data.batch import collate
from afinar.data.read import Example
from afinar.data.render import render
from afinar.model.adapters import (
    as_base,
    attach_adapter,
    causal_lm_of,
    decoder_states,
    folded,
    load_adapter,
    save_adapter,
    trainable_parameters,
)
from afinar.names import MERGEABLE
from afinar.train.loss import target_loss_sum
from afinar.train.optim import LayerwiseAdamW, build_optimizer, layer_scales

METHODS = ["lora", "dora", "ia3", "prefix", "prompt", "bottleneck", "full"]


def _count_by_formula(c, method: str, r: int = 16, m: int = 64, v: int = 20) -> int:
    """Trainable parameters of ``method`` on a Llama of config ``c``, from the architecture alone."""
    h, i, n = c.hidden_size, c.intermediate_size, c.num_hidden_layers
    kv = c.num_key_value_heads * (c.head_dim or h // c.num_attention_heads)
    # (in, out) of the seven projections of one decoder layer
    shapes = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]
    lora = n * r * sum(a + b for a, b in shapes)
    return {
        "lora": lora,
        "dora": lora + n * sum(b for _, b in shapes),  # one magnitude per output feature
        "ia3": n * (kv + kv + i),  # k and v outputs, down_proj's input
        "prefix": v * n * 2 * kv,  # a key and a value per virtual token and layer (GQA width)
        "prompt": v * h,  # one input embedding per virtual token
        "bottleneck": n * 2 * (2 * h * m + m + h),
        "full": c.vocab_size * h + n * (sum(a * b for a, b in shapes) + 2 * h) + h,
    }[method]


@pytest.mark.parametrize("method", METHODS)
def test_trainable_parameters_match_the_formula_on_the_bundled_shape(bundled_dir, method):
    config = AutoConfig.from_pretrained(bundled_dir)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    tuned = attach_adapter(model, AdapterConfig(method=method))
    counted = sum(p.numel() for p in trainable_parameters(tuned).values())
    assert counted == _count_by_formula(config, method)
    if method == "full":
        assert counted == 134_515_008  # SmolLM2-135M's published size


def _batch(tokenizer):
    rows = [
        render(tokenizer, Example([{"role": "user", "content": f"Say {w}."}, {"role": "assistant", "content": w}], ""))
        for w in ("alpha", "bravo", "charlie", "delta")
    ]
    return collate(rows, tokenizer.pad_token_id)


def _tiny(tiny_model_dir):
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)


def _loss(model, batch) -> float:
    s, n = target_loss_sum(model, batch)
    return s.item() / n


@pytest.mark.parametrize("method", METHODS)
def test_a_few_steps_lower_the_loss(tiny_model_dir, tokenizer, method):
    model = attach_adapter(_tiny(tiny_model_dir), AdapterConfig(method=method, r=4, bottleneck_size=8))
    batch = _batch(tokenizer)
    params = trainable_parameters(model)
    # IA3's few scaling vectors start at 1; soft prompts train at high rates (Lester et al.: 0.3)
    lr = {"full": 1e-3, "ia3": 1e-1, "prefix": 1e-1, "prompt": 3e-1}.get(method, 1e-2)
    opt = build_optimizer(params, OptimConfig(lr=lr), 2)
    before = _loss(model, batch)
    for _ in range(5):
        s, n = target_loss_sum(model, batch)
        (s / n).backward()
        opt.step()
        opt.zero_grad()
    assert _loss(model, batch) < before - 0.05


def _perturbed(tiny_model_dir, method):
    """A tuned model whose adapter is not at its (often identity) init."""
    model = attach_adapter(_tiny(tiny_model_dir), AdapterConfig(method=method, r=4, bottleneck_size=8))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in trainable_parameters(model).values():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model.eval()


def _logits(model, batch):
    """Logits at the input's positions (a prefix/prompt model's virtual tokens left out)."""
    with torch.no_grad():
        return causal_lm_of(model).lm_head(decoder_states(model, batch["input_ids"], batch["attention_mask"]))


@pytest.mark.parametrize("method", METHODS)
def test_save_then_load_gives_the_same_logits(tmp_path, tiny_model_dir, tokenizer, method):
    batch = _batch(tokenizer)
    model = _perturbed(tiny_model_dir, method)
    weights = {n: p.detach().clone() for n, p in trainable_parameters(model).items()}
    save_adapter(model, tmp_path / "adapter", weights)
    loaded = load_adapter(_tiny(tiny_model_dir), tmp_path / "adapter").eval()
    expected = _logits(model, batch)
    assert (_logits(loaded, batch) - expected).abs().max().item() <= 1e-4
    # the adapter matters: the base alone answers differently
    with as_base(loaded) as base:
        assert (_logits(base, batch) - expected).abs().max().item() > 1e-3


@pytest.mark.parametrize("method", [m for m in MERGEABLE if m != "full"])
def test_merging_keeps_the_logits(tiny_model_dir, tokenizer, method):
    batch = _batch(tokenizer)
    model = _perturbed(tiny_model_dir, method)
    expected = _logits(model, batch)
    merged = model.merge_and_unload()
    assert not any("lora" in n or "ia3" in n for n, _ in merged.named_parameters())
    assert (_logits(merged, batch) - expected).abs().max().item() <= 1e-4


@pytest.mark.parametrize("method", [m for m in METHODS if m != "full"])  # full: no base beside it here
def test_folded_computes_the_same_and_gives_the_base_back(tiny_model_dir, tokenizer, method):
    """Evaluation folds LoRA into the weights for speed: the same logits as the adapter's own
    forward, a base that is bit for bit what it was afterwards, the other methods untouched."""
    batch = _batch(tokenizer)
    model = _perturbed(tiny_model_dir, method)
    expected = _logits(model, batch)
    with as_base(model) as base:
        base_logits = _logits(base, batch)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with folded(model) as fast:
        assert (_logits(fast, batch) - expected).abs().max().item() <= 1e-4
        changed = {n for n, p in fast.named_parameters() if not torch.equal(p, before[n])}
        assert changed == ({n for n in before if "base_layer.weight" in n} if method == "lora" else set())
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert torch.equal(_logits(model, batch), expected)
    with as_base(model) as base:
        assert torch.equal(_logits(base, batch), base_logits)


def test_bottleneck_adapters_at_init_leave_the_logits_unchanged(tiny_model_dir, tokenizer):
    batch = _batch(tokenizer)
    expected = _logits(_tiny(tiny_model_dir), batch)
    tuned = attach_adapter(_tiny(tiny_model_dir), AdapterConfig(method="bottleneck", bottleneck_size=8))
    assert torch.equal(_logits(tuned, batch), expected)


def test_bottleneck_folder_format(tmp_path, tiny_model_dir):
    model = _perturbed(tiny_model_dir, "bottleneck")
    save_adapter(model, tmp_path, {n: p.detach() for n, p in trainable_parameters(model).items()})
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config == {
        "afinar_method": "bottleneck",
        "bottleneck_size": 8,
        "hidden_size": 64,
        "layers": 2,
        "nonlinearity": "gelu",
    }
    from safetensors.torch import load_file

    tensors = load_file(tmp_path / "adapter_model.safetensors")
    assert tensors["model.layers.0.attn_adapter.down.weight"].shape == (8, 64)
    assert tensors["model.layers.1.mlp_adapter.up.weight"].shape == (64, 8)
    assert len(tensors) == 2 * 2 * 4  # layers x (attn, mlp) x (down, up) x (weight, bias)


def test_layer_decay_scales_by_depth():
    names = [
        "model.embed_tokens.weight",
        "model.layers.0.self_attn.q_proj.lora_A.default.weight",
        "model.layers.3.mlp.down_proj.lora_B.default.weight",
        "model.norm.weight",
    ]
    assert layer_scales(names, 4, 0.5) == [0.5**4, 0.5**3, 1.0, 1.0]
    assert layer_scales(names, 4, None) == [1.0] * 4


def test_layer_decay_groups_the_optimizer(tiny_model_dir):
    model = attach_adapter(_tiny(tiny_model_dir), AdapterConfig(r=4))
    params = trainable_parameters(model)
    opt = build_optimizer(params, OptimConfig(lr=1e-3, lr_layer_decay=0.5), 2)
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    for name, p in params.items():
        expected = 1e-3 * (0.5 if ".layers.0." in name else 1.0)
        assert lr_of[id(p)] == pytest.approx(expected)


def test_layerwise_adaptive_step_by_hand():
    w = torch.nn.Parameter(torch.tensor([3.0, -4.0]))  # ||w|| = 5
    w.grad = torch.tensor([0.5, 2.0])
    LayerwiseAdamW([w], lr=0.1, weight_decay=0.0).step()
    # first Adam step: m_hat = g, v_hat = g^2, so u = g / (|g| + eps) = sign(g); ||u|| = sqrt(2)
    u = torch.tensor([1.0, 1.0]) * (1 - 1e-8 / 0.5)
    ratio = 5.0 / (2**0.5)
    expected = torch.tensor([3.0, -4.0]) - 0.1 * ratio * torch.tensor([1.0, 1.0])
    assert torch.allclose(w.detach(), expected, atol=1e-6), (w, expected, u)
    zero = torch.nn.Parameter(torch.zeros(2))  # LoRA's B at start: the plain Adam step
    zero.grad = torch.tensor([1.0, -1.0])
    LayerwiseAdamW([zero], lr=0.1).step()
    assert torch.allclose(zero.detach(), torch.tensor([-0.1, 0.1]), atol=1e-6)


@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_virtual_tokens_match_peft_forward(tiny_model_dir, tokenizer, method):
    """Our decoder path (training loss, benchmarks) places the learned tokens as PEFT's own
    forward does: the logits at the input's positions agree."""
    batch = _batch(tokenizer)
    model = _perturbed(tiny_model_dir, method)
    with torch.no_grad():
        theirs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    ours = _logits(model, batch)
    assert (theirs[:, -ours.shape[1] :] - ours).abs().max().item() <= 1e-5
