"""``afinar plan``: shapes with the published parameter counts, and estimates within 20% of
published peak-memory measurements."""

import json

import pytest
from typer.testing import CliRunner

from afinar.cli import app
from afinar.errors import AfinarError
from afinar.train.memory import SHAPES, plan, shape_from

GIB = 2**30


@pytest.mark.parametrize(
    ("name", "published"),
    [("llama-3-8b", 8.03e9), ("llama-3-70b", 70.6e9), ("llama-3.2-1b", 1.24e9), ("llama-3.2-3b", 3.21e9)],
)
def test_built_in_shapes_have_the_published_parameter_counts(name, published):
    assert abs(SHAPES[name].params / published - 1) < 0.005


@pytest.mark.parametrize(("method", "published_gib"), [("lora", 16.2), ("qlora", 7.4)])
def test_torchtune_llama_3_1_8b_on_one_rtx_4090(method, published_gib):
    # torchtune's README: Llama-3.1-8B, batch 2 packed to 2048 tokens, activation checkpointing
    # (its single-device configs' default), LoRA rank 8 on q, v, output projections and the MLP;
    # torchtune trains in pure bf16, hence autocast=False.
    targets = ["q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    p = plan(SHAPES["llama-3.1-8b"], method, 2048, 2, "1xRTX4090-24GB", checkpointing=True, r=8, targets=targets,
             autocast=False)  # fmt: skip
    assert abs(p.total / GIB / published_gib - 1) <= 0.20
    assert p.fits


def test_sharding_and_checkpointing_lower_the_per_device_peak():
    one = plan(SHAPES["llama-3-70b"], "lora", 4096, 1, "8xH100-80GB")
    sharded = plan(SHAPES["llama-3-70b"], "lora", 4096, 1, "8xH100-80GB", fsdp=True)
    both = plan(SHAPES["llama-3-70b"], "lora", 4096, 1, "8xH100-80GB", fsdp=True, checkpointing=True)
    assert one.parts["weights"] / 8 == pytest.approx(sharded.parts["weights"])
    assert both.total < sharded.total < one.total and not one.fits and both.fits
    assert both.largest_batch[True] >= 1 and both.largest_batch[False] == 0


def test_a_config_json_is_read_and_bad_input_is_named(tmp_path):
    cfg = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
           "num_key_value_heads": 3, "vocab_size": 49152, "tie_word_embeddings": True}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert shape_from(str(tmp_path)).params == SHAPES["smollm2-135m"].params == 134_479_872
    with pytest.raises(AfinarError, match="not a known shape"):
        shape_from(str(tmp_path / "missing"))
    result = CliRunner().invoke(app, ["plan", "--model", "llama-3-8b", "--gpus", "1xTPU"])
    assert result.exit_code == 2 and "accepted: NxNAME" in result.output
    fits = CliRunner().invoke(app, ["plan", "--model", "llama-3-8b", "--method", "qlora", "--gpus", "1xA100-80GB"])
    assert fits.exit_code == 0 and "fits in 80" in fits.output
    too_big = CliRunner().invoke(app, ["plan", "--model", "llama-3-70b", "--gpus", "1xA100-80GB"])
    assert too_big.exit_code == 1 and "does NOT fit" in too_big.output
