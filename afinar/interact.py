"""Try a tuned model by hand: one answer (``afinar generate``) or a conversation (``afinar chat``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["chat", "reply"]


def reply(model, tokenizer, recipe, messages: list[dict[str, str]], max_new_tokens: int) -> str:
    """Greedy answer to ``messages``, with the recipe's system prompt as in training."""
    from afinar.data.read import with_system_prompt
    from afinar.eval.generate import generate

    messages = with_system_prompt(messages, recipe.data.system_prompt)
    return generate(model, tokenizer, [messages], max_new_tokens, batch_size=1)[0]


def chat(run_dir: Path, ask: Callable[[], str | None], say: Callable[[str], None], max_new_tokens: int) -> None:
    """Loop: ``ask()`` for a user turn (None or '/exit' ends), ``say()`` the answer; keeps history."""
    from afinar.pipeline import load_tuned

    model, tokenizer, recipe = load_tuned(run_dir)
    history: list[dict[str, str]] = []
    while (text := ask()) is not None and text.strip() != "/exit":
        if not text.strip():
            continue
        history.append({"role": "user", "content": text})
        answer = reply(model, tokenizer, recipe, history, max_new_tokens)
        history.append({"role": "assistant", "content": answer})
        say(answer)
