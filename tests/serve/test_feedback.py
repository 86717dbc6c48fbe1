"""From production to preferences: a served answer rated through ``POST /v1/feedback`` (by the
caller it answered, audited) comes out of ``afinar data feedback`` as a KTO row, masked, with who
rated it and when; a caller without the export permission is refused (and audited); the join's
rules on hand-written audit records."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest
from typer.testing import CliRunner

from afinar.cli import app
from afinar.data.feedback import feedback_rows
from afinar.data.read import scan_dataset
from afinar.registry import Registry
from afinar.serve.auth import Gatekeeper
from tests.serve.conftest import audit_records, running

EMAIL = "ana.lopez@example.com"


def test_a_rated_answer_becomes_a_masked_kto_row(deployment, tmp_path, monkeypatch):
    registry_url = f"sqlite:///{tmp_path / 'registry.db'}"
    registry = Registry(registry_url)
    key = {name: registry.add_user(name, role) for name, role in [("ana", "ml_engineer"), ("ben", "ml_engineer"),
                                                                   ("olga", "auditor")]}  # fmt: skip
    ask = [{"role": "user", "content": f"Write to {EMAIL} about the May sales."}]
    with running(deployment, gate=Gatekeeper(registry_url, rate_per_minute=100)) as url:
        ana = openai.OpenAI(base_url=f"{url}/v1", api_key=key["ana"], max_retries=0)
        good = ana.chat.completions.create(model="alpha", messages=ask, max_tokens=6)
        bad = ana.chat.completions.create(model="beta", messages=[{"role": "user", "content": "Hola"}], max_tokens=4)

        def rate(who: str, body: dict) -> httpx2.Response:
            return httpx2.post(f"{url}/v1/feedback", json=body, headers={"Authorization": f"Bearer {key[who]}"})

        ok = rate("ana", {"completion_id": good.id, "rating": "bad"})
        again = rate("ana", {"completion_id": good.id, "rating": "good", "comment": f"sent to {EMAIL}, thanks"})
        ok_bad = rate("ana", {"completion_id": bad.id, "rating": "bad"})
        other = rate("ben", {"completion_id": good.id, "rating": "bad"})
        unknown = rate("ana", {"completion_id": "chatcmpl-000", "rating": "good"})
        wrong = rate("ana", {"completion_id": good.id, "rating": "5 stars"})
    assert ok.status_code == again.status_code == ok_bad.status_code == 200
    assert again.json() | {"created": 0} == {"object": "feedback", "completion_id": good.id, "rating": "good",
                                             "created": 0}  # fmt: skip
    assert other.status_code == 403 and other.json()["error"]["code"] == "permission_denied"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "completion_not_found"
    assert wrong.status_code == 400 and "rating" in wrong.json()["error"]["message"]
    rated = [r for r in audit_records("serve.feedback") if r["details"].get("completion_id") == good.id]
    assert [(r["actor"], r["decision"], r["details"].get("rating")) for r in rated] == [
        ("ana", "allow", "bad"), ("ana", "allow", "good"), ("ben", "deny", None)]  # fmt: skip
    assert EMAIL not in json.dumps(rated)  # the comment is redacted in the log

    monkeypatch.setenv("AFINAR_REGISTRY", registry_url)
    out = tmp_path / "feedback.jsonl"
    refused = CliRunner().invoke(app, ["data", "feedback", "-o", str(out)], env={"AFINAR_API_KEY": key["olga"]})
    assert refused.exit_code == 2 and "permission denied" in refused.output and not out.exists()
    assert audit_records("data.feedback")[-1]["decision"] == "deny"

    result = CliRunner().invoke(app, ["data", "feedback", "-o", str(out)], env={"AFINAR_API_KEY": key["ana"]})
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(rows) >= {good.id, bad.id}
    row = rows[good.id]
    assert row["label"] is True and rows[bad.id]["label"] is False  # the later rating of an answer wins
    assert row["completion"] == good.choices[0].message.content
    assert row["prompt"] == [{"role": "user", "content": "Write to [EMAIL] about the May sales."}]
    assert EMAIL not in out.read_text()
    answer = next(r for r in audit_records("serve.chat") if r["details"].get("completion_id") == good.id)
    assert row["meta"]["rated_by"] == "ana" and row["meta"]["model"] == "alpha"
    assert row["meta"]["audit_seq"] == [answer["seq"], rated[1]["seq"]] and row["meta"]["rated_at"] == rated[1]["time"]
    assert row["meta"]["comment"] == "sent to [EMAIL], thanks"
    examples, errors = scan_dataset(out)  # afinar reads it back as labeled answers (KTO's form)
    assert not errors and len(examples) == len(rows) and all(ex.label is not None for ex in examples)
    made = audit_records("data.feedback")[-1]
    assert made["decision"] == "allow" and made["actor"] == "ana" and str(out) in made["digests"]


def _answer(seq: int, cid: str, model: str = "m", run: str | None = None, response: str = "ok") -> dict:
    details = {"completion_id": cid, "prompt": "hi", "response": response, **({"run": run} if run else {})}
    return {"seq": seq, "time": f"2026-12-0{seq}T00:00:00", "actor": "ana", "action": "serve.completions",
            "resource": model, "decision": "allow", "details": details}  # fmt: skip


def _rating(seq: int, cid: str, rating: str) -> dict:
    details = {"completion_id": cid, "rating": rating}
    return {"seq": seq, "time": f"2026-12-0{seq}T00:00:00", "actor": "ana", "action": "serve.feedback",
            "resource": "/v1/feedback", "decision": "allow", "details": details}  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "kept", "why"),
    [
        ({}, ["a"], None),
        ({"model": "other"}, [], "another model"),
        ({"since": "2026-12-08"}, [], "rated before --since"),
    ],
)
def test_what_the_join_keeps_and_leaves_out(kwargs, kept, why):
    several = _answer(8, "d")
    several["details"]["responses"] = [several["details"].pop("response"), "other"]
    records = [
        _answer(1, "a"),
        _answer(2, "b", run="/runs/secret"),
        _answer(3, "c", response="x" * 10 + "... [cut by the audit log: 5000 characters, sha256 00]"),
        _rating(4, "a", "good"),
        _rating(5, "b", "good"),
        _rating(6, "c", "bad"),
        _rating(7, "gone", "bad"),
        several,  # n = 2: a rating cannot say which choice it is about
        _rating(9, "d", "good"),
    ]
    rows, report = feedback_rows(records, lambda run: run != "/runs/secret", **kwargs)
    assert [r["id"] for r in rows] == kept and report["ratings"] == 5
    left = report["left_out"]
    assert left["answer not in the audit log"] == 1
    if why != "another model":
        assert left["several choices (n > 1): the rating names none of them"] == 1
    if why is None:
        assert left["model trained on data the caller may not read"] == 1
        assert left["cut by the audit log (over its size limit)"] == 1
        assert rows[0] == {"prompt": "hi", "completion": "ok", "label": True, "id": "a", "meta": {
            "rated_by": "ana", "rated_at": "2026-12-04T00:00:00", "model": "m", "answered_to": "ana",
            "answered_at": "2026-12-01T00:00:00", "audit_seq": [1, 4]}}  # fmt: skip
    else:
        assert left[why] == (4 if why == "another model" else 3)
