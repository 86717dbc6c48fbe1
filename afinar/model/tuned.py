"""A finished run's model, loaded back: its base with its adapter, in the precision evaluation
runs it (every stage after training: eval, export, serve, monitor, the CLI)."""

from __future__ import annotations

from pathlib import Path

import torch

from afinar.model.adapters import load_adapter
from afinar.model.load import load_base
from afinar.model.precision import autocast_for
from afinar.run_folder import RECIPE_FILE, load_run

__all__ = ["load_tuned", "model_for_eval"]


def load_tuned(run_dir: Path, dequantize: bool = False):
    """``(model, tokenizer, recipe)`` for a finished run: its base model (quantized as it was
    trained, or with ``dequantize`` those weights back in fp32, for merging) plus its adapter."""
    recipe = load_run(run_dir)
    base, tokenizer, _ = load_base(recipe.base_model, recipe.memory.quantize)
    if dequantize and recipe.memory.quantize != "none":
        base = base.dequantize(dtype=torch.float32)
    return load_adapter(base, Path(run_dir) / "adapter"), tokenizer, recipe


def model_for_eval(target: str | Path):
    """``(model, tokenizer, autocast, is_run)``: a run's tuned model (its adapter can be disabled
    for the base side) in the run's precision, or a base model spec alone in the default
    precision; on the GPU when there is one."""
    is_run = (Path(target) / RECIPE_FILE).is_file()
    if is_run:
        model, tokenizer, recipe = load_tuned(Path(target))
        precision = recipe.train.precision
    else:
        model, tokenizer, _ = load_base(str(target))
        precision = "auto"
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    _, autocast = autocast_for(precision, device)
    return model.to(device), tokenizer, autocast, is_run
