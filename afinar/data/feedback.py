"""From production to preferences: ``afinar data feedback`` turns the answers ``afinar serve``
gave and their ratings (``POST /v1/feedback``) into a KTO dataset (``prompt`` / ``completion`` /
``label``, the data page's labeled form), read from the audit log alone.

Each rating record (``serve.feedback``) is joined by its completion id with the answer's own
record (``serve.chat.completions`` or ``serve.completions``: the conversation and the answer as the
server kept them, PII redacted there when it ran with ``--pii mask``). A later rating of the same
answer replaces an earlier one. Every text is masked again here (redacted, whatever the server's
setting was). A row says who rated it and when, which model answered and its audit sequence
numbers, in ``meta``.

Left out, and counted in the report: ratings whose answer is not in the log; answers the audit
log cut (a text over its limit keeps only an excerpt); answers of a model trained on data the
caller may not read (an answer can repeat its training data, so it inherits that data's access);
and, with ``model`` or ``since``, the other models and older ratings.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from afinar.atomic import write_text
from afinar.data.mask import Masker, MaskPolicy
from afinar.errors import AfinarError
from afinar.run_folder import load_run
from afinar.security.access import authorize, digests, permitted, record
from afinar.security.audit import all_records, verify_all

__all__ = ["ANSWER_ACTIONS", "feedback_dataset", "feedback_rows"]

ANSWER_ACTIONS = ("serve.chat.completions", "serve.completions")
CUT = "[cut by the audit log"


def _cut(details: dict) -> bool:
    return details.get("cut_by_audit_log") is True or CUT in str(details.get("prompt")) or CUT in details["response"]


def _prompt(details: dict, clean: Callable[[str], str]) -> str | list[dict]:
    """The conversation before the answer (chat: the turns with their roles), masked."""
    texts = details["prompt"] if isinstance(details["prompt"], list) else [details["prompt"]]
    roles = details.get("roles")
    if not roles:
        return clean("\n".join(texts))
    return [{"role": r, "content": clean(t)} for r, t in zip(roles, texts, strict=True)]


def feedback_rows(
    records: list[dict],
    may_read_run: Callable[[str], bool],
    model: str | None = None,
    since: str | None = None,
) -> tuple[list[dict], dict]:
    """KTO rows from audit ``records`` (in log order) and a report of what was kept and left out.

    ``may_read_run(run_dir)``: whether the caller may read the training data of the run a served
    model came from. ``since``: an ISO date or time; older ratings are left out.
    """
    answers = {
        r["details"]["completion_id"]: r
        for r in records
        if r["action"] in ANSWER_ACTIONS and r["decision"] == "allow" and "completion_id" in r["details"]
        and ("response" in r["details"] or "responses" in r["details"])
    }  # fmt: skip
    ratings: dict[str, dict] = {}
    for r in records:
        if r["action"] == "serve.feedback" and r["decision"] == "allow" and "rating" in r["details"]:
            ratings.pop(r["details"]["completion_id"], None)  # the latest rating, in the order rated
            ratings[r["details"]["completion_id"]] = r
    masker = Masker(MaskPolicy(default="redact", secrets="redact"))
    clean = masker.mask
    left: Counter = Counter()
    rows = []
    for cid, rating in ratings.items():
        answer = answers.get(cid)
        if answer is None:
            left["answer not in the audit log"] += 1
            continue
        d = answer["details"]
        if model is not None and answer["resource"] != model:
            left["another model"] += 1
        elif since is not None and rating["time"] < since:
            left["rated before --since"] += 1
        elif "response" not in d:
            left["several choices (n > 1): the rating names none of them"] += 1
        elif _cut(d):
            left["cut by the audit log (over its size limit)"] += 1
        elif d.get("run") and not may_read_run(d["run"]):
            left["model trained on data the caller may not read"] += 1
        else:
            meta = {"rated_by": rating["actor"], "rated_at": rating["time"], "model": answer["resource"],
                    "answered_to": answer["actor"], "answered_at": answer["time"],
                    "audit_seq": [answer["seq"], rating["seq"]]}  # fmt: skip
            if "comment" in rating["details"]:
                meta["comment"] = clean(rating["details"]["comment"])
            row = {"prompt": _prompt(d, clean), "completion": clean(d["response"]),
                   "label": rating["details"]["rating"] == "good", "id": cid, "meta": meta}  # fmt: skip
            rows.append(row)
    report = {"ratings": len(ratings), "rows": len(rows), "good": sum(r["label"] for r in rows),
              "bad": sum(not r["label"] for r in rows), "left_out": dict(sorted(left.items())),
              "masked": dict(sorted(masker.counts.items()))}  # fmt: skip
    return rows, report


def feedback_dataset(out: Path, model: str | None = None, since: str | None = None) -> dict:
    """Write the KTO dataset of the rated answers (:func:`feedback_rows`) to ``out`` (JSONL) for a
    caller holding the ``export`` permission, after the audit log verifies; audited
    (``data.feedback``, with the output's digest). Returns the report.

    Raises:
        AfinarError: permission denied, the audit log fails verification, or nothing was rated.
    """
    out = Path(out)
    actor = authorize("data.feedback", "export")
    check = verify_all()
    if not check.ok:
        raise AfinarError(f"the audit log fails verification ({'; '.join(check.problems)}); a dataset is not built "
                          "from a log that may have been altered: 'afinar audit verify' says more")  # fmt: skip

    def may_read_run(run_dir: str) -> bool:
        try:
            files = load_run(Path(run_dir)).data.files
        except AfinarError:  # the run is gone: its data's access cannot be checked, so no
            return False
        return permitted(actor, "dataset:read", files)

    rows, report = feedback_rows(all_records(), may_read_run, model, since)
    if not rows:
        raise AfinarError(f"no rated answers to write ({report['ratings']} rating(s) in the audit log; "
                          f"left out: {report['left_out'] or 'none'}); nothing written to {out}")  # fmt: skip
    write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), mode=0o600)
    record("data.feedback", str(out), actor, digests=digests([out]), details=report)
    return report
