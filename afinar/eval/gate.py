"""The promotion gate: is a tuned model good enough to leave the lab?

A run is **promoted** when every check of its recipe's ``eval.gate`` holds and **rejected**
otherwise. Checks: each ``min`` threshold on a tuned-model domain metric (a threshold on a metric
the eval did not measure fails), and the MMLU drop against the base (``max_mmlu_drop`` points;
reported as "not measured" when MMLU did not run, which does not reject). The decision goes to
``gate.json`` in the run directory, the summary, the audit log and the eval history.

``afinar export`` and ``afinar serve --run`` call :func:`require_promoted`: a rejected run is
refused unless forced, and a forced use is written to the audit log as ``gate.override``.
"""

from __future__ import annotations

import json
from pathlib import Path

from afinar.config import GateConfig
from afinar.errors import AfinarError

__all__ = ["GATE_FILE", "decide", "require_promoted"]

GATE_FILE = "gate.json"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def decide(gate: GateConfig, summary: dict) -> dict:
    """``{"decision": "promoted" | "rejected", "checks": [{check, value, limit, result}]}``."""
    tuned = (summary.get("eval") or {}).get("tuned", {})
    checks = []
    for metric, minimum in sorted(gate.min.items()):
        value = tuned.get(metric)
        ok = value is not None and value >= minimum
        shown = _pct(value) if value is not None else "not measured"
        checks.append(
            {"check": metric, "value": shown, "limit": f">= {_pct(minimum)}", "result": "pass" if ok else "fail"}
        )
    mmlu = summary.get("mmlu") or {}
    limit = f">= -{gate.max_mmlu_drop:.1f} pts"
    if "delta_points" in mmlu:
        delta = mmlu["delta_points"]
        ok = -delta <= gate.max_mmlu_drop
        checks.append(
            {
                "check": "mmlu change vs base",
                "value": f"{delta:+.1f} pts",
                "limit": limit,
                "result": "pass" if ok else "fail",
            }
        )
    else:
        checks.append({"check": "mmlu change vs base", "value": "-", "limit": limit, "result": "not measured"})
    decision = "rejected" if any(c["result"] == "fail" for c in checks) else "promoted"
    return {"decision": decision, "checks": checks}


def require_promoted(run_dir: Path, action: str, force: bool) -> None:
    """Refuse ``action`` on a rejected run unless ``force`` (then audit the override).

    Raises:
        AfinarError: the run was rejected and ``force`` is off.
    """
    path = Path(run_dir) / GATE_FILE
    if not path.is_file():
        return  # never gated (trained without evaluation): nothing to enforce
    gate = json.loads(path.read_text())
    if gate["decision"] != "rejected":
        return
    failed = [f"{c['check']} {c['value']} (needs {c['limit']})" for c in gate["checks"] if c["result"] == "fail"]
    if not force:
        raise AfinarError(
            f"{run_dir}: rejected by the promotion gate: {'; '.join(failed)}. "
            f"'{action}' refuses a rejected run; --force overrides (and is audited)"
        )
    from afinar.security.access import authorize, record

    actor = authorize(f"{action}.override", action)
    record("gate.override", str(run_dir), actor, decision="override", details={"action": action, "failed": failed})
