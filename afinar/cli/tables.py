"""The CLI's tables: a run's summary, a data check's findings, benchmarks, history, plans, audit."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from afinar.eval.card import bias_rows, domain_metrics

__all__ = [
    "audit_table",
    "benchmarks_table",
    "bias_table",
    "compare_table",
    "data_report_tables",
    "history_table",
    "mask_table",
    "mmlu_table",
    "plan_table",
    "redteam_table",
    "rows_table",
    "safety_table",
    "summary_table",
]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def summary_table(summary: dict) -> list[Table]:
    """Rich tables for a run summary: training facts, then base vs tuned domain metrics."""
    t = summary["train"]
    d = summary["data"]
    facts = Table(title=f"run {summary['run_dir']}", show_header=False)
    facts.add_row(
        "train rows (truncated / dropped)",
        f"{d['train']['rows']} ({d['train']['truncated']} / {d['train']['dropped']})",
    )
    if d["train"].get("split"):
        facts.add_row("documents split into pieces", str(d["train"]["split"]))
    facts.add_row("eval rows", str(d["eval"]["rows"]))
    facts.add_row(
        "optimizer steps",
        f"{t['steps']} of {t['total_steps']} ({t['epochs']} epochs)"
        + (", stopped early" if t["stopped_early"] else ""),
    )
    if t["interrupted_at"] is not None:
        facts.add_row("[bold yellow]interrupted", f"after step {t['interrupted_at']}; checkpoint saved")
        facts.add_row("resume with", f"afinar train --resume {summary['run_dir']}")
        facts.add_row("then evaluate", f"afinar eval {summary['run_dir']}")
    facts.add_row("final train loss", f"{t['train_loss']:.4f}")
    if t["best_eval_loss"] is not None:
        facts.add_row("best eval loss", f"{t['best_eval_loss']:.4f}")
    facts.add_row("precision", t["precision"])
    facts.add_row("training time", f"{t['seconds']:.0f} s, {t['tokens_per_s']:.0f} tokens/s")
    if "wall_seconds" in summary:
        facts.add_row("wall time (whole run)", f"{summary['wall_seconds']:.0f} s")
    tables = [facts]
    ev = summary.get("eval") or {}
    if ev:
        tables.append(_domain_table(f"domain eval on {ev['tuned']['n']} eval rows", ev, summary.get("mmlu") or {}))
    text = summary.get("text_eval") or {}
    if text:
        tables.append(_text_table(text))
    for name, split in (summary.get("eval_splits") or {}).items():
        if split:
            tables.append(_domain_table(f"split {name}: {split['tuned']['n']} rows", split))
    gate = summary.get("gate")
    if gate:
        notes = "\n".join(f"{c['check']}: {c['note']}" for c in gate["checks"] if c.get("note"))
        if gate.get("mitigation"):
            notes = "\n".join(filter(None, [f"against forgetting: {gate['mitigation']}", notes]))
        g = Table(title=f"promotion gate: {gate['decision'].upper()}", title_justify="left", caption=notes or None)
        for col in ("check", "value", "limit", "result"):
            g.add_column(col)
        for c in gate["checks"]:
            colour = {"pass": "green", "fail": "bold red"}.get(c["result"], "yellow")
            g.add_row(c["check"], c["value"], c["limit"], f"[{colour}]{c['result']}")
        tables.append(g)
    return tables


def _text_table(text: dict) -> Table:
    """Base vs tuned perplexity on the held-out documents (:mod:`afinar.eval.text`)."""
    names = [n for n in ("base", "tuned") if n in text]
    both = len(names) == 2
    m = Table(title=f"held-out documents: {text['documents']} ({text['tokens']:,} tokens)")
    for col in ("", *names, *(["change"] if both else [])):
        m.add_column(col, justify="right" if col else "left")
    for key, fmt in (("perplexity", "{:.2f}"), ("loss", "{:.4f}")):
        row = [key, *(fmt.format(text[n][key]) for n in names)]
        if both:
            row.append(f"{100 * text['perplexity_change']:+.1f}%" if key == "perplexity" else "")
        m.add_row(*row)
    return m


def _domain_table(title: str, ev: dict, mmlu: dict | None = None) -> Table:
    """Base vs tuned domain metrics of one eval split (and MMLU-Redux, when given)."""
    m = Table(title=title)
    m.add_column("metric")
    names = [n for n in ("base", "tuned") if n in ev]
    for n in names:
        m.add_column(n, justify="right")
    if len(names) == 2:
        m.add_column("change", justify="right")
    for key, label in domain_metrics(ev["tuned"]):
        row = [label] + [_pct(ev[n][key]) for n in names]
        if len(names) == 2:
            row.append(f"{100 * (ev['tuned'][key] - ev['base'][key]):+.1f} pts")
        m.add_row(*row)
    if mmlu and "base_accuracy" in mmlu and len(names) == 2:
        a, b = mmlu["base_accuracy"], mmlu["tuned_accuracy"]
        m.add_row(f"MMLU-Redux ({mmlu['questions']} q)", _pct(a), _pct(b), f"{100 * (b - a):+.1f} pts")
    alone = {n: (ev[n].get("derived") or {}).get("model_only") for n in names}
    if all(alone.values()):  # the same rates before the schema's derived fields were written
        for key, label in domain_metrics(alone["tuned"]):
            row = [f"{label}, model alone"] + [_pct(alone[n][key]) for n in names]
            if len(names) == 2:
                row.append(f"{100 * (alone['tuned'][key] - alone['base'][key]):+.1f} pts")
            m.add_row(*row, style="dim")
    return m


_SEVERITY = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def data_report_tables(report: dict, show: int = 5) -> list[Table]:
    """Rich tables for a data check: findings (first ``show`` locations each), then the statistics."""
    rows = ", ".join(f"{k} {v}" for k, v in report["rows"].items() if v)
    s = report["summary"]
    findings = Table(
        title=f"data check: {rows} rows; {s['error']} error(s), {s['warning']} warning(s)", title_justify="left"
    )
    for col in ("severity", "check", "finding", "where"):
        findings.add_column(col, overflow="fold")
    names = {f"{path}:": f"{Path(path).name}:" for path in report["files"].values()}
    for f in report["findings"]:
        where = ", ".join(f["where"][:show])
        for full, short in names.items():
            where = where.replace(full, short)
        where += f" (+{len(f['where']) - show} more)" if len(f["where"]) > show else ""
        sev = f["severity"]
        message = f["message"]
        for full, short in names.items():
            message = message.replace(full, short)
        findings.add_row(f"[{_SEVERITY[sev]}]{sev}", f["check"], message, where)
    stats = report["stats"]
    facts = Table(title="statistics", show_header=False, title_justify="left")
    if "tokens" in stats:
        tok = stats["tokens"]
        hist = "  ".join(f"{k}: {v}" for k, v in tok["histogram"].items() if v)
        facts.add_row("tokens per row", f"mean {tok['mean']}, longest {tok['longest']}; {hist}")
        facts.add_row("over max_seq_len", f"{tok['over_max_seq_len']} (max_seq_len {tok['max_seq_len']})")
    if "scenarios" in stats:
        facts.add_row("scenarios", "  ".join(f"{k} {_pct(v)}" for k, v in stats["scenarios"].items()))
    if "languages" in stats:
        facts.add_row("languages", "  ".join(f"{k} {_pct(v)}" for k, v in stats["languages"].items()))
    if "pii" in stats:
        facts.add_row("PII / secrets", "  ".join(f"{k} {v}" for k, v in stats["pii"].items()) or "none found")
    return [findings, facts]


def mask_table(counts: dict[str, int], operators: dict[str, str], rows: int, out: Path) -> Table:
    """What ``afinar data mask`` replaced, by entity type."""
    t = Table(title=f"masked {rows} rows into {out}", title_justify="left")
    for col in ("entity type", "replaced", "operator"):
        t.add_column(col)
    for kind, n in sorted(counts.items()):
        t.add_row(kind, str(n), operators[kind])
    if not counts:
        t.add_row("(none found)", "0", "-")
    return t


def rows_table(title: str, rows: list[dict]) -> Table:
    """A table with one column per key of the first row."""
    t = Table(title=title, title_justify="left")
    for col in rows[0] if rows else ["(none)"]:
        t.add_column(str(col), overflow="fold")
    for r in rows:
        t.add_row(*(", ".join(v) if isinstance(v, list) else str(v) for v in r.values()))
    return t


def audit_table(records: list[dict]) -> Table:
    t = Table(title=f"audit log: newest {len(records)} record(s)", title_justify="left")
    for col in ("seq", "time (UTC)", "actor", "action", "resource", "decision"):
        t.add_column(col, overflow="fold")
    for r in records:
        t.add_row(str(r["seq"]), r["time"][:19], r["actor"], r["action"], r["resource"], r["decision"])
    return t


def mmlu_table(results: dict) -> Table:
    """MMLU micro/macro accuracy with a 95% interval, base (and tuned, with the delta)."""
    names = [n for n in ("base", "tuned") if n in results]
    first = results[names[0]]
    t = Table(title=f"MMLU-Redux ({results['subset']}), {first['n']} questions, {first['shots']}-shot")
    t.add_column("model")
    for col in ("micro", "95% interval", "macro"):
        t.add_column(col, justify="right")
    for n in names:
        r = results[n]
        t.add_row(n, _pct(r["micro"]), f"{_pct(r['ci95'][0])}-{_pct(r['ci95'][1])}", _pct(r["macro"]))
    if "delta_points" in results:
        t.add_row("change", f"{results['delta_points']:+.1f} pts", "", "")
    return t


def benchmarks_table(results: dict) -> Table:
    """Benchmarks: each with its metric and 95% interval, base (and tuned, with the paired change:
    its 95% interval and the drop the item count can detect, see :mod:`afinar.eval.paired`)."""
    bench = results["benchmarks"]
    two = any("tuned" in e for e in bench.values())
    t = Table(title=f"benchmarks ({results['seconds']:.0f} s)", title_justify="left")
    cols = ["benchmark", "n", "metric", "chance", "base", "base 95%"] + (
        ["tuned", "change", "paired 95%", "detects"] if two else []
    )
    for col in cols:
        t.add_column(col, justify="left" if col in ("benchmark", "metric") else "right")
    for name, e in bench.items():
        key = e["metric"]
        row = [name, str(e["n"]), key, _pct(e["chance"])]
        low, high = e["base"][f"{key}_ci95"]
        row += [_pct(e["base"][key]), f"{_pct(low)}-{_pct(high)}"]
        if two:
            row += [_pct(e["tuned"][key]), f"{e['delta_points']:+.1f} pts"]
            paired = e.get("paired")  # runs evaluated before the paired comparison lack it
            if paired:
                low, high = paired["ci95"]
                row += [f"{low:+.1f} to {high:+.1f}", f"-{paired['detectable_drop']:.1f} pts"]
            else:
                row += ["-", "-"]
        t.add_row(*row)
    return t


def safety_table(result: dict) -> Table:
    """The safety check (:mod:`afinar.eval.safety`): refusal rate on harmful requests and answered
    rate on benign ones, base and tuned, with the paired change and its 95% interval."""
    t = Table(title=f"safety check ({result['seconds']:.0f} s)", title_justify="left")
    for col in ("rate", "items", "base", "tuned", "change", "paired 95%"):
        t.add_column(col, justify="left" if col == "rate" else "right")
    for name, key, label in (("safety_refusal", "refusal_rate", "refused (harmful)"),
                             ("safety_helpful", "helpful_rate", "answered (benign)")):  # fmt: skip
        p = result["paired"][name]
        low, high = p["ci95"]
        t.add_row(label, str(p["n"]), _pct(result["base"][key]), _pct(result["tuned"][key]), f"{p['delta']:+.1f} pts",
                  f"{low:+.1f} to {high:+.1f}")  # fmt: skip
    return t


def history_table(rows: list[dict], metric: str) -> Table:
    """``afinar eval history``: one line per evaluation, regressions in red."""
    names = sorted({r["name"] for r in rows})
    title = f"eval history: tuned {metric}" + (f" of {names[0]}" if len(names) == 1 else "")
    t = Table(title=title, title_justify="left")
    cols = ["when (UTC)", *(["recipe"] if len(names) > 1 else []), "run", "lineage", "value", "vs best before", "gate"]
    for col in cols:
        t.add_column(col, no_wrap=col != "run", overflow="fold", min_width=12 if col == "run" else None)
    for r in rows:
        change = "" if r["change_points"] is None else f"{r['change_points']:+.1f} pts"
        if r["regression"]:
            change = f"[bold red]{change} REGRESSION"
        cells = [r["time"][5:16].replace("T", " "), *([r["name"]] if len(names) > 1 else [])]
        cells += [Path(r["run_dir"]).name, r["lineage"][:8], _pct(r["value"]), change, r["decision"] or ""]
        t.add_row(*cells)
    return t


def compare_table(rows: list[dict], a: Path, b: Path) -> Table:
    """``afinar eval compare A B``: shared metrics with B - A."""
    t = Table(title=f"A = {a}\nB = {b}", title_justify="left")
    for col in ("model", "metric", "A", "B", "B - A"):
        t.add_column(col, justify="right" if col in ("A", "B", "B - A") else "left")
    for r in rows:
        t.add_row(r["model"], r["metric"], _pct(r["a"]), _pct(r["b"]), f"{r['delta_points']:+.1f} pts")
    return t


def plan_table(plan, seq: int, micro_batch: int, devices: str, checkpointing: bool) -> Table:
    """``afinar plan``: memory per device by component, the verdict, the largest micro-batch."""
    gib = 2**30
    s = plan.shape
    title = f"{s.name} ({s.params / 1e9:.2f}B), {plan.method}, {micro_batch} x {seq} tokens, {devices}" + (
        ", checkpointing" if checkpointing else ""
    )
    table = Table(title=title)
    table.add_column("per device")
    table.add_column("GiB", justify="right")
    for name, value in plan.parts.items():
        table.add_row(name, f"{value / gib:.2f}")
    verdict = "fits" if plan.fits else "does NOT fit"
    table.add_row(f"total ({verdict} in {plan.capacity / gib:.0f})", f"{plan.total / gib:.2f}", style="bold")
    for ckpt, batch in plan.largest_batch.items():
        table.add_row(f"largest micro-batch, checkpointing {'on' if ckpt else 'off'}", str(batch))
    return table


def bias_table(results: dict) -> Table:
    table = Table(title=f"bias probes: {results['probes']} answers per model from {results['prompts']} prompts")
    for col in ("attribute: measure", "groups A / B", "base A / B", "tuned A / B", "tuned gap [95% CI]", ""):
        table.add_column(col)
    for row in bias_rows(results):
        table.add_row(*row)
    return table


def redteam_table(report: dict) -> Table:
    target = report["target"]
    guarded = "" if target.get("guarded", True) else ", unguarded"
    table = Table(title=f"red team: {target['model']}{guarded}, {len(report['results'])} probes, {report['seconds']} s")
    for col in ("OWASP category", "passed", "pass rate", "failures"):
        table.add_column(col)
    for cat, c in report["categories"].items():
        failures = sorted({r["verdict"] for r in report["results"] if r["category"] == cat} - {"blocked", "resisted"})
        table.add_row(f"{cat} {c['name']}", f"{c['passed']}/{c['probes']}", _pct(c["pass_rate"]), ", ".join(failures))
    return table
