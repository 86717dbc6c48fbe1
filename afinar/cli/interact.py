"""Try a tuned model by hand: one answer (``afinar generate``) or a conversation (``afinar chat``),
with the PyTorch model (base + adapter) or, with ``--gguf``, an exported file in llama.cpp.
(The CLI imports this module inside those two verbs: it loads torch and transformers.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from afinar.data.read import with_system_prompt
from afinar.data.render import prompt_ids
from afinar.eval.derive import derive_answer
from afinar.eval.run import derive_rules, load_schema
from afinar.model.generate import generate
from afinar.model.llamacpp import LlamaCpp
from afinar.model.load import load_tokenizer
from afinar.model.tuned import load_tuned
from afinar.run_folder import load_run

__all__ = ["chat", "reply", "responder"]


def reply(
    model, tokenizer, recipe, messages: list[dict[str, str]], max_new_tokens: int, schema: dict | None = None
) -> str:
    """Greedy answer to ``messages``, with the recipe's system prompt as in training; with
    ``schema``, decoded under it."""
    messages = with_system_prompt(messages, recipe.data.system_prompt)
    return generate(model, tokenizer, [messages], max_new_tokens, batch_size=1, schema=schema)[0]


def responder(run_dir: Path, max_new_tokens: int, gguf: Path | None = None) -> Callable[[list[dict]], str]:
    """A function from a conversation to the run's greedy answer, from PyTorch or llama.cpp, as
    the eval makes it: decoded under the task schema when the recipe says so
    (``eval.constrained``), with the schema's derived fields computed (:mod:`afinar.eval.derive`)."""
    if gguf is None:
        model, tokenizer, recipe = load_tuned(run_dir)

        def answer(messages: list[dict]) -> str:
            return reply(model, tokenizer, recipe, messages, max_new_tokens, schema)

    else:
        recipe = load_run(run_dir)
        tokenizer = load_tokenizer(recipe.base_model)
        engine = LlamaCpp(Path(gguf))

        def answer(messages: list[dict]) -> str:
            ids = prompt_ids(tokenizer, with_system_prompt(messages, recipe.data.system_prompt))
            out = engine.greedy(ids, max_new_tokens, tokenizer.eos_token_id, json_schema=schema)
            return tokenizer.decode(out, skip_special_tokens=True)

    task_schema = load_schema(recipe.eval.json_schema)  # read once, not per turn
    rules = derive_rules(recipe.eval.json_schema, task_schema)
    schema = task_schema if recipe.eval.constrained else None
    return lambda messages: derive_answer(answer(messages), rules)[0]


def chat(
    run_dir: Path,
    ask: Callable[[], str | None],
    say: Callable[[str], None],
    max_new_tokens: int,
    gguf: Path | None = None,
) -> None:
    """Loop: ``ask()`` for a user turn (None or '/exit' ends), ``say()`` the answer; keeps history."""
    answer = responder(run_dir, max_new_tokens, gguf)
    history: list[dict[str, str]] = []
    while (text := ask()) is not None and text.strip() != "/exit":
        if not text.strip():
            continue
        history.append({"role": "user", "content": text})
        said = answer(history)
        history.append({"role": "assistant", "content": said})
        say(said)
