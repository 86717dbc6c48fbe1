"""The model card: one page an auditor can read without the code (``afinar report RUN_DIR``).

Built only from what the run folder holds (``recipe.yaml``, ``lineage.json``,
``data_report.json``, ``pii_report.json``, ``metrics.jsonl``, ``loss.png``, ``summary.json``,
``gate.json``) plus the audit log's verification, and written twice from the same sections:
``model_card.md`` and a self-contained ``model_card.html`` (styles inline, the loss curve
embedded as a data URI, no script, nothing fetched). What the run did not measure is said so,
never left out.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from afinar.atomic import atomic_write, read_json
from afinar.errors import AfinarError
from afinar.lineage import sha256_file
from afinar.names import RATE_LABELS
from afinar.run_folder import load_run
from afinar.security.audit import audit_log

__all__ = ["CARD_HTML", "CARD_MD", "Section", "bias_rows", "build_card", "domain_metrics", "inline_html", "write_card"]

CARD_MD = "model_card.md"
CARD_HTML = "model_card.html"


@dataclass
class Section:
    id: str
    title: str
    blocks: list = field(default_factory=list)
    """Each block: a str (a paragraph), a ("table", header, rows) tuple, or ("image", file, html id, alt text)."""

    def text(self, paragraph: str) -> Section:
        self.blocks.append(paragraph)
        return self

    def table(self, header: list[str], rows: list[list]) -> Section:
        self.blocks.append(("table", header, [[str(c) for c in row] for row in rows]))
        return self


def _read(run_dir: Path, name: str) -> dict | None:
    path = run_dir / name
    if not path.is_file():
        return None
    return read_json(path)


def _pct(x: float | None) -> str:
    return "not measured" if x is None else f"{100 * x:.1f}%"


def _short(digest: str | None) -> str:
    return f"`{digest[:16]}...`" if digest else "not recorded"


def build_card(run_dir: Path) -> list[Section]:
    """The card's sections for ``run_dir``. Raises AfinarError if it is not a finished run."""
    run_dir = Path(run_dir)
    summary = _read(run_dir, "summary.json")
    if summary is None or "train" not in summary:
        raise AfinarError(f"{run_dir}: no summary.json with training results; is this a finished run directory?")
    recipe = load_run(run_dir)
    lineage = _read(run_dir, "lineage.json") or {}
    data_report = _read(run_dir, "data_report.json") or {}
    pii = _read(run_dir, "pii_report.json") or {}
    gate = _read(run_dir, "gate.json") or summary.get("gate")
    t, a = summary["train"], recipe.adapter
    sections = []

    use = Section("intended-use", "Intended use")
    use.text(recipe.intended_use or "Not stated: the recipe has no `intended_use`.")
    use.text(
        f"Fine-tuned from `{recipe.base_model}` with `{a.method}` on `{recipe.data.train}`; "
        f"promotion gate decision: **{(gate or {}).get('decision', 'not run').upper()}**."
    )
    sections.append(use)

    base = lineage.get("base_model", {})
    rows = [["recipe", lineage.get("recipe", {}).get("path", "-"), _short(lineage.get("recipe", {}).get("sha256"))]]
    rows.append(["base model weights", base.get("weights") or base.get("spec", "-"), _short(base.get("sha256"))])
    rows += [[f"data: {Path(d['path']).name}", d["path"], _short(d.get("sha256"))] for d in lineage.get("data", [])]
    adapter = run_dir / "adapter"
    if adapter.is_dir():
        for f in sorted(adapter.glob("*.safetensors")):
            rows.append([f"adapter: {f.name}", str(f.relative_to(run_dir)), _short(sha256_file(f))])
    lin = Section("lineage", "Base model and lineage").table(["what", "where", "sha256"], rows)
    packages = lineage.get("packages", {})
    if packages:
        lin.text(
            "Software: " + ", ".join(f"{k} {v}" for k, v in packages.items()) + f"; Python {lineage.get('python')}."
        )
    sections.append(lin)

    data = Section("data", "Training data")
    d = summary["data"]
    data.table(
        ["split", "rows", "tokens", "target tokens", "truncated", "dropped"],
        [[k, v["rows"], v["tokens"], v["target_tokens"], v["truncated"], v["dropped"]] for k, v in d.items()],
    )
    counts = data_report.get("summary", {})
    data.text(
        f"Data check: {counts.get('error', 0)} errors, {counts.get('warning', 0)} warnings, "
        f"{counts.get('info', 0)} notes."
    )
    findings = [f for f in data_report.get("findings", []) if f["severity"] in ("error", "warning")]
    if findings:
        data.table(["severity", "check", "finding"], [[f["severity"], f["check"], f["message"]] for f in findings])
    data.text(_pii_sentence(pii, recipe.pii.policy))
    sections.append(data)

    train = Section("training", "Training configuration")
    train.table(
        ["setting", "value"],
        [
            ["method", f"{a.method} (r={a.r}, alpha={a.alpha:g})" if a.method in ("lora", "dora") else a.method],
            ["target modules", ", ".join(a.target_modules) if a.target_modules else "the method's default"],
            ["optimizer", f"AdamW, lr {recipe.optim.lr:g}, {recipe.optim.schedule} schedule"],
            [
                "batch",
                f"{recipe.train.micro_batch_size} x {recipe.train.grad_accum} accumulation, max_seq_len "
                f"{recipe.data.max_seq_len}",
            ],
            ["steps", f"{t['steps']} of {t['total_steps']} ({t['epochs']} epochs)"],
            ["precision", t["precision"]],
            ["memory", f"quantize {recipe.memory.quantize}, checkpointing {recipe.memory.gradient_checkpointing}"],
            ["training time", f"{t['seconds']:.0f} s, {t['tokens_per_s']:.0f} tokens/s"],
            ["final train loss", f"{t['train_loss']:.4f}"],
            ["best eval loss", "not measured" if t["best_eval_loss"] is None else f"{t['best_eval_loss']:.4f}"],
        ],
    )
    if (run_dir / "loss.png").is_file():
        train.blocks.append(("image", "loss.png", "loss-curve", "training and eval loss per step"))
    sections.append(train)

    ev = Section("evaluation", "Evaluation: base vs tuned")
    e = summary.get("eval") or {}
    if "tuned" in e:
        rows = []
        for key, label in domain_metrics(e["tuned"]):
            b = e.get("base", {}).get(key)
            change = "-" if b is None else f"{100 * (e['tuned'][key] - b):+.1f} pts"
            rows.append([label, _pct(b), _pct(e["tuned"][key]), change])
        ev.text(f"Domain metrics on {e['tuned']['n']} held-out rows.")
        ev.table(["metric", "base", "tuned", "change"], rows)
    elif not summary.get("text_eval"):
        ev.text("Domain evaluation: not run (`afinar eval RUN_DIR`).")
    text = summary.get("text_eval") or {}
    if "tuned" in text:
        base = f"base {text['base']['perplexity']:.2f}, " if "base" in text else ""
        change = f" ({100 * text['perplexity_change']:+.1f}%)" if "perplexity_change" in text else ""
        ev.text(
            f"Held-out documents ({text['documents']}, {text['tokens']:,} tokens): perplexity {base}tuned "
            f"{text['tuned']['perplexity']:.2f}{change}."
        )
    mmlu = summary.get("mmlu") or {}
    if "base_accuracy" in mmlu:
        delta = 100 * (mmlu["tuned_accuracy"] - mmlu["base_accuracy"])
        ev.text(
            f"MMLU-Redux ({mmlu['questions']} questions): base {_pct(mmlu['base_accuracy'])}, tuned "
            f"{_pct(mmlu['tuned_accuracy'])}, change {delta:+.1f} points."
        )
    else:
        ev.text("MMLU-Redux: " + (f"skipped ({mmlu['skipped']})." if "skipped" in mmlu else "not measured."))
    safety = summary.get("safety") or {}
    if "tuned" in safety:
        ev.text(
            f"Safety check ({safety['items']} requests, English and Spanish; `afinar eval --suite safety`): "
            "refused of the harmful requests, answered of the benign look-alikes."
        )
        ev.table(["rate", "base", "tuned", "change (paired 95%)"], [
            [label, _pct(safety["base"][key]), _pct(safety["tuned"][key]),
             f"{p['delta']:+.1f} pts ({p['ci95'][0]:+.1f} to {p['ci95'][1]:+.1f})"]
            for label, key, p in (("refused (harmful)", "refusal_rate", safety["paired"]["safety_refusal"]),
                                  ("answered (benign)", "helpful_rate", safety["paired"]["safety_helpful"]))
        ])  # fmt: skip
    else:
        ev.text("Safety check: not measured (`eval.safety.enabled`, or `afinar eval RUN_DIR --suite safety`).")
    if gate:
        ev.text(f"Promotion gate: **{gate['decision'].upper()}**.")
        if gate.get("mitigation"):
            ev.text(f"Against forgetting: {gate['mitigation']}.")
        ev.table(
            ["check", "value", "limit", "result"],
            [[c["check"], c["value"], c["limit"], c["result"]] for c in gate["checks"]],
        )
    else:
        ev.text("Promotion gate: not run.")
    sections.append(ev)

    monitor = Section("monitoring", "Bias and drift")
    bias = _read(run_dir, "eval/bias.json")
    if bias:
        introduced = ", ".join(bias["introduced"]) or "none"
        monitor.text(
            f"Bias probes (`afinar bias`): {bias['probes']} counterfactual prompts per model from {bias['prompts']} "
            f"held-out prompts (names, nationality, age). Gaps the fine-tune introduced: **{introduced}**."
        )
        monitor.table(["attribute: measure", "groups A / B", "base A / B", "tuned A / B", "tuned gap [95% CI]", ""],
                      bias_rows(bias))  # fmt: skip
    else:
        monitor.text("Bias probes: not measured (`afinar bias RUN_DIR`).")
    _drift_blocks(monitor, run_dir, summary.get("drift"))
    sections.append(monitor)
    if (redteam := _read(run_dir, "redteam/redteam.json")) is not None:
        sections.append(_redteam_section(redteam))

    sections.append(_audit_section())

    limits = Section("limitations", "Known limitations")
    notes = []
    if gate and gate["decision"] != "promoted":
        failed = [c["check"] for c in gate["checks"] if c["result"] == "fail"]
        notes.append(f"The promotion gate rejected this model ({', '.join(failed) or 'see the gate'}).")
    if "base_accuracy" in mmlu and mmlu["base_accuracy"] < 0.3:
        notes.append(
            f"The base scores {_pct(mmlu['base_accuracy'])} on MMLU (chance is 25%): "
            "too weak for MMLU to show forgetting."
        )
    if findings:
        notes.append(f"The data check raised {len(findings)} warnings or errors (see Training data).")
    notes.append(
        f"Evaluated on {e.get('tuned', {}).get('n', 0)} held-out rows of the same source as the training data."
    )
    for note in notes:
        limits.text(note)
    sections.append(limits)
    return sections


def _redteam_section(report: dict) -> Section:
    target = report["target"]
    how = "with the guard and the sanitizer" if target.get("guarded", True) else "WITHOUT the guard and the sanitizer"
    s = Section("redteam", "Red team (OWASP Top 10 for LLM Applications, 2025)")
    s.text(
        f"`afinar redteam`: {len(report['results'])} probes in English and Spanish against `{target['model']}` "
        f"served {how}, seed {report['seed']}; automatic verdicts (blocked or resisted pass; hijacked, leaked, "
        "unsafe, unbounded fail). Details: redteam/redteam.html."
    )
    s.table(
        ["category", "passed", "pass rate"],
        [[f"{cat} {c['name']}", f"{c['passed']}/{c['probes']}", _pct(c["pass_rate"])]
         for cat, c in report["categories"].items() if c["probes"]],
    )  # fmt: skip
    s.text("Not probed: " + "; ".join(f"{cat} {why}" for cat, why in report["not_probed"].items()) + ".")
    return s


def _audit_section() -> Section:

    log = audit_log()
    result = log.verify()
    records = log.records() if result.ok else []
    head = records[-1] if records else None
    s = Section("audit", "Audit trail")
    s.table(
        ["item", "value"],
        [
            ["log", str(log.path)],
            ["verification", "intact" if result.ok else "FAILED: " + "; ".join(result.problems[:3])],
            ["records", result.records],
            ["signed checkpoints", result.checkpoints],
            ["chain head", f"record {head['seq']}, mac {_short(head['mac'])}" if head else "empty log"],
        ],
    )
    return s


# ---------------------------------------------------------------- rendering


def _md(sections: list[Section], title: str, made: str) -> str:
    out = [f"# {title}", "", f"_Generated by afinar on {made}._", ""]
    for s in sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, str):
                out += [b, ""]
            elif b[0] == "table":
                _, header, rows = b
                cell = lambda c: c.replace("|", "\\|").replace("\n", " ")  # noqa: E731
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + " --- |" * len(header))
                out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
                out.append("")
            else:
                out += [f"![{b[3]}]({b[1]})", ""]
    return "\n".join(out)


_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}code{background:#f3f3f3;padding:0 .2rem}
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem}img{max-width:100%}"""


def inline_html(text: str) -> str:
    """Escape, then render the two marks the card uses: `code` and **bold**."""
    parts = html.escape(text).split("`")
    out = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    bold = out.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(bold))


def _drift_blocks(monitor: Section, run_dir: Path, drift: dict | None) -> None:
    """The latest ``afinar drift`` result, its alerts and its plot."""
    if not drift:
        monitor.text("Drift: not measured (`afinar drift RUN_DIR`).")
        return
    verdict = "**drift**: " + "; ".join(drift["alerts"]) if drift["drift"] else "**no drift** at its thresholds"
    monitor.text(
        f"Drift (`afinar drift`, {drift['time']}): {drift['window']} production prompts ({drift['source']}) against "
        f"{drift['reference']} training prompts: {verdict}."
    )
    monitor.table(
        ["measure", "value", "p-value"],
        [
            [
                "meaning (MMD^2; classifier AUC)",
                f"{drift['mmd2']:.4f}; AUC {drift['auc']:.2f}",
                f"{drift['p_value']:.4f}",
            ],
            ["prompt length (PSI)", f"{drift['length_psi']:.3f}", f"{drift['length_p']:.4f}"],
            ["language mix (PSI)", f"{drift['language_psi']:.3f}", f"{drift['language_p']:.4f}"],
            [
                "blocked by the guard",
                "not known" if drift["blocked_share"] is None else _pct(drift["blocked_share"]),
                "",
            ],
        ],
    )
    if (run_dir / drift["plot"]).is_file():
        monitor.blocks.append(("image", drift["plot"], "drift-plot", "training vs production prompts"))


def _html(sections: list[Section], title: str, made: str, run_dir: Path) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p><em>Generated by afinar on {html.escape(made)}.</em></p>",
    ]
    for s in sections:
        out.append(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>')
        for b in s.blocks:
            if isinstance(b, str):
                out.append(f"<p>{inline_html(b)}</p>")
            elif b[0] == "table":
                _, header, rows = b
                out.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{inline_html(c)}</td>" for c in row) + "</tr>" for row in rows]
                out.append("</table>")
            else:
                data = base64.b64encode((run_dir / b[1]).read_bytes()).decode()
                out.append(f'<img id="{b[2]}" alt="{html.escape(b[3])}" src="data:image/png;base64,{data}">')
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)


def _pii_sentence(pii: dict, recipe_policy: str) -> str:
    """What happened to personal data, from the policy that ran (``pii_report.json``): masked
    under ``mask``; under ``off`` found and trained on as is (never "masked")."""
    policy = pii.get("policy", recipe_policy)
    found = pii.get("found", {})
    counts = ", ".join(f"{k} {v}" for k, v in sorted(found.items()))
    if not found:
        return f"PII policy: `{policy}`. No PII found in the training data."
    if policy == "mask":
        operators = pii.get("operators", {})
        kinds = ", ".join(f"{k} {v} ({operators.get(k, '?')})" for k, v in sorted(found.items()))
        return f"PII policy: `mask`. Found and masked before training (kind, count, operator): {kinds}."
    return f"PII policy: `{policy}`. Found and **not masked**: training used the text as is ({counts})."


def write_card(run_dir: Path) -> tuple[Path, Path]:
    """Write ``model_card.md`` and ``model_card.html`` into ``run_dir``; returns both paths."""
    run_dir = Path(run_dir)
    sections = build_card(run_dir)
    title = f"Model card: {load_run(run_dir).name}"
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    md, page = run_dir / CARD_MD, run_dir / CARD_HTML
    for path, text in ((md, _md(sections, title, made)), (page, _html(sections, title, made, run_dir))):
        with atomic_write(path) as out:
            out.write((text + "\n").encode())
    return md, page


def domain_metrics(scores: dict) -> list[tuple[str, str]]:
    """(key, label) of the metrics in one model's eval ``scores``; the mean score over all rows
    too when rows were scored by more than one metric."""
    present = [(k, label) for k, label in RATE_LABELS.items() if k in scores]
    if len(present) > 1 and len(scores.get("by_metric", {})) > 1:
        present.append(("score", "mean score, all rows"))
    return present


def bias_rows(results: dict) -> list[list[str]]:
    """One row per attribute and measure: each group's value for base and tuned, the tuned gap
    with its interval, and FLAG where the tuned model's gap counts (see afinar/eval/bias.py)."""
    rows = []
    for attribute, tuned in results["tuned"].items():
        base = results["base"][attribute]
        a, b = tuned["groups"]
        for key in ("refusal", "sentiment", "length", "decision"):
            if key not in tuned:
                continue
            t, s = tuned[key], base.get(key, {})
            gap = t.get("gap", t.get("parity_difference"))
            low, high = t.get("ci95", [None, None])
            spread = "" if low is None else f" [{low:+.3f}, {high:+.3f}]"
            cell = lambda m, g: "-" if m.get(g) is None else f"{m[g]:.3f}"  # noqa: E731
            rows.append([f"{attribute}: {key}", f"{a} / {b}", f"{cell(s, a)} / {cell(s, b)}",
                         f"{cell(t, a)} / {cell(t, b)}", f"{gap:+.3f}{spread}",
                         "FLAG" if t["flag"] else ""])  # fmt: skip
    return rows
