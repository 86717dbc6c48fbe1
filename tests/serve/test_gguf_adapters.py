"""One base GGUF in llama.cpp with several GGUF LoRA adapters, chosen per request by model name:
each answers as its trained run does in PyTorch, concurrently, audited with its run; an adapter
that was not verified on this base, or is not an afinar export, is refused at start."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import torch
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import tiny_recipe, write_jsonl
from tests.serve.conftest import audit_records, running

QUESTIONS = ["Add 3 and 4.", "Add 100 and 101.", "Ventas de camisas en mayo"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_dir):
    """Two tiny runs taught other answers, each exported as a GGUF LoRA; the second verified on
    the base the first export wrote."""
    out = {}
    for name, word in (("a", "ok"), ("b", "vale")):
        tmp = tmp_path_factory.mktemp(f"run-{name}")
        recipe = tiny_recipe(tmp, tiny_model_dir, n_eval=4, train={"max_steps": 8}, optim={"lr": 1e-2})
        rows = [
            {"instruction": f"Add {i} and {i + 1}.", "output": f"{2 * i + 1}" + f" {word}" * (i % 5)} for i in range(24)
        ]
        write_jsonl(tmp / "train.jsonl", rows)
        result = CliRunner().invoke(app, ["train", "--quiet", str(recipe), "--run-dir", str(tmp / "run")])
        assert result.exit_code == 0, result.output
        out[name] = tmp / "run"
    export = ["export", "--format", "gguf-lora", "--quant", "f32", "--prompts", "4", "--force"]
    assert CliRunner().invoke(app, [*export, str(out["a"])]).exit_code == 0
    base = out["a"] / "export" / "gguf-lora" / "base-f32.gguf"
    result = CliRunner().invoke(app, [*export, str(out["b"]), "--base-gguf", str(base)])
    assert result.exit_code == 0, result.output
    return out, base


def _pytorch_answers(model, tokenizer, n: int) -> list[str]:
    answers = []
    for q in QUESTIONS:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True,
                                            return_tensors="pt", return_dict=True)["input_ids"]  # fmt: skip
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=n, do_sample=False, eos_token_id=tokenizer.eos_token_id)
        answers.append(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
    return answers


def test_each_adapter_answers_as_its_run_concurrently(runs, tiny_model_dir):
    from afinar.model.tuned import load_tuned
    from afinar.serve.server import ServeOptions, build

    (run_a, run_b), base = (runs[0]["a"], runs[0]["b"]), runs[1]
    expected = {}
    for name, run in (("a", run_a), ("b", run_b)):
        model, tokenizer, _ = load_tuned(run)
        expected[name] = _pytorch_answers(model.eval(), tokenizer, 12)
        with model.disable_adapter():
            expected["base-f32"] = _pytorch_answers(model, tokenizer, 12)
    assert len({tuple(v) for v in expected.values()}) == 3  # three different models

    # a run folder, and a file, name an adapter
    adapters = {"a": run_a, "b": run_b / "export" / "gguf-lora" / "t-lora.gguf"}
    dep = build(ServeOptions(model=str(tiny_model_dir), gguf=base, adapters=adapters, max_batch=4, force=True))
    try:
        with running(dep) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
            assert sorted(m.id for m in client.models.list()) == ["a", "b", "base-f32"]

            def ask(job):
                model, q = job
                reply = client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": q}], max_tokens=12, temperature=0
                )
                return reply.choices[0].message.content

            jobs = [(m, q) for q in QUESTIONS for m in ("a", "b", "base-f32")] * 2
            before = len(audit_records())
            with ThreadPoolExecutor(8) as pool:
                got = list(pool.map(ask, jobs))
    finally:
        dep.engine.close()
    for (model, q), answer in zip(jobs, got, strict=True):
        assert answer == expected[model][QUESTIONS.index(q)], (model, q)
    records = [r for r in audit_records()[before:] if r["action"] == "serve.chat.completions"]
    assert len(records) == len(jobs)
    by_model = {r["resource"]: r["details"] for r in records}
    assert by_model["a"]["adapter"] == "a" and by_model["a"]["run"] == str(run_a.resolve())
    assert by_model["b"]["run"] == str(run_b.resolve()) and "run" not in by_model["base-f32"]


def test_adapters_not_verified_on_this_base_are_refused(runs, tiny_model_dir, tmp_path):
    from afinar.errors import AfinarError
    from afinar.serve.server import ServeOptions, build

    (run_a, _), base = (runs[0]["a"], runs[0]["b"]), runs[1]
    other = tmp_path / "other.gguf"  # the same tensors, another file: the adapter was not verified on it
    shutil.copy(base, other)
    with other.open("ab") as f:
        f.write(b"\0" * 32)
    with pytest.raises(AfinarError, match=r"verified on the base .*base-f32.gguf .* not on --gguf .*other.gguf"):
        build(ServeOptions(model=str(tiny_model_dir), gguf=other, adapters={"a": run_a}, force=True))

    loose = tmp_path / "loose-lora.gguf"  # the file without its export record
    shutil.copy(run_a / "export" / "gguf-lora" / "t-lora.gguf", loose)
    with pytest.raises(AfinarError, match="no afinar gguf-lora export record"):
        build(ServeOptions(model=str(tiny_model_dir), gguf=base, adapters={"a": loose}, force=True))
    swapped = tmp_path / "swapped"  # the file changed after its export was verified
    swapped.mkdir()
    for suffix in (".gguf", ".export.json"):
        shutil.copy((run_a / "export" / "gguf-lora" / "t-lora").with_suffix(suffix), swapped / f"t-lora{suffix}")
    with (swapped / "t-lora.gguf").open("ab") as f:
        f.write(b"\0" * 32)
    with pytest.raises(AfinarError, match="the file changed since it was exported"):
        build(ServeOptions(model=str(tiny_model_dir), gguf=base, adapters={"a": swapped / "t-lora.gguf"}, force=True))
    with pytest.raises(AfinarError, match="'base-f32' names the base model here"):
        build(ServeOptions(model=str(tiny_model_dir), gguf=base, adapters={"base-f32": run_a}, force=True))
    with pytest.raises(AfinarError, match="this is not a run"):
        build(ServeOptions(model=str(tiny_model_dir), gguf=base, adapters={"a": tmp_path}, force=True))
    unexported = shutil.copytree(run_a, tmp_path / "run", ignore=shutil.ignore_patterns("export"))
    with pytest.raises(AfinarError, match="this has no gguf-lora export"):
        build(ServeOptions(model=str(tiny_model_dir), gguf=base, adapters={"a": unexported / "adapter"}, force=True))

    # the gate: a run that was never promoted is not served without --force
    info = json.loads((run_a / "export" / "gguf-lora" / "t-lora.export.json").read_text())
    assert info["base"]["written"] is True
    with pytest.raises(AfinarError, match="gate"):
        build(ServeOptions(model=str(tiny_model_dir), gguf=base, adapters={"a": run_a}))


def _answers_of(dep, model: str) -> list[str]:
    """Greedy answers of ``model`` on ``dep``, served on loopback, to QUESTIONS; closes its engine."""
    try:
        with running(dep) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
            return [client.chat.completions.create(model=model, messages=[{"role": "user", "content": q}],
                                                   max_tokens=12, temperature=0).choices[0].message.content
                    for q in QUESTIONS]  # fmt: skip
    finally:
        dep.engine.close()


def test_a_run_with_a_gguf_lora_export_is_served_by_llama_cpp(runs, tmp_path):
    """``afinar serve --run`` picks llama.cpp when the run has its GGUF LoRA export, answering as
    the trained run does in PyTorch; without the export (or with ``--engine torch``) PyTorch, and
    the server says which and why; ``--engine llamacpp`` without the export is refused."""
    from afinar.errors import AfinarError
    from afinar.model.tuned import load_tuned
    from afinar.serve.engine import TorchEngine
    from afinar.serve.llamacpp_engine import LlamaCppEngine
    from afinar.serve.server import ServeOptions, build

    run_a = runs[0]["a"]
    model, tokenizer, _ = load_tuned(run_a)
    expected = _pytorch_answers(model.eval(), tokenizer, 12)
    dep = build(ServeOptions(run=run_a, force=True))
    assert isinstance(dep.engine, LlamaCppEngine) and dep.models == {"base": "__base__", "t": "t"}
    assert "llama.cpp engine" in dep.note and "base-f32.gguf" in dep.note
    assert _answers_of(dep, "t") == expected
    assert dep.runs == {"t": str(run_a.resolve())}

    torch_dep = build(ServeOptions(run=run_a, force=True, engine="torch"))
    torch_dep.engine.close()
    assert isinstance(torch_dep.engine, TorchEngine) and torch_dep.note == "PyTorch engine, float32 weights"
    # bf16 weights, as the evaluation casts them: answers as the run's model cast to bf16 answers
    bf16 = build(ServeOptions(run=run_a, force=True, engine="torch", precision="bf16"))
    assert bf16.engine.dtype == torch.bfloat16 and bf16.note == "PyTorch engine, bfloat16 weights"
    assert _answers_of(bf16, "t") == _pytorch_answers(model.to(torch.bfloat16), tokenizer, 12)
    unexported = shutil.copytree(run_a, tmp_path / "run", ignore=shutil.ignore_patterns("export"))
    fallback = build(ServeOptions(run=unexported, force=True))
    fallback.engine.close()
    assert isinstance(fallback.engine, TorchEngine)
    assert fallback.note.startswith("PyTorch engine, float32 weights:") and "has no GGUF LoRA export" in fallback.note
    with pytest.raises(AfinarError, match=r"--engine llamacpp: .* has no GGUF LoRA export"):
        build(ServeOptions(run=unexported, force=True, engine="llamacpp"))
    with pytest.raises(AfinarError, match="--engine torch: it chooses --run's engine"):
        build(ServeOptions(model="x", gguf=runs[1], engine="torch"))
