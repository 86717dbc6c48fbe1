"""Domain metrics for structured (JSON) answers: parse rate, schema-valid rate, field accuracy.

- parse rate: share of answers that are one JSON value (surrounding whitespace and a Markdown
  code fence are tolerated, as a downstream parser would tolerate them);
- schema-valid rate: share that parse and satisfy the task's JSON Schema;
- field accuracy: per row, the share of the reference's leaf fields (dotted paths, list items by
  index) that the answer reproduces exactly (numbers within 0.005), averaged over rows; an
  unparseable answer scores 0. Paths in ``ignore`` (free text) are left out.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator

__all__ = ["flatten", "json_metrics", "parse_json"]

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def parse_json(text: str) -> tuple[bool, Any]:
    text = text.strip()
    m = _FENCE.match(text)
    if m:
        text = m.group(1)
    try:
        return True, json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return False, None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values by dotted path: ``{"a": [{"b": 1}]}`` -> ``{"a.0.b": 1}``; ``[]``/``{}`` are leaves."""
    if isinstance(value, dict) and value:
        items = value.items()
    elif isinstance(value, list) and value:
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, sub in items:
        out.update(flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 0.005
    return a == b


def _plain(path: str) -> str:
    return re.sub(r"\.\d+(?=\.|$)", "", path)  # lines.0.product -> lines.product


def _ignored(path: str, ignore: list[str]) -> bool:
    plain = _plain(path)
    return any(plain == p or plain.startswith(p + ".") for p in ignore)


def json_metrics(predictions: list[str], references: list[str], schema: dict | None, ignore: list[str]) -> dict:
    """Score ``predictions`` against ``references`` (both raw answer strings).

    Returns rates in [0, 1], accuracy per field path under ``by_field`` (list indices folded:
    ``lines.product``), and per-row details under ``rows``.
    """
    validator = Draft202012Validator(schema) if schema else None
    rows = []
    field_hits: dict[str, list[int]] = {}
    for pred, ref in zip(predictions, references, strict=True):
        ok, value = parse_json(pred)
        valid = ok and (validator is None or validator.is_valid(value))
        want = {k: v for k, v in flatten(json.loads(ref)).items() if not _ignored(k, ignore)}
        got = flatten(value) if ok else {}
        matched = {k: k in got and _same(got[k], v) for k, v in want.items()}
        for k, ok_field in matched.items():
            field_hits.setdefault(_plain(k), [0, 0])[ok_field] += 1
        hits = sum(matched.values())
        rows.append({"parsed": ok, "schema_valid": valid, "field_accuracy": hits / len(want) if want else 1.0})
    n = max(len(rows), 1)
    return {
        "n": len(rows),
        "json_parse_rate": sum(r["parsed"] for r in rows) / n,
        "schema_valid_rate": sum(r["schema_valid"] for r in rows) / n,
        "field_accuracy": sum(r["field_accuracy"] for r in rows) / n,
        "by_field": {k: {"n": miss + hit, "accuracy": hit / (miss + hit)} for k, (miss, hit) in field_hits.items()},
        "rows": rows,
    }
