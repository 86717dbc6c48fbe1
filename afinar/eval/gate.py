"""The promotion gate: is a tuned model good enough to leave the lab?

A run is **promoted** when every check of its recipe's ``eval.gate`` holds and **rejected**
otherwise. Checks: each ``min`` threshold on a tuned-model domain metric (a threshold on a metric
the eval did not measure fails), for held-out documents (continued pretraining,
:mod:`afinar.eval.text`) that the tuned model predicts them better than the base (lower
perplexity), and for each general benchmark that ran (MMLU-Redux,
HellaSwag, PIQA, ARC, ...) and each rate of the safety check (:mod:`afinar.eval.safety`) the
drop against the base (``max_drop`` points): the paired
difference on the same items (:mod:`afinar.eval.paired`) as a point estimate, shown with its 95%
interval, item count and the drop those items can detect. A benchmark on
which the base model is within its own 95% interval of chance cannot detect forgetting: its
check says so ("unusable") and names a usable one instead, without rejecting. The decision goes to
``gate.json`` in the run directory, the summary, the audit log and the eval history.

A gate that judged nothing (no ``min`` thresholds and no usable benchmark) rejects. ``redteam_min``
asks for pass rates of ``afinar redteam`` categories: "not measured" until the run is red-teamed
(the probes need the model served, which needs it promoted), then ``afinar redteam RUN_DIR``
gates again and a failed category rejects.

``afinar export`` and ``afinar serve`` (``--run``, or an ``--adapter`` inside a run directory), and a
training whose ``base_model`` is a run (its forgetting against its own base is judged by that run's
gate alone), call :func:`require_promoted`: a run the gate did not promote (rejected, or never gated) is refused
unless forced; the refusal is audited as ``gate.refuse`` and a forced use as ``gate.override``.
"""

from __future__ import annotations

import json
from pathlib import Path

from afinar.config import GateConfig
from afinar.errors import AfinarError
from afinar.eval.mmlu import wilson
from afinar.security.access import authorize, record

__all__ = ["GATE_FILE", "decide", "require_promoted"]

GATE_FILE = "gate.json"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _measured(summary: dict) -> dict[str, dict]:
    """Every benchmark of the summary as ``{base, tuned, low, high, chance, n}`` (rates), keyed by
    its gate name: ``mmlu_redux`` for the MMLU-Redux suite, else the benchmark's own name."""
    out = {}
    mmlu = summary.get("mmlu") or {}
    if "tuned_accuracy" in mmlu:
        n = mmlu["questions"]
        low, high = wilson(round(mmlu["base_accuracy"] * n), n)
        out["mmlu_redux"] = {"base": mmlu["base_accuracy"], "tuned": mmlu["tuned_accuracy"], "low": low,
                             "high": high, "chance": 0.25, "n": n}  # fmt: skip
    for name, e in ((summary.get("benchmarks") or {}).get("benchmarks") or {}).items():
        if "tuned" in e:
            key = e["metric"]
            low, high = e["base"][f"{key}_ci95"]
            out[name] = {"base": e["base"][key], "tuned": e["tuned"][key], "low": low, "high": high,
                         "chance": e["chance"], "n": e["n"], "paired": e.get("paired")}  # fmt: skip
    safety = summary.get("safety") or {}
    for name, rate in (("safety_refusal", "refusal_rate"), ("safety_helpful", "helpful_rate")):
        if "tuned" in safety:  # no chance level: a rate of behaviour, not of right answers
            paired = safety["paired"][name]
            out[name] = {"base": safety["base"][rate], "tuned": safety["tuned"][rate], "chance": None,
                         "n": paired["n"], "paired": paired}  # fmt: skip
    return out


def decide(gate: GateConfig, summary: dict) -> dict:
    """``{"decision": "promoted" | "rejected", "checks": [{check, value, limit, result, note?}]}``.

    A benchmark on which the base model's 95% interval contains chance cannot show forgetting:
    its check is ``unusable`` (it neither passes nor rejects) and says what to use instead.
    """
    tuned = (summary.get("eval") or {}).get("tuned", {})
    checks = []
    for metric, minimum in sorted(gate.min.items()):
        value = tuned.get(metric)
        ok = value is not None and value >= minimum
        shown = _pct(value) if value is not None else "not measured"
        checks.append(
            {"check": metric, "value": shown, "limit": f">= {_pct(minimum)}", "result": "pass" if ok else "fail"}
        )
    text = summary.get("text_eval") or {}
    if "perplexity_change" in text:
        change = text["perplexity_change"]
        value = f"{100 * change:+.1f}% ({text['base']['perplexity']:.2f} -> {text['tuned']['perplexity']:.2f})"
        checks.append({"check": "held-out documents perplexity vs base", "value": value, "limit": "< +0.0%",
                       "result": "pass" if change < 0 else "fail"})  # fmt: skip
    measured = _measured(summary)
    usable = [n for n, m in measured.items() if m["chance"] is not None and not m["low"] <= m["chance"] <= m["high"]]
    for name, m in measured.items():
        drop = gate.drop_for(name)
        paired = m.get("paired")
        delta = paired["delta"] if paired else 100 * (m["tuned"] - m["base"])
        check = {"check": f"{name} change vs base", "value": f"{delta:+.1f} pts", "limit": f">= -{drop:.1f} pts"}
        if paired:
            low, high = paired["ci95"]
            check["value"] += f" (paired 95% {low:+.1f} to {high:+.1f}, n={paired['n']})"
            check["detectable_drop"] = round(paired["detectable_drop"], 2)
            if paired["detectable_drop"] > gate.detect_drop:
                more = ("the suite has no more items: read eval/safety.json" if name.startswith("safety_")
                        else "raise eval.benchmarks.limit where the benchmark has more items")  # fmt: skip
                check["note"] = (
                    f"{paired['n']} items detect a drop of {paired['detectable_drop']:.1f} pts (80% power), "
                    f"not {gate.detect_drop:.1f}: {more}"
                )
        if m["chance"] is not None and m["low"] <= m["chance"] <= m["high"]:
            instead = ", ".join(usable) if usable else "hellaswag, piqa or arc_easy (eval.benchmarks)"
            check["result"] = "unusable"
            check["note"] = (
                f"base {_pct(m['base'])} (95% {_pct(m['low'])}-{_pct(m['high'])}, n={m['n']}) includes chance "
                f"{_pct(m['chance'])}: {name} cannot show forgetting for this base; use {instead}"
            )
        else:
            check["result"] = "pass" if -delta <= drop + 1e-9 else "fail"
        checks.append(check)
    if not measured:
        checks.append({"check": "general ability vs base", "value": "-", "limit": "-", "result": "not measured"})
    checks += _redteam_checks(gate, summary.get("redteam"))
    if not any(c["result"] in ("pass", "fail") for c in checks):
        # fail closed: a gate that judged nothing (no thresholds, no usable benchmark) promotes nothing
        checks.append({"check": "judged", "value": "nothing measured", "result": "fail",
                       "limit": "an eval.gate.min threshold or a usable benchmark (eval.benchmarks)"})  # fmt: skip
    decision = "rejected" if any(c["result"] == "fail" for c in checks) else "promoted"
    return {"decision": decision, "checks": checks}


def _redteam_checks(gate: GateConfig, redteam: dict | None) -> list[dict]:
    """One check per ``redteam_min`` category: the pass rate of the last ``afinar redteam RUN_DIR``."""
    checks = []
    for category, minimum in sorted(gate.redteam_min.items()):
        check = {"check": f"red team {category} pass rate", "limit": f">= {_pct(minimum)}"}
        rate = ((redteam or {}).get("categories") or {}).get(category, {}).get("pass_rate")
        if rate is None:
            check.update(value="not measured", result="not measured", note="run: afinar redteam RUN_DIR")
        else:
            check.update(value=_pct(rate), result="pass" if rate >= minimum - 1e-9 else "fail")
        checks.append(check)
    return checks


def require_promoted(run_dir: Path, action: str, force: bool, remedy: str = "--force overrides (and is audited)"):
    """Refuse ``action`` on a run the gate did not promote unless ``force`` (then audit the override).

    Fails closed: a run with no ``gate.json`` (trained but never evaluated, or the file deleted)
    or an unreadable one is refused like a rejected run. Each refusal and each override is
    written to the audit log (``gate.refuse`` / ``gate.override``).

    ``remedy``: what the refusal tells the caller to do.

    Raises:
        AfinarError: the run is not promoted and ``force`` is off.
    """
    run_dir = Path(run_dir)
    failed = _not_promoted(run_dir)
    if failed is None:
        return
    if not force:
        actor = authorize(f"{action}.refuse", action)
        record("gate.refuse", str(run_dir), actor, decision="deny", details={"action": action, "failed": failed})
        raise AfinarError(f"{run_dir}: {'; '.join(failed)}. '{action}' refuses a run the gate did not promote; "
                          f"{remedy}")  # fmt: skip
    actor = authorize(f"{action}.override", action)
    record("gate.override", str(run_dir), actor, decision="override", details={"action": action, "failed": failed})


def _not_promoted(run_dir: Path) -> list[str] | None:
    """Why ``run_dir`` is not promoted (one line per reason), or None when its gate promoted it."""
    path = run_dir / GATE_FILE
    if not path.is_file():
        return [f"no promotion gate decision ({GATE_FILE} is missing): evaluate the run first "
                f"with 'afinar eval {run_dir}'"]  # fmt: skip
    try:
        gate = json.loads(path.read_text())
        decision, checks = gate["decision"], gate["checks"]
    except (ValueError, KeyError, TypeError) as err:
        return [f"{path}: damaged gate decision ({err}); evaluate the run again with 'afinar eval {run_dir}'"]
    if decision == "promoted":
        return None
    failed = [f"{c['check']} {c['value']} (needs {c['limit']})" for c in checks if c["result"] == "fail"]
    return ["rejected by the promotion gate: " + ("; ".join(failed) or decision)]
