"""Metrics for written answers that must be faithful to their input: financial summaries and API
documentation. Each scorer takes ``(answer, reference, prompt)``: the prompt holds the figures or
the signature the answer may use.

- ``finance``: the mean of four parts. *figures*: the share of the reference's figures (numbers
  with a unit: ``%`` or millions of a currency) that the answer states with the same value and
  unit; *no_invented*: one minus the share of the answer's numbers found neither in the prompt
  nor in the reference; *formal*: 1 unless the answer uses a word of a small informal lexicon
  (English and Spanish) or an exclamation mark; *rouge_l*: ROUGE-L F1 against the reference.
  Numbers are read with a decimal point or comma and compared by absolute value to 0.05
  ("down 10.4%" states the change -10.4).
- ``apidoc``: the mean of three parts. *sections*: the longest run of the required headings
  found in order (Summary, Parameters, Returns, Errors, Example; or Resumen, Parámetros,
  Retorno, Errores, Ejemplo) over five; *parameters*: the documented parameters (the
  back-quoted names that open the bullets of the Parameters section) against the signature's,
  as |both| / |either|; *example*: 1 when the first Python block parses (``ast``) and calls the
  function with arguments that bind to the signature (``inspect.Signature.bind``).
"""

from __future__ import annotations

import ast
import inspect
import re

from afinar.eval.metrics import rouge_l

__all__ = ["apidoc_check", "figures", "finance_check", "numbers", "signature_of"]

_NUMBER = re.compile(r"(?<![\w.,])[-+]?\d+(?:[.,]\d+)?(?!\w|[.,]\d)")
_CURRENCY = {"eur": "EUR", "euros": "EUR", "usd": "USD", "dólares": "USD", "dollars": "USD", "gbp": "GBP",
             "libras": "GBP", "pounds": "GBP", "cad": "CAD", "canadian": "CAD", "canadienses": "CAD"}  # fmt: skip
_QUALIFIED = ("CAD",)
"""Currencies named by a qualifier next to a shared word ("dólares canadienses"): they win."""
_INFORMAL = re.compile(
    r"!|\b(huge|awesome|great news|pretty|super|guys|a lot|lots of|gonna|kind of|cool|amazing|"
    r"genial|tremendo|un montón|súper|chulo|guay|muchísimo|increíble)\b",
    re.I,
)


def _value(text: str) -> float:
    return abs(float(text.replace(",", ".")))


def numbers(text: str) -> list[float]:
    """Every number in ``text`` (absolute values; decimal point or comma)."""
    return [_value(m.group()) for m in _NUMBER.finditer(text)]


def figures(text: str) -> list[tuple[float, str]]:
    """``(value, unit)`` for each number with a unit: ``%`` right after it, or ``M <currency>``
    when "million(s)"/"millones" follows and a currency is named within a few words."""
    out = []
    for m in _NUMBER.finditer(text):
        after, before = text[m.end() : m.end() + 40], text[max(0, m.start() - 8) : m.start()]
        if re.match(r"\s?%", after):
            out.append((_value(m.group()), "%"))
        elif re.match(r"\s?(million|millones|mill\.)", after, re.I):
            words = re.findall(r"[a-zá-ú]+", (before + " " + after).lower())
            named = [_CURRENCY[w] for w in words if w in _CURRENCY]
            currency = next((c for c in named if c in _QUALIFIED), next(iter(named), "?"))
            out.append((_value(m.group()), f"M {currency}"))
    return out


def _close(x: float, pool: list[float]) -> bool:
    return any(abs(x - y) < 0.05 for y in pool)


def finance_check(answer: str, reference: str, prompt: str) -> dict:
    want, got = figures(reference), figures(answer)
    found = sum(any(u == v and abs(x - y) < 0.05 for y, v in got) for x, u in want)
    allowed = numbers(prompt) + numbers(reference)
    stated = numbers(answer)
    invented = [x for x in stated if not _close(x, allowed)]
    parts = {
        "figures": found / len(want) if want else 1.0,
        "no_invented": 1 - len(invented) / len(stated) if stated else 1.0,
        "formal": float(not _INFORMAL.search(answer)),
        "rouge_l": rouge_l(answer, reference)["score"],
    }
    return {"score": sum(parts.values()) / 4, **parts, "invented": invented[:5]}


# ---------------------------------------------------------------- API documentation

_SECTIONS = (
    ("summary", "resumen"),
    ("parameters", "parámetros", "parametros"),
    ("returns", "retorno", "devuelve"),
    ("errors", "errores", "raises", "excepciones"),
    ("example", "ejemplo"),
)
_HEADING = re.compile(r"^#{1,4}\s*(.+?)\s*$", re.M)
_CODE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.S)


def signature_of(prompt: str) -> tuple[str, inspect.Signature] | None:
    """The name and signature of the first ``def`` in ``prompt``, or None."""
    m = re.search(r"^\s*(?:async\s+)?def\s.*?\)\s*(?:->\s*[^:]+)?:", prompt, re.M | re.S)
    if not m:
        return None
    try:
        fn = ast.parse(m.group().strip() + " ...").body[0]
    except SyntaxError:
        return None
    a = fn.args
    params = [inspect.Parameter(p.arg, inspect.Parameter.POSITIONAL_ONLY) for p in a.posonlyargs]
    defaults = [None] * (len(a.posonlyargs) + len(a.args) - len(a.defaults)) + list(a.defaults)
    for p, d in zip(a.args, defaults[len(a.posonlyargs) :], strict=True):
        params.append(inspect.Parameter(p.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        default=inspect.Parameter.empty if d is None else ...))  # fmt: skip
    if a.vararg:
        params.append(inspect.Parameter(a.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        params.append(inspect.Parameter(p.arg, inspect.Parameter.KEYWORD_ONLY,
                                        default=inspect.Parameter.empty if d is None else ...))  # fmt: skip
    if a.kwarg:
        params.append(inspect.Parameter(a.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return fn.name, inspect.Signature(params)


def _section_order(answer: str) -> float:
    found = []
    for title in _HEADING.findall(answer):
        key = title.lower().strip(" :")
        idx = next((i for i, names in enumerate(_SECTIONS) if key in names), None)
        if idx is not None:
            found.append(idx)
    best = [1] * len(found)  # longest strictly increasing run of section indices (in order)
    for i in range(len(found)):
        for j in range(i):
            if found[j] < found[i]:
                best[i] = max(best[i], best[j] + 1)
    return max(best, default=0) / len(_SECTIONS)


def _documented(answer: str) -> set[str]:
    parts = re.split(_HEADING, answer)
    for i in range(1, len(parts) - 1, 2):
        if parts[i].lower().strip(" :") in _SECTIONS[1]:
            return set(re.findall(r"^\s*[-*]\s*`(\w+)`", parts[i + 1], re.M))
    return set()


def _example_calls(answer: str, name: str, sig: inspect.Signature) -> bool:
    m = _CODE.search(answer)
    if not m:
        return False
    try:
        tree = ast.parse(m.group(1))
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            called = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if called == name and not any(isinstance(a, ast.Starred) for a in node.args):
                try:
                    sig.bind(*node.args, **{k.arg: k.value for k in node.keywords if k.arg})
                    return True
                except TypeError:
                    continue
    return False


def apidoc_check(answer: str, reference: str, prompt: str) -> dict:
    found = signature_of(prompt)
    if found is None:
        return {"score": 0.0, "reason": "no signature in the prompt"}
    name, sig = found
    wanted = {p for p in sig.parameters if p not in ("self", "cls")}
    documented = _documented(answer)
    parts = {
        "sections": _section_order(answer),
        "parameters": len(wanted & documented) / len(wanted | documented) if wanted | documented else 1.0,
        "example": float(_example_calls(answer, name, sig)),
    }
    return {"score": sum(parts.values()) / 3, **parts, "undocumented": sorted(wanted - documented)[:5],
            "unknown": sorted(documented - wanted)[:5]}  # fmt: skip
