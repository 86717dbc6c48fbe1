"""Export through the real CLI on a short run of the tiny Llama (bundled tokenizer): the merged HF
model against the adapter model in float64, the GGUF's tensors read back by transformers'
own GGUF reader, and llama.cpp generating the same tokens as PyTorch."""

import hashlib
import json

import pytest
import torch
from typer.testing import CliRunner

from afinar.cli import app
from tests.conftest import tiny_recipe


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir):
    tmp = tmp_path_factory.mktemp("export")
    recipe = tiny_recipe(tmp, tiny_model_dir, n_eval=6, train={"max_steps": 6})
    result = CliRunner().invoke(app, ["train", "--quiet", str(recipe), "--run-dir", str(tmp / "run")])
    assert result.exit_code == 0, result.output
    return tmp / "run"


def export(run_dir, *args):
    """``afinar export`` with --force: the run was trained, never gated (the gate has its own tests)."""
    return CliRunner().invoke(app, ["export", str(run_dir), "--prompts", "6", "--force", *map(str, args)])


def test_merged_hf_equals_the_adapter_model(run_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from afinar.run_folder import load_run

    result = export(run_dir, "--format", "hf", "-o", tmp_path / "hf")
    assert result.exit_code == 0, result.output
    assert "verify (transformers): 6/6 prompts generate identical tokens" in result.output
    base = load_run(run_dir).base_model
    adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), run_dir / "adapter").double()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").double()
    x = torch.randint(0, merged.config.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (merged(input_ids=x).logits - adapter(input_ids=x).logits).abs().max().item() < 1e-4
    assert not any("lora" in k for k in merged.state_dict())
    gen = json.loads((tmp_path / "hf" / "generation_config.json").read_text())
    assert gen["eos_token_id"] == 2
    meta = json.loads((tmp_path / "hf" / "export.json").read_text())
    assert any(k.endswith("model.safetensors") for k in meta["files"])


def test_gguf_f32_round_trips_through_transformers_and_runs_in_llama_cpp(run_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "m.gguf"
    result = export(run_dir, "--format", "gguf", "--quant", "f32", "-o", out)
    assert result.exit_code == 0, result.output
    assert "verify (llama.cpp): 6/6 prompts generate identical tokens (100%)" in result.output
    ppl = json.loads((tmp_path / "m.export.json").read_text())["perplexity"]
    assert ppl["export"] == ppl["trained"] > 1 and ppl["increase"] == 0 and ppl["split"] == "eval"  # f32: same weights
    # Ollama's Modelfile beside it (tests/export/test_modelfile.py renders its template)
    modelfile = (tmp_path / "m.Modelfile").read_text()
    assert "FROM ./m.gguf\n" in modelfile and 'PARAMETER stop "<|im_end|>"' in modelfile
    record = json.loads((tmp_path / "m.export.json").read_text())["modelfile"]
    assert record["sha256"] == hashlib.sha256(modelfile.encode()).hexdigest()
    assert f"Ollama: ollama create NAME -f {tmp_path / 'm.Modelfile'} (ChatML)" in " ".join(result.output.split())
    # an independent reader: transformers de-permutes q/k and renames the tensors back
    back = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="m.gguf", dtype=torch.float32)
    from afinar.model.tuned import load_tuned

    tuned, _, _ = load_tuned(run_dir)
    expected = tuned.merge_and_unload().state_dict()
    got = back.state_dict()
    for name, tensor in expected.items():
        if name == "lm_head.weight":
            continue  # tied to the embedding
        assert torch.equal(got[name], tensor), name


@pytest.mark.parametrize(("quant", "matrices"), [("q8_0", {"Q8_0"}), ("q4_k_m", {"Q5_0", "Q8_0"})])
def test_quantized_gguf_reports_agreement_and_perplexity(run_dir, tmp_path, quant, matrices):
    out = tmp_path / "q.gguf"
    result = export(run_dir, "--format", "gguf", "--quant", quant, "-o", out)
    assert result.exit_code == 0, result.output
    meta = json.loads(out.with_suffix(".export.json").read_text())
    v, ppl = meta["verify"], meta["perplexity"]
    assert v["engine"] == "llama.cpp" and v["prompts"] == 6 and 0 <= v["agreement"] <= 1
    assert ppl["rows"] == 6 and ppl["increase"] == pytest.approx(ppl["export"] / ppl["trained"] - 1, abs=1e-4)
    assert f"this GGUF's weights {ppl['export']:.4f}" in " ".join(result.output.split())
    import gguf

    kinds = {(len(t.shape), t.tensor_type.name) for t in gguf.GGUFReader(out).tensors}
    # every norm kept in f32; q4_k_m on 64-wide rows: llama.cpp's fallbacks (Q5_0, and Q8_0 for the tied embedding)
    assert kinds == {(1, "F32")} | {(2, m) for m in matrices}


def _disagreeing(monkeypatch):
    """llama.cpp made to answer otherwise than PyTorch on the first prompt: its token at step 3
    (or its last) replaced by the next id, the comparison then made by the real code."""
    import afinar.export.run as export_module

    real = export_module._verify_gguf

    def disagreeing(path, tokenizer, ids, reference, max_new_tokens):
        _, got = real(path, tokenizer, ids, reference, max_new_tokens)
        k = min(3, len(got[0]) - 1)
        got = [[*got[0][:k], (got[0][k] + 1) % len(tokenizer)], *got[1:]]
        return {"engine": "llama.cpp", **export_module._compare(reference, got)}, got

    monkeypatch.setattr(export_module, "_verify_gguf", disagreeing)


def test_a_failed_verification_keeps_nothing_and_is_audited(run_dir, tmp_path, monkeypatch):
    """llama.cpp answering otherwise than PyTorch, where the trained model was no near tie: no
    GGUF, no export.json, and a 'fail' audit record, not 'allow'."""
    from afinar.security.audit import audit_log

    _disagreeing(monkeypatch)
    out = tmp_path / "g" / "m.gguf"
    result = export(run_dir, "--format", "gguf", "--quant", "f16", "-o", out)
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "disagrees with the trained one on 1 of 6 prompts" in text, result.output
    assert list(out.parent.iterdir()) == []  # neither the GGUF, its export.json, its Modelfile, nor a temporary
    last = [r for r in audit_log().records() if r["action"] == "export"][-1]
    assert (last["decision"], last["resource"]) == ("fail", str(run_dir))


def test_a_difference_at_a_near_tie_is_accepted_and_reported(run_dir, tmp_path, monkeypatch):
    """The same difference passes once the allowance covers the trained model's margin there
    (the summation-order allowance raised to make it one); export.json lists the tie."""
    import afinar.export.run as export_module

    _disagreeing(monkeypatch)
    monkeypatch.setattr(export_module, "LOGIT_TOLERANCE", 10.0)
    out = tmp_path / "m.gguf"
    result = export(run_dir, "--format", "gguf", "--quant", "f16", "-o", out)
    assert result.exit_code == 0, result.output
    assert "1 differ at a near tie of the trained model" in " ".join(result.output.split())
    (tie,) = json.loads(out.with_suffix(".export.json").read_text())["verify"]["near_ties"]
    assert tie["prompt"] == 0 and tie["tie"] and 0 <= tie["margin"] <= tie["allowed"]


def test_near_ties_compare_the_margin_with_what_the_rounding_moves():
    from afinar.export.run import near_ties

    trained = torch.tensor([5.0, 4.9995, 1.0])
    moved = trained + torch.tensor([0.001, -0.001, 0.0])  # the file's weights move logits by 1e-3
    divergence = [(0, [1, 2], 0, 1)]  # the trained model chose 0, llama.cpp 1
    (tie,) = near_ties([trained], [moved], divergence)
    assert tie["tie"] and tie["margin"] == pytest.approx(0.0005, abs=1e-6) and tie["allowed"] == pytest.approx(0.002)
    (clear,) = near_ties([torch.tensor([5.0, 3.0, 1.0])], [torch.tensor([5.001, 2.999, 1.0])], divergence)
    assert not clear["tie"] and clear["margin"] == pytest.approx(2.0)
    # unmoved weights (f32): only the summation-order allowance, 1e-4 per unit of the largest logit
    (f32,) = near_ties([torch.tensor([20.0, 19.999, 0.0])], [torch.tensor([20.0, 19.999, 0.0])], divergence)
    assert f32["allowed"] == pytest.approx(0.002) and f32["tie"]


def test_hf_export_replaces_an_earlier_export_and_nothing_else(run_dir, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    refused = export(run_dir, "--format", "hf", "-o", mine, "--no-verify")
    assert refused.exit_code == 2 and "not an earlier afinar export" in " ".join(refused.output.split())
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    out = tmp_path / "hf"
    assert export(run_dir, "--format", "hf", "-o", out, "--no-verify").exit_code == 0
    (out / "stale.bin").write_text("from the earlier export")
    again = export(run_dir, "--format", "hf", "-o", out, "--no-verify")
    assert again.exit_code == 0, again.output
    assert not (out / "stale.bin").exists() and (out / "export.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "mine"]  # no temporaries left


def test_bad_arguments_are_clear(run_dir, tmp_path):
    assert "accepted: f32, f16, q8_0" in export(run_dir, "--quant", "q4_k", "-o", tmp_path / "x.gguf").output
    assert "accepted: hf, gguf" in export(run_dir, "--format", "onnx").output
