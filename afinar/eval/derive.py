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
  null when no item has a value;
- ``collect``: a list built by checks, for validation findings a business states as rules
  ("flag a missing header field", "flag a negative figure") rather than leaves to a small model,
  which flags clean tables it has not seen (the retail example's disjoint split). Each check is
  ``{"where": {FIELD: COND, ...}, "emit": {...}}`` on the answer, or ``{"each": "LIST",
  "collect": [checks]}`` on each item of a list, in order; ``COND`` is ``null`` (null or absent),
  or ``"< 0"``, ``"<= 0"``, ``"> 0"``, ``">= 0"`` (a number compared with zero; anything else
  fails it). In ``emit``, a string ``"$FIELD"`` takes that field of the item;
- ``if_any``: ``then`` when the list ``if_any`` names is non-empty, else ``else`` (a status that
  follows the findings). Rules that read a derived field run after it.

A derived field is (re)written only in an answer that parses as a JSON object holding every list
its rule reads; every other answer (an error object, broken JSON) is returned as it was. JSON
Schema ignores keywords it does not know, so the schema still validates as before. The eval's
predictions, the ``generate`` and ``chat`` verbs and the model card say that these fields are
computed, and the eval reports how many answers the rules changed; ``afinar serve`` writes them
in every answer decoded under such a schema, and its audit record names them.
"""

from __future__ import annotations

import json
from typing import Any

from afinar.eval.domain import parse_json

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


_FORMS = (
    "{'sum': 'LIST.FIELD', 'round': N}, {'argmax': 'LIST.FIELD', 'take': 'FIELD'}, "
    "{'collect': [CHECK, ...]} or {'if_any': 'LIST', 'then': V, 'else': V}"
)
_COMPARE = {"< 0": lambda x: x < 0, "<= 0": lambda x: x <= 0, "> 0": lambda x: x > 0, ">= 0": lambda x: x >= 0}


def _checked(name: str, rule: Any) -> dict:
    kinds = [k for k in ("sum", "argmax", "collect", "if_any") if isinstance(rule, dict) and k in rule]
    ok = len(kinds) == 1
    if ok and kinds[0] in ("sum", "argmax"):
        source = rule[kinds[0]]
        ok = isinstance(source, str) and source.count(".") == 1 and ("take" in rule) == (kinds[0] == "argmax")
    elif ok and kinds[0] == "collect":
        ok = _checks_ok(rule["collect"])
    elif ok:
        ok = isinstance(rule["if_any"], str) and "then" in rule and "else" in rule
    if not ok:
        raise ValueError(f"{KEYWORD} of '{name}': expected {_FORMS}, got {rule!r}")
    return rule


def _checks_ok(checks: Any) -> bool:
    if not isinstance(checks, list):
        return False
    for c in checks:
        if isinstance(c, dict) and set(c) == {"each", "collect"}:
            if not (isinstance(c["each"], str) and _checks_ok(c["collect"])):
                return False
        elif not (isinstance(c, dict) and set(c) == {"where", "emit"} and isinstance(c["where"], dict)
                  and isinstance(c["emit"], dict)
                  and all(v is None or v in _COMPARE for v in c["where"].values())):  # fmt: skip
            return False
    return True


def _reads(rule: dict) -> set[str]:
    """The top-level fields ``rule`` reads."""
    if "sum" in rule or "argmax" in rule:
        return {(rule.get("sum") or rule["argmax"]).split(".")[0]}
    if "if_any" in rule:
        return {rule["if_any"]}

    def walk(checks) -> set[str]:
        out = set()
        for c in checks:
            out |= {c["each"]} if "each" in c else set(c["where"])
        return out

    return walk(rule["collect"])


def _number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _values(items: list, field: str) -> list[tuple[int, float]]:
    return [(i, x[field]) for i, x in enumerate(items) if isinstance(x, dict) and _number(x.get(field))]


def _holds(obj: dict, where: dict) -> bool:
    for field, cond in where.items():
        value = obj.get(field)
        if cond is None:
            if value is not None:
                return False
        elif not (_number(value) and _COMPARE[cond](value)):
            return False
    return True


def _emit(template: dict, obj: dict) -> dict:
    return {k: obj.get(v[1:]) if isinstance(v, str) and v.startswith("$") else v for k, v in template.items()}


def _collect(obj: dict, checks: list) -> list:
    out = []
    for c in checks:
        if "each" in c:
            for item in obj[c["each"]]:
                if isinstance(item, dict):
                    out += _collect(item, c["collect"])
        elif _holds(obj, c["where"]):
            out.append(_emit(c["emit"], obj))
    return out


def _lists_walked(checks: list) -> list[str]:
    return [c["each"] for c in checks if "each" in c]


def _compute(answer: dict, rule: dict):
    if "collect" in rule:
        if not all(isinstance(answer.get(name), list) for name in _lists_walked(rule["collect"])):
            return _MISSING
        return _collect(answer, rule["collect"])
    if "if_any" in rule:
        items = answer.get(rule["if_any"])
        return _MISSING if not isinstance(items, list) else rule["then"] if items else rule["else"]
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

    ok, value = parse_json(text)
    if not ok or not isinstance(value, dict):
        return text, []
    changed = []
    # a rule that reads a derived field runs after it (the status after the findings it follows)
    order = sorted(rules, key=lambda name: bool(_reads(rules[name]) & set(rules)))
    for name in order:
        rule = rules[name]
        new = _compute(value, rule)
        if new is _MISSING:
            continue
        if name not in value or value[name] != new or type(value[name]) is not type(new):
            changed.append(name)
        value[name] = new
    if not changed:
        return text, []
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")), changed
