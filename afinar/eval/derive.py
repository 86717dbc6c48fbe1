"""Fields of a JSON answer that afinar computes instead of the model: sums and arg-maxes.

A 135M model copies a sales table's lines into JSON almost without error (97-98% per field on
the retail example) and adds them up almost never right (under 1% of ``total_revenue``): adding
2,252.92 + 1,572.31 + 1,757.03 digit by digit is not what next-token prediction over a small
vocabulary learns in a few hundred steps. So the task schema may mark a top-level field as
*derived* from a top-level list, and afinar writes it from the list the model produced:

.. code-block:: json

    "total_units": {"type": "integer", "x-afinar-derive": {"sum": "lines.units"}},
    "total_revenue": {"type": "number", "x-afinar-derive": {"sum": "lines.revenue", "round": 2}},
    "top_product": {"type": ["string", "null"], "x-afinar-derive": {"argmax": "lines.revenue", "take": "product"}}

- ``sum``: the sum of ``LIST.FIELD`` over the list's items, null values skipped (an integer when
  every value is one, else rounded to ``round`` decimals, default 2);
- ``argmax``: the ``take`` field of the item whose ``LIST.FIELD`` is largest (the first on a tie),
  null when no item has a value.

A derived field is (re)written only in an answer that parses as a JSON object holding the list;
every other answer (an error object, broken JSON) is returned as it was. JSON Schema ignores
keywords it does not know, so the schema still validates as before. The eval's predictions, the
``generate`` and ``chat`` verbs and the model card say that these fields are computed.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["KEYWORD", "derive_answer", "derived_fields"]

KEYWORD = "x-afinar-derive"


def derived_fields(schema: dict | None) -> dict[str, dict]:
    """``{field: rule}`` for every property marked with ``x-afinar-derive`` in ``schema`` (at any
    depth of ``properties``, ``oneOf``, ``anyOf``, ``allOf``; applied to the answer's top level).

    Raises:
        ValueError: a rule is malformed (names what would be accepted).
    """
    found: dict[str, dict] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                if isinstance(prop, dict) and KEYWORD in prop:
                    found[name] = _checked(name, prop[KEYWORD])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema or {})
    return found


def _checked(name: str, rule: Any) -> dict:
    ok = isinstance(rule, dict) and (("sum" in rule) != ("argmax" in rule))
    source = rule.get("sum") or rule.get("argmax") if ok else None
    ok = ok and isinstance(source, str) and source.count(".") == 1 and ("take" in rule) == ("argmax" in rule)
    if not ok:
        raise ValueError(
            f"{KEYWORD} of '{name}': expected {{'sum': 'LIST.FIELD', 'round': N}} or "
            f"{{'argmax': 'LIST.FIELD', 'take': 'FIELD'}}, got {rule!r}"
        )
    return rule


def _number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _values(items: list, field: str) -> list[tuple[int, float]]:
    return [(i, x[field]) for i, x in enumerate(items) if isinstance(x, dict) and _number(x.get(field))]


def _compute(answer: dict, rule: dict):
    source = rule.get("sum") or rule["argmax"]
    list_name, field = source.split(".")
    items = answer.get(list_name)
    if not isinstance(items, list):
        return _MISSING
    values = _values(items, field)
    if "sum" in rule:
        total = sum(v for _, v in values)
        return total if all(isinstance(v, int) for _, v in values) else round(total, rule.get("round", 2))
    if not values:
        return None
    best = max(values, key=lambda iv: (iv[1], -iv[0]))[0]
    return items[best].get(rule["take"]) if isinstance(items[best], dict) else None


_MISSING = object()


def derive_answer(text: str, rules: dict[str, dict]) -> tuple[str, list[str]]:
    """``text`` with its derived fields written (compact JSON, key order kept), and which fields
    changed; ``(text, [])`` when there are no rules or the answer is not a JSON object with the
    lists they read."""
    if not rules:
        return text, []
    from afinar.eval.domain import parse_json

    ok, value = parse_json(text)
    if not ok or not isinstance(value, dict):
        return text, []
    changed = []
    for name, rule in rules.items():
        new = _compute(value, rule)
        if new is _MISSING:
            continue
        if name not in value or value[name] != new or type(value[name]) is not type(new):
            changed.append(name)
        value[name] = new
    if not changed:
        return text, []
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")), changed
