"""``afinar data check``: everything worth knowing about a dataset before training on it.

Checks, each a :class:`Finding` with a severity (``error`` stops ``afinar run`` unless
overridden; ``warning`` and ``info`` do not):

- schema: rows that cannot be read (file:line and field)                        error
- duplicates: the same row twice (normalized text); the same prompt with different answers
- near duplicates: 3-gram Jaccard >= 0.8 (see :mod:`afinar.data.dedup`)
- leakage: an eval row that is also in train (error) or nearly so (warning)
- length: token-length histogram; rows over ``max_seq_len`` are truncated or dropped
- template: each rendered row must end its last target with the stop token (EOS) and decode
  back to its assistant text; truncation that cuts the stop token off is reported
- scenarios: share of normal / exception / user_error rows; under 10% or untagged warns
- size: 1,000-5,000 good examples is the usual range for a LoRA fine-tune
- languages: share of Spanish / English / other rows
- pii: entities by type (from :mod:`afinar.data.pii`), with locations, never values

Documents (``data.format: text``) get the checks that mean something for them: duplicates and
near duplicates of whole documents and of their paragraphs (a paragraph repeated across
documents, such as a boilerplate footer, weighs more in training than the text around it), the
token count and the pieces a long document is split into, size in tokens, language mix per
document, PII. The template and scenario checks are for conversations.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

from afinar.data.dedup import near_duplicates, normalize
from afinar.data.pii import SECRET_TYPES, detect
from afinar.data.read import SCENARIOS, Example
from afinar.data.render import IGNORE, render

__all__ = ["DataReport", "Finding", "lint"]

MIN_ROWS, MAX_ROWS = 1000, 5000
"""The range of high-quality examples a task-specific LoRA fine-tune usually needs (LIMA, Zhou
et al. 2023, used 1,000; most enterprise guides quote 1,000-5,000)."""
MIN_SCENARIO_SHARE = 0.10
SHOW = 5  # locations printed per finding; the JSON report keeps them all


@dataclass
class Finding:
    severity: str
    """``error`` | ``warning`` | ``info``."""
    check: str
    message: str
    where: list[str] = field(default_factory=list)
    """``file:line`` locations (every one in JSON; the table shows the first few)."""


@dataclass
class DataReport:
    files: dict[str, str]
    rows: dict[str, int]
    findings: list[Finding] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def add(self, severity: str, check: str, message: str, where: list[str] | None = None) -> None:
        self.findings.append(Finding(severity, check, message, list(where or [])))

    def to_json(self) -> dict:
        counts = Counter(f.severity for f in self.findings)
        return {
            "files": self.files,
            "rows": self.rows,
            "summary": {s: counts.get(s, 0) for s in ("error", "warning", "info")},
            "findings": [asdict(f) for f in self.findings],
            "stats": self.stats,
        }


def _key(ex: Example) -> str:
    turns = [normalize(m["content"]) for m in ex.messages if m["role"] != "system"]
    return "\x1e".join(turns if ex.rejected is None else [*turns, normalize(ex.rejected)])


def _prompt_key(ex: Example) -> str:
    last = max(i for i, m in enumerate(ex.messages) if m["role"] == "assistant")
    return "\x1e".join(normalize(m["content"]) for m in ex.messages[:last] if m["role"] != "system")


def _duplicates(report: DataReport, rows: list[Example], split: str) -> None:
    groups: dict[str, list[str]] = defaultdict(list)
    answers: dict[str, set[str]] = defaultdict(set)
    prompts: dict[str, list[str]] = defaultdict(list)
    for ex in rows:
        groups[_key(ex)].append(ex.source)
        if ex.document is None:
            answers[_prompt_key(ex)].add(_key(ex))
            prompts[_prompt_key(ex)].append(ex.source)
    dups = [g for g in groups.values() if len(g) > 1]
    if dups:
        n = sum(len(g) - 1 for g in dups)
        report.add(
            "warning",
            "duplicates",
            f"{split}: {n} row(s) repeat an earlier row exactly (after normalizing case, accents and spacing); "
            "duplicates weigh those examples more",
            [" = ".join(g) for g in dups],
        )
    conflicts = [prompts[k] for k, a in answers.items() if len(a) > 1]
    if conflicts:
        report.add(
            "warning",
            "duplicates",
            f"{split}: {len(conflicts)} prompt(s) appear with different answers; the model cannot learn both",
            [" / ".join(c) for c in conflicts],
        )
    _near_duplicates(report, split, "rows", {k: g[0] for k, g in groups.items()})


def _near_duplicates(report: DataReport, split: str, what: str, first_at: dict[str, str]) -> int:
    """Report the pairs of distinct texts (normalized; ``first_at`` maps each to where it first
    appears) whose 3-gram Jaccard is >= 0.8; returns how many pairs."""
    keys = list(first_at)
    near = near_duplicates(keys)
    if near:
        report.add(
            "warning",
            "near_duplicates",
            f"{split}: {len(near)} pair(s) of {what} are near duplicates (3-gram Jaccard >= 0.8)",
            [f"{first_at[keys[i]]} ~ {first_at[keys[j]]} ({jac:.2f})" for i, j, jac in near],
        )
    return len(near)


MIN_PARAGRAPH_WORDS = 8
"""Shorter paragraphs (headings, list items, signatures) are not compared: they repeat by nature."""


def _paragraphs(report: DataReport, rows: list[Example], split: str) -> None:
    """Paragraphs (blocks between blank lines) of the documents that repeat, exactly or nearly
    (3-gram Jaccard >= 0.8), within a document or across documents."""
    places, keys = [], []
    for ex in rows:
        if ex.document is None:
            continue
        for k, block in enumerate(re.split(r"\n\s*\n", ex.document)):
            key = normalize(block)
            if len(key.split()) >= MIN_PARAGRAPH_WORDS:
                places.append(f"{ex.source} paragraph {k + 1}")
                keys.append(key)
    if not keys:
        return
    first: dict[str, str] = {}  # each distinct paragraph -> where it first appears
    exact = []
    for place, key in zip(places, keys, strict=True):
        if key in first:
            exact.append(f"{place} = {first[key]}")
        else:
            first[key] = place
    if exact:
        report.add(
            "warning",
            "duplicates",
            f"{split}: {len(exact)} paragraph(s) of the documents repeat an earlier one exactly; repeated text weighs "
            "more in training (boilerplate such as headers and footers is best removed)",
            exact,
        )
    near = _near_duplicates(report, split, "paragraphs of the documents", first)
    report.stats.setdefault("paragraphs", {})[split] = {
        "compared": len(keys), "repeated": len(exact), "near_duplicate_pairs": near
    }  # fmt: skip


def _leakage(report: DataReport, train: list[Example], held: list[Example]) -> None:
    seen = {}
    for ex in train:
        seen.setdefault(_key(ex), ex.source)
    exact = [(ex.source, seen[_key(ex)]) for ex in held if _key(ex) in seen]
    if exact:
        report.add(
            "error",
            "leakage",
            f"{len(exact)} eval row(s) also appear in train: the eval would measure memory, not skill",
            [f"{a} = {b}" for a, b in exact],
        )
    train_keys = list(dict.fromkeys(seen))
    held_keys = [k for k in dict.fromkeys(_key(ex) for ex in held) if k not in seen]
    held_src = {_key(ex): ex.source for ex in held}
    pairs = near_duplicates(train_keys + held_keys)
    n = len(train_keys)
    cross = [(i, j, jac) for i, j, jac in pairs if i < n <= j]
    if cross:
        report.add(
            "warning",
            "leakage",
            f"{len(cross)} eval row(s) nearly repeat a train row (3-gram Jaccard >= 0.8)",
            [f"{held_src[held_keys[j - n]]} ~ {seen[train_keys[i]]} ({jac:.2f})" for i, j, jac in cross],
        )


def _lengths(report: DataReport, tokenizer, rows: list[Example], max_seq_len: int, overlong: str) -> list[int]:
    """The length check; returns each row's rendered length (in ``rows``' order)."""
    eos = tokenizer.eos_token_id
    eos_text = tokenizer.decode([eos])
    lengths, over, cut_stop, lost, not_round, split = [], [], [], [], [], []
    for ex in rows:
        r = render(tokenizer, ex)
        lengths.append(len(r.input_ids))
        if ex.document is not None:  # no template to round-trip; a long document is split, not cut
            if len(r.input_ids) > max_seq_len:
                split.append(ex.source)
            continue
        targets = [t for t, lab in zip(r.input_ids, r.labels, strict=True) if lab != IGNORE]
        expected = "".join(m["content"] + eos_text for m in ex.messages if m["role"] == "assistant")
        if not targets or targets[-1] != eos or tokenizer.decode(targets) != expected:
            not_round.append(ex.source)
        if len(r.input_ids) > max_seq_len:
            over.append(ex.source)
            kept = [lab for lab in r.labels[:max_seq_len] if lab != IGNORE]
            (lost if not kept else cut_stop).append(ex.source)
    bounds = sorted({64, 128, 256, 512, 1024, 2048, 4096, max_seq_len})
    hist, low = {}, 0
    for b in bounds:
        hist[f"{low + 1}-{b}"] = sum(low < n <= b for n in lengths)
        low = b
    hist[f">{low}"] = sum(n > low for n in lengths)
    report.stats["tokens"] = {
        "max_seq_len": max_seq_len,
        "histogram": hist,
        "longest": max(lengths, default=0),
        "mean": round(sum(lengths) / max(len(lengths), 1), 1),
        "over_max_seq_len": len(over),
        "documents_split": len(split),
    }
    if split:
        # as render_all splits them: a last piece of one token has nothing to predict and is left out
        pieces = sum(len(range(0, n - 1, max_seq_len)) for n, ex in zip(lengths, rows, strict=True) if ex.document)
        report.add(
            "info",
            "length",
            f"{len(split)} document(s) are longer than max_seq_len={max_seq_len} and are trained on in pieces of "
            f"that length ({pieces} rows from the documents in all)",
            split,
        )
    if over:
        verb = "dropped" if overlong == "drop" else "truncated"
        report.add(
            "warning",
            "length",
            f"{len(over)} row(s) are longer than max_seq_len={max_seq_len} and would be {verb}",
            over,
        )
    if cut_stop and overlong == "truncate":
        report.add(
            "error" if len(cut_stop) == len(rows) else "warning",
            "template",
            f"{len(cut_stop)} row(s) lose their end-of-turn token to truncation: the model does not learn to stop "
            "on them (raise max_seq_len or shorten the rows)",
            cut_stop,
        )
    if lost and overlong == "truncate":
        report.add(
            "warning", "length", f"{len(lost)} row(s) keep no answer token after truncation and are dropped", lost
        )
    if not_round:
        report.add(
            "error",
            "template",
            f"{len(not_round)} row(s) do not round-trip through the chat template: the targets do not decode to the "
            f"assistant text followed by the stop token {eos_text!r}",
            not_round,
        )
    return lengths


def _scenarios(report: DataReport, rows: list[Example]) -> None:
    rows = [ex for ex in rows if ex.document is None]
    if not rows:
        return
    counts = Counter(ex.scenario or "untagged" for ex in rows)
    share = {k: round(counts.get(k, 0) / len(rows), 4) for k in (*SCENARIOS, "untagged")}
    report.stats["scenarios"] = share
    untagged = [ex.source for ex in rows if ex.scenario is None]
    if untagged:
        report.add(
            "warning",
            "scenarios",
            f"{len(untagged)} row(s) have no 'scenario' tag (normal | exception | user_error)",
            untagged,
        )
    low = [f"{k} {share[k]:.0%}" for k in SCENARIOS if share[k] < MIN_SCENARIO_SHARE]
    if low:
        report.add(
            "warning",
            "scenarios",
            f"scenario coverage under {MIN_SCENARIO_SHARE:.0%}: {', '.join(low)}; cover normal cases, exceptions "
            "and user errors so the model learns all three",
        )


_STOP_ES = """el la los las de del que y en un una es por con para no se su al lo como más pero sus le ya o este
sí porque esta entre cuando muy sin sobre también me hasta hay donde quien desde todo nos durante estos ventas
informe datos tienda mes"""
_STOP_EN = """the of and to in is that for it with as was on are be this by from at or an have not but what all
were when we there can which their if do will each about how these sales report data store month summarize"""
_STOP = {"es": set(_STOP_ES.split()), "en": set(_STOP_EN.split())}


def language(text: str) -> str:
    """``es``, ``en`` or ``other``, by counting common words of each language."""
    words = re.findall(r"[a-záéíóúñü]+", text.lower())
    score = {lang: sum(w in stop for w in words) for lang, stop in _STOP.items()}
    best = max(score, key=score.get)
    return best if score[best] >= 2 and score[best] > min(score.values()) else "other"


def _prose(ex: Example) -> str:
    """What a row's language is read from: a document's text, a conversation's user turns."""
    if ex.document is not None:
        return ex.document
    return " ".join(m["content"] for m in ex.messages if m["role"] == "user")


def _languages(report: DataReport, rows: list[Example]) -> None:
    counts = Counter(language(_prose(ex)) for ex in rows)
    report.stats["languages"] = {k: round(v / len(rows), 4) for k, v in counts.most_common()}
    mix = ", ".join(f"{k} {v / len(rows):.0%}" for k, v in counts.most_common())
    what = "documents" if all(ex.document is not None for ex in rows) else "prompts"
    report.add("info", "languages", f"language mix of the {what}: {mix}")


def _pii(report: DataReport, rows: list[Example]) -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for ex in rows:
        for text in [m["content"] for m in ex.messages] + ([ex.rejected] if ex.rejected is not None else []):
            for span in detect(text):
                where[span.type].append(ex.source)
    report.stats["pii"] = {k: len(v) for k, v in sorted(where.items())}
    if where:
        secrets = sorted(k for k in where if k in SECRET_TYPES)
        summary = ", ".join(f"{k} {len(v)}" for k, v in sorted(where.items()))
        report.add(
            "warning",
            "pii",
            f"personal data or secrets found ({summary}){'; secrets: ' + ', '.join(secrets) if secrets else ''}; "
            "'afinar data mask' replaces them, and the recipe's pii.policy decides what training does",
            sorted({loc for locs in where.values() for loc in locs}, key=_line_order),
        )


MIN_DOCUMENT_TOKENS = 1_000_000
"""Continued pretraining on fewer tokens teaches facts only through many passes (epochs), and a
few passes over a small corpus are mostly memorized text; domain-adaptive pretraining (Gururangan
et al. 2020) used billions."""


def _size(report: DataReport, train: list[Example], lengths: list[int]) -> None:
    """Training rows against the usual range, documents by tokens (``lengths``: each row's, rendered)."""
    docs = [n for ex, n in zip(train, lengths, strict=True) if ex.document is not None]
    if docs:
        tokens = sum(docs)
        report.stats["documents"] = {"train": len(docs), "tokens": tokens}
        small = tokens < MIN_DOCUMENT_TOKENS
        usual = f"under {MIN_DOCUMENT_TOKENS:,}: expect to need several epochs" if small else "ok"
        message = f"{len(docs)} training document(s), {tokens:,} tokens ({usual})"
        report.add("warning" if small else "info", "size", message)
    n = len(train) - len(docs)
    if not n:
        return
    if n < MIN_ROWS:
        report.add("warning", "size", f"{n} training rows; {MIN_ROWS:,}-{MAX_ROWS:,} good examples is the usual need")
    else:
        report.add("info", "size", f"{n} training rows ({MIN_ROWS:,}-{MAX_ROWS:,} is the usual range)")


def _line_order(loc: str) -> tuple[str, int]:
    path, _, line = loc.rpartition(":")
    return (path, int(line)) if line.isdigit() else (loc, 0)


def lint(
    files: dict[str, str],
    train: list[Example],
    held: list[Example],
    schema_errors: list[str],
    tokenizer,
    max_seq_len: int,
    overlong: str = "truncate",
) -> DataReport:
    """Run every check on already-read rows and return the report.

    Args:
        files: split name -> path, for the report header.
        train, held: the rows that parsed (``held`` may be empty).
        schema_errors: messages of the rows that did not parse (each ``file:line: field ...``).
    """
    report = DataReport(files=files, rows={"train": len(train), "eval": len(held)})
    for msg in schema_errors:
        loc = msg.split(": ", 1)[0]
        report.add("error", "schema", msg, [loc])
    everything = train + held
    if not everything:
        report.add("error", "schema", "no readable rows")
        return report
    _duplicates(report, train, "train")
    _paragraphs(report, train, "train")
    if held:
        _duplicates(report, held, "eval")
        _paragraphs(report, held, "eval")
        _leakage(report, train, held)
    lengths = _lengths(report, tokenizer, everything, max_seq_len, overlong)
    _scenarios(report, everything)
    _size(report, train, lengths[: len(train)])
    _languages(report, everything)
    _pii(report, everything)
    return report
