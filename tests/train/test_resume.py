"""A run stopped at step k and resumed ends with the same adapter as an uninterrupted run."""

import json

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import alpaca_rows, tiny_recipe, write_jsonl


def _recipe(tmp_path, tiny_model_dir, **sections):
    return tiny_recipe(
        tmp_path,
        tiny_model_dir,
        n_eval=4,
        adapter={"r": 4, "alpha": 8, "dropout": 0.1},  # dropout: the RNG state must resume too
        # 8 steps of 2x2 rows over 24 rows: crosses an epoch boundary, so the data order resumes too.
        train={
            "micro_batch_size": 2,
            "grad_accum": 2,
            "max_steps": 8,
            "eval_interval": 2,
            "precision": "fp32",
            "seed": 3,
        },
        **sections,
    )


def _train(*args):
    result = CliRunner().invoke(app, ["train", "--quiet", *args])
    assert result.exit_code == 0, result.output
    return result


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys() and len(a) > 0
    return max((a[k] - b[k]).abs().max().item() for k in a)


def _stopped_and_resumed_equals_whole(recipe, tmp_path, stop: int) -> dict:
    """Train ``recipe`` whole (``tmp_path/full``) and stopped at ``stop`` then resumed
    (``tmp_path/part``); assert the adapters agree to 1e-6 and return the whole run's."""
    full, part = tmp_path / "full", tmp_path / "part"
    _train(str(recipe), "--run-dir", str(full))
    _train(str(recipe), "--run-dir", str(part), "--stop-at-step", str(stop))
    _train("--resume", str(part))
    a = load_file(full / "adapter" / "adapter_model.safetensors")
    assert _max_diff(a, load_file(part / "adapter" / "adapter_model.safetensors")) <= 1e-6
    return a


def test_resume_is_exact(tmp_path, tiny_model_dir):
    recipe = _recipe(tmp_path, tiny_model_dir)
    full, part = tmp_path / "full", tmp_path / "part"
    _train(str(recipe), "--run-dir", str(full))
    _train(str(recipe), "--run-dir", str(part), "--stop-at-step", "5")
    stopped = json.loads((part / "summary.json").read_text())["train"]
    assert stopped["interrupted_at"] == 5 and stopped["steps"] == 5
    _train("--resume", str(part))

    a = load_file(full / "adapter" / "adapter_model.safetensors")
    b = load_file(part / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and len(a) > 0
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    assert diff <= 1e-6
    # The adapter moved away from its zero-initialised B, so equality is not trivial.
    assert max(v.abs().max().item() for k, v in a.items() if "lora_B" in k) > 1e-4
    # The metrics log reads as one run: steps 1..8 once each.
    steps = [
        json.loads(line)["step"]
        for line in (part / "metrics.jsonl").read_text().splitlines()
        if "loss" in json.loads(line)
    ]
    assert steps == list(range(1, 9))


def test_a_different_seed_gives_a_different_adapter(tmp_path, tiny_model_dir):
    """Guards the test above: the comparison can fail."""
    recipe = _recipe(tmp_path, tiny_model_dir)
    _train(str(recipe), "--run-dir", str(tmp_path / "a"))
    text = recipe.read_text().replace("seed: 3", "seed: 4")
    recipe.write_text(text)
    _train(str(recipe), "--run-dir", str(tmp_path / "b"))
    a = load_file(tmp_path / "a" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "b" / "adapter" / "adapter_model.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) > 1e-4
    assert torch.isfinite(torch.stack([v.abs().max() for v in a.values()])).all()


def test_resume_refuses_data_that_changed(tmp_path, tiny_model_dir):
    recipe = _recipe(tmp_path, tiny_model_dir)
    part = tmp_path / "part"
    _train(str(recipe), "--run-dir", str(part), "--stop-at-step", "2")
    write_jsonl(tmp_path / "train.jsonl", alpaca_rows(24, start=1))
    result = CliRunner().invoke(app, ["train", "--quiet", "--resume", str(part)])
    assert result.exit_code == 2
    assert "train.jsonl: changed or missing since" in " ".join(result.output.split())


def test_resume_is_exact_with_layerwise_optimizers(tmp_path, tiny_model_dir):
    """Layer-wise LR decay (one param group per depth) and the LAMB-style trust ratio resume too."""
    recipe = _recipe(tmp_path, tiny_model_dir)
    recipe.write_text(
        recipe.read_text().replace("optim:\n", "optim:\n  lr_layer_decay: 0.5\n  layerwise_adaptive: true\n")
    )
    a = _stopped_and_resumed_equals_whole(recipe, tmp_path, stop=3)
    assert max(v.abs().max().item() for k, v in a.items() if "lora_B" in k) > 1e-4


@pytest.mark.parametrize("loss", ["kl", "sft", "kl+sft"])
def test_resume_is_exact_with_replay(tmp_path, tiny_model_dir, loss):
    """Replay rows (their own stream, the base's distributions for ``kl``) resume exactly, and
    the replay term is part of the update: the adapter differs from a run without it."""
    general = [{"instruction": f"Tell me about {t}.", "output": f"{t.capitalize()} is a topic with a long story."}
               for t in ("rivers", "bread", "chess", "the moon", "trains")]  # fmt: skip
    write_jsonl(tmp_path / "general.jsonl", general)
    replay = {"enabled": True, "data": "general.jsonl", "per_step": 3, "loss": loss}
    recipe = _recipe(tmp_path, tiny_model_dir, replay=replay)
    full, plain = tmp_path / "full", tmp_path / "plain"
    a = _stopped_and_resumed_equals_whole(recipe, tmp_path, stop=5)
    metrics = [json.loads(x) for x in (full / "metrics.jsonl").read_text().splitlines()]
    replayed = [m["replay_loss"] for m in metrics if "loss" in m]
    assert len(replayed) == 8 and all(x > -1e-9 for x in replayed)
    if loss == "kl":  # the adapter starts as the base: no divergence at first, then some
        assert abs(replayed[0]) < 1e-9 and replayed[-1] > 1e-8
    info = json.loads((full / "replay.json").read_text())
    assert info["loss"] == loss and info["rows"] == 10  # a chat row and a plain-text row each
    _train(str(_recipe(tmp_path, tiny_model_dir)), "--run-dir", str(plain))
    assert _max_diff(a, load_file(plain / "adapter" / "adapter_model.safetensors")) > 1e-4


class _Payload:
    """Unpickling this runs code: it creates the file ``path``."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("planted", ["state.pt", "rng.pt", ".metadata"])
def test_resume_runs_no_code_from_a_tampered_checkpoint(tmp_path, tiny_model_dir, planted):
    """--resume on a run folder from someone else: a pickle planted in the checkpoint is refused
    with a clear error, and its code does not run."""
    import pickle

    run = tmp_path / "run"
    _train(str(_recipe(tmp_path, tiny_model_dir)), "--run-dir", str(run), "--stop-at-step", "2")
    (ckpt,) = (run / "checkpoints").glob("step-*")
    marker = tmp_path / "owned"
    (ckpt / planted).write_bytes(pickle.dumps(_Payload(str(marker))))
    result = CliRunner().invoke(app, ["train", "--quiet", "--resume", str(run)])
    assert not marker.exists(), "resuming ran code from the run folder"
    if planted == "state.pt":  # not a file this afinar reads: the resume goes on and completes
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2 and "holds more than a checkpoint does" in result.output, result.output
