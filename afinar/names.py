"""The names a recipe or a data row may use, one registry each: the recipe schema
(:mod:`afinar.config`) validates against them, and every stage that needs a list (the reader,
PII detection, the scorers, the gate, the history) reads it from here, so no copy can drift.
"""

from __future__ import annotations

__all__ = [
    "ALL_LINEAR",
    "BENCHMARK_NAMES",
    "FIELDS",
    "GATE_METRICS",
    "MERGEABLE",
    "METRICS",
    "PII_TYPES",
    "RATES",
    "RATE_LABELS",
    "REDTEAM_CATEGORIES",
    "ROW_COMMON",
    "ROW_KEYS",
    "SAFETY_CHECKS",
]

ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

ROW_KEYS = {
    "alpaca": ({"instruction", "output"}, {"input"}),
    "chat": ({"messages"}, {"tools"}),
    "sharegpt": ({"conversations"}, set()),
    "completion": ({"prompt", "completion"}, set()),
    "preference": ({"prompt", "chosen", "rejected"}, set()),
    "labeled": ({"prompt", "completion", "label"}, set()),
    "text": ({"text"}, set()),
}
"""Each row form's required and optional top-level keys."""
ROW_COMMON = {"scenario", "id", "metric", "meta"}
"""Keys any row may carry (``meta``: an object of the row's own, such as provenance; not trained on)."""
FIELDS = tuple(sorted({k for required, optional in ROW_KEYS.values() for k in required | optional} | ROW_COMMON))
"""Every top-level field a row may have, in any form (what ``data.columns`` may map)."""
PII_TYPES = (
    "PRIVATE_KEY",
    "JWT",
    "AWS_KEY",
    "GITHUB_TOKEN",
    "SLACK_TOKEN",
    "STRIPE_KEY",
    "URL_CREDENTIALS",
    "SECRET",
    "EMAIL",
    "IBAN",
    "CREDIT_CARD",
    "ES_NIE",
    "ES_NIF",
    "ES_CIF",
    "US_SSN",
    "IP_ADDRESS",
    "DATE_OF_BIRTH",
    "PHONE",
    "PERSON",
)
"""The entity types PII detection finds (``pii.operators`` keys), most specific first: when two
candidates overlap, the one whose type comes first wins; the first eight are secrets."""

MERGEABLE = ("lora", "dora", "ia3", "full")
"""Methods whose trained weights fold into the base (export); bottleneck adapters do not."""

RATES = {
    "exact": "exact_match",
    "rouge_l": "rouge_l",
    "sql": "sql_accuracy",
    "shell": "shell_ok",
    "bash": "bash_score",
    "powershell": "powershell_score",
    "clarify": "clarify_rate",
    "finance": "finance_score",
    "apidoc": "apidoc_score",
    "tool_call": "tool_call_score",
}
"""The one registry of domain metrics: each metric a row (``metric`` field) or ``eval.metric`` may
name, with the summary key of its rate; ``json`` rows give the three JSON rates instead
(:mod:`afinar.eval.run` scores them, the schema below validates against them)."""
METRICS = ("json", *RATES)
"""Every metric a row may name."""
RATE_LABELS = {
    "json_parse_rate": "JSON parse rate",
    "schema_valid_rate": "schema-valid rate",
    "field_accuracy": "field accuracy",
    "exact_match": "exact match",
    "rouge_l": "ROUGE-L F1",
    "sql_accuracy": "SQL result match",
    "shell_ok": "shell: bash -n + shellcheck",
    "bash_score": "Bash: shellcheck x reference coverage",
    "powershell_score": "PowerShell: cmdlets + words",
    "clarify_rate": "user errors: asks, no script",
    "finance_score": "finance: figures, none invented, formal, ROUGE-L",
    "apidoc_score": "API docs: sections, parameters, example",
    "tool_call_score": "tool calls: needed or not, name, arguments",
}
"""Every domain rate a summary can hold (``json`` rows' three, then each metric's), as tables and
the model card name it."""
GATE_METRICS = ("score", *RATE_LABELS)
"""The domain rates a run summary can hold: what the gate may threshold and the history keeps."""

BENCHMARK_NAMES = ("hellaswag", "piqa", "arc_easy", "arc_challenge", "winogrande", "mmlu")
"""The general-ability benchmarks afinar scores (``mmlu`` here is the full MMLU test set; the
MMLU-Redux suite is ``eval.mmlu``)."""

SAFETY_CHECKS = ("safety_refusal", "safety_helpful")
"""The gate names of the safety check's two rates."""
REDTEAM_CATEGORIES = ("LLM01", "LLM02", "LLM05", "LLM06", "LLM07", "LLM10")
"""The OWASP Top 10 for LLM Applications (2025) categories ``afinar redteam`` probes."""
