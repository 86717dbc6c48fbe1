"""The recipe reference page (``docs/recipe.md``), written from the schema in
:mod:`afinar.config` so the page cannot drift from it: ``python -m afinar.recipe_reference``."""

from __future__ import annotations

import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from afinar.config import Recipe

__all__ = ["reference_markdown"]


def reference_markdown() -> str:
    """The recipe reference page (``docs/recipe.md``): every key of :class:`Recipe` with its type,
    default and description, read from the schema itself (``python -m afinar.recipe_reference``)."""
    lines = [
        "# Recipe reference",
        "",
        "Generated from the recipe schema (`afinar/config.py`) by",
        "`python -m afinar.recipe_reference > docs/recipe.md`; a test fails when this page and the schema",
        "disagree. A recipe is validated on load: an unknown or misspelled key is an error naming the key,",
        "its line and the keys allowed there. Paths are relative to the recipe's folder. The demo's recipe",
        "is `examples/retail-sales-json/recipe.yaml`.",
    ]
    sections: list[tuple[str, type[BaseModel], str]] = [("", Recipe, "")]
    while sections:
        prefix, model, doc = sections.pop(0)
        lines += ["", f"## `{prefix}`" if prefix else "## Top level", ""]
        intro = _md_text((model.__doc__ or "").split("\n\n")[0]) if prefix else ""
        lines += [intro or doc, ""] if intro or doc else []
        lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        nested = []
        for key, field in model.model_fields.items():
            sub = field.annotation
            if isinstance(sub, type) and issubclass(sub, BaseModel):
                nested.append((f"{prefix}.{key}" if prefix else key, sub, _md_text(field.description or "")))
                lines.append(f"| `{key}` | section | | see `{nested[-1][0]}` below |")
                continue
            value = None if field.is_required() else field.get_default(call_default_factory=True)
            default = "(required)" if field.is_required() else f"`{_md_value(value)}`"
            lines.append(f"| `{key}` | {_md_type(sub)} | {default} | {_md_text(field.description or '')} |")
        sections = nested + sections
    return "\n".join(lines) + "\n"


def _md_text(text: str) -> str:
    """A docstring as one Markdown table cell: one line, single backticks, pipes escaped."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", " ".join(text.split()))
    return text.replace("``", "`").replace("|", "\\|")


def _md_value(value: Any) -> str:
    if isinstance(value, Path | str):
        return str(value)
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value, ensure_ascii=False)


def _md_type(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{_md_value(a)}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        kinds = [_md_type(a) for a in args if a is not type(None)]
        return " or ".join(kinds) + (" or null" if type(None) in args else "")
    if origin is list:
        return f"list of {_md_type(args[0])}"
    if origin is dict:
        return f"map of {_md_type(args[0])} to {_md_type(args[1])}"
    if origin is tuple:
        return "[" + ", ".join(_md_type(a) for a in args) + "]"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


if __name__ == "__main__":
    print(reference_markdown(), end="")
