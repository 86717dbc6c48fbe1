"""Chat templates afinar supplies for a base whose tokenizer has none.

A base checkpoint (Llama 3.2 1B, for one) often ships its tokenizer without a chat template,
while afinar renders every row, and every prompt at inference, through one. When the tokenizer
has none, afinar picks the template of the format its special tokens belong to:

- **Llama 3** (``<|start_header_id|>``, ``<|end_header_id|>``, ``<|eot_id|>`` in the vocabulary):
  Meta's published format, ``<|begin_of_text|>`` once, then per turn
  ``<|start_header_id|>{role}<|end_header_id|>\\n\\n{content}<|eot_id|>`` (content stripped of
  surrounding whitespace), and for the answer ``<|start_header_id|>assistant<|end_header_id|>\\n\\n``.
  The end of a turn is ``<|eot_id|>``, so it becomes the tokenizer's EOS: the token the loss
  teaches the model to stop with and the one generation stops on. (Llama 3.1's template adds a
  "Cutting Knowledge Date" preamble to the system turn; a base without a template has no such
  convention to keep, so the plain Llama 3 form is used.)
- **ChatML** (``<|im_start|>``, ``<|im_end|>``): ``<|im_start|>{role}\\n{content}<|im_end|>\\n``,
  with ``<|im_end|>`` as EOS.

A tokenizer that has a template keeps it. One that has none and neither set of tokens cannot be
rendered: :func:`ensure_chat_template` says so.
"""

from __future__ import annotations

from afinar.errors import AfinarError

__all__ = ["CHATML", "LLAMA3", "ensure_chat_template"]

LLAMA3 = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{{ message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_FORMATS = (
    ("Llama 3", ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), LLAMA3, "<|eot_id|>"),
    ("ChatML", ("<|im_start|>", "<|im_end|>"), CHATML, "<|im_end|>"),
)


def ensure_chat_template(tokenizer, name: str) -> str | None:
    """Give ``tokenizer`` a chat template when it has none (and the matching end-of-turn token as
    its EOS); returns the format supplied, or ``None`` when it had its own.

    Raises:
        AfinarError: no template, and the vocabulary holds neither format's tokens.
    """
    if tokenizer.chat_template:
        return None
    vocab = tokenizer.get_vocab()
    for label, tokens, template, end in _FORMATS:
        if all(t in vocab for t in tokens):
            tokenizer.chat_template = template
            tokenizer.eos_token = end
            return label
    raise AfinarError(
        f"the tokenizer of base_model '{name}' has no chat template, and its vocabulary has neither Llama 3's "
        "header tokens nor ChatML's; give the model folder a tokenizer_config.json with a 'chat_template'"
    )
