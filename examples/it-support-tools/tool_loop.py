"""Run Norvia's tool loop against ``afinar serve`` with the official ``openai`` SDK.

The served model (the tuned run, or the base for comparison) is offered the three tools of
:mod:`norvia_tools`; each call it makes is run on the fixture database and its result sent
back, until it answers in words (at most ``--rounds`` calls). Prints the transcript.

    afinar serve --run runs/it-support-tools-XXXX &
    python examples/it-support-tools/tool_loop.py "What is the status of ticket 42?"

``--base-url`` (default ``http://127.0.0.1:8000/v1``), ``--model`` (default: the first model
the server lists that is not ``base``) and ``$AFINAR_API_KEY`` (for a server with users).
"""

from __future__ import annotations

import argparse
import json
import os

from norvia_tools import TOOLS, NorviaDesk
from openai import OpenAI


def tool_loop(client: OpenAI, model: str, question: str, desk: NorviaDesk, rounds: int = 4) -> list[dict]:
    """The conversation: the question, each call with its result, and the final answer."""
    messages: list[dict] = [{"role": "user", "content": question}]
    for _ in range(rounds):
        reply = client.chat.completions.create(model=model, messages=messages, tools=TOOLS, temperature=0)
        message = reply.choices[0].message
        messages.append(message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"}))
        if not message.tool_calls:
            return messages
        for call in message.tool_calls:
            result = desk.call(call.function.name, json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--model")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    client = OpenAI(base_url=args.base_url, api_key=os.environ.get("AFINAR_API_KEY", "local"))
    model = args.model or next(m.id for m in client.models.list() if m.id != "base")
    for m in tool_loop(client, model, args.question, NorviaDesk(), args.rounds):
        for call in m.get("tool_calls") or []:
            print(f"{m['role']:>9}: call {call['function']['name']}({call['function']['arguments']})")
        if m.get("content"):
            print(f"{m['role']:>9}: {m['content']}")


if __name__ == "__main__":
    main()
