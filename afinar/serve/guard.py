"""What the server lets in (the guard) and lets out (the sanitizer).

Guard, on the untrusted turns of a request (user and tool turns; the whole prompt of a completion):

- injection: the rules of :mod:`afinar.serve.rules` and the classifier of
  :mod:`afinar.serve.classifier`; ``block`` (HTTP 400, code ``prompt_injection``), ``flag``
  (served, recorded in the audit log and metrics) or ``off``.
- PII: ``mask`` (the model sees the masked text; the data-governance detectors and operators of
  :mod:`afinar.data.mask`), ``reject`` (HTTP 400, code ``pii_in_prompt``) or ``off``.

Sanitizer, on the model's answer: PII and secrets are redacted (``[EMAIL]``), an answer that
quotes the system prompt (any run of 8 words of it, or all of a shorter one) is cut with
finish reason ``content_filter``, and a deployment that promises JSON gets its schema checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property

import jsonschema

from afinar.data.mask import Masker, MaskPolicy, replace_spans
from afinar.data.pii import detect
from afinar.serve.classifier import InjectionClassifier
from afinar.serve.rules import injection_findings, normalize

__all__ = ["Guard", "GuardResult", "Sanitizer", "leaks"]

LEAK_WORDS = 8


@dataclass
class GuardResult:
    texts: list[str]
    """The checked texts as the model will see them (masked if PII masking is on)."""
    findings: list[str] = field(default_factory=list)
    injection_score: float = 0.0
    pii: dict[str, int] = field(default_factory=dict)
    blocked: str | None = None
    """``prompt_injection`` or ``pii_in_prompt`` when the request must be refused."""


@dataclass
class Guard:
    injection: str = "block"
    pii: str = "mask"
    threshold: float | None = None
    """Classifier score that counts as an injection; None keeps the shipped one."""
    masker: Masker | None = None

    @cached_property
    def classifier(self) -> InjectionClassifier:
        return InjectionClassifier.load()

    def check(self, untrusted: list[str], texts: list[str] | None = None) -> GuardResult:
        """Look for injections in ``untrusted`` (user and tool turns) and PII in ``texts`` (every turn;
        default ``untrusted``). ``result.texts`` is ``texts`` as the model will see them."""
        texts = untrusted if texts is None else texts
        result = GuardResult(list(texts))
        if self.injection != "off":
            for text in untrusted:
                result.findings += [f for f in injection_findings(text) if f not in result.findings]
                result.injection_score = max(result.injection_score, self.classifier.score(text))
            threshold = self.classifier.threshold if self.threshold is None else self.threshold
            if result.injection_score > threshold:
                result.findings.append("classifier")
            if result.findings and self.injection == "block":
                result.blocked = "prompt_injection"
                return result
        if self.pii != "off":
            masker = self.masker or Masker(MaskPolicy())
            masked = []
            for text in texts:
                spans = detect(text)
                for s in spans:
                    result.pii[s.type] = result.pii.get(s.type, 0) + 1
                masked.append(masker.mask(text, spans) if spans else text)
            if result.pii and self.pii == "reject":
                result.blocked = "pii_in_prompt"
            elif self.pii == "mask":
                result.texts = masked
        return result


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", normalize(text))


def leaks(answer: str, secret: str, n: int = LEAK_WORDS) -> bool:
    """Whether ``answer`` quotes ``secret``: any ``n`` consecutive words of it, or all of it if shorter."""
    words = _words(secret)
    if not words:
        return False
    said = " " + " ".join(_words(answer)) + " "
    size = min(n, len(words))
    return any(f" {' '.join(words[i : i + size])} " in said for i in range(len(words) - size + 1))


class Sanitizer:
    """Redacts PII and secrets in answers and watches for system-prompt leakage."""

    def __init__(
        self,
        redact_pii: bool = True,
        secrets: list[str] | None = None,
        schema: dict | None = None,
        watch_leaks: bool = True,
    ):
        self.redact_pii, self.watch_leaks = redact_pii, watch_leaks
        self.secrets = [s for s in (secrets or []) if s and s.strip()]
        self.schema = schema
        self._masker = Masker(MaskPolicy(default="redact", secrets="redact"))

    def clean(self, text: str) -> tuple[str, dict[str, int]]:
        """``text`` with PII redacted, and the counts by type."""
        clean, counts, _ = self.redact(text)
        return clean, counts

    def redact(self, text: str) -> tuple[str, dict[str, int], list[tuple[int, int, str]]]:
        """:meth:`clean`, and where: each redacted ``text[start:end]`` with what replaced it."""
        if not self.redact_pii:
            return text, {}, []
        spans = detect(text)
        counts: dict[str, int] = {}
        for s in spans:
            counts[s.type] = counts.get(s.type, 0) + 1
        where = self._masker.replacements(text, spans)
        return replace_spans(text, where), counts, where

    def leaked(self, text: str, extra_secrets: list[str] = ()) -> bool:
        return self.watch_leaks and any(leaks(text, s) for s in [*self.secrets, *extra_secrets])

    def schema_errors(self, text: str, schema: dict | None = None) -> str | None:
        """Why ``text`` breaks the JSON promise (this deployment's, or ``schema``), or None.

        ``schema`` ``{}`` asks for any JSON object (OpenAI's ``json_object`` mode).
        """
        schema = self.schema if schema is None else schema
        if schema is None:
            return None
        try:
            value = json.loads(text)
        except ValueError as err:
            return f"the answer is not JSON ({err.msg} at character {err.pos})"
        if not schema:
            return None if isinstance(value, dict) else "the answer is JSON but not an object"

        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
        if error is None:
            return None
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"the answer breaks the schema at {path}: {error.message}"
