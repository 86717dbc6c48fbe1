"""Try a tuned model by hand: one answer (``afinar generate``) or a conversation (``afinar chat``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["chat", "load_tuned", "reply"]


def load_tuned(run_dir: Path):
    """``(model, tokenizer, recipe)`` for a finished run: base model plus its adapter."""
    from afinar.model.adapters import load_adapter
    from afinar.model.load import load_base
    from afinar.pipeline import load_run

    recipe = load_run(run_dir)
    base, tokenizer, _ = load_base(recipe.base_model)
    return load_adapter(base, Path(run_dir) / "adapter"), tokenizer, recipe


def reply(model, tokenizer, recipe, messages: list[dict[str, str]], max_new_tokens: int) -> str:
    from afinar.eval.generate import generate

    if recipe.data.system_prompt and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": recipe.data.system_prompt}, *messages]
    return generate(model, tokenizer, [messages], max_new_tokens, batch_size=1)[0]


def chat(run_dir: Path, ask: Callable[[], str | None], say: Callable[[str], None], max_new_tokens: int) -> None:
    """Loop: ``ask()`` for a user turn (None or '/exit' ends), ``say()`` the answer; keeps history."""
    model, tokenizer, recipe = load_tuned(run_dir)
    history: list[dict[str, str]] = []
    while (text := ask()) is not None and text.strip() != "/exit":
        if not text.strip():
            continue
        history.append({"role": "user", "content": text})
        answer = reply(model, tokenizer, recipe, history, max_new_tokens)
        history.append({"role": "assistant", "content": answer})
        say(answer)
