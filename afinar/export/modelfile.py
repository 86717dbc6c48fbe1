"""An Ollama ``Modelfile`` beside every GGUF export, so ``ollama create NAME -f NAME.Modelfile``
serves the tuned model with the chat format it was trained on.

The Modelfile holds ``FROM`` (the GGUF beside it), ``TEMPLATE`` (a Go template in Ollama's
``.Messages`` form), ``SYSTEM`` and ``PARAMETER stop``. How Ollama uses them (its
``server/routes.go`` and ``template/template.go``): when a chat request's first message is not a
system message, ``SYSTEM`` is put before the messages as one; the template is then executed with
``.Messages`` (each ``.Role``, ``.Content``) and nothing is added after it, so the template ends
with the assistant's header. The Llama 3 format begins with BOS: from llama.cpp when the GGUF says
``tokenizer.ggml.add_bos_token``, else as text at the template's start (llama.cpp reads special
tokens in the prompt text).

The template is written only for a format afinar can prove it reproduces: the tokenizer's own
chat template must render probe conversations exactly as ChatML or the Llama 3 format does
(:mod:`afinar.model.templates`); for any other, the export has no Modelfile and says why. The
system prompt is the recipe's ``data.system_prompt`` (what training put first on rows that had
none), else the one the tokenizer's template inserts by itself (SmolLM2's), else none.

Two differences remain and are documented: Ollama joins two consecutive messages of the same
role into one (chat templates do not), and its Llama 3 form does not strip whitespace around a
message's content (the Hugging Face Llama 3 template does).
"""

from __future__ import annotations

from afinar.errors import AfinarError
from afinar.model.templates import CHATML, LLAMA3

__all__ = ["GO_TEMPLATES", "chat_format", "modelfile", "template_system"]

GO_TEMPLATES = {
    "ChatML": (
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
        ("<|im_end|>", "<|im_start|>"),
    ),
    "Llama 3": (
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
        "{{- end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
        ("<|eot_id|>", "<|start_header_id|>"),
    ),
}
"""Each format's Ollama template and stop strings (Ollama's own ``chatml`` and
``llama3-instruct`` templates)."""
_JINJA = {"ChatML": CHATML, "Llama 3": LLAMA3}
_PROBES = [
    [{"role": "system", "content": "S."}, {"role": "user", "content": "U1?"}],
    [
        {"role": "system", "content": "S."},
        {"role": "user", "content": "U1?"},
        {"role": "assistant", "content": "A1."},
        {"role": "user", "content": "U2?"},
    ],
]


def _render(tokenizer, messages: list[dict], template: str | None = None) -> str:
    return tokenizer.apply_chat_template(messages, chat_template=template, add_generation_prompt=True, tokenize=False)


def chat_format(tokenizer) -> str | None:
    """``ChatML`` or ``Llama 3`` when the tokenizer's chat template renders the probe
    conversations exactly as that format does; ``None`` otherwise."""
    for label, jinja in _JINJA.items():
        try:
            if all(_render(tokenizer, p) == _render(tokenizer, p, jinja) for p in _PROBES):
                return label
        except Exception:  # a template that fails on the probes (jinja raises its own types) is not this one
            continue
    return None


def template_system(tokenizer, label: str) -> str | None:
    """The system prompt the tokenizer's template inserts when a conversation has none (SmolLM2:
    "You are a helpful AI assistant named SmolLM, ..."): the text between the format's system
    header and its end, checked by rendering it back."""
    user = [{"role": "user", "content": "U1?"}]
    own = _render(tokenizer, user)
    if own == _render(tokenizer, user, _JINJA[label]):
        return None
    head, tail = _render(tokenizer, [{"role": "system", "content": "\0"}, *user], _JINJA[label]).split("\0")
    if not (own.startswith(head) and own.endswith(tail) and len(own) > len(head) + len(tail)):
        return None
    inserted = own[len(head) : len(own) - len(tail)]
    return inserted if _render(tokenizer, [{"role": "system", "content": inserted}, *user]) == own else None


def _quoted(text: str, what: str) -> str:
    """``text`` as a Modelfile triple-quoted value, which Ollama keeps byte for byte; a line of
    it ending in three quotes would end the value early."""
    if any(line.rstrip().endswith('"""') for line in text.split("\n")):
        raise AfinarError(f"the {what} has a line ending in three double quotes, which a Modelfile cannot hold")
    odd = sorted({c for c in text if c not in "\n\t" and not c.isprintable()})
    if odd:  # Ollama's parser drops characters Go does not print (U+00A0, control characters)
        raise AfinarError(f"the {what} holds characters a Modelfile drops: {', '.join(f'U+{ord(c):04X}' for c in odd)}")
    return f'"""{text}"""'


def modelfile(gguf_name: str, tokenizer, system_prompt: str | None, adds_bos: bool) -> tuple[str | None, str]:
    """The Modelfile for the GGUF ``gguf_name`` (a file in the same folder) and the chat format it
    reproduces; ``(None, reason)`` when the tokenizer's template is neither format. ``adds_bos``:
    the GGUF's ``tokenizer.ggml.add_bos_token`` (the Llama 3 format begins with BOS: written into
    the template as text, which llama.cpp reads as the token, only when llama.cpp does not add it)."""
    label = chat_format(tokenizer)
    if label is None:
        return None, "the chat template is neither ChatML nor Llama 3, so no Ollama template is proven to match it"
    template, stops = GO_TEMPLATES[label]
    if label == "Llama 3" and not adds_bos:
        template = tokenizer.bos_token + template
    system = system_prompt or template_system(tokenizer, label)
    try:
        quoted = _quoted(template, "template"), _quoted(system, "system prompt") if system else None
    except AfinarError as err:  # no Modelfile rather than one that renders otherwise
        return None, str(err)
    lines = [
        f"# Ollama: ollama create NAME -f {gguf_name.removesuffix('.gguf')}.Modelfile  (written by afinar export;",
        f"# the {label} chat format the model was trained on)",
        f"FROM ./{gguf_name}",
        f"TEMPLATE {quoted[0]}",
    ]
    if quoted[1]:
        lines.append(f"SYSTEM {quoted[1]}")
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    return "\n".join(lines) + "\n", label
