"""The LoRA adapter as a GGUF LoRA file (``--format gguf-lora``): its pairs against PEFT's own
merge, llama.cpp applying it on the base GGUF and answering as the trained model and as the
merged export do (and unlike the base alone), and what it refuses."""

import json

import gguf
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from afinar.cli import app
from afinar.data.render import prompt_ids
from afinar.model.llamacpp import LlamaCpp
from tests.conftest import alpaca_rows, tiny_recipe


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir):
    """A tiny run whose adapter moves the answers (a high learning rate: the parity must be
    between two different models, not the base twice)."""
    tmp = tmp_path_factory.mktemp("lora-gguf")
    recipe = tiny_recipe(tmp, tiny_model_dir, n_eval=6, train={"max_steps": 8}, optim={"lr": 3e-2})
    result = CliRunner().invoke(app, ["train", "--quiet", str(recipe), "--run-dir", str(tmp / "run")])
    assert result.exit_code == 0, result.output
    return tmp / "run"


def export(run_dir, *args):
    return CliRunner().invoke(app, ["export", str(run_dir), "--prompts", "6", "--force", *map(str, args)])


def _unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's interleaved rotary rows back to Hugging Face's halves (written out here, not
    imported: the test must not share the exporter's permutation)."""
    rows = w.shape[0]
    per = rows // n_head
    order = [h * per + half * (per // 2) + i for h in range(n_head) for i in range(per // 2) for half in (0, 1)]
    back = np.empty_like(w)
    back[order] = w
    return back


def _greedy(gguf_file, prompts, adapter=None):
    engine = LlamaCpp(gguf_file, adapter=adapter)
    return [engine.greedy(p, 16, 2) for p in prompts]


def test_adapter_gguf_answers_as_trained_and_as_the_merged_export(run_dir, tmp_path, tokenizer):
    out = tmp_path / "lora"
    result = export(run_dir, "--format", "gguf-lora", "--quant", "f32", "-o", out)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "verify (llama.cpp): 6/6 prompts generate identical tokens (100%)" in text
    assert "from the prompt text: 6/6 the same" in text
    adapter, base = out / "t-lora.gguf", out / "base-f32.gguf"
    info = json.loads((out / "t-lora.export.json").read_text())
    assert info["format"] == "gguf-lora" and info["quant"] == "f32" and info["base"]["written"]
    assert info["perplexity"]["increase"] == pytest.approx(0, abs=1e-4)  # f32 base, f32 pairs

    merged = tmp_path / "merged.gguf"
    assert export(run_dir, "--format", "gguf", "--quant", "f32", "-o", merged).exit_code == 0
    prompts = [prompt_ids(tokenizer, [{"role": "user", "content": r["instruction"]}]) for r in alpaca_rows(6, 100)]
    with_adapter = _greedy(base, prompts, adapter)
    assert with_adapter == _greedy(merged, prompts)
    assert with_adapter != _greedy(base, prompts)  # the adapter is applied, and it matters


def test_pairs_are_pefts_own_update(run_dir, tmp_path):
    """B @ A from the file, rows put back, equals what PEFT's merge adds to each base matrix."""
    from afinar.model.tuned import load_tuned

    out = tmp_path / "a.gguf"
    assert export(run_dir, "--format", "gguf-lora", "--quant", "f32", "--no-verify", "-o", out).exit_code == 0
    reader = gguf.GGUFReader(out)
    assert bytes(reader.fields["general.type"].parts[-1]).decode() == "adapter"
    assert bytes(reader.fields["adapter.type"].parts[-1]).decode() == "lora"
    assert "adapter.lora.alpha" not in reader.fields  # the scaling is folded into lora_b
    tensors = {t.name: np.array(t.data, dtype=np.float64) for t in reader.tensors}
    tuned, _, _ = load_tuned(run_dir)
    cfg = tuned.config
    base = {k.replace(".base_layer", ""): v.double() for k, v in tuned.get_base_model().state_dict().items()}
    merged = tuned.merge_and_unload().state_dict()
    names = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
             "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}  # fmt: skip
    checked = 0
    for layer in range(cfg.num_hidden_layers):
        for hf, short in names.items():
            key = f"blk.{layer}.{short}.weight"
            if f"{key}.lora_a" not in tensors:
                continue
            delta = tensors[f"{key}.lora_b"] @ tensors[f"{key}.lora_a"]
            if hf == "q_proj":
                delta = _unpermute(delta, cfg.num_attention_heads)
            elif hf == "k_proj":
                delta = _unpermute(delta, cfg.num_key_value_heads)
            module = "self_attn" if short.startswith("attn") else "mlp"
            name = f"model.layers.{layer}.{module}.{hf}.weight"
            want = merged[name].double() - base[name]
            assert np.abs(delta - want.numpy()).max() < 1e-5, name
            checked += 1
    assert checked == 2 * 7  # every target of every layer (lora targets all linear by default)


def test_rslora_and_per_module_ranks_fold_their_own_scaling(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from afinar.export.lora_gguf import lora_pairs

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    cfg = LoraConfig(r=4, lora_alpha=8, use_rslora=True, target_modules=["v_proj", "up_proj"],
                     rank_pattern={"up_proj": 2}, alpha_pattern={"up_proj": 3})  # fmt: skip
    peft = get_peft_model(model, cfg)
    torch.manual_seed(1)
    for name, p in peft.named_parameters():
        if "lora_B" in name:
            p.data.normal_()
    pairs = lora_pairs(peft, "run")
    a, b = pairs["blk.0.ffn_up.weight"]
    assert a.shape == (2, 64) and b.shape == (128, 2)
    layer = peft.base_model.model.model.layers[0].mlp.up_proj
    want = layer.lora_B["default"].weight @ layer.lora_A["default"].weight * (3 / 2**0.5)  # rsLoRA: alpha / sqrt(r)
    assert np.abs(b @ a - want.detach().numpy()).max() < 1e-5
    a, b = pairs["blk.1.attn_v.weight"]
    layer = peft.base_model.model.model.layers[1].self_attn.v_proj
    want = layer.lora_B["default"].weight @ layer.lora_A["default"].weight * (8 / 4**0.5)
    assert np.abs(b @ a - want.detach().numpy()).max() < 1e-5


def test_refuses_what_llama_cpp_cannot_apply(run_dir, tmp_path, tiny_model_dir, tokenizer):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from afinar.errors import AfinarError
    from afinar.export.lora_gguf import lora_pairs

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    with pytest.raises(AfinarError, match="it is DoRA"):
        lora_pairs(get_peft_model(model, LoraConfig(r=2, use_dora=True, target_modules=["q_proj"])), "run")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    with pytest.raises(AfinarError, match=r"it adapts 'lm_head\.weight'"):
        lora_pairs(get_peft_model(model, LoraConfig(r=2, target_modules=["lm_head"])), "run")

    # the bundled SmolLM2 is not the tiny model the run adapted: named, nothing written
    from afinar.model.load import resolve_base

    out = tmp_path / "x"
    result = export(run_dir, "--format", "gguf-lora", "--base-gguf", resolve_base("default").gguf, "-o", out)
    assert result.exit_code == 2
    said = " ".join(result.output.split())
    assert "tensor blk.0.attn_k.weight is [576, 192], the adapter needs [64, 32] (inputs, outputs)" in said
    assert not out.exists() or not any(out.iterdir())
    result = export(run_dir, "--format", "gguf", "--base-gguf", tmp_path / "b.gguf")
    assert result.exit_code == 2 and "--base-gguf goes with --format gguf-lora" in result.output


def test_a_base_gguf_given_is_verified_on_and_not_rewritten(run_dir, tmp_path):
    first = tmp_path / "one"
    assert export(run_dir, "--format", "gguf-lora", "-o", first).exit_code == 0
    base = first / "base-f16.gguf"
    before = base.stat().st_mtime_ns
    result = export(run_dir, "--format", "gguf-lora", "--base-gguf", base, "-o", tmp_path / "two")
    assert result.exit_code == 0, result.output
    assert f"base: {base} (f16)" in " ".join(result.output.split())
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["t-lora.export.json", "t-lora.gguf"]
    kinds = {t.tensor_type.name for t in gguf.GGUFReader(tmp_path / "two" / "t-lora.gguf").tensors}
    assert kinds == {"F16"}  # llama.cpp's own converter's type for adapters: faster there than f32
    info = json.loads((tmp_path / "two" / "t-lora.export.json").read_text())
    assert info["base"] == {"path": str(base), "sha256": json.loads((first / "t-lora.export.json").read_text())
                            ["base"]["sha256"], "written": False}  # fmt: skip
    assert base.stat().st_mtime_ns == before
