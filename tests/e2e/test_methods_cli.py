"""Each adapter method through the real CLI on the tiny Llama: train, exact resume, eval base vs
tuned, generate, export (or its refusal), serve. LoRA has its own tests everywhere else."""

import json

import openai
import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import tiny_recipe

METHODS = ["dora", "ia3", "prefix", "prompt", "bottleneck", "full"]


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _weights(run) -> dict:
    files = sorted((run / "adapter").glob("*.safetensors"))
    assert files, f"nothing saved in {run / 'adapter'}"
    return {k: v for f in files for k, v in load_file(f).items()}


@pytest.fixture(scope="module", params=METHODS)
def runs(request, tmp_path_factory, tiny_model_dir):
    """``(method, full_run, resumed_run)``: 4 steps straight, and 2 steps + a resume."""
    method, tmp = request.param, tmp_path_factory.mktemp(request.param)
    recipe = tiny_recipe(
        tmp,
        tiny_model_dir,
        n_eval=4,
        adapter={"method": method, "r": 4, "alpha": 8, "bottleneck_size": 8},
        optim={"lr": {"full": 1e-3, "prefix": 1e-1, "prompt": 3e-1}.get(method, 1e-2), "warmup_steps": 0},
        train={"max_steps": 4, "eval_interval": 2, "checkpoint_interval": 1, "precision": "fp32", "seed": 3},
        eval={"metric": "exact", "max_new_tokens": 8},
    )
    full, part = tmp / "full", tmp / "part"
    for args in (["--run-dir", str(full)], ["--run-dir", str(part), "--stop-at-step", "2"]):
        result = _cli("train", "--quiet", str(recipe), *args)
        assert result.exit_code == 0, result.output
    result = _cli("train", "--quiet", "--resume", str(part))
    assert result.exit_code == 0, result.output
    return method, full, part


def test_resume_is_exact(runs):
    _, full, part = runs
    a, b = _weights(full), _weights(part)
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6


def test_eval_compares_base_and_tuned(runs):
    _, full, _ = runs
    result = _cli("eval", str(full), "--suite", "domain")
    assert result.exit_code == 0, result.output
    metrics = json.loads((full / "eval" / "domain.json").read_text())
    assert {"base", "tuned"} <= set(metrics)


def test_export_merges_or_refuses(runs, tmp_path):
    method, full, _ = runs
    # --force: the default gate judged nothing here and rejects (tests/eval/test_gate.py)
    result = _cli("export", str(full), "--format", "hf", "-o", str(tmp_path / "hf"), "--prompts", "4", "--force")
    if method in ("prefix", "prompt", "bottleneck"):
        assert result.exit_code == 2
        text = " ".join(result.output.split())
        assert "cannot be merged" in text and "adapter.method: lora or dora" in text
    else:
        assert result.exit_code == 0, result.output
        assert "4/4 prompts generate identical tokens" in result.output


def test_serve_answers_by_the_run_name(runs):
    from afinar.serve.server import ServeOptions, build
    from tests.serve.conftest import running

    method, full, _ = runs
    dep = build(ServeOptions(run=full, max_tokens=5, force=True))  # the default gate judged nothing
    try:
        with running(dep) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused-in-local-mode", max_retries=0)
            names = sorted(m.id for m in client.models.list())
            # PEFT adapters share their base; a full fine-tune or bottleneck model is served alone
            assert names == (["t"] if method in ("bottleneck", "full") else ["base", "t"])
            answer = client.chat.completions.create(
                model="t", messages=[{"role": "user", "content": "Add 2 and 3."}], max_tokens=5, temperature=0
            )
    finally:
        dep.engine.close()
    # the server's own decoding loop answers as transformers' generate does (afinar generate)
    generated = _cli("generate", str(full), "Add 2 and 3.", "--max-new-tokens", "5")
    assert generated.exit_code == 0, generated.output
    assert answer.choices[0].message.content.strip() == generated.output.strip(), method
